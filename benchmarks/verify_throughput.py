"""Verification checks/second: sequential (``num_workers=0``) vs the watchdog pool (``num_workers=2``), and the cost
of the lenient grader (issue #13: restatement layer, strict check, non-answers) against the old check it replaced.

The corpus mixes what a synthesis run really feeds the verifier: MATH-500 gold answers restated as completions
(correct), perturbed answers (wrong), completions with no answer (unparseable), and pathological ones that must not
stall a batch: a power tower ``\\boxed{10^{10^{10^{10}}}}`` and a 50 kB garbage answer. Both runs must return the
same verdicts (the pool may only change the speed); the script fails loudly if they do not.
"""

from __future__ import annotations

import random
import re
import sys

try:
    from benchmarks import _common
except ImportError:
    sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.dirname(__file__)))
    from benchmarks import _common


def _perturb(answer: str, rng: random.Random) -> str:
    """A plausible wrong answer: change one digit, or append '+1' where there is none."""
    digits = [i for i, ch in enumerate(answer) if ch.isdigit()]
    if digits:
        i = rng.choice(digits)
        return answer[:i] + str((int(answer[i]) + rng.randint(1, 8)) % 10) + answer[i + 1:]
    return answer + "+1"


def corpus(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """``n`` (completion, gold) pairs: ~45% correct, ~45% wrong, ~5% no answer, plus the pathological cases."""
    from pns_hub.data import problems as data
    rng = random.Random(seed)
    rows = [r for r in data.load_problems("math_500") if r["answer"]]
    completions, golds = [], []
    garbage = "".join(rng.choice("x+-*/^{}()1234567890\\frac ") for _ in range(50_000))
    pathological = ["So the answer is \\boxed{10^{10^{10^{10}}}}.", f"The answer is \\boxed{{{garbage}}}",
                    "Let me think about it. " * 40]
    for k in range(n):
        gold = rows[k % len(rows)]["answer"]
        if k % 20 == 19:
            text = pathological[(k // 20) % len(pathological)]
        elif k % 2 == 0:
            text = f"Step by step... so the final answer is $\\boxed{{{gold}}}$."
        else:
            text = f"Step by step... so the final answer is $\\boxed{{{_perturb(gold, rng)}}}$."
        completions.append(text)
        golds.append(gold)
    return completions, golds


_OLD_TOWER = re.compile(r"\^\s*\{[^{}]*\^")
_OLD_FALLBACKS = (  # the pre-#13 phrase patterns, tried in this order (first pattern wins, not the last phrase)
    re.compile(r"####\s*([^\n]+)"),
    re.compile(r"final answer(?: is)?\s*[:：]?\s*\$?([^\n$]+?)\$?\s*(?:\.|$|\n)", re.IGNORECASE),
    re.compile(r"(?:the )?answer is\s*[:：]?\s*\$?([^\n$]+?)\$?\s*(?:\.\s|\.$|$|\n)", re.IGNORECASE),
    re.compile(r"^\s*answer\s*[:：]\s*\$?([^\n$]+?)\$?\s*$", re.IGNORECASE | re.MULTILINE),
)


def old_check(completion: str, gold: str, timeout: float = 5.0) -> str:
    """The check before issue #13, kept here as the cost baseline: last box or first matching phrase pattern, both
    answers parsed by math-verify 0.5.2 on every call (no gold cache), no restatement layer, no strict check."""
    from math_verify import verify as mv_verify

    from pns_hub.grading import verify
    answer = verify.extract_boxed(completion)
    if answer is None:
        found = next((p.findall(completion) for p in _OLD_FALLBACKS if p.findall(completion)), [])
        answer = found[-1].strip().rstrip(".").strip() if found else None
    if not answer:
        return verify.UNPARSEABLE
    if len(answer) > verify.MAX_ANSWER_CHARS or _OLD_TOWER.search(answer):
        return verify.UNVERIFIABLE
    t = max(1, int(timeout))
    try:
        parsed_gold, parsed = verify._parse(gold, t), verify._parse(answer, t)
        if not parsed_gold or not parsed:
            return verify.UNPARSEABLE
        return verify.CORRECT if mv_verify(parsed_gold, parsed, timeout_seconds=t) else verify.WRONG
    except Exception:  # noqa: BLE001
        return verify.UNVERIFIABLE


def lenient_vs_old(completions, golds, rounds: int = 2) -> tuple[float, float]:
    """Seconds per check of the old check and of today's ``verify_one``, same corpus, alternating, best round each
    (the machine is shared: the best round is the least disturbed one)."""
    from pns_hub.grading import verify
    old, new = [], []
    for _ in range(rounds):
        verify._PARSED_GOLDS.clear()  # every round starts cold, as a fresh process would
        with _common.Timer() as t_old:
            for c, g in zip(completions, golds):
                old_check(c, g)
        with _common.Timer() as t_new:
            for c, g in zip(completions, golds):
                verify.verify_one(c, g)
        old.append(t_old.seconds)
        new.append(t_new.seconds)
    return min(old) / len(completions), min(new) / len(completions)


def verification_corpus() -> tuple[list[str], list[str]]:
    """tests/data/verify_corpus.jsonl: the grader's test corpus (restatements, near misses, LaTeX golds, ...)."""
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "tests" / "data" / "verify_corpus.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    rows = [r for r in rows if r["category"] != "pathological"]  # the old check has no guard for some of them
    return [r["completion"] for r in rows], [r["gold"] for r in rows]


def run(quick: bool = False) -> list[dict]:
    from pns_hub.grading import verify
    n = 120 if quick else 600
    completions, golds = corpus(n)
    verify.verify_batch(completions[:4], golds[:4], num_workers=0)  # import math-verify/sympy outside the timing
    rows = []
    load0 = _common.load_avg()
    with _common.Timer() as seq:
        seq_results = verify.verify_batch(completions, golds, num_workers=0)
    with _common.Timer() as par:
        par_results = verify.verify_batch(completions, golds, num_workers=2)
    mismatched = [i for i, (a, b) in enumerate(zip(seq_results, par_results)) if a.verdict != b.verdict]
    if mismatched:
        raise AssertionError(f"pool verdicts differ from sequential at {mismatched[:10]}")
    counts = {v: sum(r.verdict == v for r in par_results) for v in verify.VERDICTS}
    rows.append(_common.row(
        "verify: seq vs 2 workers", round(n / seq.seconds, 1), round(n / par.seconds, 1), "checks/s",
        notes=f"{n} checks, verdicts {counts}, identical in both runs; load {load0}->{_common.load_avg()}"))
    for name, (texts, answers) in (("MATH-500 mix", (completions, golds)), ("verify corpus", verification_corpus())):
        load0 = _common.load_avg()
        old, new = lenient_vs_old(texts, answers, rounds=1 if quick else 2)
        extra = new / old - 1
        print(f"lenient vs old check on the {name} ({len(texts)} checks): {1000 * old:.2f} ms -> {1000 * new:.2f} ms "
              f"per check, ratio {new / old:.2f} ({extra:+.0%} per check; done-when: at most +20%)", flush=True)
        rows.append(_common.row(
            f"verify: old check vs lenient ({name})", round(1 / old, 1), round(1 / new, 1), "checks/s",
            notes=f"{len(texts)} checks, sequential, same run; lenient costs {extra:+.0%} per check; "
                  f"load {load0}->{_common.load_avg()}"))
    return rows


def main(argv=None) -> None:
    _common.env_setup()
    quick = "--quick" in (argv if argv is not None else sys.argv[1:])
    rows = run(quick)
    _common.print_rows(rows)


if __name__ == "__main__":
    main()
