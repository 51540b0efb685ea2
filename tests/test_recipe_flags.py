"""One model and publishing convention: every training recipe takes trl.ModelConfig and --push_to_hub/--hub_model_id.

Each recipe's own YAML is parsed with the dataclasses its script hands to TrlParser (``recipe_files.parser_types``,
which ``check-recipe`` also uses), plus the shared flags on the command line, so a recipe that drops ModelConfig or
renames a publishing flag fails here.
"""

from pathlib import Path

import pytest

from pns_hub.check_recipe import files as recipe_files
REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "recipes" / "smollm2-135m-instruct"
TRAINING = {"reward_model": "reward_model.yaml", "pns_generator": "pns_generator.yaml", "dpo": "dpo.yaml",
            "sft_warmup": "sft_warmup.yaml", "sft_glow": "sft_glow.yaml", "nsr": "nsr.yaml"}
SHARED_FLAGS = ["--model_revision", "main", "--dtype", "float32", "--use_peft", "--lora_r", "8",
                "--push_to_hub", "--hub_model_id", "org/model"]


def test_every_training_task_is_covered():
    assert set(TRAINING) == set(recipe_files.TRAINING_TASKS)


@pytest.mark.parametrize("task", sorted(TRAINING))
def test_recipe_takes_model_config_and_publishing_flags(task, tmp_path):
    from trl import ModelConfig, TrlParser

    from pns_hub.trainers.configs import parse_recipe_args

    types, recipe_args = recipe_files.parser_types(task)
    assert ModelConfig in types, f"recipes/{task}.py does not parse trl.ModelConfig"
    script = (REPO / "recipes" / f"{task}.py").read_text()
    assert all(t.__name__ in script for t in types), f"recipes/{task}.py parses other dataclasses than {types}"
    argv = ["--config", str(DEMO / TRAINING[task]), "--output_dir", str(tmp_path), *SHARED_FLAGS]
    parsed = parse_recipe_args(types, argv) if recipe_args else TrlParser(types).parse_args_and_config(args=argv)
    model_args = next(p for p in parsed if isinstance(p, ModelConfig))
    training_args = next(p for p in parsed if hasattr(p, "hub_model_id"))
    assert model_args.model_name_or_path, "the recipe YAML names its model through ModelConfig"
    assert model_args.use_peft and model_args.lora_r == 8 and model_args.dtype == "float32"
    assert training_args.push_to_hub and training_args.hub_model_id == "org/model"
    assert not any(hasattr(p, "push_repo_id") for p in parsed), "publishing flag is --push_to_hub/--hub_model_id"
