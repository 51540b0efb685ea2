"""Errors a user can act on: each names what is wrong and where, in one line, instead of a library's traceback."""

import pytest

from pns_hub.data import problems as data
from pns_hub.cli import main


def test_a_missing_local_model_is_no_such_model_folder(tmp_path, capsys):
    """Not the Hub client's "Repo id must be in the form 'repo_name'" (HFValidationError)."""
    from pns_hub import models

    for spec in ("/no/such/model", "outputs/smollm2-135m-instruct/sft-warmup", "./x"):
        with pytest.raises(FileNotFoundError, match="no such model folder"):
            models.resolve_model_path(spec)
    assert models.resolve_model_path("HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert main(["eval", str(tmp_path / "nothing"), "--benchmarks", "testbed", "--limit", "1"]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'nothing'}: no such model folder" in err and "Traceback" not in err


@pytest.mark.parametrize("limit", [-1, 0])
def test_limits_are_positive_or_none(limit, capsys):
    """--limit -1 used to evaluate all but the last problem, --limit 0 all of them; synthesis dropped one."""
    from pns_hub.synthesis.config import SynthesisConfig

    with pytest.raises(ValueError, match="positive number of problems"):
        data.load_problems("testbed", limit=limit)
    with pytest.raises(ValueError, match="positive number of problems"):
        SynthesisConfig(generator="g", policy="p", dataset="testbed", limit=limit)
    assert main(["eval", "embedded:smollm2-135m-instruct", "--benchmarks", "testbed", "--limit", str(limit)]) == 2
    assert "limit must be a positive number of problems" in capsys.readouterr().err
    for command in (["synthesize", "--dataset", "testbed"], ["reproduce", "local"]):
        with pytest.raises(SystemExit) as exit_info:
            main([*command, "--limit", str(limit)])
        assert exit_info.value.code == 2
        assert "positive number of problems" in capsys.readouterr().err
    assert len(data.load_problems("testbed", limit=None)) > len(data.load_problems("testbed", limit=3)) == 3


def test_a_non_utf8_file_names_file_and_line(tmp_path):
    path = tmp_path / "problems.jsonl"
    path.write_bytes(b'{"problem": "1+1?", "answer": "2"}\n{"problem": "caf\xe9", "answer": "3"}\n')
    with pytest.raises(data.DataError, match=r"problems.jsonl, line 2: not UTF-8 \(byte 0xe9 at column 17\)"):
        list(data.read_jsonl(path))
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b'\xef\xbb\xbf{"problem": "1+1?", "answer": "2"}\n')
    assert [row for _, row in data.read_jsonl(bom)] == [{"problem": "1+1?", "answer": "2"}]


def test_a_push_without_network_says_what_was_kept_where(tmp_path, online):
    from huggingface_hub import HfApi

    from pns_hub import hub

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    with pytest.raises(hub.PushError) as info:  # a closed port: the connection is refused at once
        hub.push_folder(folder, "org/m", api=HfApi(endpoint="http://127.0.0.1:9", token="hf_x"))
    message = str(info.value)
    assert "\n" not in message and "could not reach the Hub to push org/m" in message
    assert f"kept in {folder}" in message
