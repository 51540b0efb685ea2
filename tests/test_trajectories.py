"""Trajectories dataset: real sampling + math-verify labels, stable sample ids, all/positive/negative configs, card."""

import pytest


def test_sample_trajectories_writes_hub_layout(tiny_causal_lm_path, tmp_path):
    from datasets import load_dataset

    from pns_hub.synthesis.trajectories import sample_trajectories

    out = tmp_path / "traj"
    summary = sample_trajectories(model_name_or_path=tiny_causal_lm_path, dataset_name="gsm8k_train", limit=3,
                                  num_samples=2, max_new_tokens=8, dtype="fp32", verify_workers=0,
                                  output_dir=str(out), progress=False)
    assert summary["num_rows"] == 3 * 2 + 3  # k samples + one gold solution per problem
    full = load_dataset(str(out), "all", split="train")
    pos = load_dataset(str(out), "positive", split="train")
    neg = load_dataset(str(out), "negative", split="train")
    assert len(full) == 9 and len(pos) + len(neg) + summary["labels"]["unknown"] == 9
    ids = full["sample_id"]
    assert len(set(ids)) == len(ids)
    assert "gsm8k_train/0/0" in ids and "gsm8k_train/0/1" in ids and "gsm8k_train/0/gold" in ids
    gold_rows = [r for r in full if r["source"] == "gold"]
    assert all(r["label"] == "positive" and r["verdict"] == "correct" for r in gold_rows)  # gold verifies
    assert set(pos["source"]) <= {"gold", "model"} and len(pos) >= 3
    row = full[0]
    assert row["messages"][0]["role"] == "user" and row["messages"][-1]["role"] == "assistant"
    assert {"label", "extracted_answer", "verdict", "problem_id", "gold", "sample_id"} <= set(row)
    assert all(r["label"] == "negative" for r in neg)
    card = (out / "README.md").read_text()
    assert "config_name: negative" in card and "sample_id" in card


def test_without_gold_positives_and_labels(tiny_causal_lm_path, tmp_path):
    from pns_hub.synthesis.trajectories import label_for, sample_trajectories

    assert [label_for(v) for v in ("correct", "wrong", "unparseable", "unverifiable")] == [
        "positive", "negative", "negative", "unknown"]
    summary = sample_trajectories(model_name_or_path=tiny_causal_lm_path, limit=1, num_samples=2, max_new_tokens=4,
                                  dtype="fp32", verify_workers=0, include_gold_positives=False,
                                  output_dir=str(tmp_path / "t"), progress=False)
    assert summary["num_rows"] == 2 and summary["labels"]["positive"] == 0  # random model, 4 tokens


def test_rejects_empty_problem_list(tmp_path):
    from pns_hub.synthesis.trajectories import sample_trajectories

    with pytest.raises(ValueError, match="no problems"):
        sample_trajectories(problems=[], dataset_name="testbed_train[0:0]", output_dir=str(tmp_path))


def test_problems_passed_in_must_be_named_for_the_card(tmp_path):
    """Problems handed over without a name would be carded as the default source (gsm8k_train): refused."""
    from pns_hub.data.problems import load_problems
    from pns_hub.synthesis.trajectories import sample_trajectories

    with pytest.raises(ValueError, match="without `dataset_name`"):
        sample_trajectories(problems=load_problems("testbed_train")[400:402], output_dir=str(tmp_path))
    assert not (tmp_path / "README.md").exists()
