"""Every card pns-hub writes loads with huggingface_hub's own readers, metadata and all: model cards (DPO, generator,
reward model, GLOW, NSR), dataset cards (negatives, trajectories), the results dataset's card and the Space's.

What the Hub needs from a card is its front matter: a ``---`` block closed on a line of its own that parses as YAML.
A card whose block does not close loads as *no metadata* (licence, base_model, tags lost) and the Hub does not show
it (the DPO card's ``- pns-dpo---``); the fake Hub refuses it (tests/hub_fake.py)."""

import re
from pathlib import Path

import pytest
import yaml
from huggingface_hub import DatasetCard, ModelCard, SpaceCard

from pns_hub import hub
from tests.hub_fake import metadata_errors


TEMPLATE_KINDS = {"dpo.md": "model", "generator.md": "model", "reward_model.md": "model", "glow.md": "model",
                  "nsr.md": "model", "dataset.md": "dataset", "trajectories.md": "dataset"}
# the values the front matter of each template reads (the bodies need each trainer's whole context)
HEADER_CONTEXT = {"pretty_name": "PNS negatives", "license": "mit", "source_hub_id": "openai/gsm8k",
                  "model_name": "org/model", "base_model": "org/base", "summary": {"base_model": "org/base",
                                                                                  "mode": "w_reinforce"}}


def _header(template: str) -> str:
    """The template's front matter, rendered: from its first line to the line that closes the block."""
    text = (hub.template_dir() / template).read_text(encoding="utf-8")
    closing = re.search(r"\n---[ \t]*\n", text)
    assert text.startswith("---\n") and closing, f"{template}: the front matter must close with a '---' line"
    import jinja2

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    context = dict(HEADER_CONTEXT)
    if template == "dpo.md":
        from pns_hub.trainers.dpo import card_metadata

        context["card_metadata"] = card_metadata("org/m-dpo", "org/base", ["org/pns-negatives"], {"gsm8k": 0.25},
                                                 ["pns-hub", "dpo", "pns-dpo"])
    return env.from_string(text[:closing.end()]).render(**context) + "\n# body\n"


def _loads_with_every_key(card_text: str, path: Path, kind: str) -> None:
    path.write_text(card_text, encoding="utf-8")
    written = yaml.safe_load(card_text.split("---\n")[1])
    card = {"model": ModelCard, "dataset": DatasetCard, "space": SpaceCard}[kind].load(path)
    loaded = card.data.to_dict()
    assert written and set(written) <= set(loaded), f"{path.name}: lost {set(written) - set(loaded)}"
    assert metadata_errors(card_text, kind) == [], metadata_errors(card_text, kind)


@pytest.mark.parametrize("template", sorted(TEMPLATE_KINDS))
def test_every_template_card_loads_with_its_metadata(template, tmp_path):
    _loads_with_every_key(_header(template), tmp_path / "README.md", TEMPLATE_KINDS[template])


def test_the_dpo_card_keeps_licence_base_model_and_tags(tmp_path):
    path = tmp_path / "README.md"
    path.write_text(_header("dpo.md"), encoding="utf-8")
    data = ModelCard.load(path).data
    assert data.license == "apache-2.0" and data.base_model == "org/base" and data.tags[-1] == "pns-dpo"
    assert data.eval_results and data.eval_results[0].metric_value == 25.0


def test_results_and_space_cards_load(tmp_path):
    from pns_hub.eval.space import SPACE_SOURCE, space_card

    from pns_hub.experiments import demo
    from pns_hub.eval.results import ResultRecord

    record = ResultRecord(model="local/m", method="base", scores={"testbed": 0.5})
    demo._leaderboard(tmp_path / "results", [("base", record)], demo.Budget.preset("tiny"), 0)
    _loads_with_every_key((tmp_path / "results" / "README.md").read_text(), tmp_path / "results.md", "dataset")
    _loads_with_every_key(space_card(Path(SPACE_SOURCE)), tmp_path / "space.md", "space")


def test_the_fake_hub_refuses_a_block_that_never_closes():
    assert metadata_errors("---\nlicense: mit\ntags:\n- pns-dpo---\n\n# card\n", "model")
    assert metadata_errors("# no metadata at all\n", "model") == []
