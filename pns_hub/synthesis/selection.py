"""Synthesis, step 3: score candidates (RM, judge, composite) and pick which negatives become rows.

The composite is :func:`pns_hub.rewards.functions.composite_score`, the formula GRPO trains the generator with, and takes the
recipe's ``composite_*`` weights, so "most plausible" means the same thing when the generator is trained and when its
negatives are picked.
"""

from __future__ import annotations

import logging
import random
from typing import TYPE_CHECKING

from pns_hub.synthesis import baselines as negatives
if TYPE_CHECKING:
    from pns_hub.synthesis.config import SynthesisConfig


logger = logging.getLogger(__name__)


def _squash(scorer, values):
    """The scorer's own squash (its temperature), else the RM squash with T = 1 (:func:`reward_model.squash_scores`)."""
    if hasattr(scorer, "squash"):
        return list(scorer.squash(values))
    from pns_hub.rewards.reward_model import squash_scores

    return squash_scores(values)


def composite(rm_squashed: float | None, judge: float | None, base: float = 0.5, rm_weight: float = 0.25,
              judge_weight: float = 0.25) -> float | None:
    """Plausibility of a candidate: :func:`pns_hub.rewards.functions.composite_score` (the GRPO reward's own formula and
    weights), or ``None`` when neither scorer ran (then there is nothing to rank by)."""
    from pns_hub.rewards.functions import composite_score

    if rm_squashed is None and judge is None:
        return None
    return composite_score(rm_squashed, judge, base=base, rm_weight=rm_weight, judge_weight=judge_weight)


def plausibility(config: SynthesisConfig, rm_squashed: float | None, judge: float | None) -> float | None:
    """:func:`composite` with the recipe's weights (``composite_*``: the same field names as the GRPO recipe)."""
    return composite(rm_squashed, judge, config.composite_base, config.composite_rm_weight,
                     config.composite_judge_weight)


def score_all(rm_scorer, judge_scorer, pairs: list[tuple[str, str]]) -> tuple[list, list, list]:
    """(raw RM, squashed RM, judge) per (problem, completion); ``None`` columns for a disabled scorer."""
    n = len(pairs)
    if not n:
        return [], [], []
    problems, texts = [p for p, _ in pairs], [t for _, t in pairs]
    raw = squashed = judged = [None] * n
    if rm_scorer is not None:
        raw = [float(v) for v in rm_scorer.score(problems, texts)]
        squashed = _squash(rm_scorer, raw)
    if judge_scorer is not None:
        judged = [float(v) for v in judge_scorer.score(problems, texts)]
    return raw, squashed, judged


def select_negatives(source: str, cands: list[dict], config: SynthesisConfig, problem_id: str):
    """Which negatives become rows: every source follows the same ``rejected_choice`` and plausibility key.

    Why the same rule for every source (issue #17): when PNS took the most plausible of k candidates and the
    baselines a random one, "PNS negatives are more plausible" was partly the selection, not the generator. The random
    pick is seeded by (seed, source, problem id), so it does not depend on shard size or rank.
    """
    rng = random.Random(negatives.stable_seed(config.seed, "select", source, problem_id))
    if config.rejected_choice == "all":
        return [(c, "all") for c in cands]
    if config.rejected_choice == "most_plausible":
        key = {"composite": "plaus", "rm": "rm", "judge": "judge"}[config.plausibility]
        if all(c.get(key) is not None for c in cands):
            return [(max(cands, key=lambda c: (c[key], -c["index"])), f"most_plausible:{config.plausibility}")]
        logger.warning("rejected_choice=most_plausible but no %s score (no scorer configured): picking at random",
                       config.plausibility)
        return [(rng.choice(cands), f"random (no {config.plausibility} score)")]
    return [(rng.choice(cands), "random")]
