"""The GLOW and PSR/NSR entry points (``train_glow``, ``train_nsr``: what ``recipes/sft_glow.py`` and
``recipes/nsr.py`` run) end to end on a tiny model: the push is held back from the Trainer and made once, of the final
folder with a card the Hub accepts and ``ModelCard.load`` reads back."""

import pytest

from tests.hub_fake import FakeHub, metadata_errors


@pytest.fixture
def fake_hub(monkeypatch, online):
    import huggingface_hub.constants

    with FakeHub() as fake:
        monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", fake.endpoint)
        monkeypatch.setenv("HF_TOKEN", "hf_fake")
        monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # pns_hub.hub.publish reads the variable itself
        yield fake


def _common(tmp_path, repo_id):
    return dict(output_dir=str(tmp_path / "out"), use_cpu=True, bf16=False, report_to="none", save_strategy="steps",
                save_steps=1, gradient_checkpointing=False, push_to_hub=True, hub_model_id=repo_id, seed=0)


def _check_one_push(fake, repo_id, summary, card_words):
    from huggingface_hub import ModelCard

    assert len(fake.commits) == 1, [c["files"].keys() for c in fake.commits]  # no checkpoint pushes from the Trainer
    files = fake.files("models", repo_id)
    assert "model.safetensors" in files and not any(p.startswith("checkpoint-") for p in files)
    card_text = files["README.md"].decode()
    assert metadata_errors(card_text, "model") == []
    card = ModelCard(card_text)
    assert card.data.model_name == repo_id and all(w in card.text for w in card_words)
    assert summary["pushed"] and summary["train_seconds"] > 0 and summary["model_folder"].endswith("final")
    local = ModelCard.load(summary["model_folder"] + "/README.md")
    assert local.content == card_text
    from pns_hub import models

    assert models.hub_id(summary["model_folder"]) == repo_id  # what a card trained on top of it cites as its base


def test_train_glow_pushes_its_final_folder_once(tiny_causal_lm_path, tmp_path, fake_hub):
    from trl import ModelConfig

    from pns_hub.trainers.configs import GlowConfig, TrainScriptArguments
    from pns_hub.trainers.glow import train_glow
    from tests.test_glow import _dataset

    args = GlowConfig(**_common(tmp_path, "org/glow-tiny"), num_train_epochs=2, per_device_train_batch_size=2,
                      max_length=128, glow_alpha=2.0, glow_beta=1.0, glow_record=True)
    summary = train_glow(TrainScriptArguments(dataset_name="hand-made rows"), args,
                         ModelConfig(model_name_or_path=tiny_causal_lm_path), train_dataset=_dataset(4))
    assert summary["num_samples"] == 4 and summary["labels"] == {"negative": 2, "positive": 2}
    assert summary["glow"]["alpha"] == 2.0 and len(summary["per_epoch"]) == 2  # both epochs' weights
    _check_one_push(fake_hub, "org/glow-tiny", summary, ["GLOW"])


def test_train_nsr_pushes_its_final_folder_once(tiny_causal_lm_path, tmp_path, fake_hub):
    from datasets import Dataset
    from trl import ModelConfig

    from pns_hub.trainers.configs import NSRConfig, TrainScriptArguments
    from pns_hub.trainers.nsr import train_nsr

    rows = [{"prompt": [{"role": "user", "content": f"What is {k} + {k}?"}], "answer": str(2 * k)} for k in (1, 2)]
    args = NSRConfig(**_common(tmp_path, "org/nsr-tiny"), max_steps=1, per_device_train_batch_size=4,
                     num_generations=2, max_completion_length=6, nsr_mode="nsr")
    summary = train_nsr(TrainScriptArguments(dataset_name="hand-made rows"), args,
                        ModelConfig(model_name_or_path=tiny_causal_lm_path), train_dataset=Dataset.from_list(rows))
    assert summary["mode"] == "nsr" and summary["global_steps"] == 1 and summary["num_problems"] == 2
    _check_one_push(fake_hub, "org/nsr-tiny", summary, ["NSR"])
