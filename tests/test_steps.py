"""The step checker (pns_hub.grading.steps) on hand-written solutions, on every testbed gold solution (material we did
not write by hand: 4,600 generated solutions of all 11 templates) and on the perturbed baseline's edits of them."""

import pytest

from pns_hub.grading.steps import check_solution, eval_arith, plausibility_scores, read_steps

PROBLEM = ("Maria has 12 apples. Maria buys 7 more. Then Maria gets 5 more from a friend. "
           "How many apples does Maria have now?")


def test_a_right_chain_scores_one():
    c = check_solution("Maria starts with 12 apples.\nAfter buying: 12 + 7 = 19 apples.\n"
                       "After the gift: 19 + 5 = 24 apples.\n\nThe final answer is $\\boxed{24}$.", PROBLEM)
    assert (c.num_steps, c.step_accuracy, c.grounded, c.first_wrong_step, c.answer_follows) == (2, 1.0, 1.0, None, True)
    assert c.plausibility == 1.0


def test_one_slip_is_found_at_its_step_and_carried():
    # 12 + 7 = 18 is the slip; the next step computes right on the wrong value, and the answer follows from it
    c = check_solution("After buying: 12 + 7 = 18 apples.\nAfter the gift: 18 + 5 = 23 apples.\n\\boxed{23}", PROBLEM)
    assert [s.correct for s in c.steps] == [False, True]
    assert (c.step_accuracy, c.grounded, c.first_wrong_step, c.answer_follows) == (0.5, 1.0, 1, True)
    assert c.plausibility == pytest.approx((0.5 + 1.0 + 1.0) / 3)


def test_a_wrong_final_line_does_not_follow_from_the_steps():
    c = check_solution("After buying: 12 + 7 = 19 apples.\nAfter the gift: 19 + 5 = 24 apples.\n\\boxed{25}", PROBLEM)
    assert (c.step_accuracy, c.first_wrong_step, c.answer_follows, c.final_answer) == (1.0, None, False, 25.0)
    assert c.plausibility == pytest.approx(2 / 3)


def test_numbers_not_from_the_problem_are_not_grounded():
    # 8 is nowhere in the problem and no earlier result: a misread quantity; 20 then comes from the first step
    c = check_solution("After buying: 12 + 8 = 20 apples.\nAfter the gift: 20 + 5 = 25 apples.\n\\boxed{25}", PROBLEM)
    assert (c.step_accuracy, c.answer_follows) == (1.0, True)
    assert c.grounded == pytest.approx(3 / 4)
    assert c.plausibility == pytest.approx((1.0 + 0.75 + 1.0) / 3)


def test_no_arithmetic_step_scores_zero_and_formats_are_read():
    assert check_solution("The answer is clearly \\boxed{24}.", PROBLEM).plausibility == 0.0
    assert check_solution("", PROBLEM).num_steps == 0
    # LaTeX and unicode operators, dollars, thousands commas, decimals at their written precision, negatives
    steps = read_steps("$12 \\times 100 = \\$1,200$, 1,200 ÷ 7 = 171.43, 5 x 3 = 15 and 3 - 5 = -2", "12 7 5 3")
    assert [s.correct for s in steps] == [True, True, True, True]
    assert [s.claimed for s in steps] == [1200.0, 171.43, 15.0, -2.0]
    # a result is right at the precision it is written in: 171.4 is 1200/7 to one decimal, 171.5 is not
    assert read_steps("1,200 / 7 = 171.4", "")[0].correct and not read_steps("1,200 / 7 = 171.5", "")[0].correct
    assert eval_arith("2**10") == 1024.0 and eval_arith("9**9**9") is None and eval_arith("__import__('os')") is None
    with pytest.raises(ValueError, match="2 solutions but 1 problems"):
        plausibility_scores(["a", "b"], ["p"])


def test_every_testbed_gold_solution_scores_one():
    from pns_hub.data import testbed

    rows = testbed.load("testbed_train") + testbed.load("testbed_ood")
    low = [r["id"] for r in rows if check_solution(r["solution"], r["problem"]).plausibility != 1.0]
    assert len(rows) == 4600 and low == []


def test_perturbed_golds_carry_exactly_one_slip():
    """The perturbed baseline changes one step's result and carries it on: the checker must find one wrong step
    where the perturbation edited an equation, and no ungrounded operand (the wrong value is an earlier result)."""
    from pns_hub.data import testbed
    from pns_hub.synthesis.baselines import perturb_solution

    found = 0
    for r in testbed.load("testbed_train")[:200]:
        text, how = perturb_solution(r["solution"], r["answer"], seed=1)
        c = check_solution(text, r["problem"])
        if how.startswith("step"):
            wrong = [i + 1 for i, s in enumerate(c.steps) if not s.correct]
            assert wrong == [int(how.split()[1].rstrip(":"))], (r["id"], text)
            assert c.grounded == 1.0 and c.answer_follows and c.plausibility < 1.0
            found += 1
    assert found > 150


def test_the_oracle_reward_is_the_gated_composite_with_the_step_checker():
    """pns_oracle: bad format -1, correct 0, verified wrong 0.5 + 0.5 x step plausibility; logged as pns/steps."""
    from types import SimpleNamespace

    from pns_hub.rewards.functions import get_reward_funcs

    (fn,) = get_reward_funcs(["pns_oracle"], SimpleNamespace(reward_model_path=None, judge_model="unused-spec"))
    slip = "We add what she buys.\nAfter buying: 12 + 7 = 18 apples.\nAfter the gift: 18 + 5 = 23 apples.\n\n" \
           "The final answer is $\\boxed{23}$."
    bare = "Maria has many apples and she gets a few more of them, so in the end she has this many.\n\n" \
           "The final answer is $\\boxed{30}$."
    right = slip.replace("= 18", "= 19").replace("18 +", "19 +").replace("23", "24")
    logged = {}
    out = fn(completions=[slip, bare, right, "\\boxed{23"], answer=["24"] * 4, problem=[PROBLEM] * 4,
             log_metric=lambda k, v: logged.__setitem__(k, v))
    assert out[0] == pytest.approx(0.5 + 0.5 * (0.5 + 1 + 1) / 3) and out[1] == pytest.approx(0.5)
    assert out[2:] == [0.0, -1.0]
    assert logged["pns/steps"] == pytest.approx(((0.5 + 1 + 1) / 3 + 0.0) / 2) and "pns/rm" not in logged
    assert fn.__name__ == "pns_oracle_reward"
