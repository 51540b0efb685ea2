"""Where a GRPO step's time goes on CPU: generation, reward (math-verify), other scoring (old/ref log-probs,
tokenising), and the update (forward + backward + optimizer), with TRL's GRPOTrainer on the embedded model.

The phases are timed by wrapping the trainer's own methods (``_generate``, ``_calculate_rewards``,
``_generate_and_score_completions``) and the step boundaries (a callback); update = step - scoring.
``--rollouts=vllm`` samples with TRL's colocated vLLM engine instead (needs ``make vllm-env``; on CPU through
:mod:`pns_hub.trainers.vllm_colocate`), same work; generation then includes the weight sync.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time

try:
    from benchmarks import _common
except ImportError:
    sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.dirname(__file__)))
    from benchmarks import _common


def accuracy_reward(completions, answer, **kwargs) -> list[float]:
    """1.0 when math-verify says the completion's final answer equals the gold ``answer`` column."""
    from pns_hub.grading import verify
    texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
    return [1.0 if r.is_correct else 0.0 for r in verify.verify_batch(texts, answer, num_workers=0)]


def split(quick: bool, rollouts: str = "torch") -> dict:
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from pns_hub.data import problems as data

    from pns_hub.engines import generation

    from pns_hub.engines import lm_head

    from pns_hub import models
    models.configure_threads()
    prompts_per_step, gens, new_tokens, steps = (2, 2, 32, 2) if quick else (2, 4, 128, 3)
    rows = data.load_problems("gsm8k_train", limit=prompts_per_step * steps)
    dataset = Dataset.from_list([{"prompt": generation.build_prompt(r["problem"]), "answer": r["answer"]} for r in rows])
    use_bf16 = models.cpu_supports_bf16()
    model = models.load_model(models.EMBEDDED_DEFAULT, dtype=torch.bfloat16 if use_bf16 else torch.float32).train()
    tokenizer = models.load_tokenizer(models.EMBEDDED_DEFAULT)
    config = GRPOConfig(
        output_dir=tempfile.mkdtemp(prefix="pns-grpo-bench-"), per_device_train_batch_size=prompts_per_step * gens,
        num_generations=gens, max_completion_length=new_tokens, max_steps=steps, gradient_checkpointing=False,
        bf16=use_bf16, use_cpu=not torch.cuda.is_available(), logging_steps=1, save_strategy="no", report_to="none",
        learning_rate=1e-6, temperature=0.7, seed=0, use_vllm=rollouts == "vllm", vllm_mode="colocate",
        vllm_max_model_length=1024)
    from pns_hub.trainers.vllm_colocate import build_grpo_trainer

    trainer = build_grpo_trainer(lambda: GRPOTrainer(model=model, reward_funcs=accuracy_reward, args=config,
                                                     train_dataset=dataset, processing_class=tokenizer), config)
    lm_head.use_dense_lm_head_in_trainer(trainer, temperature=trainer.temperature)  # as pns_hub.trainers.grpo does on CPU
    spent = {"generation": 0.0, "reward": 0.0, "prepare": 0.0}
    per_step: list[dict] = []

    def wrap(name: str, key: str) -> None:
        original = getattr(trainer, name)

        def timed(*a, **k):
            start = time.perf_counter()
            try:
                return original(*a, **k)
            finally:
                spent[key] += time.perf_counter() - start

        setattr(trainer, name, timed)

    wrap("_generate", "generation")
    wrap("_calculate_rewards", "reward")
    wrap("_generate_and_score_completions", "prepare")

    class Clock(TrainerCallback):
        def on_step_begin(self, *a, **k):
            spent.update(generation=0.0, reward=0.0, prepare=0.0)
            self.t = time.perf_counter()

        def on_step_end(self, *a, **k):
            total = time.perf_counter() - self.t
            per_step.append({"total": total, "generation": spent["generation"], "reward": spent["reward"],
                             "other_scoring": spent["prepare"] - spent["generation"] - spent["reward"],
                             "update": total - spent["prepare"]})

    trainer.add_callback(Clock())
    trainer.train()
    kept = per_step[1:] or per_step  # the first step pays one-off costs
    return {"phases": {k: round(statistics.median(s[k] for s in kept), 2) for k in kept[0]},
            "steps": len(per_step), "shape": f"{prompts_per_step} prompts x {gens} generations x {new_tokens} tokens",
            "dtype": str(model.dtype), "rollouts": rollouts}


def run(quick: bool = False) -> list[dict]:
    load0 = _common.load_avg()
    result = split(quick, _common.option("rollouts", "torch"))
    p = result["phases"]
    share = {k: f"{100 * v / p['total']:.0f}%" for k, v in p.items() if k != "total"}
    label = f"GRPO step ({result['shape']}" + (", vLLM rollouts)" if result["rollouts"] == "vllm" else ")")
    return [_common.row(label, None, p["total"], "s/step", higher_is_better=False,
                        phases=p,
                        notes=(f"split (median of steps after the first): " +
                               ", ".join(f"{k} {p[k]:.2f}s ({share[k]})" for k in share) +
                               f"; {result['dtype']}, TRL GRPOTrainer + math-verify reward; "
                               f"load {load0}->{_common.load_avg()}"))]


def main(argv=None) -> None:
    _common.script_main(run, argv)


if __name__ == "__main__":
    main()
