"""Figure 1 of the PNS paper at testbed scale: how plausible each source's negatives look, beside correct solutions.

The paper's Figure 1: the reward-model score of PNS negatives (+3.34) is close to that of correct solutions (+3.21)
and far above rejection sampling's (-3.13). Here three measures are read from the same pairs DPO trains on (the fair
protocol's rows: same problems, same chosen solution for every source):

* **RM score**: the raw reward-model score (the paper's axis);
* **judge score**: the CoT judge's rubric score in [0, 1];
* **step-checker plausibility** (:mod:`pns_hub.grading.steps`): arithmetic, grounding and answer-follows, measured
  without any learned model, so a weak RM and implausible negatives can be told apart.

"Correct" is each problem's chosen solution. Every mean has a bootstrap 95% interval over problems; the paper's
ordering is tested on per-problem paired differences by the fixed rule (:func:`pns_hub.experiments.report.verdict`):

* *PNS above RS*: PNS - RS > 0;
* *PNS closer to correct than to RS*: (PNS - RS) - (correct - PNS) > 0, i.e. PNS sits in the upper half between
  RS and correct (the paper: 3.34 is above the midpoint 0.04 of -3.13 and 3.21; it is in fact above correct).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Mapping, Sequence

from pns_hub.grading import steps
from pns_hub.stats import single_replicate
from pns_hub.synthesis.fair import message_text


CORRECT = "correct"
MEASURES = {"rm": "RM score (raw)", "judge": "judge score", "steps": "step-checker plausibility"}
CLAIMS = {"pns_above_rs": "PNS negatives above rejection-sampling negatives",
          "pns_closer_to_correct": "PNS negatives closer to correct solutions than to rejection-sampling negatives"}


def problem_scores(rows_by_source: Mapping[str, Sequence[dict]]) -> dict[str, dict[str, dict[str, float]]]:
    """``{measure: {group: {problem_id: score}}}`` for the chosen side (``correct``) and each source's negatives.

    The chosen side is read once per problem (it is the same row field in every source under the fair protocol); a
    score the synthesis did not compute (scorer disabled) is left out of that measure, never set to 0.
    """
    out: dict[str, dict[str, dict[str, float]]] = {m: {CORRECT: {}} for m in MEASURES}
    for source, rows in rows_by_source.items():
        for m in MEASURES:
            out[m].setdefault(source, {})
        for row in rows:
            pid, problem = row["problem_id"], row["problem"]
            values = {"rm": (row.get("rm_chosen"), row.get("rm_rejected")),
                      "judge": (row.get("judge_chosen"), row.get("judge_rejected")),
                      "steps": (steps.check_solution(message_text(row["chosen"]), problem).plausibility,
                                steps.check_solution(message_text(row["rejected"]), problem).plausibility)}
            for m, (chosen, rejected) in values.items():
                if chosen is not None:
                    out[m][CORRECT].setdefault(pid, float(chosen))
                if rejected is not None:
                    out[m][source][pid] = float(rejected)
    return out


def _ordering(scores: Mapping[str, dict[str, float]], pns: str, rs: str, seed: int) -> dict:
    from pns_hub import stats
    from pns_hub.experiments.report import verdict

    ids = sorted(set(scores.get(pns, {})) & set(scores.get(rs, {})) & set(scores.get(CORRECT, {})))
    if not ids:
        return {}
    p, r, c = ([scores[g][i] for i in ids] for g in (pns, rs, CORRECT))
    above = stats.paired_bootstrap(p, r, seed=seed)
    closer = stats.paired_bootstrap([2 * a - b - d for a, b, d in zip(p, r, c)], [0.0] * len(ids), seed=seed)
    return {"pns_minus_rs": above.to_dict(), "closer_margin": closer.to_dict(),
            "correct_minus_pns": stats.paired_bootstrap(c, p, seed=seed).to_dict(),
            "verdicts": {CLAIMS["pns_above_rs"]: verdict(above, +1),
                         CLAIMS["pns_closer_to_correct"]: verdict(closer, +1)}}


def figure1(rows_by_source: Mapping[str, Sequence[dict]], seed: int = 0, pns: str = "pns",
            rs: str = "rejection_sampling") -> dict:
    """Per measure: mean and bootstrap 95% interval of each group (correct, every source), n = problems, and the
    paper's ordering tested (module docstring). JSON-ready."""
    from pns_hub import stats

    scores = problem_scores(rows_by_source)
    out = {"measures": MEASURES, "groups": {}, "ordering": {}}
    for m, groups in scores.items():
        out["groups"][m] = {g: stats.bootstrap_mean(list(v.values()), seed=seed).to_dict() if v else None
                            for g, v in groups.items()}
        out["ordering"][m] = _ordering(groups, pns, rs, seed)
    out["step_details"] = step_details(rows_by_source)
    return out


def pool(figures: Sequence[Mapping]) -> dict:
    """Figure 1 over replicates, in :func:`figure1`'s own layout (so :func:`markdown` and :func:`plot` draw it): each
    group's mean and each ordering difference as the mean of the replicates' values with a Student-t 95% interval
    over replicates (:func:`pns_hub.stats.pooled_over_replicates`; ``n`` = replicates), verdicts by the fixed rule.
    A group seen in one replicate keeps its single value with no interval."""
    from pns_hub.experiments.report import verdict
    from pns_hub.stats import pooled_over_replicates as est

    out = {"measures": MEASURES, "groups": {}, "ordering": {}, "replicates": len(figures)}
    for m in MEASURES:
        groups: dict[str, list[float]] = {}
        for fig in figures:
            for g, e in (fig.get("groups", {}).get(m) or {}).items():
                if e:
                    groups.setdefault(g, []).append(e["value"])
        out["groups"][m] = {g: est(v) for g, v in groups.items()}
        diffs = {key: [f["ordering"][m][key]["value"] for f in figures if (f.get("ordering", {}).get(m) or {}).get(key)]
                 for key in ("pns_minus_rs", "closer_margin")}
        if all(len(v) >= 2 for v in diffs.values()):
            above, closer = est(diffs["pns_minus_rs"]), est(diffs["closer_margin"])
            out["ordering"][m] = {"pns_minus_rs": above, "closer_margin": closer,
                                  "verdicts": {CLAIMS["pns_above_rs"]: verdict(SimpleNamespace(**above), +1),
                                               CLAIMS["pns_closer_to_correct"]: verdict(SimpleNamespace(**closer), +1)}}
    return out


def step_details(rows_by_source: Mapping[str, Sequence[dict]]) -> dict[str, dict]:
    """What the step checker saw in each source's negatives: mean step accuracy, grounded share, share whose answer
    follows from the last step, share with no arithmetic step, mean position of the first wrong step."""
    out = {}
    for source, rows in rows_by_source.items():
        checks = [steps.check_solution(message_text(r["rejected"]), r["problem"]) for r in rows]
        with_steps = [c for c in checks if c.num_steps]
        wrong_at = [c.first_wrong_step for c in with_steps if c.first_wrong_step]
        out[source] = {
            "n": len(checks), "no_steps": sum(not c.num_steps for c in checks),
            "step_accuracy": _mean([c.step_accuracy for c in with_steps]),
            "grounded": _mean([c.grounded for c in with_steps]),
            "answer_follows": _mean([float(bool(c.answer_follows)) for c in with_steps]),
            "first_wrong_step": _mean(wrong_at), "mean_steps": _mean([c.num_steps for c in with_steps]),
        }
    return out


def _mean(values: list) -> float | None:
    return sum(values) / len(values) if values else None


def _cell(e: dict | None, digits: int) -> str:
    """mean [95% CI]; a pooled value seen in one replicate has no interval, and says so rather than print [v, v]."""
    if not e:
        return "n/a"
    if single_replicate(e):
        return f"{e['value']:.{digits}f} (one replicate)"
    return f"{e['value']:.{digits}f} [{e['low']:.{digits}f}, {e['high']:.{digits}f}]"


def markdown(fig: dict) -> str:
    """The table: one row per group, one column per measure (mean [95% CI], n), then the ordering verdicts."""
    groups = list(next(iter(fig["groups"].values())))
    lines = ["| solutions | n | " + " | ".join(fig["measures"].values()) + " |", "|---|---:|" + "---:|" * len(MEASURES)]
    for g in groups:
        cells = [fig["groups"][m].get(g) for m in MEASURES]
        n = max((c["n"] for c in cells if c), default=0)
        label = "correct (chosen side)" if g == CORRECT else f"{g} negatives"
        lines.append(f"| {label} | {n} | " + " | ".join(_cell(c, 2 if m == 'rm' else 3) for m, c in
                                                        zip(MEASURES, cells)) + " |")
    how = ("each replicate's paired difference over its problems, pooled: mean and 95% t interval over replicates"
           if "replicates" in fig else "paired over problems, 95% bootstrap interval")
    lines += ["", f"Paper's ordering, fixed verdict rule ({how}):", ""]
    if not fig["ordering"] and fig.get("replicates") == 1:
        lines.append("- not tested: pooling over replicates needs at least 2 (the replicate's own table has its "
                     "ordering over problems)")
    for m, o in fig["ordering"].items():
        for claim, v in (o.get("verdicts") or {}).items():
            key = "pns_minus_rs" if claim == CLAIMS["pns_above_rs"] else "closer_margin"
            lines.append(f"- {MEASURES[m]}: {claim}: **{v}** ({_cell(o[key], 3)})")
    return "\n".join(lines) + "\n"


def plot(fig: dict, path: Path, title: str) -> Path:
    """One panel per measure, a bar with its 95% interval per group (correct first), values written on the bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig_, axes = plt.subplots(1, len(MEASURES), figsize=(4.2 * len(MEASURES), 4.0), dpi=120)
    for ax, (m, label) in zip(axes, MEASURES.items()):
        groups = [(g, e) for g, e in fig["groups"][m].items() if e]
        names = [g.replace("rejection_sampling", "RS").replace("_placebo", "'").replace("_", " ") for g, _ in groups]
        values = [e["value"] for _, e in groups]
        errs = [[e["value"] - e["low"] for _, e in groups], [e["high"] - e["value"] for _, e in groups]]
        colors = ["tab:green" if g == CORRECT else "tab:red" if g == "pns" else "tab:gray" for g, _ in groups]
        bars = ax.bar(names, values, yerr=errs, capsize=4, color=colors)
        ax.bar_label(bars, labels=[f"{v:.2f}" for v in values], fontsize=7, padding=2)
        ax.set_title(label, fontsize=10)
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
        ax.axhline(0, color="black", linewidth=0.5)
    fig_.suptitle(title, fontsize=10)
    fig_.tight_layout()
    fig_.savefig(path)
    plt.close(fig_)
    return path


def write(fig: dict, root: Path, title: str, stem: str = "figure1") -> dict:
    """``figure1.json``/``.md``/``.png`` under ``root``; returns their paths."""
    root.mkdir(parents=True, exist_ok=True)
    paths = {ext: root / f"{stem}.{ext}" for ext in ("json", "md", "png")}
    paths["json"].write_text(json.dumps(fig, indent=1))
    paths["md"].write_text(markdown(fig))
    plot(fig, paths["png"], title)
    return {k: str(v) for k, v in paths.items()}
