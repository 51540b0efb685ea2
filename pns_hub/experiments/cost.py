"""What a replicate run cost: seconds per stage kind and per replicate, from the stage records (#33, item 7).

Why from the records: a run that spans sessions has no single wall clock, and each stage's record keeps the seconds
it took when it ran, so the table adds up the work, not the waiting between sessions. Stages adopted from another
run count 0 here (they are that run's cost); the warm-up, trained before the run by its own recipe, is not a stage.
"""

from __future__ import annotations

import re
from typing import Mapping

KINDS = ("generator", "negatives", "dpo", "eval")
GOAL_HOURS = 3.0  # issue #33: all replicates within 3 hours on a 2-core machine
_REPLICATE_STAGE = re.compile(r"^r(\d+)_(generator|negatives|dpo|eval)(?:_.+)?$")


def stage_costs(stage_seconds: Mapping[str, float], goal_hours: float = GOAL_HOURS) -> dict:
    """Seconds per replicate and stage kind (generator = GRPO, negatives = synthesis, dpo, eval), the shared stages,
    the total against the goal, and the kind that dominates."""
    per: dict[int, dict[str, float]] = {}
    shared: dict[str, float] = {}
    for name, seconds in stage_seconds.items():
        match = _REPLICATE_STAGE.match(name)
        if match:
            per.setdefault(int(match[1]), dict.fromkeys(KINDS, 0.0))[match[2]] += seconds
        else:
            shared[name] = seconds
    rows = [{"replicate": r, **{k: round(v, 1) for k, v in kinds.items()}, "total": round(sum(kinds.values()), 1)}
            for r, kinds in sorted(per.items())]
    by_kind = {k: round(sum(row[k] for row in rows), 1) for k in KINDS}
    by_kind["shared"] = round(sum(shared.values()), 1)
    total = sum(by_kind.values())
    dominant = max(by_kind, key=by_kind.get) if total else None
    return {"replicates": rows, "shared": {k: round(v, 1) for k, v in shared.items()}, "by_kind": by_kind,
            "total_seconds": round(total, 1), "goal_seconds": goal_hours * 3600, "dominant": dominant,
            "dominant_share": round(by_kind[dominant] / total, 3) if total else None}


def markdown(costs: Mapping, finished: int | None = None, planned: int | None = None) -> str:
    """A table of hours per replicate and kind, then one line: the total against the goal and what dominates.

    An interim report (``finished < planned``) states its hours as "so far" and judges the goal on a projection:
    the shared stages plus the finished replicates' mean total times ``planned`` (replicates that run fewer arms
    make this a rough guide, and the line says it is a projection)."""
    hours = lambda s: f"{s / 3600:.2f}"  # noqa: E731
    lines = ["| replicate | generator (GRPO) | negatives (synthesis) | DPO | evaluation | total |",
             "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| r{row['replicate']} | " + " | ".join(hours(row[k]) for k in (*KINDS, "total")) + " |"
              for row in costs["replicates"]]
    lines.append(f"| shared ({', '.join(costs['shared']) or 'none'}) | | | | | {hours(costs['by_kind']['shared'])} |")
    total, goal = costs["total_seconds"], costs["goal_seconds"]
    dominant = (f"; {costs['dominant']} dominates ({100 * costs['dominant_share']:.0f}% of the total)"
                if costs["dominant"] else "")
    judge = lambda t: "within" if t <= goal else f"{t / goal:.1f}x"  # noqa: E731
    if finished is not None and planned is not None and finished < planned and costs["replicates"]:
        rows = costs["replicates"]
        projected = costs["by_kind"]["shared"] + sum(r["total"] for r in rows) / len(rows) * planned
        return "\n".join(lines) + (f"\n\nHours of stage work so far (from each stage's record): {hours(total)}, "
                                   f"{finished} of {planned} planned replicates; projected for {planned}: "
                                   f"{hours(projected)}, {judge(projected)} the {goal / 3600:.0f}-hour goal"
                                   f"{dominant}.\n")
    return "\n".join(lines) + (f"\n\nHours of stage work (from each stage's record): {hours(total)} in all, "
                               f"{judge(total)} the {goal / 3600:.0f}-hour goal{dominant}.\n")
