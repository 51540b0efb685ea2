"""``pns-hub reproduce``: it must fail for the wrong model even when every score is 0.0, keep two records of one
model apart, and report settings that differ (dtype, top_p, lighteval version, commit, engine)."""

import json
import shutil
from pathlib import Path

import pytest

from pns_hub.eval import leaderboard

from pns_hub.eval import reproduce
def _record(model="local/m", limit=1, digest="a", **kw) -> leaderboard.ResultRecord:
    fields = dict(model=model, method="base", scores={"gsm8k": 0.0}, limit=limit, predictions={"gsm8k": digest},
                  dtype="float32", top_p=0.95, lighteval_version="0.13.0", commit="c0ffee", engine="openvino")
    fields.update(kw)
    return leaderboard.ResultRecord(**fields)


def _publish(root: Path, records: list[leaderboard.ResultRecord], settings: dict) -> None:
    results = root / reproduce.RESULTS_REPO / "results"
    for i, record in enumerate(records):
        leaderboard.write_record(record, results / f"run{i}.json")
    (root / reproduce.RESULTS_REPO / "eval_settings.json").write_text(json.dumps(settings))


def test_diff_zero_scores_different_text_is_a_mismatch():
    rows, mismatches = reproduce.diff_records([_record(digest="a")], [_record(digest="b")], tolerance=0.0)
    assert mismatches == 1 and rows[0]["same_predictions"] is False and rows[0]["delta"] == 0.0
    assert reproduce.diff_records([_record()], [_record()], 0.0)[1] == 0


@pytest.mark.parametrize("field,value", [("dtype", "bfloat16"), ("top_p", 1.0), ("lighteval_version", "0.12.0"),
                                         ("commit", "deadbeef"), ("engine", "transformers")])
def test_diff_reports_each_setting_that_differs(field, value):
    rows, mismatches = reproduce.diff_records([_record()], [_record(**{field: value})], tolerance=0.0)
    assert mismatches == 1
    assert [r for r in rows if not r["ok"]] == [
        {"model": "local/m", "benchmark": f"setting:{field}", "published": getattr(_record(), field),
         "reproduced": value, "delta": None, "same_predictions": None, "ok": False}]
    assert f"setting:{field}" in reproduce.diff_markdown(rows)


def test_two_records_of_one_model_are_reproduced_apart(tmp_path, monkeypatch):
    """Two published runs of the same model (different limits): each is re-run with its own settings and compared
    with its own reproduction; neither result file overwrites the other. (``run_eval`` is replaced by a stand-in
    whose text digest depends on model folder and limit; the real one runs in the test below.)"""
    from pns_hub.eval import run as eval_run

    (tmp_path / "m").mkdir()
    _publish(tmp_path, [_record(limit=1, digest="m-1"), _record(limit=2, digest="m-2")], {"max_new_tokens": 8})
    calls = []

    def fake_run_eval(model, limit=None, output_dir=None, model_name=None, dtype=None, top_p=None, **kw):
        calls.append((Path(model).name, limit, dtype, top_p, kw.get("backend")))
        record = _record(model=model_name, limit=limit, digest=f"{Path(model).name}-{limit}")
        path = leaderboard.write_record(record, Path(output_dir) / "leaderboard" / "m_20260101T000000.json")
        return {**record.to_dict(), "paths": {"record": str(path)}, "elapsed_s": 0.0}

    monkeypatch.setattr(eval_run, "run_eval", fake_run_eval)
    monkeypatch.setattr(leaderboard, "git_commit", lambda *a: "c0ffee")
    result = reproduce.reproduce("local", tmp_path / "out", local_root=tmp_path)
    # each re-run on the engine that made the record (openvino here), not on whatever "auto" picks on this machine
    assert sorted(calls) == [("m", 1, "float32", 0.95, "openvino"), ("m", 2, "float32", 0.95, "openvino")]
    assert result["mismatches"] == 0, reproduce.diff_markdown(result["rows"])
    assert len(list((tmp_path / "out" / "results").glob("*.json"))) == 2
    assert result["leaderboard"]["records"] == 2


@pytest.fixture(scope="module")
def other_tiny_lm(tmp_path_factory, tiny_causal_lm_path):
    """The "wrong model": same config file and tokenizer as ``tiny_causal_lm_path``, other weights.

    A random model with tied embeddings greedily repeats its last token (its output ~ its input embedding), so two
    such models write the same text; random signs on the final norm make this one write something else. The config
    stays byte-identical on purpose: lighteval's sample cache is keyed by model name and config, so a cache that
    survived between runs would hand back the old model's outputs (pns_hub.eval.run switches it off)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(123)
    model = AutoModelForCausalLM.from_config(AutoModelForCausalLM.from_pretrained(tiny_causal_lm_path).config)
    with torch.no_grad():
        model.model.norm.weight.copy_(torch.randn_like(model.model.norm.weight) * 4)
    folder = tmp_path_factory.mktemp("other-tiny")
    model.save_pretrained(folder, safe_serialization=True)
    AutoTokenizer.from_pretrained(tiny_causal_lm_path).save_pretrained(folder)
    return str(folder)


def test_reproduce_fails_for_a_swapped_model_folder(tmp_path, tiny_causal_lm_path, other_tiny_lm):
    """Real lighteval runs on tiny random models (every score 0.0): the published run reproduces exactly, and the
    same published record re-run on another model's weights is a mismatch."""
    from pns_hub.eval.run import run_eval

    # A private copy: the session's tiny model folder is shared with other tests, and the check below is about
    # what *this* run leaves inside the folder it evaluates.
    tiny_causal_lm_path = str(shutil.copytree(tiny_causal_lm_path, tmp_path / "model"))
    settings = {"max_new_tokens": 8, "temperature": 0.0, "seed": 0, "batch_size": 4}
    out = run_eval(tiny_causal_lm_path, benchmarks=["gsm8k"], limit=2, output_dir=tmp_path / "published",
                   model_name="local/tiny", **settings)
    assert out["scores"] == {"gsm8k": 0.0} and out["predictions"]["gsm8k"] and out["dtype"] and out["top_p"] == 0.95
    # No cached samples inside the model folder (a published repo would carry them, and a cache keyed by the model's
    # name would serve the old weights' outputs after a swap).
    assert [p for d in Path(tiny_causal_lm_path).iterdir() if d.is_dir() for p in d.rglob("*") if p.is_file()] == [], \
        "lighteval left its sample cache inside the model folder"
    root = tmp_path / "hub"
    shutil.copytree(tiny_causal_lm_path, root / "tiny")
    _publish(root, [leaderboard.ResultRecord.from_dict(json.loads(Path(out["paths"]["record"]).read_text()))],
             settings)

    same = reproduce.reproduce("local", tmp_path / "same", local_root=root)
    assert same["mismatches"] == 0, reproduce.diff_markdown(same["rows"])

    shutil.rmtree(root / "tiny")
    shutil.copytree(other_tiny_lm, root / "tiny")
    swapped = reproduce.reproduce("local", tmp_path / "swapped", local_root=root)
    assert swapped["mismatches"] == 1, reproduce.diff_markdown(swapped["rows"])
    assert swapped["rows"][0]["delta"] == 0.0 and swapped["rows"][0]["same_predictions"] is False


def test_settings_a_record_does_not_state_are_not_mismatches():
    old = _record(dtype=None, top_p=None, predictions={})
    rows, mismatches = reproduce.diff_records([old], [_record()], tolerance=0.0)
    assert mismatches == 0 and rows[0]["same_predictions"] is None


def test_a_demo_record_reproduces_on_its_own_problems_after_a_move_and_a_swap_fails(tmp_path, tiny_causal_lm_path,
                                                                                    other_tiny_lm):
    """A record of the demo's evaluation (greedy, the testbed problems it lists; not lighteval's pick) re-runs on
    exactly those problems with its token budget, seed, dtype and engine: the same text digest from a copy of the
    artifacts in another folder, and a mismatch when the model folder holds other weights. Real generation (the
    tiny random model, our torch loop) and real math-verify."""
    from pns_hub.experiments import demo_stages as st
    from pns_hub.data.problems import load_problems, write_jsonl

    rows = load_problems("testbed")[7:10]  # not the first ones: a "first N" pick of the split would differ
    write_jsonl(tmp_path / "test.jsonl", rows)
    root = tmp_path / "out" / "hub"
    shutil.copytree(tiny_causal_lm_path, root / "tiny")
    result = st.stage_eval(str(root / "tiny"), str(tmp_path / "test.jsonl"), 8, 0)
    record = st.record("local/tiny", "base", None, None, result, 8)
    _publish(root, [record], {"max_new_tokens": 8, "seed": 0})
    moved = Path(shutil.copytree(root, tmp_path / "elsewhere"))
    shutil.rmtree(tmp_path / "out")

    same = reproduce.reproduce("local", tmp_path / "same", local_root=moved)
    assert same["mismatches"] == 0, reproduce.diff_markdown(same["rows"])
    again = leaderboard.load_results(tmp_path / "same" / "results")[0][0]
    assert list(again.per_problem["testbed"]) == [r["id"] for r in rows]
    assert again.predictions == record.predictions and again.engine == record.engine and again.max_new_tokens == 8

    shutil.rmtree(moved / "tiny")
    shutil.copytree(other_tiny_lm, moved / "tiny")
    swapped = reproduce.reproduce("local", tmp_path / "swapped", local_root=moved)
    assert swapped["mismatches"] >= 1 and swapped["rows"][0]["same_predictions"] is False, \
        reproduce.diff_markdown(swapped["rows"])


def test_a_different_problem_set_is_named():
    """Same scores and no digests: only the problems tell the runs apart, and the diff says so."""
    published = _record(predictions={}, per_problem={"gsm8k": {"gsm8k/1": 0, "gsm8k/2": 0}})
    other = _record(predictions={}, per_problem={"gsm8k": {"gsm8k/2": 0, "gsm8k/3": 0}})
    rows, mismatches = reproduce.diff_records([published], [other], tolerance=0.0)
    assert mismatches == 1
    assert [r for r in rows if not r["ok"]] == [
        {"model": "local/m", "benchmark": "problems:gsm8k", "published": "2 ids", "reproduced": "2 ids, 1 in common",
         "delta": None, "same_predictions": None, "ok": False}]
