import pytest
from datasets import Dataset, load_dataset

from pns_hub import hub
from tests.hub_fake import FakeHub


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
