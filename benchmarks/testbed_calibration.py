"""Calibration of the in-regime testbed: greedy accuracy of a model on the testbed, with n and a 95% interval.

The testbed is "in regime" when the warm-up model is right on 20-70% of its test problems (issue #17): often enough
that correct samples exist, rarely enough that wrong ones do too. This script measures that, overall and per
template and per step count (so a later change of the level mix can be checked against the measured cells), and
writes one JSON under ``benchmarks/results/`` with the per-problem outcomes, the command, the CPU and the wall time.

    nice -n 10 python -m benchmarks.testbed_calibration outputs/smollm2-135m-instruct/sft-warmup-testbed \
        --limit 300 --tag warmup-epyc

It uses pns_hub's own batched sampler (``pns_hub.engines.generation.generate``, the one every training stage uses) and
``pns_hub.grading.verify``; ``pns-hub eval MODEL --benchmarks testbed`` scores the same problems through lighteval.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from datetime import datetime, timezone

from benchmarks._common import RESULTS_DIR, env_setup, load_avg, machine_info


def evaluate(model_spec: str, name: str = "testbed", limit: int = 300, max_new_tokens: int = 320,
             batch_size: int = 64, dtype: str = "float32", on_chunk=None) -> dict:
    """Greedy accuracy of ``model_spec`` on the first ``limit`` problems of testbed set ``name``; see the module doc.

    Problems go in chunks of ``batch_size``; after each, ``on_chunk(summary so far)`` is called, so a run cut short
    on a loaded machine still leaves a valid (smaller-n) measurement: the first N problems of a set are a random
    sample of it (the generator draws templates and levels at random).
    """
    from pns_hub import models
    from pns_hub.data.problems import load_problems
    from pns_hub.engines.generation import SamplingParams, build_prompt, generate
    from pns_hub.grading.verify import verify_batch

    models.configure_threads()
    rows = load_problems(name, limit=limit)
    start = time.perf_counter()
    model = models.load_model(model_spec, dtype=dtype)
    tokenizer = models.load_tokenizer(model_spec)
    completions, results = [], []
    for first in range(0, len(rows), batch_size):
        chunk = rows[first:first + batch_size]
        outputs = generate(model, tokenizer, [build_prompt(r["problem"]) for r in chunk],
                           SamplingParams(num_samples=1, max_new_tokens=max_new_tokens, temperature=0.0),
                           batch_size=batch_size, desc=f"greedy {name} {first}-{first + len(chunk)}")
        completions += [o[0] for o in outputs]
        results += verify_batch([o[0].text for o in outputs], [r["answer"] for r in chunk])
        summary = _summary(model_spec, name, max_new_tokens, dtype, rows[:len(completions)], completions, results,
                           time.perf_counter() - start)
        summary["complete"] = len(completions) == len(rows)
        if on_chunk:
            on_chunk(summary)
    return summary


def _summary(model_spec, name, max_new_tokens, dtype, rows, completions, results, wall) -> dict:
    """Accuracy overall, per template and per step count (n and 95% interval each), and the per-problem outcomes."""
    from pns_hub import stats
    from pns_hub.data import testbed
    correct = [int(r.is_correct) for r in results]
    cells: dict[str, dict[str, list[int]]] = {"template": defaultdict(list), "steps": defaultdict(list)}
    for row, ok in zip(rows, correct):
        meta = testbed.parse_id(row["id"])
        cells["template"][meta["template"]].append(ok)
        cells["steps"][str(meta["steps"])].append(ok)
    return {
        "model": model_spec, "set": name, "decoding": "greedy", "max_new_tokens": max_new_tokens, "dtype": dtype,
        "accuracy": stats.accuracy(correct).to_dict(),
        "by_template": {k: stats.accuracy(v).to_dict() for k, v in sorted(cells["template"].items())},
        "by_steps": {k: stats.accuracy(v).to_dict() for k, v in sorted(cells["steps"].items())},
        "boxed_rate": stats.accuracy([int("\\boxed" in c.text) for c in completions]).to_dict(),
        "truncated_rate": stats.accuracy([int(c.truncated) for c in completions]).to_dict(),
        "mean_new_tokens": sum(c.num_tokens for c in completions) / len(completions),
        "wall_s": round(wall, 1),
        "per_problem": {row["id"]: ok for row, ok in zip(rows, correct)},
        "examples": [{"id": r["id"], "answer": r["answer"], "completion": c.text, "verdict": v.verdict}
                     for r, c, v in list(zip(rows, completions, results))[:6]],
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="model folder, Hub id or embedded:smollm2-135m-instruct")
    parser.add_argument("--set", default="testbed", choices=["testbed", "testbed_ood", "testbed_train"])
    parser.add_argument("--limit", type=int, default=300)
    parser.add_argument("--max-new-tokens", type=int, default=320)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--dtype", default="float32", help="float32 (fast on AVX2-only CPUs) or bfloat16")
    parser.add_argument("--tag", default="latest", help="results file: benchmarks/results/testbed_calibration-TAG.json")
    args = parser.parse_args(argv)
    env_setup()
    load_start = load_avg()
    from pns_hub.eval.leaderboard import git_commit
    from pns_hub.stats import Estimate

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"testbed_calibration-{args.tag}.json"

    def write(out: dict) -> None:
        out.update({"command": "nice -n 10 python -m benchmarks.testbed_calibration " + " ".join(
                    argv if argv is not None else sys.argv[1:]), "machine": machine_info(), "load_start": load_start,
                    "load_end": load_avg(), "commit": git_commit(), "nice": os.nice(0),
                    "date": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        path.write_text(json.dumps(out, indent=2) + "\n")
        print(f"[{len(out['per_problem'])} problems] {Estimate(**out['accuracy']).format()}", flush=True)

    out = evaluate(args.model, args.set, args.limit, args.max_new_tokens, args.batch_size, args.dtype, on_chunk=write)
    print(f"{args.model} on {args.set}: greedy accuracy {Estimate(**out['accuracy']).format()}; "
          f"{out['wall_s']} s on {out['machine']['cpu']} (load {load_start} -> {out['load_end']})")
    for key in ("by_steps", "by_template"):
        print(f"  {key}: " + ", ".join(f"{k} {Estimate(**v).format()}" for k, v in out[key].items()))
    print(f"wrote {path}")
    in_regime = 0.2 <= out["accuracy"]["value"] <= 0.7
    print("in regime (20-70%)" if in_regime else "NOT in regime (20-70%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
