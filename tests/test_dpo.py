"""DPO recipe: data loading/mixing checks (fast) and one real DPO step through `accelerate launch` on CPU."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pns_hub.trainers.dpo import DPOScriptArguments, load_training_data, parse_mixture


REPO_ROOT = Path(__file__).resolve().parent.parent


def _pair(i: int, source: str) -> dict:
    problem = f"What is {i} + {i}?"
    return {
        "prompt": [{"role": "user", "content": f"Solve: {problem}"}],
        "chosen": [{"role": "assistant", "content": f"{i} + {i} = {2 * i}. \\boxed{{{2 * i}}}"}],
        "rejected": [{"role": "assistant", "content": f"{i} + {i} = {2 * i + 1}. \\boxed{{{2 * i + 1}}}"}],
        "problem_id": f"toy/{i}", "negative_source": source, "rejected_verdict": "wrong",  # metadata columns
    }


@pytest.fixture(scope="module")
def negatives_folder(tmp_path_factory) -> Path:
    """A Hub-layout dataset folder with two negatives configs (8 and 4 rows)."""
    from datasets import Dataset, DatasetDict

    from pns_hub.hub import write_dataset_folder

    folder = tmp_path_factory.mktemp("negatives")
    configs = {
        "pns": DatasetDict({"train": Dataset.from_list([_pair(i, "pns") for i in range(8)])}),
        "rejection_sampling": DatasetDict({"train": Dataset.from_list([_pair(i, "rs") for i in range(100, 104)])}),
    }
    write_dataset_folder(folder, configs, "# toy negatives\n")
    assert (folder / "data" / "pns" / "train-00000-of-00001.parquet").exists()
    return folder


def test_parse_mixture_forms_and_errors():
    assert parse_mixture({"pns": 0.5, "rejection_sampling": 0.5}) == {"pns": 0.5, "rejection_sampling": 0.5}
    assert parse_mixture("pns=3,rejection_sampling=1") == {"pns": 3.0, "rejection_sampling": 1.0}
    assert parse_mixture('{"pns": 1}') == {"pns": 1.0}
    assert parse_mixture(None) is None
    with pytest.raises(ValueError, match="positive"):
        parse_mixture({"pns": 0})
    with pytest.raises(ValueError, match="name=weight"):
        parse_mixture("pns")


def test_trl_datasets_list_in_yaml_mixes_like_the_shorthand(negatives_folder, tmp_path):
    """Issue 16: the mixture is TRL's (``datasets:`` list, trl.get_dataset); a YAML in TRL's form and the
    ``dataset_mixture`` shorthand give the same mix, and the card's composition is what TRL built."""
    import yaml
    from trl import ModelConfig, TrlParser

    from pns_hub.trainers.dpo import PNSDPOConfig

    config = tmp_path / "dpo.yaml"
    config.write_text(yaml.safe_dump({"datasets": [
        {"path": str(negatives_folder), "name": "pns", "fraction": 2},
        {"path": str(negatives_folder), "name": "rejection_sampling", "fraction": 1}], "output_dir": str(tmp_path)}))
    script_args, _, _ = TrlParser((DPOScriptArguments, PNSDPOConfig, ModelConfig)).parse_args_and_config(
        args=["--config", str(config)])
    data, composition = load_training_data(script_args)
    assert composition == {"pns": 8, "rejection_sampling": 4} and len(data) == 12  # 2:1 of 8 and 4 rows
    shorthand = DPOScriptArguments(dataset_name=str(negatives_folder), dataset_mixture="pns=3,rejection_sampling=1")
    data, composition = load_training_data(shorthand)
    assert composition == {"pns": 8, "rejection_sampling": 3} and len(data) == 11  # 3:1, pns limits: 8 + round(8/3)


def test_load_single_config_and_mixture(negatives_folder):
    args = DPOScriptArguments(dataset_name=str(negatives_folder), dataset_config="pns")
    data, composition = load_training_data(args)
    assert data.column_names == ["prompt", "chosen", "rejected"]  # metadata dropped before DPOTrainer
    assert len(data) == 8 and composition == {"pns": 8}

    args = DPOScriptArguments(dataset_name=str(negatives_folder),
                              dataset_mixture={"pns": 0.5, "rejection_sampling": 0.5})
    data, composition = load_training_data(args)
    assert composition == {"pns": 4, "rejection_sampling": 4}
    sums = sorted(int(row["prompt"][0]["content"].split()[3]) for row in data)
    assert sum(s >= 100 for s in sums) == 4 and sum(s < 100 for s in sums) == 4


def test_bad_row_is_named(tmp_path):
    from datasets import Dataset, DatasetDict

    from pns_hub.hub import write_dataset_folder

    rows = [_pair(i, "pns") for i in range(3)]
    rows[2]["rejected"] = [{"role": "assistant", "content": "x"}, {"role": "assistant", "content": "y"}]
    write_dataset_folder(tmp_path, {"pns": DatasetDict({"train": Dataset.from_list(rows)})}, "# bad\n")
    with pytest.raises(ValueError, match=r"row 2, field 'rejected'"):
        load_training_data(DPOScriptArguments(dataset_name=str(tmp_path), dataset_config="pns"))


def test_dpo_one_step_accelerate_launch_cpu(negatives_folder, tiny_causal_lm_path, tmp_path):
    """The real recipe: accelerate launch recipes/dpo.py --config <the shipped YAML>, overridden to one step."""
    out = tmp_path / "dpo-out"
    accelerate_config = REPO_ROOT / "recipes" / "accelerate_configs" / "single_cpu.yaml"
    launch = [str(Path(sys.executable).parent / "accelerate"), "launch"]
    launch += ["--config_file", str(accelerate_config)] if accelerate_config.exists() else ["--cpu", "--num_processes", "1"]
    cmd = launch + [
        str(REPO_ROOT / "recipes" / "dpo.py"), "--config", str(REPO_ROOT / "recipes/smollm2-135m-instruct/dpo.yaml"),
        "--model_name_or_path", tiny_causal_lm_path, "--dataset_name", str(negatives_folder),
        "--dataset_mixture", "pns=0.5,rejection_sampling=0.5", "--output_dir", str(out),
        "--max_steps", "1", "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "1",
        "--max_length", "128", "--logging_steps", "1", "--use_peft", "true", "--lora_target_modules", "q_proj", "v_proj",
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    info = json.loads((out / "pns_hub_training.json").read_text())
    assert info["global_steps"] == 1
    assert info["composition"] == {"pns": 4, "rejection_sampling": 4}
    assert info["hyperparameters"]["precompute_ref_log_probs"] is True
    assert info["peft"] is True and (out / "adapter_config.json").exists()
    card = (out / "README.md").read_text()
    assert card.startswith("---\n") and "pns=0.5" not in card and "4 from `pns`" in card
    assert "negative_source" not in card or "pns+rejection_sampling" in card
    from tests.hub_fake import metadata_errors

    header = card.split("---\n")[1]  # local base model and dataset: no path in the metadata, a build note instead
    assert tiny_causal_lm_path not in header and str(negatives_folder) not in header
    assert metadata_errors(card, "model") == [] and "Build notes:" in card
    assert f"unpublished local dataset '{Path(negatives_folder).name}'" in card


def test_card_records_scores_in_model_index():
    import yaml

    from pns_hub.trainers.dpo import card_metadata, render_dpo_card

    header = card_metadata("org/m", "HuggingFaceTB/SmolLM2-135M-Instruct", ["org/negatives"],
                           {"gsm8k": 0.25, "math_500": 0.1}, ["dpo"], num_samples=4)
    meta = yaml.safe_load(header)
    results = meta["model-index"][0]["results"]
    values = {r["dataset"]["name"]: r["metrics"][0]["value"] for r in results}
    assert values == {"GSM8K": 25.0, "MATH-500": 10.0}
    card = render_dpo_card(
        card_metadata=header, repo_id="org/m", base_model="b", dataset="org/negatives", composition={"pns": 4},
        negative_source="pns", method="pns-dpo", train_loss=0.69, global_steps=1, train_seconds=1.0, num_pairs=4,
        peft=False, hyperparameters={"precompute_ref_log_probs": True},
        results={"scores": {"gsm8k": 0.25, "math_500": 0.1}, "average": 0.175, "num_samples": 4, "limit": 10,
                 "lighteval_version": "0.13.0"})
    assert yaml.safe_load(card.split("---\n")[1])["model-index"][0]["name"] == "org/m"
    assert "| gsm8k | 25.00 |" in card and "| **average** | **17.50** |" in card


@pytest.mark.slow
def test_dpo_two_processes_cpu(negatives_folder, tiny_causal_lm_path, tmp_path):
    """The multi-process path (DDP over gloo on CPU): 2 real ranks share the batch and write one model.

    torchrun, not `accelerate launch --cpu`: accelerate's CPU launcher starts one process unless MPI is set up."""
    out = tmp_path / "dpo-2proc"
    cmd = [str(Path(sys.executable).parent / "torchrun"), "--nproc_per_node", "2",
           str(REPO_ROOT / "recipes" / "dpo.py"), "--config", str(REPO_ROOT / "recipes/smollm2-135m-instruct/dpo.yaml"),
           "--model_name_or_path", tiny_causal_lm_path, "--dataset_name", str(negatives_folder),
           "--dataset_config", "pns", "--output_dir", str(out), "--max_steps", "2",
           "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "1", "--max_length", "128",
           "--logging_steps", "1", "--bf16", "false"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
           "PNS_HUB_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    info = json.loads((out / "pns_hub_training.json").read_text())
    assert info["num_processes"] == 2 and info["global_steps"] == 2
    assert (out / "model.safetensors").exists() and (out / "README.md").exists()
