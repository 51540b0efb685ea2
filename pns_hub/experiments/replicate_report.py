"""The replicate experiment's report: every replicate's table, the pooled differences and the verdict (issue #33).

Why replicates: one run of the chain is one draw of generator training, synthesis and DPO; four such runs gave PNS-DPO
minus RS-DPO from -1.2 to +2.4 points, each with an interval over test problems that ignores that draw. Here each
replicate re-draws those stages, and every pooled difference comes from
:func:`pns_hub.stats.replicate_paired_bootstrap` (replicates and problems resampled), so the interval holds both
sources of noise. The placebo arm, RS' (rejection sampling drawn with another seed, same problems and chosen side),
measures the noise floor: RS' - RS should sit on zero; where its interval excludes zero, the run's intervals
understate the noise and no verdict of that size can be trusted.

Input: ``base`` = ``{problem_id: 0/1}`` of the DPO base (shared by every replicate) and ``replicates[r][arm]`` =
``{problem_id: 0/1}`` of each DPO model of replicate r. Arms missing from some replicates (prompted_wrong and perturbed
may run in fewer) are pooled over the replicates that have them, and the report says how many.
"""

from __future__ import annotations

from typing import Mapping, Sequence


from pns_hub.experiments import generator_pooled as gp
from pns_hub.experiments.placebo import PLACEBO
from pns_hub.experiments.report import pooled_marks

BASE, PNS, RS = "base", "pns", "rejection_sampling"
CLAIM = "DPO on PNS negatives beats DPO on rejection-sampling negatives (testbed accuracy, pooled over replicates)"
PLACEBO_CLAIM = "placebo RS' - RS is noise (its pooled interval contains 0)"
ONE_REPLICATE = ("not decided: one replicate (its interval resamples test problems only, not the training draw; the "
                 "placebo line says how much that misses)")
# (a, b): the differences a - b every report carries when both arms exist
CONTRASTS = ((PNS, RS), (PLACEBO, RS), (PNS, PLACEBO), ("prompted_wrong", RS), ("perturbed", RS),
             (PNS, BASE), (RS, BASE), (PLACEBO, BASE), ("prompted_wrong", BASE), ("perturbed", BASE))


def common_problems(base: Mapping[str, float], replicates: Sequence[Mapping[str, Mapping[str, float]]]) -> list[str]:
    """The problems every model of every replicate was scored on (all evaluate the same test split; a missing one
    is an error upstream, so it is named rather than silently dropped)."""
    ids = set(base)
    for r, arms in enumerate(replicates):
        for arm, scores in arms.items():
            if set(scores) != set(base):
                missing = sorted(set(base) ^ set(scores))[:3]
                raise ValueError(f"replicate {r}, arm {arm!r}: scored on other problems than the base ({missing} ...)")
    return sorted(ids)


def flips(model: Mapping[str, float], base: Mapping[str, float]) -> dict[str, int]:
    """How many test outcomes a DPO model changes against its base: gained (0 -> 1), lost (1 -> 0), total."""
    gained = sum(1 for i in base if model[i] > base[i])
    lost = sum(1 for i in base if model[i] < base[i])
    return {"gained": gained, "lost": lost, "total": gained + lost}


def _arm(arms: Mapping[str, Mapping[str, float]], base: Mapping[str, float], name: str):
    return base if name == BASE else arms.get(name)


def replicate_table(arms: Mapping[str, Mapping[str, float]], base: Mapping[str, float], ids: list[str],
                    seed: int) -> dict:
    """One replicate: accuracy (Wilson) of each arm, flips against the base, and the paired differences over
    problems (this replicate's draw held fixed)."""
    from pns_hub import stats

    table = {name: {**stats.accuracy([scores[i] for i in ids]).to_dict(),
                    **({"flips_vs_base": flips(scores, base)} if name != BASE else {})}
             for name, scores in {BASE: base, **arms}.items()}
    diffs = {}
    for a, b in CONTRASTS:
        x, y = _arm(arms, base, a), _arm(arms, base, b)
        if x is not None and y is not None:
            diffs[f"{a}_minus_{b}"] = stats.paired_bootstrap([x[i] for i in ids], [y[i] for i in ids],
                                                             seed=seed).to_dict()
    return {"table": table, "differences": diffs}


def pooled_differences(base: Mapping[str, float], replicates: Sequence[Mapping[str, Mapping[str, float]]],
                       ids: list[str], seed: int, n_resamples: int = 10_000) -> dict:
    """Each contrast pooled over the replicates that carry both arms, by the replicate-and-problem bootstrap."""
    from pns_hub import stats

    out = {}
    for a, b in CONTRASTS:
        having = [arms for arms in replicates if _arm(arms, base, a) is not None and _arm(arms, base, b) is not None]
        if not having:
            continue
        xs = [[_arm(arms, base, a)[i] for i in ids] for arms in having]
        ys = [[_arm(arms, base, b)[i] for i in ids] for arms in having]
        out[f"{a}_minus_{b}"] = _as_dict(stats.replicate_paired_bootstrap(xs, ys, seed=seed,
                                                                               n_resamples=n_resamples))
    return out


def _as_dict(result) -> dict:
    """The pooled estimate as JSON: ``value``/``low``/``high`` like every other report, plus ``n_replicates`` and
    ``per_replicate`` (each replicate's own mean difference: every run is reported, never a chosen one)."""
    d = result.to_dict()
    d["per_replicate"] = list(d["per_replicate"])
    return d


def replicate_report(base: Mapping[str, float], replicates: Sequence[Mapping[str, Mapping[str, float]]],
                     seed: int = 0, n_resamples: int = 10_000) -> dict:
    """Per-replicate tables, pooled differences, the verdict on PNS - RS by the fixed rule and the placebo check."""
    from types import SimpleNamespace

    from pns_hub.experiments.report import UNRESOLVED, verdict

    if not replicates:
        raise ValueError("replicate_report: no replicate to report")
    ids = common_problems(base, replicates)
    per = [{"replicate": r, **replicate_table(arms, base, ids, seed)} for r, arms in enumerate(replicates)]
    pooled = pooled_differences(base, replicates, ids, seed, n_resamples)
    main, placebo = pooled.get(f"{PNS}_minus_{RS}"), pooled.get(f"{PLACEBO}_minus_{RS}")
    if not main:
        verdicts = {CLAIM: "not measured (pns or rejection_sampling missing)"}
    elif main["n_replicates"] < 2:  # a bootstrap over one replicate resamples problems only: no training draw in it
        verdicts = {CLAIM: ONE_REPLICATE}
    else:
        verdicts = {CLAIM: verdict(SimpleNamespace(**main), +1)}
    if placebo:
        noise = verdict(SimpleNamespace(**placebo), +1)
        verdicts[PLACEBO_CLAIM] = "yes" if noise == UNRESOLVED else "no: the intervals understate the noise"
    arms = sorted({a for rep in replicates for a in rep})
    return {"replicates": len(replicates), "problems": len(ids),
            "arms_in_replicates": {a: sum(a in rep for rep in replicates) for a in arms},
            "per_replicate": per, "pooled": pooled, "verdicts": verdicts}


def _pts(e: dict) -> str:
    return f"{100 * e['value']:+.1f} [{100 * e['low']:+.1f}, {100 * e['high']:+.1f}]"


def markdown(report: Mapping, header: Sequence[str] = ()) -> str:
    """Pooled differences and verdicts first, then one table per replicate (accuracy, flips vs base, differences)."""
    lines = list(header) + [f"{report['replicates']} replicates x {report['problems']} test problems; arms and the "
                            f"replicates that ran them: {report['arms_in_replicates']}.", "",
                            "## Pooled over replicates (bootstrap over replicates and problems, 95%)", "",
                            "| difference | points [95% CI] | replicates | each replicate's difference (points) |",
                            "|---|---:|---:|---|"]
    for key, d in report["pooled"].items():
        each = ", ".join(f"{100 * v:+.1f}" for v in d["per_replicate"])
        lines.append(f"| {key.replace('_minus_', ' - ')} | {_pts(d)} | {d['n_replicates']} | {each} |")
    lines += ["", "## Verdicts (fixed rule, pooled interval)", ""]
    lines += [f"- {claim}: **{v}**" for claim, v in report["verdicts"].items()]
    for rep in report["per_replicate"]:
        seed = f", seed {rep['seed']}" if "seed" in rep else ""
        lines += ["", f"### Replicate {rep['replicate']}{seed}", "",
                  "| DPO negatives | accuracy % [95% CI] | flips vs base (gained / lost) |", "|---|---:|---:|"]
        for arm, e in rep["table"].items():
            f = e.get("flips_vs_base")
            lines.append(f"| {arm} | {100 * e['value']:.1f} [{100 * e['low']:.1f}, {100 * e['high']:.1f}] | "
                         + (f"{f['gained']} / {f['lost']}" if f else "") + " |")
        lines += [""] + [f"- {k.replace('_minus_', ' - ')}: {_pts(d)} pts" for k, d in rep["differences"].items()
                         if k.endswith("_minus_rejection_sampling")]
        lines += gp.generator_lines(report, rep)  # reward components, before/after GRPO
    return "\n".join(lines) + "\n"


def plot(report: Mapping, path, title: str):
    """Each replicate's PNS - RS and RS' - RS (dots) beside the pooled estimate and its 95% interval (bar)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in (f"{PNS}_minus_{RS}", f"{PLACEBO}_minus_{RS}", f"{PNS}_minus_{BASE}", f"{RS}_minus_{BASE}")
            if k in report["pooled"]]
    fig, ax = plt.subplots(figsize=(7, 3.8), dpi=120)
    for x, key in enumerate(keys):
        pooled_marks(ax, x, report["pooled"][key], scale=100)
    ax.axhline(0, color="gray", linewidth=0.8)
    ax.set_xticks(range(len(keys)), [k.replace("rejection_sampling_placebo", "RS'").replace("rejection_sampling", "RS")
                                     .replace("_minus_", " - ") for k in keys], fontsize=8)
    ax.set_ylabel("accuracy difference (points)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
