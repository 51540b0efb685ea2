"""Reverse-RL training of the PNS generator with TRL's GRPOTrainer, plus the measurements and Hub folder around it.

The generator sees the ordinary solver prompt (:func:`pns_hub.engines.generation.build_prompt`): it is never *told* to be
wrong. Wrongness, format and plausibility come only from the composite reward (pns.md section 9, item 2), so the
trained model writes solutions that look like an honest solver's and end on a wrong answer.

Everything a recipe needs is an importable function so ``pns-hub demo`` can run it in-process:
:func:`train_generator` (train + save the Hub folder + optional push) and :func:`evaluate_generator` (mean composite
reward and wrong-answer rate of sampled completions on held-out problems).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Sequence

from pns_hub.data import problems as data

from pns_hub.engines import generation

from pns_hub.engines import lm_head

from pns_hub import models

from pns_hub.rewards import functions as rewards
logger = logging.getLogger(__name__)

def load_generator_rows(script_args) -> tuple[list[dict], list[dict]]:
    """(train, held-out) problems: the held-out split is taken first so ``dataset_limit`` never leaks into it."""
    rows = data.load_problems(script_args.dataset_name)
    train, held = data.split_problems(rows, script_args.holdout, seed=script_args.split_seed) if script_args.holdout \
        else (rows, [])
    if script_args.dataset_limit:
        train = train[:script_args.dataset_limit]
    if not train:
        raise ValueError(f"{script_args.dataset_name}: no training problems left (limit={script_args.dataset_limit}, "
                         f"holdout={script_args.holdout})")
    return train, held


def build_grpo_dataset(rows: Sequence[dict]):
    """Conversational ``prompt`` plus the columns the rewards read (``answer`` = gold, ``problem`` for RM/judge)."""
    from datasets import Dataset

    return Dataset.from_list([
        {"prompt": generation.build_prompt(r["problem"]), "problem": r["problem"], "answer": str(r["answer"]),
         "id": r["id"]} for r in rows
    ])


def _base_model_id(spec: str) -> str | None:
    return models.hub_id(spec)  # a Hub id or None: never a path on this machine


def card_context(script_args, training_args, model_args, num_train: int) -> dict:
    """Everything the generator card states: base model, data, rewards and weights, training config."""
    import torch
    import transformers
    import trl

    weights = training_args.reward_weights or [1.0] * len(script_args.reward_funcs)
    return {
        "model_name": training_args.hub_model_id or Path(training_args.output_dir).name,
        "base_model": _base_model_id(model_args.model_name_or_path),
        "base_model_name": models.display_name(model_args.model_name_or_path),
        "build_note": models.build_note(model_args.model_name_or_path),
        "dataset_name": script_args.dataset_name, "num_train_problems": num_train,
        "reward_funcs": list(zip(script_args.reward_funcs, weights)),
        "composite": {
            "base": script_args.composite_base, "rm_weight": script_args.composite_rm_weight,
            "judge_weight": script_args.composite_judge_weight, "format_penalty": script_args.format_penalty,
            "correct_reward": script_args.correct_reward, "unverifiable_reward": script_args.unverifiable_reward,
        },
        "reward_model": script_args.reward_model_path and models.display_name(script_args.reward_model_path),
        "rm_temperature": script_args.reward_model_temperature,
        "judge_model": script_args.judge_model and models.display_name(script_args.judge_model),
        "judge_mode": script_args.judge_mode, "judge_injection_penalty": script_args.judge_injection_penalty,
        "training": {k: getattr(training_args, k) for k in (
            "learning_rate", "num_generations", "max_completion_length", "per_device_train_batch_size",
            "gradient_accumulation_steps", "max_steps", "num_train_epochs", "beta", "loss_type", "scale_rewards",
            "temperature", "use_vllm", "bf16", "seed")},
        "prompt_template": generation.PROMPT_TEMPLATE.format(problem="{problem}"),
        "versions": {"trl": trl.__version__, "transformers": transformers.__version__, "torch": torch.__version__},
    }


def train_generator(script_args, training_args, model_args, callbacks: list | None = None) -> str:
    """Run reverse-RL GRPO with the configured rewards; write the repo folder (weights, tokenizer, card); push if
    asked. Returns the output folder, which ``from_pretrained`` loads."""
    from trl import GRPOTrainer

    from pns_hub import hub
    from pns_hub.hardware import apply_hardware_defaults

    models.configure_threads()
    apply_hardware_defaults(training_args)
    push, training_args.push_to_hub = training_args.push_to_hub, False  # the Trainer would reach the Hub at init
    train_rows, _ = load_generator_rows(script_args)
    dataset = build_grpo_dataset(train_rows)
    model_path = models.resolve_model_path(model_args.model_name_or_path)
    tokenizer = models.load_tokenizer(model_args.model_name_or_path, revision=model_args.model_revision)
    models.apply_model_config(training_args, model_args)
    reward_funcs = rewards.get_reward_funcs(script_args.reward_funcs, script_args, training_args, tokenizer)
    logger.info("GRPO on %d problems with rewards %s (weights %s)", len(dataset), script_args.reward_funcs,
                training_args.reward_weights)
    from pns_hub.trainers.vllm_colocate import build_grpo_trainer  # use_vllm colocate on CPU: see that module

    trainer = build_grpo_trainer(lambda: GRPOTrainer(
        model=model_path, reward_funcs=reward_funcs, args=training_args, train_dataset=dataset,
        processing_class=tokenizer, callbacks=callbacks), training_args)
    lm_head.use_dense_lm_head_in_trainer(trainer, temperature=trainer.temperature)
    trainer.train()
    card = hub.render_card(script_args.hub_card_template,
                           **card_context(script_args, training_args, model_args, len(train_rows)))
    folder = str(hub.save_model_folder(trainer, tokenizer, training_args.output_dir, card))
    url = hub.publish(folder, training_args.hub_model_id, push, token=training_args.hub_token)
    if url:
        logger.info("pushed generator: %s", url)
    return folder


def evaluate_generator(model, tokenizer, rows: Sequence[dict], reward_fn: Callable, num_samples: int = 2,
                       max_new_tokens: int = 128, temperature: float = 0.7, seed: int = 0,
                       batch_size: int = 32) -> dict:
    """Sample held-out problems and report the reward and the verifier's view (wrong / correct / bad format).

    ``reward_fn`` is any TRL reward (normally the composite); completions that hit ``max_new_tokens`` are passed
    as truncated so the format gate sees them exactly as in training.
    """
    from pns_hub.grading import verify
    params = generation.SamplingParams(num_samples=num_samples, max_new_tokens=max_new_tokens,
                                       temperature=temperature, seed=seed)
    outs = generation.generate(model, tokenizer, [generation.build_prompt(r["problem"]) for r in rows], params,
                               batch_size=batch_size, desc="held-out samples")
    flat = [(r, c) for r, group in zip(rows, outs) for c in group]
    texts = [c.text for _, c in flat]
    truncated = [c.truncated for _, c in flat]
    values = reward_fn(prompts=[generation.build_prompt(r["problem"]) for r, _ in flat], completions=texts,
                       answer=[str(r["answer"]) for r, _ in flat], problem=[r["problem"] for r, _ in flat],
                       truncated=truncated)
    verdicts = [r.verdict for r in verify.verify_batch(texts, [str(r["answer"]) for r, _ in flat], num_workers=0)]
    n = len(flat)
    fmt = [rewards.format_ok(t, tr) for t, tr in zip(texts, truncated)]
    return {
        "num_completions": n,
        "mean_reward": sum(v for v in values if v is not None) / max(1, sum(v is not None for v in values)),
        "wrong_rate": sum(v == verify.WRONG for v in verdicts) / n,
        "correct_rate": sum(v == verify.CORRECT for v in verdicts) / n,
        "format_ok_rate": sum(fmt) / n,
        "wrong_and_formatted_rate": sum(f and v == verify.WRONG for f, v in zip(fmt, verdicts)) / n,
        "truncated_rate": sum(truncated) / n,
        "mean_tokens": sum(c.num_tokens for _, c in flat) / n,
    }
