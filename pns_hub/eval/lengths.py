"""Where the per-task generation lengths in ``pns_hub.eval.tasks`` come from: the bundled gold worked solutions.

Rule: the smallest power of two >= 2 x the 99th-percentile token length of a benchmark's gold solutions, capped at
the model's context. Benchmarks without worked solutions (aime25 stores only answers, amc23 none) get the longest
rule value, as do those whose rule reaches the cap. ``python -m pns_hub.eval.lengths [MODEL]`` prints the table.
"""

from __future__ import annotations

import math
import sys


def gold_solution_lengths(tokenizer, bench: str) -> list[int]:
    """Token length of every gold worked solution of ``bench`` (empty when it has none worth the name)."""
    from pns_hub.data.problems import load_problems

    texts = []
    for row in load_problems(bench):
        solution = row.get("solution")
        solution = " ".join(solution) if isinstance(solution, list) else solution
        if solution and solution.strip() != str(row.get("answer", "")).strip():
            texts.append(solution)
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]] if texts else []


def percentile(values: list[int], q: float) -> int:
    """Nearest-rank percentile (no interpolation: the value of a real solution)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def rule_length(p99: int | None, cap: int) -> int:
    if not p99:
        return cap
    return min(cap, 1 << math.ceil(math.log2(2 * p99)))


def measured_table(tokenizer, cap: int = 8192) -> dict[str, dict]:
    """bench -> {n, p99, max, length} under the rule above."""
    from pns_hub.data.problems import BENCHMARK_NAMES

    table = {}
    for bench in BENCHMARK_NAMES:
        lengths = gold_solution_lengths(tokenizer, bench)
        p99 = percentile(lengths, 99) if lengths else None
        table[bench] = {"n": len(lengths), "p99": p99, "max": max(lengths) if lengths else None,
                        "length": rule_length(p99, cap)}
    return table


def main(argv: list[str] | None = None) -> int:
    from pns_hub.models import EMBEDDED_DEFAULT, load_tokenizer

    argv = sys.argv[1:] if argv is None else argv
    tokenizer = load_tokenizer(argv[0] if argv else EMBEDDED_DEFAULT)
    print("| benchmark | gold solutions | p99 tokens | max tokens | generation length |\n|---|---|---|---|---|")
    for bench, r in measured_table(tokenizer).items():
        print(f"| {bench} | {r['n']} | {r['p99'] or '-'} | {r['max'] or '-'} | {r['length']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
