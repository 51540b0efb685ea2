"""Does reverse-RL GRPO move the PNS generator the right way? Train on the embedded default on CPU for a fixed
wall-clock budget and compare held-out problems before and after:

* mean composite reward (higher = more well-formed, verified-wrong answers, rated plausible), and
* wrong-answer rate (share of samples the verifier marks wrong), plus format and correct rates.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/generator_learning.py --budget-s 300

The budget covers training only; before/after sampling of the held-out problems comes on top. The judge and RM
terms are off by default (they cost a forward pass per sample on a 2-core CPU); pass --judge-model / --reward-model
to include them. Results are printed and written as JSON to --output.

Starting from the raw embedded model it cannot learn: SmolLM2-135M never writes \\boxed{} (0 of 34 verified-wrong
samples at 256 tokens), so every rollout fails the format gate, every GRPO group has identical rewards and zero
advantage (measured: 2 steps, reward -1.000 -> -1.000). Start it from a model that boxes its answers, e.g. the demo's
warm-up SFT (stage 0 of ``pns-hub demo``). Measured 2026-11-23 on a 2-core AMD EPYC (bf16), with the demo's reward
model and the embedded judge:

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/generator_learning.py \\
        --model outputs/demo/hub/smollm2-135m-boxed-sft --reward-model outputs/demo/hub/pns-reward-model \\
        --judge-model embedded:smollm2-135m-instruct --budget-s 300 --heldout 12 --eval-samples 4 \\
        --max-completion-length 192

8 GRPO steps in 322 s (~41 s/step); on 48 held-out samples (12 problems x 4) the mean composite reward went
0.175 -> 0.675, the wrong-answer rate 0.854 -> 0.938, format-ok 0.667 -> 0.958, truncation 0.19 -> 0.02, mean
length 112 -> 87 tokens; training reward by step 0.11, -0.11, 0.31, 0.52, 0.55, 0.77, 0.30, 0.32. Most of the gain
is the format gate (shorter, boxed, untruncated answers); the wrong rate moved the right way too.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

try:
    from benchmarks import _common
except ImportError:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from benchmarks import _common


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="embedded:smollm2-135m-instruct")
    p.add_argument("--dataset", default="gsm8k_train")
    p.add_argument("--train-problems", type=int, default=64)
    p.add_argument("--heldout", type=int, default=16)
    p.add_argument("--eval-samples", type=int, default=4, help="samples per held-out problem")
    p.add_argument("--budget-s", type=float, default=300.0, help="wall-clock training budget")
    p.add_argument("--max-steps", type=int, default=200)
    p.add_argument("--num-generations", type=int, default=4)
    p.add_argument("--prompts-per-step", type=int, default=2)
    p.add_argument("--max-completion-length", type=int, default=128)
    p.add_argument("--learning-rate", type=float, default=2e-5)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--judge-model", default=None)
    p.add_argument("--reward-model", default=None)
    p.add_argument("--output-dir", default="/tmp/pns_generator_learning")
    p.add_argument("--output", default=None, help="JSON results path (default: <output-dir>/generator_learning.json)")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def main(argv=None) -> dict:
    from transformers import TrainerCallback
    from trl import ModelConfig

    from pns_hub.trainers import grpo

    from pns_hub import models

    from pns_hub.rewards import functions as rewards
    from pns_hub.trainers.pns_configs import PNSGeneratorScriptArguments, PNSGRPOConfig

    args = parse_args(argv)
    models.configure_threads()
    script_args = PNSGeneratorScriptArguments(
        dataset_name=args.dataset, dataset_limit=args.train_problems, holdout=args.heldout,
        reward_funcs=["pns_composite"], judge_model=args.judge_model, reward_model_path=args.reward_model)
    batch = args.num_generations * args.prompts_per_step
    training_args = PNSGRPOConfig(
        output_dir=args.output_dir, learning_rate=args.learning_rate, beta=0.0, num_generations=args.num_generations,
        per_device_train_batch_size=batch, gradient_accumulation_steps=1,
        max_completion_length=args.max_completion_length, temperature=args.temperature, max_steps=args.max_steps,
        lr_scheduler_type="constant", gradient_checkpointing=False, logging_steps=1, save_strategy="no",
        report_to="none", seed=args.seed)
    model_args = ModelConfig(model_name_or_path=args.model, dtype="float32")
    _, held = grpo.load_generator_rows(script_args)
    tokenizer = models.load_tokenizer(args.model)
    reward_fn = rewards.get_reward_funcs(["pns_composite"], script_args, training_args, tokenizer)[0]

    def measure(spec: str, tag: str) -> dict:
        model = models.load_model(spec)
        start = time.perf_counter()
        out = grpo.evaluate_generator(model, tokenizer, held, reward_fn, num_samples=args.eval_samples,
                                      max_new_tokens=args.max_completion_length, temperature=args.temperature,
                                      seed=args.seed + 1)
        out["eval_seconds"] = round(time.perf_counter() - start, 1)
        print(f"[{tag}] {json.dumps(out)}", flush=True)
        return out

    class Budget(TrainerCallback):
        """Stop at the first step boundary past the wall-clock budget (fixed time, not fixed steps)."""

        def on_train_begin(self, a, state, control, **kw):
            self.start = time.perf_counter()

        def on_step_end(self, a, state, control, **kw):
            if time.perf_counter() - self.start > args.budget_s:
                control.should_training_stop = True

    before = measure(args.model, "start")
    start = time.perf_counter()
    history: list[dict] = []

    class Record(TrainerCallback):
        def on_log(self, a, state, control, logs=None, **kw):
            if logs and "reward" in logs:
                history.append({"step": state.global_step, "reward": logs["reward"],
                                "format_ok": logs.get("pns/format_ok"), "wrong": logs.get("pns/wrong")})

    folder = grpo.train_generator(script_args, training_args, model_args, callbacks=[Budget(), Record()])
    train_seconds = time.perf_counter() - start
    after = measure(folder, "end")
    result = {
        "model": args.model, "train_problems": args.train_problems, "heldout_problems": len(held),
        "eval_samples_per_problem": args.eval_samples, "num_generations": args.num_generations,
        "prompts_per_step": args.prompts_per_step, "max_completion_length": args.max_completion_length,
        "learning_rate": args.learning_rate, "judge_model": args.judge_model, "reward_model": args.reward_model,
        "train_seconds": round(train_seconds, 1), "steps": len(history), "train_reward_by_step": history,
        "start": before, "end": after,
        "delta_mean_reward": after["mean_reward"] - before["mean_reward"],
        "delta_wrong_rate": after["wrong_rate"] - before["wrong_rate"],
    }
    path = args.output or f"{args.output_dir}/generator_learning.json"
    with open(path, "w") as handle:
        json.dump(result, handle, indent=2)
    print(f"mean composite reward: start {before['mean_reward']:.3f} -> end {after['mean_reward']:.3f} "
          f"(delta {result['delta_mean_reward']:+.3f})")
    print(f"wrong-answer rate:     start {before['wrong_rate']:.3f} -> end {after['wrong_rate']:.3f} "
          f"(delta {result['delta_wrong_rate']:+.3f})")
    print(f"format-ok rate:        start {before['format_ok_rate']:.3f} -> end {after['format_ok_rate']:.3f}")
    print(f"trained {len(history)} steps in {train_seconds:.0f}s; results in {path}")
    _emit(result)
    return result


def _emit(result: dict) -> None:
    """The suite's row: start -> end in the notes (a reward has no speed-up ratio)."""
    start, end = result["start"], result["end"]
    _common.emit_rows([_common.row(
        "generator learning (reverse-RL GRPO, held-out)", None, None, "",
        notes=(f"{result['model']}, {result['steps']} steps in {result['train_seconds']}s; mean composite reward "
               f"{start['mean_reward']:.3f} -> {end['mean_reward']:.3f}; wrong rate {start['wrong_rate']:.3f} -> "
               f"{end['wrong_rate']:.3f}; format ok {start['format_ok_rate']:.3f} -> {end['format_ok_rate']:.3f}"))])


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    main()
