"""What the reverse-RL generator learned, over replicates: its reward curves and its negatives' plausibility gain.

The DPO verdict needs the generator to have learned something first (issue #33, item 3): its composite (or oracle)
reward should rise over GRPO steps, and its wrong answers should be more plausible than the warm-up policy's (RS)
by the step checker, which no learned model informs, and by the RM. This module writes that part of the replicate
report: a markdown table of the pooled gains (:func:`pooled`) and a plot of
every replicate's reward curve beside the per-replicate gains.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Mapping

from pns_hub.experiments import figure1
from pns_hub.experiments.report import pooled_marks
from pns_hub.stats import quarter_means, single_replicate
from pns_hub.synthesis.fair import GENERATOR_ROWS, generator_markdown

LABELS = {"reward_rise": "GRPO reward rise (last quarter - first quarter of steps)",
          "pns_minus_rs_steps": "negatives' step-checker plausibility, PNS - RS",
          "pns_minus_rs_rm": "negatives' RM score (raw), PNS - RS",
          "pns_minus_rs_judge": "negatives' judge score, PNS - RS",
          "wrong_steps_gain": "every valid wrong sample's step-checker plausibility, generator - warm-up policy",
          "wrong_rm_gain": "every valid wrong sample's RM score (sigmoid), generator - warm-up policy"}
BEFORE, AFTER = (label for label, _, _ in GENERATOR_ROWS)  # the generator report's two rows


def pooled(replicates: list[dict]) -> dict:
    """The generator's plausibility gain over replicates: each replicate's PNS - RS negatives (Figure 1's paired
    difference over its own problems, by the step checker, the RM and the judge), the same gain over every valid
    wrong sample of the generator vs the warm-up policy (its report's before/after, unselected) and its reward rise
    (mean composite reward over the last quarter of GRPO steps minus the first quarter), pooled as a mean with a t
    interval over replicates (:func:`pns_hub.stats.pooled_over_replicates`, the helper Figure 1's pool uses) and
    judged by the fixed rule."""
    from pns_hub import stats
    from pns_hub.experiments.report import verdict

    series: dict[str, list[float]] = {}
    for rep in replicates:
        for measure, ordering in (rep["figure1"].get("ordering") or {}).items():
            if ordering.get("pns_minus_rs"):
                series.setdefault(f"pns_minus_rs_{measure}", []).append(ordering["pns_minus_rs"]["value"])
        if (rise := reward_rise(rep.get("reward_curve") or [])) is not None:  # a flat curve's 0.0 counts too
            series.setdefault("reward_rise", []).append(rise)
        report = rep.get("generator_report") or {}
        for name, field in (("wrong_steps_gain", "steps_of_wrong"), ("wrong_rm_gain", "rm_score_of_wrong")):
            before, after = ((report.get(k) or {}).get(field) for k in (BEFORE, AFTER))
            if before and after:  # unselected samples: every valid wrong answer of each policy, not Figure 1's picks
                series.setdefault(name, []).append(after["value"] - before["value"])
    out = {}
    for name, values in series.items():
        entry = {"per_replicate": values, **stats.pooled_over_replicates(values)}
        if entry["n"] >= 2:
            entry["verdict"] = verdict(SimpleNamespace(**entry), +1)
        out[name] = entry
    return out


def reward_rise(curve: list[dict]) -> float | None:
    """Mean reward of the last quarter of logged steps minus the first quarter (None under 4 steps)."""
    means = quarter_means([p.get("reward") for p in curve])
    return None if means is None else means[1] - means[0]


def curve_quarters(curve: list[dict]) -> dict[str, tuple[float, float]]:
    """:func:`~pns_hub.stats.quarter_means` of the reward and of every logged reward component (``pns/*``: format,
    wrong, correct, rm, judge or steps) over GRPO steps: which part of the reward moved, not only whether it rose.
    Empty under 4 steps; a component missing from either quarter is left out."""
    keys = ["reward"] + sorted({k for p in curve for k in p if k.startswith("pns/")})
    means = {key: quarter_means([p.get(key) for p in curve]) for key in keys}
    return {key: m for key, m in means.items() if m is not None}


def curve_line(curve: list[dict]) -> str:
    """One markdown line of :func:`curve_quarters` (training logs: means over the quarter's steps, no interval)."""
    quarters = curve_quarters(curve)
    if not quarters:
        return "GRPO reward curve: fewer than 4 logged steps."
    parts = [f"{k.removeprefix('pns/')} {a:.3f} -> {b:.3f}" for k, (a, b) in quarters.items()]
    return (f"GRPO, mean over the first -> last quarter of {len(curve)} logged steps (training logs, no interval): "
            + "; ".join(parts) + ".")


def curve_of(result: Mapping, replicate: int) -> list[dict]:
    """Replicate ``replicate``'s reward curve from a report (keys are ints in memory, strings once read from JSON)."""
    curves = result.get("reward_curves") or {}
    return curves.get(replicate) or curves.get(str(replicate)) or []


def generator_lines(result: Mapping, rep: Mapping, always_curve: bool = False) -> list[str]:
    """A replicate's generator part, shared by both reports: its reward-component line and its before/after table
    (every valid wrong sample, intervals). The replicate report omits the line when no curve was kept; the ablation
    (``always_curve``), whose subject is the generator, always says what its curve shows, even "too few steps"."""
    lines = []
    curve = curve_of(result, rep["replicate"])
    if curve or always_curve:
        lines += ["", curve_line(curve)]
    if rep.get("generator_report"):
        lines += ["", "Generator, before vs after GRPO (sampled alike on the synthesis problems):", "",
                  generator_markdown(rep["generator_report"]).rstrip("\n")]
    return lines


def replicate_sections(result: Mapping) -> str:
    """A generator ablation's per-replicate part (no DPO arms): each replicate's reward components over training, its
    generator before/after table (every valid wrong sample, intervals) and its own Figure 1 ordering over problems."""
    lines = []
    for rep in result["per_replicate"]:
        lines += ["", f"### Replicate {rep['replicate']}, seed {rep.get('seed')}"]
        lines += generator_lines(result, rep, always_curve=True)
        if rep.get("figure1"):
            lines += ["", "Figure 1, this replicate (the pairs synthesis selected; intervals over problems):", "",
                      figure1.markdown(rep["figure1"]).rstrip("\n")]
    return "\n".join(lines) + "\n"


def markdown(pooled: Mapping[str, dict]) -> str:
    """One row per measure: pooled mean [95% t interval over replicates], the verdict on "> 0", every replicate."""
    lines = ["| generator effect | mean [95% CI over replicates] | verdict (> 0) | each replicate |",
             "|---|---:|---|---|"]
    for key, label in LABELS.items():
        e = pooled.get(key)
        if not e:
            continue
        cell = ("n/a (one replicate)" if single_replicate(e)
                else f"{e['value']:+.3f} [{e['low']:+.3f}, {e['high']:+.3f}]")
        each = ", ".join(f"{v:+.3f}" for v in e["per_replicate"])
        lines.append(f"| {label} | {cell} | {e.get('verdict', 'n/a')} | {each} |")
    return "\n".join(lines) + "\n"


def plot(result: Mapping, path, title: str):
    """Left: each replicate's mean reward per GRPO step. Right: each replicate's PNS - RS plausibility gain (dots)
    and the pooled mean with its interval (bar), per measure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), dpi=120)
    for r, curve in (result.get("reward_curves") or {}).items():
        points = [p for p in curve or [] if p.get("reward") is not None]
        left.plot([p["step"] for p in points], [p["reward"] for p in points], marker=".", linewidth=1,
                  label=f"replicate {r}")
    left.set_xlabel("GRPO step")
    left.set_ylabel("mean reward of the step's completions")
    left.legend(fontsize=7)
    keys = [k for k in ("pns_minus_rs_steps", "pns_minus_rs_rm", "pns_minus_rs_judge")
            if k in (result.get("generator_pooled") or {})]
    for x, key in enumerate(keys):
        e = result["generator_pooled"][key]
        pooled_marks(right, x, e, color="tab:red", interval=e["n"] >= 2)
    right.axhline(0, color="gray", linewidth=0.8)
    right.set_xticks(range(len(keys)), [k.replace("pns_minus_rs_", "PNS - RS, ") for k in keys], fontsize=8)
    right.set_ylabel("difference (measure's own unit)")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
