"""Verification checks/second: sequential (``num_workers=0``) vs the watchdog pool (``num_workers=2``).

The corpus mixes what a synthesis run really feeds the verifier: MATH-500 gold answers restated as completions
(correct), perturbed answers (wrong), completions with no answer (unparseable), and pathological ones that must not
stall a batch: a power tower ``\\boxed{10^{10^{10^{10}}}}`` and a 50 kB garbage answer. Both runs must return the
same verdicts (the pool may only change the speed); the script fails loudly if they do not.
"""

from __future__ import annotations

import random
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
    from pns_hub import data

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


def run(quick: bool = False) -> list[dict]:
    from pns_hub import verify

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
    return rows


def main(argv=None) -> None:
    _common.env_setup()
    quick = "--quick" in (argv if argv is not None else sys.argv[1:])
    rows = run(quick)
    _common.print_rows(rows)


if __name__ == "__main__":
    main()
