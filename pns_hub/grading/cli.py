"""``pns-hub verify``: grade a JSONL of completions against gold answers and print accuracy; or ``--audit`` a dataset.

Each input row needs a completion and a gold answer (field names configurable). Rows lacking either are errors naming
the file, line and field; nothing is skipped silently.

``pns-hub verify --audit DATASET_FOLDER`` re-checks a negatives dataset (the Hub layout synthesis writes,
``data/<config>/*.parquet``) with the current grader: every ``chosen`` must still verify correct and every
``rejected`` must still be a valid negative. Rows whose label changed are listed (``--output`` writes them as JSONL)
and the exit status is 1 when there is any, so a published dataset built on an older grader can be checked in CI.

``pns-hub verify --mutations [--sample N] [--output-dir DIR]`` grades near misses and restatements of every bundled
gold (:mod:`pns_hub.grading.mutation_sweep`); the exit status is 1 when a near miss is called correct or a set
accepts fewer than 99% of its restatements.

``pns-hub verify --cross-audit FILE.jsonl`` runs the same completions through this grader, lighteval's extractive
match and math-verify used directly, and lists every disagreement (:mod:`pns_hub.grading.cross_audit`).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from pns_hub.data.problems import DataError, read_jsonl
from pns_hub.grading.verify import DEFAULT_TIMEOUT, VERDICTS, verify_batch


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


def _message_text(value, path, row: int, field: str) -> str:
    """``chosen`` / ``rejected`` as TRL stores them: a string or a list of chat messages (the last one is checked)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and isinstance(value[-1], dict) and isinstance(value[-1].get("content"), str):
        return value[-1]["content"]
    raise DataError(path, row, field, "must be a string or a list of chat messages with 'content'")


def audit_folder(folder: str, num_workers: int | None = None, timeout: float = DEFAULT_TIMEOUT):
    """Re-verify every ``chosen`` and ``rejected`` of a Hub-layout negatives dataset.

    Returns ``(number of answers checked, changed labels)``; a change is a dict naming config, file, row, side, the
    old label and the new verdict with its reason.
    """
    import pyarrow.parquet as pq

    root = Path(folder)
    files = sorted(root.glob("data/*/*.parquet"))
    if not files:
        raise DataError(root, None, None, "no data/<config>/*.parquet files: not a Hub-layout dataset folder")
    checks = []
    for path in files:
        for index, row in enumerate(pq.read_table(path).to_pylist()):
            for field in ("gold_answer", "chosen", "rejected"):
                if row.get(field) is None:
                    raise DataError(path, index + 1, field, "missing")
            for side in ("chosen", "rejected"):
                text = _message_text(row[side], path, index + 1, side)
                checks.append((path, index, side, text, str(row["gold_answer"]), row.get("problem_id")))
    results = verify_batch([c[3] for c in checks], [c[4] for c in checks], num_workers=num_workers, timeout=timeout)
    changes = []
    for (path, index, side, _, gold, problem_id), result in zip(checks, results):
        still = result.is_correct if side == "chosen" else result.is_valid_negative
        if not still:
            # rows counted from 1, as the errors above and every other file/line message count them
            changes.append({"config": path.parent.name, "file": str(path.relative_to(root)), "row": index + 1,
                            "problem_id": problem_id, "side": side, "gold": gold,
                            "label": "verified correct" if side == "chosen" else "verified wrong",
                            **result.to_dict()})
    return len(checks), changes


def audit_main(args, parser) -> int:
    try:
        n, changes = audit_folder(args.audit, num_workers=args.num_workers, timeout=args.timeout)
    except DataError as err:
        parser.exit(2, f"pns-hub verify --audit: {err}\n")
    print(f"audited {n} answers (chosen and rejected) in {args.audit}: {len(changes)} labels changed")
    for c in changes:
        print(f"  {c['file']} row {c['row']} ({c['problem_id']}) {c['side']}: was {c['label']}, now {c['verdict']} "
              f"- extracted {c['extracted']!r} vs gold {c['gold']!r}: {c['reason']}")
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in changes),
                                     encoding="utf-8")
    return 1 if changes else 0


def mutations_main(args) -> int:
    import platform
    import sys

    from pns_hub.grading import mutation_sweep
    from pns_hub.hardware import device_name

    rows = mutation_sweep.sweep(args.sets.split(",") if args.sets else None, sample=args.sample,
                                num_workers=args.num_workers)
    meta = {"command": "pns-hub verify " + " ".join(sys.argv[2:] if sys.argv[1:2] == ["verify"] else sys.argv[1:]),
            "machine": f"{device_name()}, {platform.python_version()}", "sample": args.sample}
    print(mutation_sweep.markdown(rows, f"Grader mutation sweep ({meta['machine']})"))
    if args.output_dir:
        print("wrote " + ", ".join(str(p) for p in mutation_sweep.write(rows, args.output_dir, meta)))
    bad = [r["set"] for r in rows if r["near_misses_called_correct"] or r["restatement_acceptance"] < 0.99]
    return 1 if bad else 0


def cross_audit_main(args, parser) -> int:
    from pns_hub.grading.cross_audit import cross_audit, report

    try:
        _, _, rows = load_completions(args.cross_audit, args.completion_field, args.gold_field)
    except DataError as err:
        parser.exit(2, f"pns-hub verify --cross-audit: {err}\n")
    result = cross_audit(rows, args.completion_field, args.gold_field, num_workers=args.num_workers)
    print(report(result, args.cross_audit))
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        summary = {k: v for k, v in result.items() if k != "disagreements"}
        Path(args.output).write_text(json.dumps({"file": args.cross_audit, **summary,
                                                 "disagreements": result["disagreements"]}, indent=1,
                                                ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The description as written, and every option's default in its help."""


def cli_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="pns-hub verify", description=__doc__,
                                     formatter_class=HelpFormatter)
    parser.add_argument("file", nargs="?", help="JSONL with one completion and its gold answer per line")
    parser.add_argument("--audit", metavar="DATASET_FOLDER",
                        help="re-check every chosen/rejected of a negatives dataset folder and list changed labels")
    parser.add_argument("--mutations", action="store_true",
                        help="grade near misses and restatements of every bundled gold (issue #31 figures)")
    parser.add_argument("--sets", help="with --mutations: comma-separated sets (default: the 7 benchmarks + testbed)")
    parser.add_argument("--sample", type=int, help="with --mutations: golds drawn per set (default: all)")
    parser.add_argument("--output-dir", help="with --mutations: write grader_mutations.json and .md here")
    parser.add_argument("--cross-audit", metavar="FILE",
                        help="grade FILE with this grader, lighteval and math-verify; list their disagreements")
    parser.add_argument("--completion-field", default="completion", help="the input rows' completion field")
    parser.add_argument("--gold-field", default="answer", help="the input rows' gold answer field")
    parser.add_argument("--num-workers", type=int, default=None, help="0 = sequential in-process; default: all cores")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per check")
    parser.add_argument("--output", help="write each row with its extracted answer, verdict and reason (JSONL)")
    args = parser.parse_args(argv)
    if args.audit:
        return audit_main(args, parser)
    if args.mutations:
        return mutations_main(args)
    if args.cross_audit:
        return cross_audit_main(args, parser)
    if not args.file:
        parser.error("give a JSONL file, or --audit DATASET_FOLDER")
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
