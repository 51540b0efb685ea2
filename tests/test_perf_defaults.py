"""Performance defaults: bf16 detection, thread choice, tuned generation == reference generation, pool semantics,
and the benchmark suite's output files."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pns_hub.engines import generation

from pns_hub import models

from pns_hub.grading import verify
REPO = Path(__file__).resolve().parent.parent
AMX_CPUINFO = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"
OLD_CPUINFO = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_vnni\n"


def test_cpuinfo_flags_decide_bf16():
    assert models.cpuinfo_has_bf16(AMX_CPUINFO)
    assert models.cpuinfo_has_bf16("flags\t: avx2 avx512_bf16\n")
    assert not models.cpuinfo_has_bf16(OLD_CPUINFO)
    assert not models.cpuinfo_has_bf16("flags\t: avx2 xamx_bf16x\n")  # whole flag names only
    assert not models.cpuinfo_has_bf16("")
    assert models.cpuinfo_bf16_flags(AMX_CPUINFO) == ["amx_bf16", "avx512_bf16"]
    assert models.cpuinfo_bf16_flags("flags\t: avx2 avx512_bf16\n") == ["avx512_bf16"]  # AMD EPYC: no AMX


def test_env_override_beats_cpuinfo(monkeypatch):
    import torch

    monkeypatch.setattr(models, "_cpuinfo_text", lambda: OLD_CPUINFO)
    monkeypatch.delenv("PNS_HUB_BF16", raising=False)
    assert not models.cpu_supports_bf16() and models.best_dtype("cpu") == torch.float32
    monkeypatch.setenv("PNS_HUB_BF16", "1")
    assert models.cpu_supports_bf16() and models.best_dtype("cpu") == torch.bfloat16
    monkeypatch.setattr(models, "_cpuinfo_text", lambda: AMX_CPUINFO)
    monkeypatch.setenv("PNS_HUB_BF16", "0")
    assert models.best_dtype("cpu") == torch.float32 and models.resolve_dtype("auto", "cpu") == torch.float32
    monkeypatch.delenv("PNS_HUB_BF16")
    assert models.best_dtype("cpu") == torch.bfloat16


def test_thread_choice_follows_idle_cores(monkeypatch):
    import torch

    assert models.threads_for_load(2, 0.0) == 2
    assert models.threads_for_load(2, 1.6) == 1
    assert models.threads_for_load(2, 11.0) == 1
    assert models.threads_for_load(16, 4.0) == 12
    monkeypatch.setenv("PNS_HUB_THREADS", "1")
    before = torch.get_num_threads()
    try:
        assert models.configure_threads() == 1 == torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def test_busy_cores_sees_other_processes_not_this_one():
    """Thread choice reads what other processes use now (not the decaying load average), excluding our own work."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        assert models.busy_cores(0.5) >= 0.6
    finally:
        spinner.kill()
        spinner.wait()


def _both_paths(model, tokenizer, prompts, params, tuned_batch, monkeypatch):
    monkeypatch.setenv("PNS_HUB_GENERATE_BACKEND", "hf")
    naive = generation.generate(model, tokenizer, prompts, params, batch_size=1, progress=False)
    monkeypatch.setenv("PNS_HUB_GENERATE_BACKEND", "compact")
    tuned = generation.generate(model, tokenizer, prompts, params, batch_size=tuned_batch, progress=False)
    return naive, tuned


def test_greedy_tuned_equals_reference_on_embedded_model(monkeypatch):
    """The compacting, batched loop must pick exactly the tokens ``model.generate`` picks one prompt at a time."""
    import torch

    from pns_hub.data import problems as data
    model = models.load_model(models.EMBEDDED_DEFAULT, dtype=torch.float32)
    tokenizer = models.load_tokenizer(models.EMBEDDED_DEFAULT)
    prompts = [generation.build_prompt(r["problem"]) for r in data.load_problems("gsm8k", limit=2)]
    prompts.append("Say OK.")  # a much shorter prompt: left padding in the tuned batch
    params = generation.SamplingParams(num_samples=1, max_new_tokens=8, temperature=0.0)
    naive, tuned = _both_paths(model, tokenizer, prompts, params, 8, monkeypatch)
    assert [c[0].text for c in tuned] == [c[0].text for c in naive]
    assert [(c[0].num_tokens, c[0].truncated) for c in tuned] == [(c[0].num_tokens, c[0].truncated) for c in naive]


@pytest.mark.parametrize("compact_at", ["0", "0.5", "1.1"])
def test_greedy_matches_reference_whatever_the_compaction_point(compact_at, monkeypatch):
    """Rows ending at different steps (7, 9 and 40 tokens): dropping them at once, late or never gives HF's tokens."""
    import torch

    from pns_hub.data import problems as data
    model = models.load_model(models.EMBEDDED_DEFAULT, dtype=torch.float32)
    tokenizer = models.load_tokenizer(models.EMBEDDED_DEFAULT)
    prompts = ["Say OK.", "What is 2+2? Reply with the number only.", "Write the word yes.",
               generation.build_prompt(data.load_problems("gsm8k", limit=1)[0]["problem"])]
    params = generation.SamplingParams(num_samples=1, max_new_tokens=40, temperature=0.0)
    monkeypatch.setenv("PNS_HUB_COMPACT_AT", compact_at)
    naive, tuned = _both_paths(model, tokenizer, prompts, params, 8, monkeypatch)
    assert len({c[0].num_tokens for c in naive}) >= 3  # the case needs rows that finish at different steps
    assert [(c[0].text, c[0].num_tokens, c[0].truncated) for c in tuned] == \
        [(c[0].text, c[0].num_tokens, c[0].truncated) for c in naive]


def test_preallocated_cache_layer_matches_dynamic_layer():
    """Writes, growth past capacity, fan-out and row selection give the same keys/values as concatenation."""
    import torch
    from transformers.cache_utils import DynamicLayer

    ref, layer = DynamicLayer(), generation._preallocated_layer_class()(capacity=2)
    torch.manual_seed(0)
    steps = [torch.randn(2, 3, n, 4) for n in (3, 1)]
    for kv in steps:  # 3 tokens into capacity 2: the layer must grow
        ref.update(kv, -kv)
        layer.update(kv, -kv)
    for action in (lambda x: x.batch_repeat_interleave(3), lambda x: x.batch_select_indices(torch.tensor([0, 2, 5]))):
        action(ref)
        action(layer)
        assert layer.get_seq_length() == ref.get_seq_length() == 4
        assert torch.equal(layer.keys, ref.keys) and torch.equal(layer.values, ref.values)
    kv = torch.randn(3, 3, 1, 4)
    assert torch.equal(layer.update(kv, kv)[0], ref.update(kv, kv)[0])


def test_loop_was_checked_against_this_transformers():
    """Our loop subclasses ``DynamicLayer`` and relies on its attributes (``keys``, ``values``, ``is_initialized``,
    ``lazy_initialization``), which transformers may change in any release: the tests above were run against the
    versions listed in ``generation.CHECKED_TRANSFORMERS``; a new version must be checked and added there."""
    import transformers

    assert transformers.__version__ in generation.CHECKED_TRANSFORMERS, (
        f"transformers {transformers.__version__} is not among the versions the compacting loop was checked "
        f"against {generation.CHECKED_TRANSFORMERS}: run tests/test_perf_defaults.py and add it")


def test_tuned_loop_fans_out_samples_and_is_seeded(tiny_causal_lm_path, monkeypatch):
    """Rows that end early are cut at their end token; each prompt yields num_samples completions in order."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_causal_lm_path, dtype=torch.float32).eval()
    tokenizer = models.load_tokenizer(tiny_causal_lm_path)
    prompts = ["a b c", "1 2 3 4 5 6 7 8", "x"]
    greedy = generation.SamplingParams(num_samples=1, max_new_tokens=10, temperature=0.0)
    naive, tuned = _both_paths(model, tokenizer, prompts, greedy, 9, monkeypatch)
    assert [[c.text for c in o] for o in tuned] == [[c.text for c in o] for o in naive]
    # model.generate refuses greedy with several samples; ours fans one prefill out: all samples equal the single one
    fanned = generation.generate(model, tokenizer, prompts, generation.SamplingParams(3, 10, 0.0), batch_size=9,
                                 progress=False)
    assert [[c.text for c in o] for o in fanned] == [[c.text] * 3 for c in [o[0] for o in naive]]
    sampled = generation.SamplingParams(num_samples=4, max_new_tokens=10, temperature=1.0, seed=3)
    monkeypatch.setenv("PNS_HUB_GENERATE_BACKEND", "compact")
    first = generation.generate(model, tokenizer, prompts, sampled, batch_size=12, progress=False)
    again = generation.generate(model, tokenizer, prompts, sampled, batch_size=12, progress=False)
    assert [[c.text for c in o] for o in first] == [[c.text for c in o] for o in again]  # seeded
    assert all(c.num_tokens <= 10 and (c.truncated == (c.num_tokens == 10)) for o in first for c in o)


def test_pool_keeps_order_and_verdicts_with_pipelining():
    sys.path.insert(0, str(REPO))
    from benchmarks.verify_throughput import corpus

    completions, golds = corpus(40)
    seq = verify.verify_batch(completions, golds, num_workers=0)
    par = verify.verify_batch(completions, golds, num_workers=2)
    assert [r.verdict for r in par] == [r.verdict for r in seq]
    assert {r.verdict for r in seq} >= {verify.CORRECT, verify.WRONG, verify.UNVERIFIABLE}


def test_pool_hard_timeout_requeues_unstarted_checks(monkeypatch):
    """A check past the hard deadline is reported unverifiable; the check queued behind it still runs."""
    monkeypatch.setattr(verify, "PIPELINE_DEPTH", 2)
    slow = "\\boxed{" + "+".join(["x^{2}"] * 200) + "}"  # under the size guard, slow for sympy
    completions = [slow, "\\boxed{2}", "\\boxed{3}"]
    results = verify.verify_batch(completions, ["1", "2", "4"], num_workers=1, timeout=1, hard_timeout=0.01)
    assert len(results) == 3 and all(r is not None for r in results)
    assert results[0].verdict == verify.UNVERIFIABLE


def _run_suite(tmp_path, args):
    env = {**os.environ, "PNS_HUB_BENCH_RESULTS": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--name", "t", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=3000)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    payload = json.loads((tmp_path / "t.json").read_text())
    markdown = (tmp_path / "t.md").read_text()
    return payload, markdown


def test_suite_writes_json_and_markdown_for_fast_stages(tmp_path):
    payload, markdown = _run_suite(tmp_path, ["--only", "roofline", "verify_throughput"])
    stages = [r["stage"] for r in payload["rows"]]
    assert any(s.startswith("roofline") for s in stages) and any(s.startswith("verify") for s in stages)
    assert payload["peaks"]["bf16_gflops"] > 0 and payload["peaks"]["fp32_gflops"] > 0
    verify_row = next(r for r in payload["rows"] if r["stage"].startswith("verify"))
    assert verify_row["ratio"] == round(verify_row["tuned"] / verify_row["naive"], 2)
    assert "| stage | naive | tuned |" in markdown and "load average" in markdown and "peak RSS MB" in markdown
    assert all(r["peak_rss_mb"] > 0 for r in payload["rows"])  # every row says what memory its stage needed


def test_suite_passes_script_options_through_but_refuses_stray_words(monkeypatch):
    """``--paths=e,f`` and ``--shape=P,S,N`` belong to generation_throughput (read from sys.argv there), so the suite's
    parser lets ``--option=value`` words through; a bare word (a mistyped script name after ``--only``'s list) fails."""
    from pns_hub.experiments import bench
    ran = []
    monkeypatch.setattr(bench, "run_suite", lambda **kw: ran.append(kw) or {"rows": []})
    assert bench.cli_main(["--only", "generation_throughput", "--paths=e,f", "--name", "x"]) == 0
    assert ran[0]["only"] == ["generation_throughput"] and ran[0]["name"] == "x"
    with pytest.raises(SystemExit):
        bench.cli_main(["--quick", "--shape", "8,2,32"])  # the value would be lost: only --shape=8,2,32 is read
    assert len(ran) == 1


def test_suite_keeps_the_figures_a_subprocess_script_emits(tmp_path):
    """Scripts without run(quick) run in their own process; their rows must reach the table, not just a wall time."""
    from benchmarks import _common
    from pns_hub.experiments import bench
    folder = tmp_path / "benchmarks"
    folder.mkdir()
    row = _common.row("fake stage", 2.0, 6.0, "things/s", notes="shape")
    (folder / "emits.py").write_text(f"print('noise')\nprint({_common.ROW_PREFIX + json.dumps(row)!r})\n")
    (folder / "silent.py").write_text("print('done')\n")
    (folder / "fails.py").write_text("raise SystemExit(3)\n")

    [emitted] = bench._run_subprocess(folder, "emits", timeout=60)
    assert (emitted["stage"], emitted["naive"], emitted["tuned"], emitted["unit"]) == ("fake stage", 2.0, 6.0,
                                                                                        "things/s")
    assert emitted["notes"].startswith("shape; subprocess ") and _common.ratio(emitted) == 3.0
    [silent] = bench._run_subprocess(folder, "silent", timeout=60)
    assert silent["unit"] == "s wall" and silent["notes"] == "ok; last line: done"
    [failed] = bench._run_subprocess(folder, "fails", timeout=60)
    assert failed["notes"].startswith("FAILED: exit 3")


def test_every_benchmark_script_imports_without_running(tmp_path):
    """The suite imports every benchmarks/*.py to find its run(quick); a script that does its work at import time (a
    report script without a __main__ guard did, and crashed the suite in CI) must fail here, in the fast tests."""
    from pns_hub.experiments import bench
    scripts = bench.discover(REPO / "benchmarks")
    code = ("import importlib, sys; sys.path.insert(0, sys.argv[1]); "
            "[importlib.import_module('benchmarks.' + s) for s in sys.argv[2:]]")
    env = {**os.environ, "PNS_HUB_BENCH_RESULTS": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", code, str(REPO), *scripts], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert len(scripts) >= 5 and proc.returncode == 0, proc.stderr[-2000:]
    assert not list(tmp_path.iterdir()), "importing a benchmark script wrote files"


@pytest.mark.slow
def test_full_quick_suite_writes_every_stage(tmp_path):
    payload, _ = _run_suite(tmp_path, [])
    stages = " ".join(r["stage"] for r in payload["rows"])
    for name in ("roofline", "verify", "generation", "DPO step", "GRPO step"):
        assert name in stages
    assert not [r for r in payload["rows"] if str(r.get("notes", "")).startswith("FAILED")]


@pytest.mark.parametrize("top_p", [0.5, 0.95, 1.0 - 1e-6])
def test_nucleus_equals_transformers_top_p(top_p):
    """Our nucleus distribution == transformers' TopPLogitsWarper, from flat to peaked rows."""
    import torch
    from transformers.generation.logits_process import TopPLogitsWarper

    torch.manual_seed(0)
    logits = torch.randn(6, 2000) * torch.tensor([[0.5], [1], [3], [8], [20], [0.01]])  # flat ... peaked rows
    expected = TopPLogitsWarper(top_p)(None, logits.clone()).softmax(dim=-1)
    probs, idx = generation._nucleus(logits, top_p)
    got = torch.zeros_like(logits).scatter(1, idx, probs)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-5)
