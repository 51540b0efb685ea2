import pytest
import yaml
from datasets import Dataset, load_dataset

from pns_hub import hub
from tests.hub_fake import FakeHub, metadata_errors


def _pairs(n, tag):
    return Dataset.from_list([
        {"prompt": [{"role": "user", "content": f"q{i}"}], "chosen": [{"role": "assistant", "content": f"c{i}"}],
         "rejected": [{"role": "assistant", "content": f"{tag}{i}"}], "problem_id": f"p{i}"} for i in range(n)
    ])


def test_dataset_folder_loads_per_config(tmp_path):
    card = "---\nlicense: mit\npretty_name: test\n---\n# Card\n\nbody\n"
    folder = hub.write_dataset_folder(tmp_path / "ds", {"pns": _pairs(3, "p"), "perturbed": _pairs(2, "x")}, card,
                                      default="pns")
    assert (folder / "data/pns/train-00000-of-00001.parquet").exists()
    readme = (folder / "README.md").read_text()
    assert readme.startswith("---\nlicense: mit") and "config_name: perturbed" in readme and "# Card" in readme
    pns = load_dataset(str(folder), "pns", split="train")
    assert len(pns) == 3 and pns[0]["prompt"] == [{"role": "user", "content": "q0"}]
    assert len(load_dataset(str(folder), "perturbed", split="train")) == 2
    assert len(load_dataset(str(folder), split="train")) == 3  # the default config
    # rewriting a config replaces its shards instead of adding to them
    hub.write_dataset_folder(folder, {"pns": _pairs(1, "p"), "perturbed": _pairs(2, "x")}, card)
    assert len(load_dataset(str(folder), "pns", split="train")) == 1


def test_push_folder_sends_one_commit_with_every_file(tmp_path, online):
    folder = hub.write_dataset_folder(tmp_path / "ds", {"pns": _pairs(2, "p")}, "# card\n")
    with FakeHub() as fake:
        url = hub.push_folder(folder, "org/pns-negatives", repo_type="dataset", endpoint=fake.endpoint, token="hf_fake")
    assert fake.repos == {"org/pns-negatives": {"type": "dataset", "private": None}}
    assert len(fake.commits) == 1 and "commit" in url
    files = fake.commits[0]["files"]
    assert set(files) == {"README.md", "data/pns/train-00000-of-00001.parquet"}
    assert files["data/pns/train-00000-of-00001.parquet"] == (folder / "data/pns/train-00000-of-00001.parquet").read_bytes()


def test_push_missing_folder_fails_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing to push"):
        hub.push_folder(tmp_path / "absent", "org/x")


def test_render_card_refuses_missing_variables(tmp_path, monkeypatch):
    (tmp_path / "t.md").write_text("model {{ name }} on {{ data }}\n")
    monkeypatch.setattr(hub, "template_dir", lambda: tmp_path)
    assert hub.render_card("t.md", name="m", data="d") == "model m on d\n"
    with pytest.raises(Exception, match="data"):
        hub.render_card("t.md", name="m")


# Card YAML the Hub refuses (or that load_dataset cannot resolve), each made from a valid card by one change.
BROKEN_CARDS = {
    "config without config_name": lambda m: m["configs"][0].pop("config_name"),
    "data_files as a mapping": lambda m: m["configs"][0].update(data_files={"train": "data/pns/*"}),
    "split name with a dash": lambda m: m["configs"][0]["data_files"][0].update(split="train-x"),
    "configs not a list": lambda m: m.update(configs={"pns": "data/pns/*"}),
    "licence not a string": lambda m: m.update(license=3),
    "task categories not strings": lambda m: m.update(task_categories=[1]),
    "two default configs": lambda m: [c.update(default=True) for c in m["configs"]],
    "dataset_info without config_name": lambda m: m["dataset_info"][0].pop("config_name"),
}


def _card_with(folder, change) -> str:
    head, body = (folder / "README.md").read_text().split("---\n", 2)[1:]
    meta = yaml.safe_load(head)
    change(meta)
    return hub.yaml_header(meta) + body


def test_card_checks_reject_what_the_hub_rejects(tmp_path):
    """Both the offline check (library parsers) and the fake Hub refuse each broken card, and accept the real one."""
    card = "---\nlicense: mit\npretty_name: test\ntask_categories:\n- text-generation\n---\n# Card\n"
    folder = hub.write_dataset_folder(tmp_path / "ds", {"pns": _pairs(2, "p"), "perturbed": _pairs(2, "x")}, card,
                                      default="pns")
    readme = (folder / "README.md").read_text()
    assert hub.dataset_card_problems(readme, folder) == [] and metadata_errors(readme, "dataset") == []
    for name, change in BROKEN_CARDS.items():
        text = _card_with(folder, change)
        assert hub.dataset_card_problems(text, folder), name
        assert metadata_errors(text, "dataset"), name
    # Only the offline check knows the folder: a pattern that matches no file is a config that cannot load.
    missing = _card_with(folder, lambda m: m["configs"][0]["data_files"][0].update(path="data/nope/*"))
    assert any("no file matches" in p for p in hub.dataset_card_problems(missing, folder))
    # Only the Hub knows its licence list; "MIT License" is not an id on it.
    assert any('"license" must be one of' in e for e in metadata_errors(_card_with(
        folder, lambda m: m.update(license="MIT License")), "dataset"))
    with pytest.raises(ValueError, match="invalid dataset card(.|\n)*license"):  # checked when the folder is written
        hub.write_dataset_folder(tmp_path / "bad", {"pns": _pairs(1, "p")}, "---\nlicense: [3]\n---\n")


def test_push_of_a_broken_card_is_refused_like_on_the_hub(tmp_path, online):
    folder = hub.write_dataset_folder(tmp_path / "ds", {"pns": _pairs(2, "p")}, "---\nlicense: mit\n---\n# card\n")
    (folder / "README.md").write_text(_card_with(folder, lambda m: m["configs"][0].pop("config_name")))
    with FakeHub() as fake:
        with pytest.raises(ValueError, match=r"Invalid metadata in README.md(.|\n)*config_name"):
            hub.push_folder(folder, "org/broken", repo_type="dataset", endpoint=fake.endpoint, token="hf_fake")
    assert fake.commits == [] and fake.validated[0]["errors"]


def test_card_yaml_is_written_by_huggingface_hub_card_data(tmp_path):
    """Issue 16: configs/dataset_info go through DatasetCardData (datasets' own to_dataset_card_data), a template's
    stale ``configs`` are replaced rather than merged, and the header round-trips through DatasetCard."""
    from huggingface_hub import DatasetCard, DatasetCardData

    data = hub.dataset_metadata({"pns": _pairs(2, "p")}, default="pns")
    assert isinstance(data, DatasetCardData)
    assert data["configs"] == [{"config_name": "pns", "data_files": [{"split": "train", "path": "data/pns/train-*"}],
                                "default": True}]
    assert data["dataset_info"]["config_name"] == "pns" and data["dataset_info"]["splits"][0]["num_examples"] == 2
    stale = "---\nlicense: mit\nconfigs:\n- config_name: old\n  data_files: data/old/*\n---\n# Card\n"
    folder = hub.write_dataset_folder(tmp_path / "ds", {"pns": _pairs(2, "p")}, stale)
    card = DatasetCard.load(folder / "README.md")
    assert [c["config_name"] for c in card.data["configs"]] == ["pns"] and card.data["license"] == "mit"
    assert metadata_errors(str(card), "dataset") == []
    assert hub.yaml_header({"license": "mit", "base_model": None}) == "---\nlicense: mit\n---\n"
