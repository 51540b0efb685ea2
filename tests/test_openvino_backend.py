"""The OpenVINO backend against the reference (our torch loop, f32) on the embedded model: the same greedy text, and
sampling that keeps the generation contract (rows per prompt, seeds, truncation). The export runs for real (the
pinned exporter is installed into the test cache on first use)."""

import os
import subprocess
import sys

import pytest


PROBLEMS = ["Sam has 23 apples and buys 15 more. How many apples does Sam have now?",
            "A book costs 7 dollars. How much do 6 books cost?",
            "Mia had 90 stickers and gave away 35. How many are left?"]


def test_backend_choice_is_checked(monkeypatch):
    from pns_hub.engines import backends
    from pns_hub.engines import generation
    from pns_hub import models
    from pns_hub.engines import openvino as openvino_backend
    monkeypatch.setenv("PNS_HUB_GENERATE_BACKEND", "vllm")
    with pytest.raises(ValueError, match="must be one of"):
        backends.fixed_model_backend()
    monkeypatch.setenv("PNS_HUB_GENERATE_BACKEND", "auto")  # the default outside tests
    installed = openvino_backend.available()
    assert backends.fixed_model_backend("float32") == ("openvino" if installed else "compact")
    assert backends.fixed_model_backend("float16") == "compact"  # a precision the engine is not asked to run
    for native in (True, False):  # bf16 only where the CPU runs it: elsewhere the plugin would compute f32
        monkeypatch.setattr(models, "cpu_supports_bf16", lambda: native)
        assert backends.fixed_model_backend("bfloat16") == ("openvino" if installed and native else "compact")
    monkeypatch.setenv("PNS_HUB_GENERATE_BACKEND", "openvino")
    with pytest.raises(ValueError, match="native bf16"):  # before any export: the spec is never read
        backends.generate_from_folder("unused", ["x"], generation.SamplingParams(), dtype="bfloat16")
    with pytest.raises(ValueError, match="float32 or bfloat16"):
        backends.generate_from_folder("unused", ["x"], generation.SamplingParams(), dtype="float16")


def test_the_export_cache_evicts_the_least_recently_used_and_spares_what_is_in_use(tmp_path):
    """Every evaluated model gets an export, so the cache is bounded: least recently used out first, never the one
    just made, never one used in the last IN_USE_S (another process may be loading it), and nothing once it fits."""
    from pns_hub.engines import openvino as openvino_backend

    now, mb = 1_000_000.0, 2**20
    ages = {"old": 9000, "older": 10000, "recent": 60, "just-made": 9999, "mid": 5000}
    for name, age in ages.items():
        entry = tmp_path / f"sha256-{name}"
        entry.mkdir()
        (entry / "openvino_model.bin").write_bytes(b"\0" * mb)
        os.utime(entry, (now - age, now - age))
    budget = 1.5 * mb / 2**30  # room for one and a half: it stays over rather than evict the two it must spare
    removed = openvino_backend.prune_cache(tmp_path, keep=tmp_path / "sha256-just-made", budget_gb=budget, now=now)
    assert [p.name for p in removed] == ["sha256-older", "sha256-old", "sha256-mid"]
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["sha256-just-made",
                                                                                         "sha256-recent"]
    assert openvino_backend.prune_cache(tmp_path, keep=tmp_path / "x", budget_gb=2 * mb / 2**30, now=now) == []


def test_auto_is_the_default_and_one_switch_for_every_fixed_model_engine(monkeypatch):
    import torch

    from pns_hub.engines import backends

    from pns_hub.engines import generation

    from pns_hub import models

    from pns_hub.engines import openvino as openvino_backend
    from pns_hub.eval.run import resolve_backend

    monkeypatch.delenv("PNS_HUB_GENERATE_BACKEND")  # conftest pins our loop for the suite; a user's shell has none
    assert generation._backend() == "auto"
    installed = openvino_backend.available()
    assert resolve_backend("auto", "auto") == ("openvino" if installed else "accelerate")  # f32 there
    monkeypatch.setattr(models, "cpu_supports_bf16", lambda: False)
    assert resolve_backend("auto", "auto") == ("openvino" if installed else "accelerate")
    assert resolve_backend("auto", "bfloat16") == "accelerate"  # no native bf16: the engine would run f32
    monkeypatch.setattr(models, "cpu_supports_bf16", lambda: True)
    assert resolve_backend("auto", "bfloat16") == ("openvino" if installed else "accelerate")
    assert resolve_backend("vllm", "auto") == "vllm"  # an explicit choice stays
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert backends.fixed_model_backend("float32") == "compact"  # GPU users keep torch
    assert resolve_backend("auto", "float32") == "accelerate"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("PNS_HUB_GENERATE_BACKEND", "compact")  # naming a torch engine turns OpenVINO off everywhere
    assert resolve_backend("auto", "float32") == "accelerate"


@pytest.mark.slow  # exporter install (~25 s, once per cache) + export of the 135M model (~45 s) + generation
def test_openvino_matches_the_torch_loop(embedded_model_path, monkeypatch):
    from pns_hub.engines import backends
    from pns_hub.engines import generation
    from pns_hub import models
    from pns_hub.engines import openvino as openvino_backend
    if not openvino_backend.available():
        pytest.skip("pip install 'pns-hub[openvino]'")
    prompts = [generation.build_prompt(p) for p in PROBLEMS]
    greedy = generation.SamplingParams(num_samples=1, max_new_tokens=128, temperature=0.0)
    monkeypatch.setenv("PNS_HUB_GENERATE_BACKEND", "compact")
    model = models.load_model(embedded_model_path, dtype="float32")
    tokenizer = models.load_tokenizer(embedded_model_path)
    reference = generation.generate(model, tokenizer, prompts, greedy, progress=False)
    monkeypatch.setenv("PNS_HUB_GENERATE_BACKEND", "openvino")
    ours = backends.generate_from_folder(embedded_model_path, prompts, greedy, progress=False)
    assert [[c.text for c in per] for per in ours] == [[c.text for c in per] for per in reference]
    assert [[(c.num_tokens, c.truncated) for c in per] for per in ours] == \
        [[(c.num_tokens, c.truncated) for c in per] for per in reference]
    assert any(not c.truncated for per in reference for c in per)  # rows that stop, not only rows cut at the limit

    sampled = generation.SamplingParams(num_samples=4, max_new_tokens=24, temperature=0.6, top_p=0.95, seed=3)
    first = backends.generate_from_folder(embedded_model_path, prompts, sampled, progress=False)
    again = backends.generate_from_folder(embedded_model_path, prompts, sampled, progress=False)
    other = backends.generate_from_folder(embedded_model_path, prompts, generation.SamplingParams(
        num_samples=4, max_new_tokens=24, temperature=0.6, top_p=0.95, seed=4), progress=False)
    assert [len(per) for per in first] == [4, 4, 4]
    assert first == again  # a seed reproduces its draws
    assert [[c.text for c in per] for per in first] != [[c.text for c in per] for per in other]
    assert all(c.truncated == (c.num_tokens == 24) for per in first for c in per)
    assert any(len({c.text for c in per}) > 1 for per in first)  # it samples: a prompt's four rows are not one


@pytest.mark.slow  # the embedded model's export is cached by the first slow test (same session cache)
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_kv_cache_is_the_blocks_asked_for(embedded_model_path, dtype):
    """The memory bound rests on two facts about the engine: a block holds KV_BLOCK_TOKENS tokens, and a token costs
    kv_bytes_per_token. The engine's own report of the cache it allocated checks both (a GB-sized cache would not
    match; nor would a wrong block size), and that a bf16 request really runs a bf16 cache (half the bytes)."""
    from pns_hub.engines import generation
    from pns_hub import models
    from pns_hub.engines import openvino as openvino_backend
    if not openvino_backend.available():
        pytest.skip("pip install 'pns-hub[openvino]'")
    if dtype == "bfloat16" and not models.cpu_supports_bf16():
        pytest.skip("the engine runs bf16 only on a CPU with native bf16")
    folder = openvino_backend.export(embedded_model_path)
    blocks = openvino_backend.kv_blocks(3, 100)
    assert blocks == 3 * 4
    pipe = openvino_backend.pipeline(str(folder), blocks, models.configure_threads(),
                                     openvino_backend.precision(dtype))
    import numpy as np
    import openvino
    import openvino_genai

    tokenizer = models.load_tokenizer(embedded_model_path)
    ids = tokenizer(generation._render(tokenizer, generation.build_prompt(PROBLEMS[0])),
                    add_special_tokens=False)["input_ids"]
    config = openvino_genai.GenerationConfig()
    config.max_new_tokens = 8
    pipe.generate([openvino.Tensor(np.array([ids], dtype=np.int64))], [config])
    allocated = pipe.get_metrics().kv_cache_size_in_bytes
    assert allocated == blocks * openvino_backend.KV_BLOCK_TOKENS * openvino_backend.kv_bytes_per_token(folder, dtype)


@pytest.mark.slow  # the embedded model's export is cached by the first slow test (same session cache)
def test_a_bf16_engine_asked_for_one_thread_compiles(embedded_model_path):
    """A busy machine gets one thread from configure_threads; on an Intel Xeon with AMX, OpenVINO 2026.4 kills the
    process with SIGFPE compiling bf16 for one thread. Run in a child process, so a regression fails this test
    instead of taking the whole session down."""
    from pns_hub import models
    from pns_hub.engines import openvino as openvino_backend
    if not openvino_backend.available() or not models.cpu_supports_bf16():
        pytest.skip("needs the engine and a CPU with native bf16")
    assert openvino_backend.engine_threads(1, "bf16") == 2 and openvino_backend.engine_threads(1, "f32") == 1
    folder = openvino_backend.export(embedded_model_path)
    code = ("from pns_hub.engines import openvino as o; import sys; "
            "o.pipeline(sys.argv[1], 12, 1, 'bf16'); print('compiled')")
    done = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "compiled" in done.stdout, (done.returncode, done.stderr[-2000:])


@pytest.mark.slow  # the embedded model's export is cached by the first slow test (same session cache)
def test_bf16_greedy_stays_on_the_f32_argmax(embedded_model_path, monkeypatch):
    """bf16 cannot give f32's tokens (rounding flips near-ties, and a sequence that flips goes its own way), so the
    check is on the f32 model's own judgement, token by token: the bf16 engine's greedy continuation, scored by the
    f32 torch model teacher-forced on the same prefix, picks the f32 argmax at >= 97% of positions, and 99% of its
    picks are within 0.1 nats of it. Measured on 8 GSM8K prompts x 128 tokens (EPYC Zen 5): 99.3% and 0.000 (torch's
    own bf16 loop: 98.3% and 0.021); the f32 engine gives 100% and 0 here too, which checks the scoring itself."""
    import torch

    from pns_hub.engines import backends

    from pns_hub.engines import generation

    from pns_hub import models

    from pns_hub.engines import openvino as openvino_backend
    if not openvino_backend.available():
        pytest.skip("pip install 'pns-hub[openvino]'")
    if not models.cpu_supports_bf16():
        pytest.skip("the engine runs bf16 only on a CPU with native bf16")
    prompts = [generation.build_prompt(p) for p in PROBLEMS]
    greedy = generation.SamplingParams(num_samples=1, max_new_tokens=128, temperature=0.0)
    monkeypatch.setenv("PNS_HUB_GENERATE_BACKEND", "openvino")
    tokenizer = models.load_tokenizer(embedded_model_path)
    reference = models.load_model(embedded_model_path, dtype="float32")

    def gaps(dtype: str) -> torch.Tensor:
        out = []
        for prompt, rows in zip(prompts, backends.generate_from_folder(embedded_model_path, prompts, greedy,
                                                                       dtype=dtype, progress=False)):
            prefix = tokenizer(generation._render(tokenizer, prompt), add_special_tokens=False)["input_ids"]
            # the text's tokens, less the last: re-tokenising can merge it with what was cut ("\n" + "\n")
            ids = tokenizer(rows[0].text, add_special_tokens=False)["input_ids"][:-1]
            with torch.no_grad():
                logits = reference(torch.tensor([prefix + ids])).logits[0, len(prefix) - 1:-1]
            logp = torch.log_softmax(logits.float(), -1)
            out.append(logp.max(-1).values - logp[torch.arange(len(ids)), torch.tensor(ids)])
        return torch.cat(out)

    assert gaps("float32").max() == 0  # the scoring: the f32 engine is the f32 argmax everywhere
    bf16 = gaps("bfloat16")
    assert len(bf16) > 200
    assert (bf16 == 0).float().mean() >= 0.97
    assert bf16.quantile(0.99) <= 0.1


def test_synthesis_refuses_a_revision_it_cannot_export():
    from pns_hub.synthesis.config import SynthesisConfig
    from pns_hub.synthesis.sampling import Samplers

    samplers = Samplers(SynthesisConfig(backend="openvino"))
    with pytest.raises(ValueError, match="revision 'abc123'"):
        samplers.sample("org/generator", "abc123", "policy", [{"id": "p0", "problem": "1+1?"}])
    with pytest.raises(ValueError, match="openvino"):
        SynthesisConfig(backend="onnx")


@pytest.mark.slow  # the embedded model's export is cached by the test above (same session cache)
def test_synthesis_and_rm_pairs_sample_the_same_through_openvino(embedded_model_path, monkeypatch):
    """Two more stages that sample a fixed model (synthesis, the RM's pair sampling) give the reference's greedy
    samples through the engine: the routing reaches it, and nothing between it and the rows changes them."""
    from pns_hub.data import problems as data
    from pns_hub.rewards import reward_model
    from pns_hub.engines.generation import SamplingParams
    from pns_hub.synthesis.config import SynthesisConfig
    from pns_hub.synthesis.sampling import Samplers

    problems = [{"id": f"p{i}", "problem": p} for i, p in enumerate(PROBLEMS)]
    greedy = dict(num_samples=2, max_new_tokens=96, temperature=0.0)
    rows = {}
    for backend in ("transformers", "openvino"):
        config = SynthesisConfig(backend=backend, dtype="float32", seed_scope="problem", **greedy)
        rows[backend] = Samplers(config).sample(embedded_model_path, None, "policy", problems)
    assert [[c.text for c in r] for r in rows["openvino"]] == [[c.text for c in r] for r in rows["transformers"]]
    assert all(len(r) == 2 for r in rows["openvino"])

    tasks = data.load_problems("testbed", limit=6)
    pairs = {}
    for backend in ("compact", "openvino"):
        monkeypatch.setenv("PNS_HUB_GENERATE_BACKEND", backend)
        pairs[backend] = reward_model.sample_preference_pairs(embedded_model_path, tasks, SamplingParams(**greedy),
                                                              verify_workers=0, policy_dtype="float32")
    assert pairs["openvino"][0] == pairs["compact"][0]
    assert pairs["openvino"][1].pop("sample_backend") == "openvino"
    assert pairs["compact"][1].pop("sample_backend") == "compact"
    assert pairs["openvino"][1] == pairs["compact"][1]


@pytest.mark.slow  # the embedded model's export is cached by the first slow test (same session cache)
def test_lighteval_through_openvino_gives_the_transformers_backends_completions(embedded_model_path, tmp_path):
    """``pns-hub eval --backend openvino`` (lighteval's custom-model route onto the engine): on the same problems the
    greedy completions equal the transformers backend's, text for text, so the scores do too."""
    import pandas as pd

    from pns_hub.engines import openvino as openvino_backend
    from pns_hub.eval.run import run_eval

    if not openvino_backend.available():
        pytest.skip("pip install 'pns-hub[openvino]'")
    runs = {backend: run_eval(embedded_model_path, benchmarks=["gsm8k", "testbed"], limit=4, max_new_tokens=64,
                              batch_size=4, dtype="float32", backend=backend, output_dir=tmp_path / backend)
            for backend in ("accelerate", "openvino")}
    texts = {}
    for backend in runs:
        frames = [pd.read_parquet(p) for p in sorted((tmp_path / backend / "details").rglob("*.parquet"))]
        texts[backend] = [str(r["model_response"]["text"]) for f in frames for _, r in f.iterrows()]
    assert len(texts["openvino"]) == 8 and all(t.strip("[]' ") for t in texts["openvino"])  # real completions
    assert texts["openvino"] == texts["accelerate"]
    assert runs["openvino"]["predictions"] == runs["accelerate"]["predictions"]
    assert runs["openvino"]["per_problem"] == runs["accelerate"]["per_problem"]
    assert (runs["openvino"]["engine"], runs["accelerate"]["engine"]) == ("openvino", "transformers")  # recorded
