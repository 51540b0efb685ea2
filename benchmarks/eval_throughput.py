"""Eval throughput (problems/s) of `pns-hub eval` on the embedded model: batch 1 fp32 vs the tuned setting.

    .venv/bin/python benchmarks/eval_throughput.py --problems 8 --max-new-tokens 64

Each setting runs the real lighteval pipeline (pns_hub.eval.run.run_eval) on the first N gsm8k problems with greedy
decoding; the time is the pipeline's (model load + generation + scoring + saving), so the ratio is what a user sees.
The first run also warms the dataset cache, so a small warm-up run goes first and is not counted.
"""

import argparse
import json
import os
import sys
import tempfile

try:
    from benchmarks import _common
except ImportError:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from benchmarks import _common

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def measure(model, problems, max_new_tokens, batch_size, dtype, benchmark):
    from pns_hub.eval.run import run_eval

    with tempfile.TemporaryDirectory() as out:
        result = run_eval(model, [benchmark], limit=problems, max_new_tokens=max_new_tokens, batch_size=batch_size,
                          dtype=dtype, output_dir=out, save_details=False)
    return {"batch_size": batch_size, "dtype": dtype, "seconds": result["elapsed_s"],
            "problems_per_s": round(problems / result["elapsed_s"], 3), "score": result["scores"][benchmark]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="embedded:smollm2-135m-instruct")
    parser.add_argument("--benchmark", default="gsm8k")
    parser.add_argument("--problems", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--tuned-batch-size", type=int, default=32)
    parser.add_argument("--tuned-dtype", default="auto", help="auto = bf16 where the CPU/GPU supports it")
    args = parser.parse_args()

    from pns_hub.models import best_dtype, configure_threads

    threads = configure_threads()
    measure(args.model, 1, 4, 1, "float32", args.benchmark)  # warm-up: caches, lazy imports
    baseline = measure(args.model, args.problems, args.max_new_tokens, 1, "float32", args.benchmark)
    tuned = measure(args.model, args.problems, args.max_new_tokens, args.tuned_batch_size, args.tuned_dtype,
                    args.benchmark)
    report = {"model": args.model, "benchmark": args.benchmark, "problems": args.problems,
              "max_new_tokens": args.max_new_tokens, "threads": threads, "best_dtype": str(best_dtype()),
              "baseline": baseline, "tuned": tuned,
              "speedup": round(tuned["problems_per_s"] / baseline["problems_per_s"], 2)}
    print(json.dumps(report, indent=2))
    _common.emit_rows([_common.row(
        f"eval: lighteval {args.benchmark}", baseline["problems_per_s"], tuned["problems_per_s"], "problems/s",
        notes=(f"{args.problems} problems, greedy, {args.max_new_tokens} new tokens; naive batch 1 fp32, tuned batch "
               f"{args.tuned_batch_size} {best_dtype()}; scores {baseline['score']} vs {tuned['score']}"))])


if __name__ == "__main__":
    main()
