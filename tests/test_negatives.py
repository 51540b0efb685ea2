"""Baseline negative sources: perturbation, prompted-wrong prompt, seeded selection."""

import pytest

from pns_hub.data import problems as data

from pns_hub.synthesis import baselines as negatives

from pns_hub.synthesis import run as synthesize

from pns_hub.grading import verify
def test_perturbed_gold_solutions_are_verified_wrong_and_deterministic():
    rows = data.load_problems("gsm8k_train", limit=25) + data.load_problems("math_500", limit=8)
    made = wrong = 0
    for row in rows:
        seed = negatives.stable_seed(0, "perturb", row["id"])
        out = negatives.perturb_solution(row["solution"], row["answer"], seed)
        assert out == negatives.perturb_solution(row["solution"], row["answer"], seed)  # deterministic
        if out is None:
            continue
        made += 1
        assert out[0] != row["solution"] and out[1]
        wrong += verify.verify_one(out[0], row["answer"]).is_wrong
    assert made >= 30 and wrong == made


def test_perturbation_carries_the_error_to_the_final_answer():
    solution = "Natalia sold 48/2 = 24 clips in May.\nNatalia sold 48+24 = 72 clips.\n\nThe final answer is $\\boxed{72}$."
    for seed in range(20):
        text, how = negatives.perturb_solution(solution, "72", seed)
        if how.startswith("step 1"):
            changed = text.split("= ")[1].split(" ")[0]
            assert f"48+{changed} = {48 + int(changed)}" in text and f"\\boxed{{{48 + int(changed)}}}" in text
            break
    else:
        pytest.fail("no seed picked the first step")


def test_perturbation_without_numbers_returns_none():
    assert negatives.perturb_solution("By symmetry the answer is x.", "x", 0) is None


def test_wrong_prompt_asks_for_a_subtle_error_with_a_boxed_answer():
    (message,) = negatives.build_wrong_prompt("What is 2+2?")
    assert message["role"] == "user" and "What is 2+2?" in message["content"]
    assert "mistake" in message["content"] and "\\boxed{}" in message["content"]


def test_stable_seed_depends_on_ids_only():
    assert negatives.stable_seed(0, "x", "p1") == negatives.stable_seed(0, "x", "p1")
    assert negatives.stable_seed(0, "x", "p1") != negatives.stable_seed(0, "x", "p2")
    assert negatives.stable_seed(1, "x", "p1") != negatives.stable_seed(0, "x", "p1")


def _cands():
    return [{"text": f"t{i}", "index": i, "plaus": p, "rm": -p, "judge": None} for i, p in enumerate([0.6, 0.9, 0.7])]


def test_selection_rules():
    cfg = synthesize.SynthesisConfig(progress=False)
    assert [c["index"] for c, _ in synthesize._select("pns", _cands(), cfg, "p")] == [1]  # most plausible
    rm_cfg = synthesize.SynthesisConfig(plausibility="rm", progress=False)
    assert [c["index"] for c, _ in synthesize._select("pns", _cands(), rm_cfg, "p")] == [0]
    all_cfg = synthesize.SynthesisConfig(rejected_choice="all", progress=False)
    assert len(synthesize._select("pns", _cands(), all_cfg, "p")) == 3
    # baselines follow the same rule (issue #17's fair protocol), and a random pick is reproducible per problem id
    assert [c["index"] for c, _ in synthesize._select("rejection_sampling", _cands(), cfg, "p")] == [1]
    rnd_cfg = synthesize.SynthesisConfig(rejected_choice="random", progress=False)
    picks = {synthesize._select("rejection_sampling", _cands(), rnd_cfg, "p")[0][0]["index"] for _ in range(5)}
    assert len(picks) == 1
    # no judge score -> most_plausible by judge falls back to random and says so in the row
    judge_cfg = synthesize.SynthesisConfig(plausibility="judge", progress=False)
    assert synthesize._select("pns", _cands(), judge_cfg, "p")[0][1].startswith("random (no judge")


def test_composite_matches_the_pns_reward_weights():
    assert synthesize.composite(None, None) is None
    assert synthesize.composite(1.0, None) == 1.0 and synthesize.composite(0.0, None) == 0.5
    assert synthesize.composite(0.5, 0.5) == pytest.approx(0.75)
    assert synthesize.composite(None, 0.2) == pytest.approx(0.6)


class _ConstScorer:
    """RM/judge stand-in: the same score for every completion (``squash`` is the identity)."""

    def __init__(self, value):
        self.value = value

    def score(self, problems, completions):
        return [self.value] * len(completions)

    def squash(self, values):
        return list(values)


def test_synthesis_ranks_by_the_grpo_reward_with_the_recipe_weights():
    """One composite: a verified-wrong, well-formed answer gets the same number from GRPO's reward and from
    synthesis's ranking, with the recipe's own (non-default) weights, not hard-coded ones."""
    from pns_hub.rewards import functions as rewards
    from pns_hub.synthesis import selection as synthesis_select
    weights = {"composite_base": 0.1, "composite_rm_weight": 0.7, "composite_judge_weight": 0.2}
    cfg = synthesize.SynthesisConfig(progress=False, **weights)
    reward = rewards.get_composite_reward(scorer=_ConstScorer(0.5), judge=_ConstScorer(1.0), base=0.1, rm_weight=0.7,
                                          judge_weight=0.2)
    wrong = "We add the numbers step by step: 2 + 2 makes five in this count.\nSo the answer is \\boxed{5}."
    (grpo_value,) = reward(prompts=["p"], completions=[wrong], answer=["4"], problem=["What is 2+2?"])
    assert grpo_value == pytest.approx(0.1 + 0.7 * 0.5 + 0.2 * 1.0)
    assert synthesis_select.plausibility(cfg, 0.5, 1.0) == pytest.approx(grpo_value)
    assert synthesis_select.plausibility(cfg, 0.5, None) == pytest.approx(0.1 + 0.9 * 0.5)  # judge weight moves


def test_config_rejects_unknown_values():
    with pytest.raises(ValueError, match="sources"):
        synthesize.SynthesisConfig(sources=["nope"])
    with pytest.raises(ValueError, match="rejected_choice"):
        synthesize.SynthesisConfig(rejected_choice="best")
    with pytest.raises(ValueError, match="hub_repo_id"):
        synthesize.SynthesisConfig(push_to_hub=True)


def test_arithmetic_evaluator_is_bounded():
    """``9**9**9`` would keep a worker busy for hours under ``eval``; the bounded evaluator answers None at once."""
    import time

    assert negatives._eval_arith("12 x 5 + 3") == 63.0 and negatives._eval_arith("48/2") == 24.0
    assert negatives._eval_arith("2**10") == 1024.0 and negatives._eval_arith("-(3 - 5) * 2") == 4.0
    start = time.perf_counter()
    for expr in ("9**9**9", "10**10**10", "2**99999999", "99999999*99999999*99999999", "(" * 500 + "1" + ")" * 500,
                 "1/0", "(-8)**(1/3)"):
        assert negatives._eval_arith(expr) is None, expr
    assert time.perf_counter() - start < 1.0
