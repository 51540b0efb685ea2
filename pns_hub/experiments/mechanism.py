"""Does a run show the PNS mechanism at all? The effects a small run can resolve, and one line saying which did.

The DPO contrast (PNS vs RS) needs replicates to decide (``pns-hub experiment pns --recipe ...``); a single
``make demo`` cannot. What a small run *can* show is the mechanism upstream of DPO (issue #33, item 8):

* the generator's plausibility gain: its negatives minus the warm-up policy's (rejection sampling), paired over the
  same problems, by the step checker (no learned model) and by the RM (Figure 1's ``pns_minus_rs``);
* the reward model above chance: held-out pairwise accuracy minus 50%.

Each is reported with its 95% interval; the summary line names those whose interval excludes zero, or, when none
does, says why at this size (how many problems / pairs each rests on), so a reader never mistakes "not resolvable
here" for "no effect".
"""

from __future__ import annotations

from typing import Mapping


def effects(summary: Mapping) -> list[dict]:
    """Every mechanism effect the run measured: ``{name, value, low, high, n, unit, excludes_zero}``.

    Differences are in the measure's own unit; the RM's is accuracy minus 0.5 (chance), so "excludes zero" means
    "above (or below) chance" for every row alike. An effect the run could not measure is left out, not zeroed."""
    out = []
    ordering = ((summary.get("figure1") or {}).get("ordering")) or {}
    for measure, label in (("steps", "generator plausibility gain, step checker (PNS - RS negatives)"),
                           ("rm", "generator plausibility gain, RM score (PNS - RS negatives)")):
        diff = (ordering.get(measure) or {}).get("pns_minus_rs")
        if diff:
            out.append(_effect(label, diff["value"], diff["low"], diff["high"], diff.get("n"), "problems"))
    rm = summary.get("rm_heldout") or {}
    if rm.get("pairwise_accuracy") is not None and rm.get("pairwise_accuracy_low") is not None:
        out.append(_effect("reward model above chance (held-out pairwise accuracy - 50%)",
                           rm["pairwise_accuracy"] - 0.5, rm["pairwise_accuracy_low"] - 0.5,
                           rm["pairwise_accuracy_high"] - 0.5, rm.get("num_pairs"), "pairs"))
    return out


def _effect(name: str, value: float, low: float, high: float, n, unit: str) -> dict:
    return {"name": name, "value": value, "low": low, "high": high, "n": n, "unit": unit,
            "excludes_zero": low > 0 or high < 0}


def summary_line(found: list[dict]) -> str:
    """One line: the effects whose interval excludes zero (signed), or why none does at this size."""
    if not found:
        return ("mechanism: nothing measured (no Figure 1 ordering and no held-out RM pairs: the run kept no pair "
                "of a wrong and a correct solution on a common problem)")
    resolved = [e for e in found if e["excludes_zero"]]
    if resolved:
        return "mechanism: interval excludes zero for " + "; ".join(
            f"{e['name']} {e['value']:+.3f} [{e['low']:+.3f}, {e['high']:+.3f}] (n={e['n']} {e['unit']})"
            for e in resolved)
    sizes = ", ".join(f"{e['name'].split(' (')[0]} on n={e['n']} {e['unit']} "
                      f"(width {e['high'] - e['low']:.3f})" for e in found)
    return ("mechanism: no effect's 95% interval excludes zero at this size: " + sizes + "; the replicate "
            "recipe (recipes/experiments/pns_replicates.json) measures them on ~170 problems and ~300 pairs")
