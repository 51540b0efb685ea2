"""The grader on other harnesses' cases (tests/data/verify_external.jsonl, built by make_verify_external.py).

Math-Verify's and lighteval's own test tables (boxed cases), hendrycks MATH ``is_equiv``, Qwen2.5-Math, PRM800K and
simple-evals facts, and every class of issue #31. Each row names its source; rows where this grader's verdict
differs from the source's on purpose carry a ``note``.
"""

import json
from collections import Counter
from pathlib import Path

import pytest

from pns_hub.grading import verify
from pns_hub.stats import wilson_interval

CASES = Path(__file__).parent / "data" / "verify_external.jsonl"
ROWS = [json.loads(line) for line in CASES.read_text(encoding="utf-8").splitlines()]
SUITES = ("math_verify_suite", "lighteval_suite")


def _agrees(row, verdict):
    """Exact verdict; the harness suites only say correct (1) or not (0)."""
    if row["category"] in SUITES:
        return (verdict == verify.CORRECT) == (row["expected"] == verify.CORRECT)
    return verdict == row["expected"]


@pytest.fixture(scope="module")
def verdicts():
    results = verify.verify_batch([r["completion"] for r in ROWS], [r["gold"] for r in ROWS], num_workers=0)
    return [r.verdict for r in results]


def test_every_row_names_its_source_and_categories_are_covered():
    assert all(r["source"] and r["expected"] in verify.VERDICTS for r in ROWS)
    assert {"math_verify_suite", "hendrycks_math", "qwen25_math", "prm800k", "simple_evals", "issue31"} <= \
        set(Counter(r["category"] for r in ROWS))
    assert sum(r["category"] == "math_verify_suite" for r in ROWS) >= 180


def test_agreement_and_no_false_positive(verdicts, capsys):
    per = Counter()
    for row, got in zip(ROWS, verdicts):
        per[row["category"], _agrees(row, got)] += 1
    with capsys.disabled():
        print("\ngrader agreement with other harnesses' cases (n, 95% Wilson interval):")
        for category in sorted({r["category"] for r in ROWS}):
            k, n = per[category, True], per[category, True] + per[category, False]
            low, high = wilson_interval(k, n)
            print(f"  {category:20s} {k:4d}/{n:<4d} = {k / n:6.1%}  [{low:.1%}, {high:.1%}]")
        for row, got in zip(ROWS, verdicts):
            if not _agrees(row, got):
                print(f"  disagreement ({row['category']}): expected {row['expected']}, got {got}: "
                      f"{row['completion'][:70]!r} vs gold {row['gold'][:40]!r}")
    false_positives = [r for r, v in zip(ROWS, verdicts) if v == verify.CORRECT and r["expected"] != verify.CORRECT]
    assert not false_positives
    agree = sum(_agrees(r, v) for r, v in zip(ROWS, verdicts))
    assert agree / len(ROWS) >= 0.98
    suite = [(r, v) for r, v in zip(ROWS, verdicts) if r["category"] == "math_verify_suite"]
    assert sum(_agrees(r, v) for r, v in suite) / len(suite) >= 0.95


@pytest.mark.parametrize("row", [r for r in ROWS if r["category"] == "issue31"],
                         ids=lambda r: f"{r['gold'][:30]}|{r['completion'][20:60]}")
def test_every_class_of_issue_31(row):
    assert verify.verify_one(row["completion"], row["gold"]).verdict == row["expected"]
