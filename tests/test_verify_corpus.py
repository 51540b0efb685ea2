"""The grader against its corpus (tests/data/verify_corpus.jsonl) and the same grader behind reward and eval metric."""

import json
import math
from collections import Counter
from pathlib import Path

import pytest

from pns_hub.grading import verify
CORPUS = Path(__file__).parent / "data" / "verify_corpus.jsonl"
ROWS = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson interval of a proportion k/n."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@pytest.fixture(scope="module")
def verdicts():
    results = verify.verify_batch([r["completion"] for r in ROWS], [r["gold"] for r in ROWS], num_workers=0)
    return [r.verdict for r in results]


def test_corpus_is_big_and_covers_every_category():
    categories = Counter(r["category"] for r in ROWS)
    assert len(ROWS) >= 300
    assert {"issue", "restatement", "near_miss", "non_answer", "multi_answer", "extraction", "math_verify_suite",
            "latex_math500", "latex_olympiadbench", "latex_minerva"} <= set(categories)
    assert set(r["expected"] for r in ROWS) <= set(verify.VERDICTS)


def test_corpus_agreement(verdicts, capsys):
    """>= 98% agreement overall, no wrong answer or non-answer called correct, no restatement called wrong."""
    per = {}
    for row, got in zip(ROWS, verdicts):
        k, n = per.get(row["category"], (0, 0))
        per[row["category"]] = (k + (got == row["expected"]), n + 1)
    with capsys.disabled():
        print("\ngrader agreement with the corpus per category (n, 95% Wilson interval):")
        for category, (k, n) in sorted(per.items()):
            lo, hi = wilson(k, n)
            print(f"  {category:22s} {k:4d}/{n:<4d} = {k / n:6.1%}  [{lo:.1%}, {hi:.1%}]")
        k, n = sum(v[0] for v in per.values()), len(ROWS)
        lo, hi = wilson(k, n)
        print(f"  {'all':22s} {k:4d}/{n:<4d} = {k / n:6.1%}  [{lo:.1%}, {hi:.1%}]")
        for row, got in zip(ROWS, verdicts):
            if got != row["expected"]:
                print(f"  disagreement ({row['category']}): expected {row['expected']}, got {got}: "
                      f"{row['completion'][:80]!r} vs gold {row['gold'][:50]!r}")
    false_positives = [r for r, v in zip(ROWS, verdicts) if v == verify.CORRECT and r["expected"] != verify.CORRECT]
    assert not false_positives
    restated_wrong = [r for r, v in zip(ROWS, verdicts)
                      if r["category"] in ("restatement", "issue", "extraction") and r["expected"] != v]
    assert not restated_wrong
    non_answers_wrong = [r for r, v in zip(ROWS, verdicts) if r["category"] == "non_answer" and v == verify.WRONG]
    assert not non_answers_wrong
    assert k / n >= 0.98


@pytest.mark.parametrize("row", [r for r in ROWS if r["category"] == "issue"], ids=lambda r: r["completion"][:40])
def test_every_case_of_the_issue(row):
    assert verify.verify_one(row["completion"], row["gold"]).verdict == row["expected"]


FAST = ("issue", "restatement", "near_miss", "non_answer", "extraction", "multi_answer")


@pytest.mark.parametrize("categories", [
    FAST, pytest.param(None, marks=pytest.mark.slow, id="all-boxed-cases")], ids=lambda c: "fast-categories")
def test_reward_and_eval_metric_split_the_boxed_cases_the_same_way(categories):
    """The GRPO accuracy-inversion reward and the lighteval metric read answers through the same grader."""
    from pns_hub.eval.tasks import score_predictions
    from pns_hub.rewards.functions import accuracy_inversion_reward

    boxed = [r for r in ROWS if "\\boxed" in r["completion"] and r["category"] != "pathological"
             and (categories is None or r["category"] in categories)]
    rewards = accuracy_inversion_reward(completions=[r["completion"] for r in boxed],
                                        answer=[r["gold"] for r in boxed])
    scores = [score_predictions([r["completion"]], r["gold"])[0] for r in boxed]
    assert len(boxed) >= (200 if categories else 400)
    assert [i for i, s in enumerate(scores) if s == 1] == [i for i, x in enumerate(rewards) if x == 0.0]
    assert all(scores[i] == 0 for i, x in enumerate(rewards) if x == 1.0)
    paid = [r for r, x in zip(boxed, rewards) if x == 1.0]
    assert paid and not [r for r in paid if r["expected"] == verify.UNPARSEABLE or r["category"] == "restatement"]


def test_every_bundled_gold_verifies_against_itself():
    from pns_hub.data import problems as data
    rows = [r for bench in data.BENCHMARK_NAMES for r in data.load_problems(bench)]
    results = verify.verify_batch([f"So the answer is $\\boxed{{{r['answer']}}}$." for r in rows],
                                  [r["answer"] for r in rows], num_workers=0)
    assert [(r["id"], x.reason) for r, x in zip(rows, results) if not x.is_correct] == []


def test_bundled_reference_solutions_verify_correct():
    """Reference solutions with a final answer (MATH-500, Minerva, GSM8K, AIME) verify correct: they are the chosen
    side of synthesis when the policy has no correct sample. OlympiadBench solutions state no final answer."""
    from pns_hub.data import problems as data
    for bench in ("math_500", "minerva_math", "gsm8k", "aime24"):
        rows = [r for r in data.load_problems(bench) if r.get("solution")]
        results = verify.verify_batch([r["solution"] for r in rows], [r["answer"] for r in rows], num_workers=2)
        wrong = [(r["id"], x.verdict, x.reason) for r, x in zip(rows, results) if x.verdict == verify.WRONG]
        correct = sum(x.is_correct for x in results)
        assert not wrong, bench
        assert correct >= len(rows) - 1, (bench, correct, len(rows))  # aime24/... one solution has no final answer
