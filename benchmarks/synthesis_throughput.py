"""Synthesis throughput on the embedded default: batched (one generate call per shard) vs one problem at a time.

Prints completions/s and verified negatives/minute for each mode, and the batched/one-at-a-time ratio. Both modes
run the real pipeline (pns_hub.synthesis.run.process_shard: generate, verify, filter, pair) on the same problems.

    python benchmarks/synthesis_throughput.py --problems 8 --samples 4 --max-new-tokens 96
"""

import argparse
import dataclasses
import json
import os
import sys
import time

try:
    from benchmarks import _common
except ImportError:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from benchmarks import _common

from pns_hub import models

from pns_hub.synthesis import run as synthesize
def run(config: synthesize.SynthesisConfig, problems: list[dict]) -> dict:
    samplers = synthesize._Samplers(config)
    samplers._load(config.generator, None)  # load outside the timed region
    start = time.perf_counter()
    result = synthesize.process_shard(problems, config, samplers)
    seconds = time.perf_counter() - start
    completions = len(problems) * config.num_samples
    negatives = sum(len(r) for r in result["rows"].values())
    return {"seconds": round(seconds, 2), "completions": completions, "negatives": negatives,
            "completions_per_s": round(completions / seconds, 3), "negatives_per_min": round(60 * negatives / seconds, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=models.EMBEDDED_DEFAULT)
    parser.add_argument("--problems", type=int, default=8)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    models.configure_threads()
    config = synthesize.SynthesisConfig(
        output_dir="/tmp/unused", dataset="gsm8k_train", limit=args.problems, generator=args.model, policy=args.model,
        instruct_model=args.model, sources=["pns", "rejection_sampling"], num_samples=args.samples,
        max_new_tokens=args.max_new_tokens, batch_size=args.batch_size, rejected_choice="random", verify_workers=0,
        progress=False)
    problems, _ = synthesize.load_input_problems(config)
    batched = run(dataclasses.replace(config, seed_scope="shard"), problems)
    single = run(dataclasses.replace(config, seed_scope="problem"), problems)
    print(json.dumps({"batched": batched, "one_at_a_time": single,
                      "ratio_completions_per_s": round(batched["completions_per_s"] / single["completions_per_s"], 2),
                      "model": args.model, "problems": args.problems, "samples": args.samples,
                      "max_new_tokens": args.max_new_tokens}, indent=1))
    shape = f"{args.problems} problems x {args.samples} samples x {args.max_new_tokens} new tokens"
    _common.emit_rows([
        _common.row("synthesis: completions", single["completions_per_s"], batched["completions_per_s"],
                    "completions/s", notes=f"one problem at a time vs batched, {shape}"),
        _common.row("synthesis: verified negatives", single["negatives_per_min"], batched["negatives_per_min"],
                    "negatives/min", notes=f"pns + rejection_sampling rows, {shape}"),
    ])


if __name__ == "__main__":
    main()
