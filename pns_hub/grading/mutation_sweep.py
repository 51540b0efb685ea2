"""Every bundled gold mutated and graded: the grader's figures on material it was not tuned on (issue #31).

``pns-hub verify --mutations [--sample N] [--output-dir DIR]`` runs :func:`sweep` over the seven benchmarks and the
testbed and writes ``grader_mutations.json`` / ``.md``. Two figures per set: near misses called correct (must be 0:
each one is a wrong answer the grader would pay or score) and the share of restatements accepted, with its 95%
Wilson interval. Edits of a near-miss kind that keep the value (:mod:`pns_hub.grading.mutations`) are counted as
restatements and tallied by why; golds that get no near miss (prose golds) are counted, never silently dropped.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from pathlib import Path

from pns_hub.grading.mutations import Mutation, is_prose, mutations
from pns_hub.grading.verify import CORRECT, verify_batch
from pns_hub.stats import wilson_interval

TEMPLATE = "Step by step, as shown above. The final answer is $\\boxed{{{}}}$."


def set_names() -> tuple[str, ...]:
    from pns_hub.data.problems import BENCHMARK_NAMES

    return (*BENCHMARK_NAMES, "testbed")


def golds(name: str) -> list[str]:
    """The distinct non-empty gold answers of a bundled benchmark (or the default testbed set), in file order."""
    if name == "testbed":
        from pns_hub.data.testbed import load

        rows = load("testbed")
    else:
        from pns_hub.data.problems import load_problems

        rows = load_problems(name)
    return list(dict.fromkeys(str(r["answer"]) for r in rows if str(r["answer"]).strip()))


def _figures(name: str, pairs: list[tuple[str, Mutation]], results, n_golds: int, seconds: float) -> dict:
    near = [(g, m, r) for (g, m), r in zip(pairs, results) if m.changes_value]
    kept = [(g, m, r) for (g, m), r in zip(pairs, results) if not m.changes_value]
    accepted = sum(r.verdict == CORRECT for _, _, r in kept)
    low, high = wilson_interval(accepted, len(kept))
    return {
        "set": name, "golds": n_golds,
        "golds_without_near_miss": n_golds - len({g for g, m in pairs if m.changes_value}),
        "near_misses": len(near), "near_misses_called_correct": sum(r.verdict == CORRECT for _, _, r in near),
        "near_miss_verdicts": dict(Counter(r.verdict for _, _, r in near)),
        "near_misses_by_kind": dict(Counter(m.kind for _, m, _ in near)),
        "restatements": len(kept), "restatements_accepted": accepted,
        "restatement_acceptance": accepted / len(kept) if kept else None, "acceptance_interval": [low, high],
        "kept_value_edits_by_why": dict(Counter(m.why for _, m, _ in kept if m.why)),
        "false_positives": [{"gold": g, "kind": m.kind, "answer": m.text, "reason": r.reason}
                            for g, m, r in near if r.verdict == CORRECT],
        "rejected_restatements": [{"gold": g, "kind": m.kind, "answer": m.text, "verdict": r.verdict,
                                   "reason": r.reason} for g, m, r in kept if r.verdict != CORRECT],
        "seconds": round(seconds, 1),
    }


def sweep(names=None, sample: int | None = None, num_workers: int | None = None, seed: int = 0) -> list[dict]:
    """Grade every mutation of every gold of ``names`` (default: the seven benchmarks and the testbed)."""
    out = []
    for name in names or set_names():
        answers = golds(name)
        if sample is not None and sample < len(answers):
            answers = random.Random(seed).sample(answers, sample)
        pairs = [(gold, m) for k, gold in enumerate(answers) for m in mutations(gold, seed=k)]
        start = time.monotonic()
        results = verify_batch([TEMPLATE.format(m.text) for _, m in pairs], [g for g, _ in pairs],
                               num_workers=num_workers)
        row = _figures(name, pairs, results, len(answers), time.monotonic() - start)
        row["prose_golds"] = sum(is_prose(g) for g in answers)
        out.append(row)
    return out


def markdown(rows: list[dict], header: str = "") -> str:
    lines = [header, "", "| set | golds | near misses | called correct | restatements | accepted | 95% interval |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        low, high = r["acceptance_interval"]
        lines.append(f"| {r['set']} | {r['golds']} | {r['near_misses']} | {r['near_misses_called_correct']} | "
                     f"{r['restatements']} | {r['restatement_acceptance']:.2%} | [{low:.2%}, {high:.2%}] |")
    for r in rows:
        for fp in r["false_positives"]:
            lines.append(f"- {r['set']}: near miss called correct ({fp['kind']}): {fp['answer']!r} for {fp['gold']!r}")
        for rej in r["rejected_restatements"]:
            lines.append(f"- {r['set']}: restatement not accepted ({rej['kind']}, {rej['verdict']}): "
                         f"{rej['answer']!r} for {rej['gold']!r}")
    return "\n".join(lines) + "\n"


def write(rows: list[dict], folder: str | Path, meta: dict) -> list[Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "grader_mutations.json", folder / "grader_mutations.md"]
    paths[0].write_text(json.dumps({**meta, "sets": rows}, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    header = f"Grader mutation sweep ({meta.get('command', '')}; {meta.get('machine', '')})"
    paths[1].write_text(markdown(rows, header), encoding="utf-8")
    return paths
