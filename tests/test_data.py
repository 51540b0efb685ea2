import json

import pytest

from pns_hub.data import problems as data
from pns_hub.grading.verify import verify_batch


FILES = {
    "gsm8k_train": "gsm8k_train.jsonl", "gsm8k": "gsm8k_test.jsonl", "math_500": "math500.jsonl",
    "aime24": "aime24.jsonl", "aime25": "aime25.jsonl", "amc23": "amc23.jsonl",
    "minerva_math": "minerva_math.jsonl", "olympiadbench": "olympiadbench.jsonl",
}


def test_bundled_copies_match_shared(shared_data_dir):
    for name, filename in FILES.items():
        assert data.bundled_path(filename).read_bytes() == (shared_data_dir / filename).read_bytes(), name


@pytest.mark.parametrize("name", list(FILES))
def test_schema_and_row_counts(name, shared_data_dir):
    rows = data.load_problems(name)
    expected = sum(1 for line in open(shared_data_dir / FILES[name]) if line.strip())
    assert len(rows) == expected  # nothing dropped
    assert len({r["id"] for r in rows}) == len(rows)
    for row in rows:
        assert set(row) == set(data.SCHEMA)
        assert row["problem"].strip() and row["answer"].strip() and row["source"] == name


def test_every_gold_verifies_against_itself_boxed():
    """The normalised gold of every row of all eight files must be accepted when re-rendered as \\boxed{gold}."""
    rows = [r for name in FILES for r in data.load_problems(name)]
    results = verify_batch([f"The answer is $\\boxed{{{r['answer']}}}$." for r in rows], [r["answer"] for r in rows],
                           num_workers=None, timeout=10)
    failures = [(r["id"], r["answer"], res.verdict, res.reason) for r, res in zip(rows, results) if not res.is_correct]
    assert not failures, f"{len(failures)} golds do not verify against themselves:\n" + "\n".join(map(str, failures))


def test_gold_normalisation_per_source():
    assert data.load_problems("gsm8k_train", limit=1)[0]["answer"] == "72"
    amc = data.load_problems("amc23", limit=1)[0]
    assert amc["answer"] == "27"
    assert "\\boxed" not in data.load_problems("minerva_math", limit=1)[0]["answer"]
    gsm = data.load_problems("gsm8k_train", limit=1)[0]
    assert "<<" not in gsm["solution"] and "\\boxed{72}" in gsm["solution"]


def _write(tmp_path, lines):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(data.DataError, match="nope.jsonl: file not found"):
        data.load_jsonl_problems(tmp_path / "nope.jsonl")


def test_invalid_json_names_line(tmp_path):
    path = _write(tmp_path, [json.dumps({"problem": "1+1", "answer": "2"}), "{not json"])
    with pytest.raises(data.DataError, match=r"bad.jsonl, line 2: invalid JSON"):
        data.load_jsonl_problems(path)


def test_missing_and_mistyped_fields_name_line_and_field(tmp_path):
    path = _write(tmp_path, [json.dumps({"problem": "1+1", "answer": "2"}), json.dumps({"answer": "3"}),
                             json.dumps({"problem": "2+2", "answer": ["4"]}), json.dumps({"problem": "", "answer": "1"})])
    with pytest.raises(data.DataError, match=r"line 2, field 'problem'"):
        data.load_jsonl_problems(path)
    rows, rejected = data.load_jsonl_problems(path, on_error="collect")
    assert [r["problem"] for r in rows] == ["1+1"]
    assert [(r["line"], r["field"]) for r in rejected] == [(2, "problem"), (3, "answer"), (4, "problem")]
    assert "must be a string" in rejected[1]["error"]


def test_unknown_dataset_is_a_clear_error():
    with pytest.raises(KeyError, match="unknown dataset 'gsm9k'"):
        data.load_problems("gsm9k")


def test_split_is_deterministic_and_disjoint():
    rows = data.load_problems("gsm8k_train", limit=50)
    train, held = data.split_problems(rows, holdout=10, seed=3)
    assert len(held) == 10 and len(train) == 40
    assert not {r["id"] for r in train} & {r["id"] for r in held}
    assert data.split_problems(rows, holdout=10, seed=3)[1] == held


def test_bom_and_crlf_file_loads_in_problem_loader_and_verify_cli(tmp_path):
    """A JSONL file as Windows editors save it (UTF-8 byte-order mark, CRLF line ends) reads like any other."""
    from pns_hub.grading import cli as verify_cli
    rows = [{"problem": "What is 1+1?", "answer": "2", "completion": "So $\\boxed{2}$."},
            {"problem": "What is 2+3?", "answer": "5", "completion": "So $\\boxed{6}$."}]
    path = tmp_path / "windows.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(json.dumps(r) for r in rows).encode() + b"\r\n")
    loaded, rejected = data.load_jsonl_problems(path)
    assert [r["answer"] for r in loaded] == ["2", "5"] and not rejected
    completions, golds, _ = verify_cli.load_completions(str(path), "completion", "answer")
    assert golds == ["2", "5"] and completions[1] == "So $\\boxed{6}$."


def test_field_errors_name_file_row_and_field_without_stray_quotes(tmp_path):
    path = _write(tmp_path, [json.dumps({"answer": "3"})])
    with pytest.raises(data.DataError) as info:
        data.load_jsonl_problems(path)
    assert str(info.value) == f"{path}, line 1, field 'problem': missing 'problem'"
    assert (info.value.path, info.value.line, info.value.field) == (str(path), 1, "problem")
