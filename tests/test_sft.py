"""Format warm-up recipe: a real SFTTrainer step on a tiny model, and a card that names Hub ids, never paths."""

import yaml

from tests.hub_fake import metadata_errors


def test_warmup_card_names_its_hub_id_and_keeps_the_path_as_a_build_note(tmp_path, tiny_causal_lm_path):
    from trl import ModelConfig

    from pns_hub import models
    from pns_hub.trainers.pns_configs import PNSSFTConfig
    from pns_hub.trainers.sft import SFTWarmupArguments, train_sft_warmup

    out = tmp_path / "warm"
    args = PNSSFTConfig(output_dir=str(out), max_steps=1, per_device_train_batch_size=2, max_length=256,
                        report_to="none", save_strategy="no", gradient_checkpointing=False,
                        hub_model_id="org/warm-sft")
    folder = train_sft_warmup(SFTWarmupArguments(dataset_offset=0, dataset_limit=2), args,
                              ModelConfig(model_name_or_path=tiny_causal_lm_path))
    card = (out / "README.md").read_text()
    header = yaml.safe_load(card.split("---\n")[1])
    assert header["model_name"] == "org/warm-sft" and "base_model" not in header  # a local base has no Hub id
    assert tiny_causal_lm_path not in card.split("---\n")[1] and metadata_errors(card, "model") == []
    assert f"built from the local folder `{tiny_causal_lm_path}`" in card
    assert models.hub_id(folder) == "org/warm-sft"  # what the next stage's card cites as its base
