"""``pns-hub verify``: grade a JSONL of completions against gold answers and print accuracy.

Each input row needs a completion and a gold answer (field names configurable). Rows lacking either are errors naming
the file, line and field; nothing is skipped silently.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from .data import DataError, read_jsonl
from .verify import DEFAULT_TIMEOUT, VERDICTS, verify_batch


def load_completions(path: str, completion_field: str, gold_field: str) -> tuple[list[str], list[str], list[dict]]:
    completions, golds, rows = [], [], []
    for line, row in read_jsonl(path):
        if not isinstance(row, dict):
            raise DataError(path, line, None, "row must be a JSON object")
        for field in (completion_field, gold_field):
            if field not in row or row[field] is None:
                raise DataError(path, line, field, "missing")
        gold = row[gold_field]
        if isinstance(gold, (int, float)) and not isinstance(gold, bool):
            gold = str(gold)
        if not isinstance(row[completion_field], str):
            raise DataError(path, line, completion_field, f"must be a string, got {type(row[completion_field]).__name__}")
        if not isinstance(gold, str):
            raise DataError(path, line, gold_field, f"must be a string or number, got {type(gold).__name__}")
        completions.append(row[completion_field])
        golds.append(gold)
        rows.append(row)
    return completions, golds, rows


def cli_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="pns-hub verify", description=__doc__)
    parser.add_argument("file", help="JSONL with one completion and its gold answer per line")
    parser.add_argument("--completion-field", default="completion")
    parser.add_argument("--gold-field", default="answer")
    parser.add_argument("--num-workers", type=int, default=None, help="0 = sequential in-process; default: all cores")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per check")
    parser.add_argument("--output", help="write each row with its extracted answer, verdict and reason (JSONL)")
    args = parser.parse_args(argv)
    try:
        completions, golds, rows = load_completions(args.file, args.completion_field, args.gold_field)
    except DataError as err:
        parser.exit(2, f"pns-hub verify: {err}\n")
    results = verify_batch(completions, golds, num_workers=args.num_workers, timeout=args.timeout, progress=True)
    counts = Counter(r.verdict for r in results)
    total = len(results)
    print(f"accuracy: {counts['correct'] / total:.4f} ({counts['correct']}/{total})" if total else "no rows")
    print("verdicts: " + ", ".join(f"{v}={counts[v]}" for v in VERDICTS))
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        with open(args.output, "w", encoding="utf-8") as out:
            for row, result in zip(rows, results):
                out.write(json.dumps({**row, **result.to_dict()}, ensure_ascii=False) + "\n")
    return 0
