"""Plausibility report: statistics, markdown table, PNG, card update, CLI."""

import pytest
from datasets import Dataset

from pns_hub import hub

from pns_hub.synthesis import report

from pns_hub.synthesis import run as synthesize
def _row(source, pid, rm_c, rm_r, judge_r=None, fmt=True, n=100):
    feats = synthesize.features()
    row = {k: None for k in feats}
    row.update(prompt=[{"role": "user", "content": "q"}], chosen=[{"role": "assistant", "content": "c"}],
               rejected=[{"role": "assistant", "content": "r"}], problem_id=pid, negative_source=source,
               rm_chosen=rm_c, rm_rejected=rm_r, judge_rejected=judge_r, judge_chosen=0.8 if judge_r else None,
               rejected_format_ok=fmt, rejected_num_chars=n, chosen_num_chars=200)
    return row


def _rows():
    return {
        "pns": [_row("pns", "a", 1.0, 2.0, 0.9), _row("pns", "b", 1.0, 0.0, 0.7)],
        "rejection_sampling": [_row("rejection_sampling", "a", 1.0, -3.0, fmt=False, n=50),
                               _row("rejection_sampling", "b", 1.0, -1.0, fmt=True, n=150)],
    }


def test_stats_per_source():
    stats = report.plausibility_stats(_rows())
    pns, rs = stats["pns"], stats["rejection_sampling"]
    assert pns["rows"] == 2 and pns["rm_rejected_mean"] == 1.0 and pns["rm_prefers_negative"] == 0.5
    assert pns["judge_rejected_mean"] == pytest.approx(0.8) and pns["format_rate"] == 1.0
    assert rs["rm_rejected_mean"] == -2.0 and rs["rm_prefers_negative"] == 0.0 and rs["format_rate"] == 0.5
    assert rs["judge_rejected_mean"] is None and rs["rejected_chars_mean"] == 100
    assert rs["rm_gap_mean"] == 3.0


def test_table_and_plot(tmp_path):
    stats = report.plausibility_stats(_rows())
    table = report.markdown_table(stats)
    assert table.count("\n") == 4 and "| pns | 2 | 2 | 1 / 1 | 1 | 50% |" in table
    assert "| rejection_sampling |" in table and "n/a" in table
    path = report.plot(stats, _rows(), tmp_path / "p.png")
    assert path.read_bytes()[:4] == b"\x89PNG" and path.stat().st_size > 5000
    empty = report.plot({}, {"pns": [_row("pns", "a", None, None)]}, tmp_path / "empty.png")
    assert empty.exists()  # no scores at all: a labelled empty plot, not a crash


def test_cli_rewrites_card_table(tmp_path, capsys):
    feats = synthesize.features()
    configs = {s: Dataset.from_list(r, features=feats) for s, r in _rows().items()}
    card = "---\nlicense: mit\n---\n# Card\n\n<!-- plausibility:start -->\nSTALE-TABLE\n<!-- plausibility:end -->\n\nTail\n"
    folder = hub.write_dataset_folder(tmp_path / "ds", configs, card)
    assert report.cli_main([str(folder)]) == 0
    text = (folder / "README.md").read_text()
    assert "STALE-TABLE" not in text and "| pns | 2 |" in text and text.rstrip().endswith("Tail")
    assert (folder / "plausibility.png").exists() and "| rejection_sampling |" in capsys.readouterr().out


def test_missing_card_header_is_a_clear_error(tmp_path):
    (tmp_path / "README.md").write_text("# no header\n")
    with pytest.raises(ValueError, match="YAML header"):
        report.load_folder(tmp_path)


def test_an_empty_source_is_left_out_of_configs_and_named_in_the_card(tmp_path):
    """datasets cannot load a 0-row config ("Instruction 'train' corresponds to no data"): such a source stays out of
    the folder's ``configs:`` (the others and the default load), and the card lists it with 0 rows and says why."""
    from datasets import load_dataset

    from pns_hub.synthesis import card as dataset_card
    from pns_hub.synthesis.config import SynthesisConfig

    config = SynthesisConfig(output_dir=str(tmp_path / "ds"), sources=["pns", "rejection_sampling", "prompted_wrong"])
    (tmp_path / "ds" / "data" / "prompted_wrong").mkdir(parents=True)
    (tmp_path / "ds" / "data" / "prompted_wrong" / "train-00000-of-00001.parquet").write_bytes(b"stale")
    rows = {**_rows(), "prompted_wrong": []}
    skipped = [{"source": "prompted_wrong", "reason": "no verified-wrong negative"}] * 2
    folder = dataset_card.write_folder(config, rows, skipped, [], n_problems=2)
    assert len(load_dataset(str(folder), "pns", split="train")) == 2
    assert len(load_dataset(str(folder), split="train")) == 2  # the default config is pns
    assert len(load_dataset(str(folder), "rejection_sampling", split="train")) == 2
    card = (folder / "README.md").read_text()
    assert "config_name: prompted_wrong" not in card and not list((folder / "data" / "prompted_wrong").iterdir())
    assert "| `prompted_wrong` | 0 |" in card and "Empty: not in this folder" in card
    assert "| prompted_wrong | no verified-wrong negative | 2 |" in card
    from trl.scripts.utils import DatasetConfig

    from pns_hub.trainers.dpo import _check_config

    assert _check_config(DatasetConfig(path=str(folder), name="pns", split="train")) == 2
    with pytest.raises(ValueError, match="prompted_wrong.*no preference pairs"):  # a DPO mix that asks for it
        _check_config(DatasetConfig(path=str(folder), name="prompted_wrong", split="train"))
    nothing = dataset_card.write_folder(config, {s: [] for s in config.sources}, skipped, [], n_problems=2)
    card = (nothing / "README.md").read_text()  # every source empty: a card that says so, and no loadable config
    assert "config_name" not in card and card.count("Empty: not in this folder") == 3


def test_a_row_without_a_rejected_side_is_named_not_counted():
    from pns_hub.synthesis import report

    good = {"problem_id": "p1", "chosen": "c", "rejected": "r", "rm_rejected": 0.1, "rm_chosen": 0.5}
    stats = report.plausibility_stats({"pns": [good, {**good, "problem_id": "p2", "rejected": None}]})
    assert stats["pns"]["rows"] == 1 and stats["pns"]["problems"] == 1
    assert stats["pns"]["incomplete_rows"] == 1 and stats["pns"]["incomplete_problem_ids"] == ["p2"]
    assert "pns: 1 row(s) without a chosen or rejected side, not counted above (problems p2)" in \
        report.markdown_table(stats)
