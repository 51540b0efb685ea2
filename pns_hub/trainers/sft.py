"""Format warm-up: a short SFT on gold solutions so the policy ends its answers with ``\\boxed{}``.

Why: every part of the PNS pipeline reads the final answer from ``\\boxed{}`` (the format gate of the reverse-RL
reward, the verifier, the benchmarks). A small instruct model such as the embedded SmolLM2-135M (dequantised Q4_1)
never writes it, so every GRPO rollout hits the format gate with the same -1 reward, every group has zero variance,
and GRPO gets no gradient at all. A few dozen steps of SFT on reference solutions in the project's prompt format fix
the format without teaching much arithmetic; the paper starts from RL-trained checkpoints that already answer in
this format.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import trl

from pns_hub.data import problems as data

from pns_hub.engines import generation

from pns_hub.engines import lm_head

from pns_hub import models
logger = logging.getLogger(__name__)


@dataclass
class SFTWarmupArguments(trl.ScriptArguments):
    """Arguments of ``recipes/sft_warmup.py`` beyond ``SFTConfig`` and ``ModelConfig``."""

    dataset_name: str | None = field(default="gsm8k_train", metadata={"help": "pns_hub.data.problems set with solutions."})
    dataset_offset: int = field(default=4096, metadata={"help": "Skip the first N problems (kept for RL/synthesis)."})
    dataset_limit: int = field(default=128, metadata={"help": "Gold solutions to train on."})


def warmup_dataset(name: str, offset: int, limit: int):
    """Prompt-completion rows (TRL's conversational form): loss on the solution only, never on the prompt."""
    from datasets import Dataset

    rows = data.load_problems(name)[offset:offset + limit]
    usable = [r for r in rows if r.get("solution") and "\\boxed" in r["solution"]]
    if not usable:
        raise ValueError(f"{name}[{offset}:{offset + limit}]: no reference solution with a \\boxed{{}} answer")
    if len(usable) < len(rows):
        logger.warning("%d of %d problems have no boxed reference solution and are not used", len(rows) - len(usable),
                       len(rows))
    return Dataset.from_list([
        {"prompt": generation.build_prompt(r["problem"]),
         "completion": [{"role": "assistant", "content": r["solution"]}]} for r in usable
    ])


def train_sft_warmup(script_args: SFTWarmupArguments, training_args: trl.SFTConfig, model_args: trl.ModelConfig,
                     card_text: str | None = None) -> str:
    """Fine-tune on gold solutions and save a model folder (safetensors, tokenizer, card); return its path."""
    from pns_hub import hub
    from pns_hub.hardware import apply_hardware_defaults

    models.configure_threads()
    apply_hardware_defaults(training_args)
    training_args.gradient_checkpointing = False if training_args.use_cpu else training_args.gradient_checkpointing
    dataset = warmup_dataset(script_args.dataset_name, script_args.dataset_offset, script_args.dataset_limit)
    tokenizer = models.load_tokenizer(model_args.model_name_or_path, padding_side="right")
    init = dict(training_args.model_init_kwargs or {})
    if model_args.dtype not in (None, "auto"):
        init.setdefault("dtype", model_args.dtype)
    training_args.model_init_kwargs = init
    trainer = trl.SFTTrainer(model=models.resolve_model_path(model_args.model_name_or_path), args=training_args,
                             train_dataset=dataset, processing_class=tokenizer)
    lm_head.use_dense_lm_head_in_trainer(trainer)
    trainer.train()
    spec = model_args.model_name_or_path
    meta = {"model_name": training_args.hub_model_id, "base_model": models.hub_id(spec),
            "library_name": "transformers", "tags": ["pns-hub", "sft", "trl"], "license": "apache-2.0"}
    note = models.build_note(spec)
    card = card_text or (
        hub.yaml_header({k: v for k, v in meta.items() if v})
        + f"\n# Format warm-up of {models.display_name(spec)}\n\n" + (f"Build note: {note}.\n\n" if note else "")
        + f"SFT on {len(dataset)} reference solutions of `{script_args.dataset_name}` "
        "(problems " f"{script_args.dataset_offset}..{script_args.dataset_offset + script_args.dataset_limit}) in the "
        "pns-hub prompt format, so the model ends its answers with `\\boxed{}`. It is the starting policy of the "
        "pns-hub demo (reverse-RL generator, rejection sampling, DPO).\n\n"
        f"Training: {training_args.num_train_epochs} epoch(s), learning rate {training_args.learning_rate}, "
        f"batch {training_args.per_device_train_batch_size * training_args.gradient_accumulation_steps} per optimizer "
        f"step ({training_args.per_device_train_batch_size} per forward pass), loss on the completion only.\n")
    tokenizer.padding_side = "left"
    return str(hub.save_model_folder(trainer, tokenizer, training_args.output_dir, card))
