"""Reports of ``pns-hub experiment nsr|glow``: verdicts, tables with n and 95% intervals, plots.

Why a module of its own: the verdict rule and the reports are what a reader checks against the papers' claims; they
need no training code (``nsr_report`` also reports a run whose W-REINFORCE evaluation has not finished).

Verdict rule (fixed before any run, never tuned): a paired bootstrap difference supports a claim when its 95% interval
lies on the claimed side of zero, contradicts it when the interval lies on the other side, and is "not resolvable at
this scale" otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path

from pns_hub.hardware import device_name


SUPPORTED, CONTRADICTED, UNRESOLVED = "supported", "not supported", "not resolvable at this scale"
NOT_MEASURED = "not measured (its evaluation had not finished)"
# How every experiment evaluates (the NSR paper's sampling); the results records say so, so one home for both
EVAL_TEMPERATURE, EVAL_TOP_P, EVAL_DTYPE = 0.6, 0.95, "float32"


def verdict(diff, claimed_sign: int) -> str:
    """The fixed rule: the interval on the claimed side of zero supports, on the other side contradicts."""
    low, high = (diff.low, diff.high) if claimed_sign > 0 else (-diff.high, -diff.low)
    return SUPPORTED if low > 0 else CONTRADICTED if high < 0 else UNRESOLVED


def nsr_report(evals: dict[str, dict], seed: int) -> dict:
    """pass@k curves with intervals per method, and the three verdicts (paired over the same problems)."""
    from pns_hub import stats
    from pns_hub.eval.passk import curve_ks, pass_at_k, passk_curve_intervals

    n = min(c[0] for e in evals.values() for c in e["counts"])
    ks = curve_ks(n)
    curves = {m: {k: e.to_dict() for k, e in passk_curve_intervals(ev["counts"], ks, seed=seed).items()}
              for m, ev in evals.items()}

    def per_problem(method, k):
        return [pass_at_k(nn, c, k) for nn, c in evals[method]["counts"]]

    def diff(a, b, k):
        return stats.paired_bootstrap(per_problem(a, k), per_problem(b, k), seed=seed)

    def area(method):  # mean over the curve's ks, per problem: "best overall"
        return [sum(v) / len(ks) for v in zip(*(per_problem(method, k) for k in ks))]

    # a run whose W-REINFORCE evaluation has not finished still reports the other two claims
    w_vs = {m: stats.paired_bootstrap(area("w_reinforce"), area(m), seed=seed) for m in evals
            if m != "w_reinforce"} if "w_reinforce" in evals else {}
    w_verdicts = [verdict(d, +1) for d in w_vs.values()]
    best = NOT_MEASURED if not w_vs else SUPPORTED if all(v == SUPPORTED for v in w_verdicts) else \
        CONTRADICTED if CONTRADICTED in w_verdicts else UNRESOLVED
    nsr_n, psr_n = diff("nsr", "base", n), diff("psr", "base", n)
    # NSR "keeps or raises": a significant drop contradicts it; an interval that excludes any drop supports it.
    keeps = CONTRADICTED if nsr_n.high < 0 else SUPPORTED if nsr_n.low >= 0 else UNRESOLVED
    verdicts = {"NSR keeps or raises pass@k at the largest k": keeps,
                "PSR lowers pass@k at the largest k": verdict(psr_n, -1),
                "W-REINFORCE best over the whole curve": best}
    if all(c in (0, nn) for nn, c in evals["base"]["counts"]):
        # every base problem is all-right or all-wrong: a zero-width "no change" is no evidence of anything
        verdicts = {claim: UNRESOLVED if v != NOT_MEASURED else v for claim, v in verdicts.items()}
    return {
        "ks": ks, "curves": curves, "engines": engine_agreement(list(evals.values()), seed),
        "differences": {"nsr_minus_base_at_n": nsr_n.to_dict(), "psr_minus_base_at_n": psr_n.to_dict(),
                        "psr_minus_base_at_1": diff("psr", "base", 1).to_dict(),
                        **{f"w_reinforce_minus_{m}_curve_mean": d.to_dict() for m, d in w_vs.items()}},
        "verdicts": verdicts,
    }


def engine_agreement(evaluations: list[dict], seed: int) -> dict | None:
    """Where one evaluation's chunks were drawn by different engines (``PNS_HUB_GENERATE_BACKEND``), the per-problem
    accuracy of each engine's samples, and their paired difference with problems resampled as clusters (the same
    problem evaluated for several models is one unit, not several): the engines should agree within the interval,
    since each chunk is i.i.d. draws of the same sampling. None when every chunk came from one engine."""
    from pns_hub import stats
    engines, per_problem = None, {}  # problem id -> [(engine a accuracy, engine b accuracy), ...] over models
    for ev in evaluations:
        by_engine: dict[str, list[list[int]]] = {}
        for chunk in ev.get("chunks", []):
            totals = by_engine.setdefault(chunk["backend"], [[0, 0] for _ in chunk["counts"]])
            for t, (n, c) in zip(totals, chunk["counts"]):
                t[0], t[1] = t[0] + n, t[1] + c
        if len(by_engine) != 2:
            continue
        (a, ca), (b, cb) = sorted(by_engine.items())
        engines = engines or (a, b)
        for pid, (na, xa), (nb, xb) in zip(ev["ids"], ca, cb):
            per_problem.setdefault(pid, []).append((xa / na, xb / nb))
    if not per_problem:
        return None
    a, b = engines
    xs = [sum(x for x, _ in v) / len(v) for v in per_problem.values()]
    ys = [sum(y for _, y in v) / len(v) for v in per_problem.values()]
    return {"engines": [a, b], "problems": len(xs), "evaluations": sum(len(v) for v in per_problem.values()),
            "accuracy": {a: stats.accuracy(xs, seed=seed).to_dict(), b: stats.accuracy(ys, seed=seed).to_dict()},
            f"{a}_minus_{b}": stats.paired_bootstrap(xs, ys, seed=seed).to_dict()}


def glow_report(evals: dict[str, dict], weights: list[dict], seed: int) -> dict:
    """Accuracy (mean per-problem share of correct samples) in-template and out-of-template, with the verdict."""
    from pns_hub import stats
    def scores(method, split):
        return [c / n for n, c in evals[method][split]["counts"]]

    table = {m: {s: stats.accuracy(scores(m, s), seed=seed).to_dict() for s in ("test", "ood")} for m in evals}
    ood = stats.paired_bootstrap(scores("glow", "ood"), scores("sft_correct", "ood"), seed=seed)
    by_label: dict[str, list[float]] = {}
    for w in weights:
        by_label.setdefault(f"{w['label']} (epoch {w['epoch'] + 1})", []).append(w["weight"])
    return {"table": table, "differences": {"glow_minus_sft_correct_ood": ood.to_dict()},
            "engines": engine_agreement([e for per in evals.values() for e in per.values()], seed),
            "weights_by_label": {k: sum(v) / len(v) for k, v in sorted(by_label.items())},
            "verdicts": {"GLOW generalises better out of template than SFT on correct samples": verdict(ood, +1)}}


def fmt(e: dict, signed: bool = False) -> str:
    """An estimate or a difference as percentage points with its 95% interval, e.g. ``38.8 [28.8, 49.7]``."""
    f = "+.1f" if signed else ".1f"
    return f"{100 * e['value']:{f}} [{100 * e['low']:{f}}, {100 * e['high']:{f}}]"


def pooled_marks(ax, x: float, estimate: dict, scale: float = 1.0, color: str = "tab:blue",
                 interval: bool = True) -> None:
    """A pooled difference on a plot: its mean and 95% interval (black square and bar) with each replicate's value
    beside it (dots), so a reader sees whether one replicate carries the mean. ``interval=False`` for a value with
    no interval (one replicate); ``scale`` 100 draws shares as points."""
    value = scale * estimate["value"]
    if interval:
        ax.errorbar([x], [value], yerr=[[value - scale * estimate["low"]], [scale * estimate["high"] - value]],
                    fmt="s", color="black", capsize=6)
    per = estimate["per_replicate"]
    ax.scatter([x + 0.15] * len(per), [scale * v for v in per], color=color, s=14, alpha=0.7)


def write_outputs(which: str, result: dict, root: Path) -> dict:
    """experiment_<which>.json / .md / .png under ``root``: the table with n and 95% intervals, plot, verdicts."""
    from pns_hub.eval.passk import plot_curves

    paths = {ext: root / f"experiment_{which}.{ext}" for ext in ("json", "md", "png")}
    lines = [f"# pns-hub experiment {which}", "", f"command: `{result['command']}`", ""]
    if which == "nsr":
        n = result["ks"][-1]
        lines += [f"| method | pass@1 (%) | pass@{n} (%) | problems |", "|---|---|---|---|"]
        lines += [f"| {m} | {fmt(c[1])} | {fmt(c[n])} | {c[1]['n']} |" for m, c in result["curves"].items()]
        plot_curves({m: {k: e["value"] for k, e in c.items()} for m, c in result["curves"].items()}, paths["png"],
                    title=f"pass@k on held-out testbed problems ({device_name()})")
    else:
        lines += [f"{result['budget']['glow_eval_samples']} samples per problem; accuracy is the mean per-problem "
                  "share of correct samples, intervals bootstrap over problems", "",
                  "| method | in-template acc (%) | held-out templates acc (%) | problems |", "|---|---|---|---|"]
        lines += [f"| {m} | {fmt(t['test'])} | {fmt(t['ood'])} | {t['test']['n']} |"
                  for m, t in result["table"].items()]
        _plot_weights(result["weights_by_label"], paths["png"])
    if result.get("engines"):
        e = result["engines"]
        a, b = e["engines"]
        lines += ["", f"Samples drawn by two engines ({a}, {b}): accuracy of each engine's samples over "
                  f"{e['evaluations']} (model, problem) evaluations, problems resampled as clusters "
                  f"({e['problems']}): {a} {fmt(e['accuracy'][a])}, {b} {fmt(e['accuracy'][b])}, "
                  f"{a} - {b} {fmt(e[f'{a}_minus_{b}'], signed=True)} points."]
    lines += ["", "## Verdicts", ""] + [f"- {claim}: **{v}**" for claim, v in result["verdicts"].items()]
    paths["md"].write_text("\n".join(lines) + "\n")
    paths["json"].write_text(json.dumps(result, indent=2, default=str))
    return {k: str(v) for k, v in paths.items()}


def _plot_weights(weights_by_label: dict[str, float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
    ax.bar(list(weights_by_label), list(weights_by_label.values()))
    ax.set_ylabel("mean GLOW weight")
    ax.set_title(f"GLOW weights by label and epoch ({device_name()})")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def result_records(which: str, result: dict, suffix: str = "", base: str = "testbed-warmup") -> list:
    """One leaderboard record (:class:`pns_hub.eval.results.ResultRecord`) per evaluated model of an experiment, with the
    per-problem counts (so the leaderboard's paired differences are over the same problems), bootstrap intervals and,
    for ``nsr``, the pass@k curve. The models are the experiment's local arms, named as such (they are not on the Hub);
    ``suffix`` (``@seed1``) names the replicate an arm was trained in; ``base`` names the warm-up its arms start from
    (a seed run on another machine has a warm-up of its own: its arms must pair with that base, not another's).
    """
    from datetime import datetime, timezone

    from pns_hub.eval.results import ResultRecord, git_commit, intervals_from_counts

    splits = {"nsr": {"testbed": None}, "glow": {"testbed": "test", "testbed_ood": "ood"}}[which]
    commit, date, records = git_commit(), datetime.now(timezone.utc).isoformat(timespec="seconds"), []
    for model, evals in result["evals"].items():
        per_split = {bench: evals if split is None else evals[split] for bench, split in splits.items()}
        n = per_split["testbed"]["counts"][0][0]
        per_problem = {bench: {pid: c for pid, (_, c) in zip(e["ids"], e["counts"])} for bench, e in per_split.items()}
        records.append(ResultRecord(
            model=base if model == "base" else f"testbed-warmup+{model}{suffix}",
            method=model.replace("_", "-"),
            base=None if model == "base" else base, num_samples=n,
            scores={b: sum(counts.values()) / (n * len(counts)) for b, counts in per_problem.items()},
            passk={"testbed": {str(k): e["value"] for k, e in result["curves"][model].items()}} if which == "nsr"
            else {}, per_problem=per_problem, intervals=intervals_from_counts(per_problem, n),
            limit=len(per_problem["testbed"]), commit=commit, date=date, dtype=EVAL_DTYPE, top_p=EVAL_TOP_P,
            temperature=EVAL_TEMPERATURE))
    return records
