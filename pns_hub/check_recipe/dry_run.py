"""``pns-hub check-recipe --dry-run``: one real step of a recipe on CPU with a tiny model of the same family.

Why: parsing proves the YAML is well-formed; only running the recipe's own entry point (``recipes/<task>.py``
``main``, the very code an ``accelerate launch`` runs) proves the settings work together: the reward functions load,
the dataset columns match the trainer, the loss is finite. The model is the recipe's architecture (Qwen2, Qwen3,
Llama) shrunk to 2 layers x 64 hidden with random weights; its vocabulary is the embedded SmolLM2 tokenizer's (there
is no Hub here, and a Qwen/Llama tokenizer cannot be built offline). What is shrunk to run in seconds, and nothing
else: lengths, batch sizes, problem counts, steps; vLLM, bf16, gradient checkpointing and Hub pushes are off.
Every other key is the recipe's own.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

import yaml

from pns_hub.check_recipe import files as cr
TRAIN_COMMON = {
    "max_steps": 1, "num_train_epochs": 1, "logging_steps": 1, "save_strategy": "no", "eval_strategy": "no",
    "report_to": "none", "push_to_hub": False, "hub_model_id": None, "bf16": False, "fp16": False,
    "gradient_checkpointing": False, "activation_checkpointing": False, "per_device_train_batch_size": 2,
    "gradient_accumulation_steps": 1, "use_vllm": False, "dataloader_num_workers": 0, "dtype": "float32",
    "model_init_kwargs": None, "attn_implementation": "sdpa", "torch_compile": False, "deepspeed": None,
    "fsdp": None, "warmup_steps": 0,
}
GRPO = {"num_generations": 2, "max_completion_length": 16, "dataset_name": "gsm8k_train", "dataset_limit": 4,
        "generation_batch_size": None, "steps_per_generation": None, "vllm_mode": "colocate"}


def tiny_config(config_file: Path, tokenizer):
    """The recipe model's config with every size shrunk and the embedded tokenizer's vocabulary and special ids
    (built from the JSON, so derived fields such as ``layer_types`` follow the new layer count)."""
    from transformers import AutoConfig

    values = {k: v for k, v in json.loads(Path(config_file).read_text()).items()
              if not k.startswith("_") and k != "layer_types"}
    heads = values["num_attention_heads"]
    kv = values.get("num_key_value_heads") or heads
    values.update(num_hidden_layers=2, hidden_size=64, intermediate_size=128, num_attention_heads=4,
                  num_key_value_heads=4 if kv == heads else 2,  # keep MHA vs GQA
                  vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                  eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    if "head_dim" in values:
        values["head_dim"] = 16
    if "max_window_layers" in values:
        values["max_window_layers"] = 2
    return AutoConfig.for_model(values.pop("model_type"), **values)


def build_tiny_models(config_file: Path, workdir: Path) -> dict[str, str]:
    """A causal LM and a 1-label sequence classifier (reward-model stand-in) folder, each with the tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    from pns_hub import models
    tokenizer = models.load_tokenizer(models.EMBEDDED_DEFAULT)
    config = tiny_config(config_file, tokenizer)
    torch.manual_seed(0)
    out = {}
    for name, cls in (("policy", AutoModelForCausalLM), ("reward", AutoModelForSequenceClassification)):
        folder = workdir / f"tiny-{name}"
        config.num_labels = 1  # only the classifier reads it: a scalar reward head
        cls.from_config(config).save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        out[name] = str(folder)
    return out


def _toy_pairs(limit: int) -> list[dict]:
    """(gold solution, one-number-perturbed solution) pairs on the first GSM8K training problems."""
    from pns_hub.data import problems as data
    from pns_hub.engines import generation
    from pns_hub.synthesis import baselines as negatives
    pairs = []
    for i, row in enumerate(data.load_problems("gsm8k_train", limit=limit)):
        wrong = negatives.perturb_solution(row["solution"], row["answer"], seed=i)
        text = wrong[0] if wrong else row["solution"] + " (wrong)"
        pairs.append({"id": row["id"], "prompt": generation.build_prompt(row["problem"]),
                      "chosen": [{"role": "assistant", "content": row["solution"]}],
                      "rejected": [{"role": "assistant", "content": text}],
                      "problem": row["problem"], "answer": row["answer"], "chosen_source": "gold"})
    return pairs


def _negatives_folder(workdir: Path) -> str:
    from datasets import Dataset, DatasetDict

    from pns_hub.hub import write_dataset_folder

    rows = [{k: p[k] for k in ("prompt", "chosen", "rejected")} for p in _toy_pairs(8)]
    folder = workdir / "negatives"
    write_dataset_folder(folder, {"pns": DatasetDict({"train": Dataset.from_list(rows)})}, "# dry-run negatives\n")
    return str(folder)


def task_overrides(task: str, tiny: dict[str, str], workdir: Path) -> dict:
    """The shrink for each task (see the module docstring); paths of earlier stages point at the tiny models."""
    out = str(workdir / "out")
    policy, reward = tiny["policy"], tiny["reward"]
    if task == "reward_model":
        pairs = workdir / "pairs.jsonl"
        pairs.write_text("".join(json.dumps(p) + "\n" for p in _toy_pairs(8)))
        return TRAIN_COMMON | {"model_name_or_path": policy, "policy_model": policy, "pairs_path": str(pairs),
                               "dataset_name": "gsm8k_train", "dataset_limit": 8, "heldout_problems": 2,
                               "max_length": 512, "output_dir": out}  # RewardTrainer drops longer pairs
    if task == "pns_generator":
        return TRAIN_COMMON | GRPO | {"model_name_or_path": policy, "reward_model_path": reward,
                                      "judge_model": policy, "holdout": 0, "reward_model_batch_size": 4,
                                      "judge_batch_size": 4, "output_dir": out}
    if task == "nsr":
        return TRAIN_COMMON | GRPO | {"model_name_or_path": policy, "output_dir": out, "verifier_workers": 0}
    if task == "dpo":
        return TRAIN_COMMON | {"model_name_or_path": policy, "dataset_name": _negatives_folder(workdir),
                               "dataset_config": "pns", "dataset_mixture": None, "max_train_samples": None,
                               "max_length": 128, "eval_benchmarks": None, "output_dir": out, "use_peft": False}
    if task in ("sft_glow", "sft_warmup"):
        extra = {"dataset_limit": 4, "dataset_offset": 0} if task == "sft_warmup" else \
            {"dataset_name": dry_run_trajectories(policy, workdir), "dataset_config": "all", "dataset_limit": 4}
        return TRAIN_COMMON | extra | {"model_name_or_path": policy, "max_length": 128, "output_dir": out}
    if task == "sample_trajectories":
        return {"model_name_or_path": policy, "dataset_name": "gsm8k_train", "limit": 2, "num_samples": 2,
                "max_new_tokens": 16, "batch_size": 8, "verify_workers": 0, "output_dir": out, "dtype": "float32",
                "push_repo_id": None}
    if task == "synthesize":
        return {"generator": policy, "policy": policy, "instruct_model": policy, "reward_model": reward,
                "judge_model": policy, "dataset": "gsm8k_train", "limit": 2, "num_samples": 2, "max_new_tokens": 16,
                "batch_size": 8, "shard_size": 2, "backend": "transformers", "dtype": "float32", "verify_workers": 0,
                "progress": False, "push_to_hub": False, "hub_repo_id": None, "overwrite": True, "output_dir": out,
                "generator_revision": None, "policy_revision": None, "instruct_revision": None}
    raise ValueError(f"no dry run for task '{task}' (evaluate recipes are checked by parsing only)")


def dry_run_trajectories(policy: str, workdir: Path) -> str:
    """GLOW's input made the real way (recipes/sample_trajectories.py's function), tiny."""
    from pns_hub.synthesis.trajectories import sample_trajectories

    folder = workdir / "trajectories"
    sample_trajectories(model_name_or_path=policy, dataset_name="gsm8k_train", limit=4, num_samples=2,
                        max_new_tokens=16, batch_size=8, dtype="float32", verify_workers=0, output_dir=str(folder))
    return str(folder)


def _field_names(task: str) -> set[str]:
    types, _ = cr.parser_types(task)
    return {f for t in types for f in t.__dataclass_fields__}


def shrunk_recipe(recipe_path: Path, task: str, overrides: dict, workdir: Path) -> Path:
    """The recipe YAML with the overrides its parser knows applied (unknown keys would be rejected)."""
    raw = yaml.safe_load(recipe_path.read_text()) or {}
    names = _field_names(task)
    raw.update({k: v for k, v in overrides.items() if k in names})
    for key in [k for k, v in raw.items() if v is None]:
        del raw[key]  # TrlParser takes YAML null as the string "None" for str fields; absent = the default
    path = workdir / f"dry_run_{task}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@contextlib.contextmanager
def _argv(argv: list[str]):
    saved, sys.argv = sys.argv, argv
    try:
        yield
    finally:
        sys.argv = saved


def run_script(task: str, config: Path):
    """Call the script's own ``main`` (recipes/<task>.py), as ``accelerate launch`` would."""
    argv = ["--config", str(config)]
    if task == "synthesize":
        from pns_hub.synthesis.run import cli_main

        return cli_main(argv)
    spec = importlib.util.spec_from_file_location(f"_recipe_{task}", cr.REPO_ROOT / "recipes" / f"{task}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with _argv([f"recipes/{task}.py", *argv]):
        return module.main() if task == "dpo" else module.main(argv)


def dry_run(recipe_path: str | Path, fixture_dir: Path = cr.FIXTURE_DIR, workdir: str | Path | None = None) -> dict:
    """Run the recipe once, shrunk; returns ``{status, seconds, summary, workdir}``; raises if the step fails."""
    recipe_path = Path(recipe_path).resolve()
    task, model_key = cr.identify(recipe_path)
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="pns-dry-run-"))
        workdir = Path(workdir)
        tiny = build_tiny_models(cr.find_model_config(model_key, fixture_dir), workdir)
        config = shrunk_recipe(recipe_path, task, task_overrides(task, tiny, workdir), workdir)
        result = run_script(task, config)
    return {"status": "ok", "seconds": time.perf_counter() - start, "summary": str(result)[:300],
            "workdir": str(workdir)}
