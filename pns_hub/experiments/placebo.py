"""The placebo arm: rejection sampling drawn a second time with another seed (RS'), for the noise floor (issue #33).

Why: PNS-DPO minus RS-DPO moved from -1.2 to +2.4 points between four runs of the same chain. RS' - RS compares two
draws of the *same* method, so whatever it shows is noise; a PNS - RS difference is evidence only where it stands
clear of that. To measure only the draw of the negatives, RS' differs from RS in the policy's samples alone: same
problems (the fair protocol drops a problem any arm lacks), same chosen side (each RS' row takes the main run's
chosen response and its scores for that problem), same k, format filter, scoring and selection rule.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Mapping, Sequence

from pns_hub.synthesis import baselines


PLACEBO = "rejection_sampling_placebo"
# the chosen side of a row and everything computed from it: taken from the main run so RS' and RS share it
CHOSEN_FIELDS = ("chosen", "chosen_answer", "chosen_origin", "rm_chosen", "rm_chosen_squashed", "judge_chosen",
                 "chosen_num_chars")


def placebo_seed(seed: int) -> int:
    """The placebo draw's synthesis seed: derived from the replicate's, never equal to any replicate's seed."""
    return baselines.stable_seed(seed, "placebo") + 1_000_000


def placebo_config(config, seed: int, work: Path):
    """The main synthesis config with rejection sampling only, another seed and its own folder."""
    return replace(config, sources=[baselines.REJECTION_SAMPLING], seed=placebo_seed(seed),
                   output_dir=str(Path(work) / "negatives-placebo-all-candidates"))


def with_main_chosen(rows: Sequence[dict], main: Mapping[str, Sequence[dict]]) -> tuple[list[dict], int]:
    """RS' rows with each problem's chosen side (and its scores) from the main run; rows of a problem the main run
    has no row for are left out and counted (the fair protocol would drop that problem from every arm anyway)."""
    chosen: dict[str, dict] = {}
    for source_rows in main.values():
        for row in source_rows:
            chosen.setdefault(row["problem_id"], row)
    out, dropped = [], 0
    for row in rows:
        ref = chosen.get(row["problem_id"])
        if ref is None:
            dropped += 1
            continue
        out.append({**row, **{k: ref.get(k) for k in CHOSEN_FIELDS}})
    return out, dropped


def placebo_candidates(config, seed: int, work: Path, main: Mapping[str, Sequence[dict]]) -> tuple[list[dict], dict]:
    """Synthesise RS' (every candidate kept, like the main run) and give it the main run's chosen sides."""
    from pns_hub.synthesis import report
    from pns_hub.synthesis.run import synthesize_dataset

    pconfig = placebo_config(config, seed, work)
    rows = report.load_folder(synthesize_dataset(pconfig)).get(baselines.REJECTION_SAMPLING, [])
    out, dropped = with_main_chosen(rows, main)
    return out, {"seed": pconfig.seed, "candidates": len(out), "dropped_no_main_row": dropped}
