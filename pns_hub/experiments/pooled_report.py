"""The pooled markdown and plot of ``pns-hub experiment nsr|glow``: what a reader checks against the papers' claims.

Why every table says how it was pooled: a pass@k or an accuracy here is the mean over seeds *and* problems, its
interval the replicate x problem bootstrap (:func:`pns_hub.stats.replicate_paired_bootstrap`); each difference also
lists its per-seed values, so one seed carrying the verdict is visible.
"""

from __future__ import annotations

import json
from pathlib import Path

from pns_hub.experiments.report import fmt
from pns_hub.stats import quarter_means


def _per_seed(d: dict) -> str:
    return ", ".join(f"{100 * v:+.1f}" for v in d["per_replicate"])


def _header(which: str, result: dict) -> list[str]:
    seeds, planned = result["seeds"], result.get("seeds_planned", result["seeds"])
    interim = ([f"**Interim: {len(seeds)} of {len(planned)} planned seeds finished** ({', '.join(map(str, planned))} "
                "planned); every figure and verdict below is over the finished ones only.", ""]
               if result.get("interim") else [])
    return [f"# pns-hub experiment {which}: pooled over {len(seeds)} seed{'s' * (len(seeds) != 1)} "
            f"({', '.join(map(str, seeds))})", "", *interim,
            f"command: `{result['command']}`  ", f"CPU: {result['cpu']}; " + (
                "pooled from the finished replicates' files (nothing run); " if result.get("from_replicate_files")
                else f"wall {result['wall_seconds']:.0f} s (this invocation; {len(result['reused_stages'])} stages "
                "reused); ") + "per-seed results: "
            + ", ".join(f"`{Path(p).name}`" for p in result["replicate_files"]), "",
            "Estimates: mean over seeds and problems; intervals (95%): bootstrap over seeds and problems together "
            "(stats.replicate_paired_bootstrap); verdicts: the fixed rule (interval on the claimed side of zero "
            "supports, on the other side contradicts, else not resolvable).", ""]


def _verdict_lines(result: dict) -> list[str]:
    lines = ["## Verdicts (pooled)", ""]
    for claim, v in result["verdicts"].items():
        d = result.get("claim_differences", result["differences"]).get(claim)
        lines.append(f"- {claim}: **{v}**" + (f" ({fmt(d, True)} pts; per seed {_per_seed(d)})" if d else ""))
    placebo = result.get("placebo")
    if placebo:
        a, b = placebo["arms"]
        parts = "; ".join(f"{where} {fmt(d, True)} pts" for where, d in placebo.items()
                          if isinstance(d, dict) and "low" in d)
        lines += ["", f"Placebo ({a} - {b}, the same arm with another training seed): {parts}. "
                  + ("Its intervals contain zero, as they should." if placebo["contains_zero"] else
                     "**An interval excludes zero: the spread between seeds is larger than the intervals say; read "
                     "the verdicts with that in mind.**")]
    return lines


def nsr_lines(result: dict) -> list[str]:
    b, ks = result["budget"], result["ks"]
    lines = [f"Budget per arm and seed: {b['train_steps']} optimizer steps at lr {result['learning_rate']:g} "
             f"(constant), {b['prompts_per_step']} prompts x {b['generations']} samples per step, "
             f"{b['steps_per_generation']} steps per rollout batch, {b['max_tokens']} new tokens; evaluation: "
             f"{b['eval_problems']} held-out problems x {result['n_samples']} samples (T 0.6, top_p 0.95).", "",
             "## pass@k (%)", "", "| method | " + " | ".join(f"k={k}" for k in ks) + " |",
             "|---|" + "---:|" * len(ks)]
    lines += [f"| {m} | " + " | ".join(fmt(c[k]) for k in ks) + " |" for m, c in result["curves"].items()]
    if result["nsr_minus_psr_by_k"]:
        lines += ["", "NSR - PSR by k (pts): " + "; ".join(
            f"k={k} {fmt(d, True)}" for k, d in result["nsr_minus_psr_by_k"].items())]
    if result.get("placebo_by_k"):
        lines += ["", "Placebo PSR - PSR' by k (pts, the noise floor of the line above): " + "; ".join(
            f"k={k} {fmt(d, True)}" for k, d in result["placebo_by_k"].items())]
    lines += ["", *_verdict_lines(result), "", "Context (no verdict): " + "; ".join(
        f"{name.replace('_minus_', ' - ')} {fmt(d, True)} pts" for name, d in result["context"].items())]
    lines += ["", "## Training reward (mean of the first and last quarter of logged steps, mean over seeds)", "",
              "| arm | first quarter | last quarter | steps |", "|---|---:|---:|---:|"]
    for arm, (first, last, steps) in reward_summary(result["arms_by_seed"]).items():
        cells = "n/a | n/a" if first is None else f"{first:.3f} | {last:.3f}"  # under 4 logged steps
        lines.append(f"| {arm} | {cells} | {steps} |")
    return lines


def reward_summary(arms_by_seed: dict) -> dict[str, tuple[float | None, float | None, int]]:
    """Per arm: :func:`~pns_hub.stats.quarter_means` of its logged reward, averaged over the seeds that logged 4 or
    more steps, and its number of logged steps; an arm that logged fewer keeps its row with no means (None), so the
    table never drops an arm silently."""
    out: dict[str, list] = {}
    for arms in arms_by_seed.values():
        for arm, info in arms.items():
            curve = [p.get("reward") for p in info.get("reward_curve", [])]
            if curve:
                out.setdefault(arm, []).append((quarter_means(curve), len(curve)))
    summary = {}
    for arm, seeds in out.items():
        means = [m for m, _ in seeds if m is not None]
        first, last = ((sum(m[0] for m in means) / len(means), sum(m[1] for m in means) / len(means)) if means
                       else (None, None))
        summary[arm] = (first, last, seeds[0][1])
    return summary


def glow_lines(result: dict) -> list[str]:
    b, g, first = result["budget"], result["glow_setting"], next(iter(result["arms_by_seed"].values()))
    lines = [f"Equal epochs: every SFT / GLOW arm trains {b['glow_epochs']} epochs over its own rows at lr "
             f"{result['learning_rate']:g} (cosine, 10% warm-up); GLOW alpha {g['alpha']:g}, beta {g['beta']:g}, "
             f"weights clamped to [{g['min_weight']:g}, {g['max_weight']:g}] (the authors' alpha 1 / beta 20 "
             "saturate at this size's loss gains: a stated deviation). Evaluation: "
             f"{b['eval_problems']} problems per split x {b['glow_eval_samples']} samples; accuracy is the mean "
             "per-problem share of correct samples.", "",
             "| method | rows | epochs | steps | tokens | in-template acc (%) | held-out templates acc (%) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for m, t in result["table"].items():
        arm = first.get(m) or {}
        lines.append(f"| {m} | {arm.get('rows', '')} | {arm.get('epochs', '')} | {arm.get('steps', '')} | "
                     f"{arm.get('tokens', '')} | {fmt(t['test'])} | {fmt(t['ood'])} |")
    seed = next(iter(result["arms_by_seed"]))
    lines += ["", f"(rows, steps, tokens: seed {seed}; every seed's are in its JSON)", "",
              "Paired differences (pts): " + "; ".join(f"{k.replace('_minus_', ' - ')} {fmt(d, True)}"
                                                       for k, d in result["differences"].items()), ""]
    lines += ["## GLOW's weights after the first epoch (all seeds)", "",
              "| epoch, label | weights | mean | p10 | median | p90 | max | share above the floor |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {k} | {w['n']} | {w['mean']:.3f} | {w['p10']:.3f} | {w['median']:.3f} | {w['p90']:.3f} | "
              f"{w['max']:.3f} | {100 * w['share_above_floor']:.1f}% |" for k, w in result["weights"].items()]
    return lines + ["", *_verdict_lines(result)]


def write_pooled(which: str, result: dict, root: Path) -> dict:
    """experiment_<which>.json / .md / .png under ``root``."""
    paths = {ext: root / f"experiment_{which}.{ext}" for ext in ("json", "md", "png")}
    body = nsr_lines(result) if which == "nsr" else glow_lines(result)
    paths["md"].write_text("\n".join(_header(which, result) + body) + "\n")
    paths["json"].write_text(json.dumps(result, indent=2, default=str))
    (_plot_nsr if which == "nsr" else _plot_glow)(result, paths["png"])
    return {k: str(v) for k, v in paths.items()}


def _figure(ncols: int):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=(5.5 * ncols, 4), dpi=120)
    return plt, fig, axes


def _plot_nsr(result: dict, path: Path) -> None:
    """Left: pooled pass@k with 95% bands; middle: NSR - PSR by k beside the placebo PSR - PSR' (the claim is about
    this difference, and the arms' bands on the left overlap); right: each arm's training reward, mean over seeds."""
    plt, fig, (left, middle, right) = _figure(3)
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colour = {m: palette[i % len(palette)] for i, m in enumerate(result["curves"])}  # one colour an arm, both panels
    for m, curve in result["curves"].items():
        ks = sorted(int(k) for k in curve)
        left.plot(ks, [100 * curve[k]["value"] for k in ks], marker="o", label=m, color=colour[m])
        left.fill_between(ks, [100 * curve[k]["low"] for k in ks], [100 * curve[k]["high"] for k in ks], alpha=0.15,
                          color=colour[m])
    for ax in (left, middle):  # k = 1, 2, 4, ..., n read as numbers, not powers of two
        ax.set_xscale("log", base=2)
        ax.set_xticks(result["ks"], [str(k) for k in result["ks"]])
    left.set(xlabel="k", ylabel="pass@k (%)", title=f"pooled over {len(result['seeds'])} seeds, 95% bands")
    left.legend(fontsize=8)
    for name, diffs in (("NSR - PSR", result["nsr_minus_psr_by_k"]), ("placebo PSR - PSR'", result.get("placebo_by_k"))):
        if diffs:
            ks = sorted(int(k) for k in diffs)
            d = {int(k): v for k, v in diffs.items()}
            middle.plot(ks, [100 * d[k]["value"] for k in ks], marker="o", label=name)
            middle.fill_between(ks, [100 * d[k]["low"] for k in ks], [100 * d[k]["high"] for k in ks], alpha=0.2)
    middle.axhline(0, color="grey", lw=0.8)
    middle.set(xlabel="k", ylabel="difference in pass@k (pts)", title="paired differences, 95% bands")
    if middle.get_legend_handles_labels()[0]:
        middle.legend(fontsize=8)
    by_arm: dict[str, dict[int, list[float]]] = {}
    for arms in result["arms_by_seed"].values():
        for arm, info in arms.items():
            for p in info.get("reward_curve", []):
                by_arm.setdefault(arm, {}).setdefault(p["step"], []).append(p["reward"])
    for arm, steps in by_arm.items():
        xs = sorted(steps)
        right.plot(xs, [sum(steps[x]) / len(steps[x]) for x in xs], label=arm, color=colour.get(arm))
    right.set(xlabel="optimizer step", ylabel="training reward (share correct)", title="training reward")
    if right.get_legend_handles_labels()[0]:  # arms that logged no reward curve draw nothing to name
        right.legend(fontsize=8)
    fig.suptitle(f"pns-hub experiment nsr ({result['cpu']})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _plot_glow(result: dict, path: Path) -> None:
    """Left: held-out accuracy per arm with 95% intervals; right: GLOW's weights per epoch and label (box plots)."""
    plt, fig, (left, right) = _figure(2)
    names = list(result["table"])
    values = [100 * result["table"][m]["ood"]["value"] for m in names]
    errs = [[v - 100 * result["table"][m]["ood"]["low"] for m, v in zip(names, values)],
            [100 * result["table"][m]["ood"]["high"] - v for m, v in zip(names, values)]]
    left.bar(names, values, yerr=errs, capsize=4)
    left.set(ylabel="held-out templates accuracy (%)", title=f"pooled over {len(result['seeds'])} seeds")
    left.tick_params(axis="x", labelrotation=20, labelsize=8)
    groups = {k: w for k, w in result["weights"].items() if len(k.split()) == 3}  # "epoch N label"
    if groups:  # box from the stored quantiles: p10 / median / p90 whiskers at min / max
        stats = [{"label": k.replace("epoch ", "e"), "whislo": w["min"], "q1": w["p10"], "med": w["median"],
                  "q3": w["p90"], "whishi": w["max"], "fliers": []} for k, w in groups.items()]
        right.bxp(stats, showfliers=False)
        right.axhline(result["glow_setting"]["min_weight"], color="grey", linestyle="--", linewidth=0.8)
        right.tick_params(axis="x", labelrotation=20, labelsize=8)
    right.set(ylabel="GLOW weight (box p10-p90, whiskers min-max)", title="weights by epoch and label")
    fig.suptitle(f"pns-hub experiment glow ({result['cpu']})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
