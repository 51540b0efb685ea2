"""benchmarks/gpu_suite.py without a GPU: the shapes are Qwen2.5-0.5B/1.5B's (meta device), the FLOP and MFU
arithmetic matches hand computation, the peak table picks the right GPU, and both training steps run on CPU with a
tiny model. The GPU run itself: benchmarks/results/gpu_suite-h100.json (one H100, 2026-12-06)."""

import pytest

from benchmarks import gpu_suite as gs


def _config(name):
    from transformers import Qwen2Config

    return Qwen2Config(**gs.SHAPES[name])


@pytest.mark.parametrize("name, params", [("Qwen2.5-0.5B", 494_032_768), ("Qwen2.5-1.5B", 1_543_714_304)])
def test_shapes_have_the_published_parameter_counts(name, params):
    import torch
    from transformers import Qwen2ForCausalLM

    with torch.device("meta"):
        model = Qwen2ForCausalLM(_config(name))
    assert sum(p.numel() for p in model.parameters()) == params


def test_flops_hand_computed():
    config = _config("Qwen2.5-0.5B")
    n = 494_032_768  # tied embeddings: the one vocab x hidden matrix is the LM head, every parameter is a matmul
    assert gs.matmul_params(config, n) == n
    per_token = 6 * n + 12 * 24 * (14 * 64) * 1024  # 6N + 12 L q_dim T at T = 1024
    assert gs.flops_per_token(config, n, 1024) == per_token
    assert gs.flops_per_token(config, n, 1024, train=False) == per_token / 3
    assert gs.dpo_flops(config, n, pairs=8, length=1024) == 16 * 1024 * per_token
    head = 151936 * 896
    seq = 512 + 1024
    train = 6 * n + 12 * 24 * 896 * seq
    expected = 16 * seq * train - 16 * 512 * 6 * head + 16 * seq * train / 3 - 16 * 512 * 2 * head
    assert gs.grpo_flops(config, n, 16, 512, 1024) == pytest.approx(expected)


def test_untied_embeddings_are_not_matmuls():
    from transformers import Qwen2Config

    config = Qwen2Config(**(gs.SHAPES["Qwen2.5-0.5B"] | {"tie_word_embeddings": False}))
    assert gs.matmul_params(config, 630_000_000) == 630_000_000 - 151936 * 896


def test_peak_table_and_mfu():
    assert gs.peak_tflops("NVIDIA H100 80GB HBM3") == 989.0
    assert gs.peak_tflops("NVIDIA H100 PCIe") == 756.0
    assert gs.peak_tflops("NVIDIA H200") == 989.0
    assert gs.peak_tflops("NVIDIA A100-SXM4-80GB") == 312.0
    assert gs.peak_tflops("NVIDIA A10G") == 70.0
    assert gs.peak_tflops("NVIDIA L4") == 121.0
    assert gs.peak_tflops("NVIDIA L40S") == 362.0
    assert gs.peak_tflops("Some Future GPU") is None
    assert gs.mfu(989e12 * 0.35, 1.0, 989.0) == pytest.approx(35.0)
    assert gs.mfu(1e12, 1.0, None) is None


def test_without_cuda_the_suite_is_one_skip_row(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    rows = gs.run(quick=True)
    assert len(rows) == 1 and "skipped" in rows[0]["notes"]


def test_both_steps_run_on_cpu_with_a_tiny_shape():
    import torch

    tiny = dict(vocab_size=512, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, max_position_embeddings=1024, tie_word_embeddings=True)
    rows = gs.train_rows("tiny", tiny, quick=True, device="cpu", dtype=torch.float32)
    assert [r["stage"].split(" (")[0] for r in rows] == ["GPU DPO step", "GPU GRPO update"]
    assert all(r["tuned"] > 0 and r["mfu_percent"] is None for r in rows)  # a CPU has no entry in the peak table
