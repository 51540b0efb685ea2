"""What a recipe file is, shared by ``check-recipe``, its estimates and its dry run: which task a YAML belongs to, the
dataclasses that task's script parses it with, and its model as a meta-device ``config.json`` fixture.

Split out of :mod:`pns_hub.check_recipe.check` so that :mod:`pns_hub.check_recipe.estimates` and :mod:`pns_hub.check_recipe.dry_run`
import these facts from below instead of from the module that imports them (no import circle).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path


REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURE_DIR = REPO_ROOT / "tests" / "fixtures" / "model_configs"
TRAINING_TASKS = ("reward_model", "pns_generator", "dpo", "nsr", "sft_glow", "sft_warmup")
INFERENCE_TASKS = ("synthesize", "sample_trajectories", "evaluate")
TASKS = TRAINING_TASKS + INFERENCE_TASKS
# GRPO no longer has max_prompt_length (TRL 0.28); maths prompts with the chat template are well under this.
ASSUMED_PROMPT_TOKENS = 512


def identify(path: Path) -> tuple[str, str]:
    """(task, model folder name) from the open-r1 layout, or from ``<model>/<task>[_<variant>].yaml``."""
    if path.parent.name in TASKS:
        return path.parent.name, path.parent.parent.name
    if path.stem in TASKS:
        return path.stem, path.parent.name
    variants = [task for task in TASKS if path.stem.startswith(task + "_")]  # <task>_<variant>.yaml
    if variants:
        return max(variants, key=len), path.parent.name
    raise ValueError(f"{path}: cannot tell the script: put it under recipes/<Model>/<task>/ with task one of "
                     f"{', '.join(TASKS)}")


def parser_types(task: str):
    """The dataclasses ``recipes/<task>.py`` hands to TrlParser, and whether it uses ``parse_recipe_args``."""
    from trl import ModelConfig

    if task == "reward_model":
        from pns_hub.trainers.pns_configs import PNSRewardConfig, RewardModelScriptArguments
        return (RewardModelScriptArguments, PNSRewardConfig, ModelConfig), False
    if task == "pns_generator":
        from pns_hub.trainers.pns_configs import PNSGeneratorScriptArguments, PNSGRPOConfig
        return (PNSGeneratorScriptArguments, PNSGRPOConfig, ModelConfig), False
    if task == "dpo":
        from pns_hub.trainers.dpo import DPOScriptArguments, PNSDPOConfig
        return (DPOScriptArguments, PNSDPOConfig, ModelConfig), False
    if task == "sft_warmup":
        from pns_hub.trainers.pns_configs import PNSSFTConfig
        from pns_hub.trainers.sft import SFTWarmupArguments
        return (SFTWarmupArguments, PNSSFTConfig, ModelConfig), False
    if task in ("nsr", "sft_glow"):
        from pns_hub.trainers.configs import GlowConfig, NSRConfig, TrainScriptArguments
        return (TrainScriptArguments, NSRConfig if task == "nsr" else GlowConfig, ModelConfig), True
    if task == "sample_trajectories":
        from pns_hub.trainers.configs import TrajectoryArguments
        return (TrajectoryArguments,), False
    if task == "synthesize":
        from pns_hub.synthesis.run import SynthesisConfig
        return (SynthesisConfig,), False
    raise ValueError(f"no TrlParser for task {task}")


def find_model_config(model_key: str, fixture_dir: Path = FIXTURE_DIR) -> Path:
    """``<fixture_dir>/<Model>.json``, matched without case (the demo folder is lower-case)."""
    for file in sorted(fixture_dir.glob("*.json")):
        if file.stem.lower() == model_key.lower():
            return file
    known = ", ".join(f.stem for f in sorted(fixture_dir.glob("*.json")))
    raise ValueError(f"no model config for '{model_key}' in {fixture_dir} (have: {known}); add <Model>.json from "
                     "the model's config.json")


def load_model_config(file: Path):
    from transformers import AutoConfig

    values = {k: v for k, v in json.loads(file.read_text()).items() if not k.startswith("_")}
    return AutoConfig.for_model(values.pop("model_type"), **values)


def meta_model(config, sequence_classification: bool = False):
    """The full-size model with every tensor on the meta device: shapes and counts, zero bytes."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    if sequence_classification:
        config = copy.deepcopy(config)
        config.num_labels = 1  # a scalar reward head, as pns_hub.rewards.reward_model loads it
    with torch.device("meta"):
        cls = AutoModelForSequenceClassification if sequence_classification else AutoModelForCausalLM
        return cls.from_config(config)


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())  # parameters() yields a tied embedding once
