"""The reward model's learning curve: held-out pairwise accuracy against the number of train pairs (issue #33).

Why: the RM barely beat chance (0.594 [0.521, 0.663] on 180 held-out pairs); whether more pairs would help, or the
135M model cannot learn the distinction at all, is what the curve shows. Every point trains a fresh RM (same seed,
recipe and held-out pairs) on the first n train pairs of the shared RM's own ``pairs.jsonl``, so the points differ
only by n and the policy is not sampled again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence


def curve_stages(runner, budget, seed: int, rm: dict, policy: str, problems: str, root: Path, sizes: Sequence[int],
                 settings: dict) -> list[dict]:
    """One cached stage per size (``rm_curve_<n>``): ``{train_pairs, accuracy, low, high, heldout_pairs}``."""
    from pns_hub.experiments import demo_stages as st

    pairs = str(Path(rm["folder"]) / "pairs.jsonl")
    points = []
    for n in sorted(set(sizes)):
        out = root / f"rm-curve-{n}"
        done = runner.run(f"rm_curve_{n}", {**settings, "rm": runner.keys.get("reward_model"), "pairs": n},
                          lambda n=n, out=out: st.stage_reward_model(budget, seed, out, policy, problems, "local/rm",
                                                                     pairs_path=pairs, max_train_pairs=n),
                          [out / "eval_results.json"])
        m = done["metrics"]
        points.append({"train_pairs": m.get("num_train_pairs"), "requested": n, "accuracy": m["pairwise_accuracy"],
                       "low": m["pairwise_accuracy_low"], "high": m["pairwise_accuracy_high"],
                       "heldout_pairs": m["num_pairs"]})
    full = rm.get("metrics") or {}
    if full.get("pairwise_accuracy") is not None:
        points.append({"train_pairs": full.get("num_train_pairs"), "requested": None,
                       "accuracy": full["pairwise_accuracy"], "low": full["pairwise_accuracy_low"],
                       "high": full["pairwise_accuracy_high"], "heldout_pairs": full["num_pairs"]})
    return points


def markdown(points: Sequence[dict]) -> str:
    lines = ["| train pairs | held-out pairwise accuracy [Wilson 95%] | held-out pairs |", "|---:|---:|---:|"]
    lines += [f"| {p['train_pairs']} | {100 * p['accuracy']:.1f}% [{100 * p['low']:.1f}, {100 * p['high']:.1f}] | "
              f"{p['heldout_pairs']} |" for p in points]
    return "\n".join(lines) + "\n"
