"""Evaluation memory stays bounded by batch x length: the lighteval path keeps no per-step scores, batches fit the
KV budget, and the per-task generation lengths are the documented rule applied to the bundled gold solutions."""

import json
import os
import subprocess
import sys

import pytest


# In a fresh process: import everything, reset the peak-RSS counter, evaluate GSM8K with the DEFAULT generation
# settings (length 512, batch 32, greedy) on 2 problems, print the evaluation's peak over the RSS before it.
_EVAL_PEAK = """
import json, sys
import torch
from pns_hub.memory import PeakRSS
from pns_hub.eval import run, model
import lighteval.pipeline, lighteval.models.transformers.transformers_model
torch.manual_seed(0)
path, out_dir = sys.argv[1], sys.argv[2]
with PeakRSS() as m:
    out = run.run_eval(path, benchmarks=["gsm8k"], limit=2, output_dir=out_dir, save_details=False)
print("RESULT " + json.dumps({**m.to_dict(), "scores": out["scores"]}))
"""


@pytest.mark.slow  # ~20 s on an idle 2-core box, 160 s at load 12
def test_default_eval_keeps_no_per_step_scores(tiny_causal_lm_path, tmp_path):
    """The regression this guards: lighteval asks generate() for output_scores, one float32 rows x 49,152 tensor per
    generated token. Here (2 rows x 512 tokens; the random tiny model does not end early) the evaluation grew the
    process by 351 MB with the scores kept and by 97 MB without them (measured; the bound sits between).
    One torch thread: on a shared 2-core machine OpenMP barriers in tiny matmuls made the run 3x slower."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", _EVAL_PEAK, tiny_causal_lm_path, str(tmp_path)],
                          capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(next(line[7:] for line in proc.stdout.splitlines() if line.startswith("RESULT ")))
    grown = result["peak_rss_mb"] - result["start_rss_mb"]
    assert result["method"] == "VmHWM" and "gsm8k" in result["scores"]
    assert grown < 200, f"evaluation grew the process by {grown:.0f} MB (per-step scores kept?)"


def test_bounded_model_drops_per_step_outputs_and_fits_the_kv_budget(tiny_causal_lm_path):
    from lighteval.models.transformers.transformers_model import TransformersModelConfig

    from pns_hub.eval.model import BoundedTransformersModel, kv_bytes_per_token

    config = TransformersModelConfig(model_name=tiny_causal_lm_path, batch_size=32, dtype="float32", device="cpu",
                                     generation_parameters={"temperature": 0.6})
    lm = BoundedTransformersModel(config, kv_budget_bytes=2**20, num_samples=2, sample=True)
    assert lm.generation_config_dict["output_scores"] is False and lm.generation_config_dict["do_sample"] is True
    per_token = kv_bytes_per_token(lm.model.config, torch_dtype := lm.model.dtype)
    assert per_token == 2 * 2 * 2 * 16 * 4 and torch_dtype is not None  # layers x K,V x kv heads x head dim x fp32
    # 1 MiB / (1,024 tokens x 512 B) = 2 rows = 1 prompt x 2 samples; short rows: the requested 32 prompts
    assert lm._get_batch_size(max_input_length=1024, override_bs=32) == 1
    assert lm._get_batch_size(max_input_length=16, override_bs=32) == 32


def test_generation_lengths_follow_the_gold_solution_rule(embedded_model_path):
    from transformers import AutoTokenizer

    from pns_hub.data.problems import BENCHMARK_NAMES
    from pns_hub.eval import lengths, tasks

    table = lengths.measured_table(AutoTokenizer.from_pretrained(embedded_model_path))
    configured = {b: tasks.GENERATION_SIZE.get(b, tasks.DEFAULT_GENERATION_SIZE) for b in BENCHMARK_NAMES}
    assert configured == {b: r["length"] for b, r in table.items()}
    assert table["gsm8k"]["length"] == 512 and lengths.rule_length(239, 8192) == 512
    assert lengths.percentile([5, 1, 3, 2, 4], 99) == 5 and lengths.percentile([5, 1, 3, 2, 4], 40) == 2
