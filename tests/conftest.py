"""Shared fixtures. Everything runs offline: the Hub's servers are the one thing tests cannot reach."""

import os
from pathlib import Path

import pytest


os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The reference engine (our torch loop) for every test; tests/test_openvino_backend.py checks OpenVINO against it
# (exporting each tiny model a test trains would cost ~15 s apiece and test nothing new).
os.environ.setdefault("PNS_HUB_GENERATE_BACKEND", "compact")

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The read-only benchmark copies beside the checkout (../shared/data/math), as CI lays them out."""
    for candidate in (REPO_ROOT.parent / "shared" / "data" / "math", Path("/work/shared/data/math")):
        if candidate.is_dir():
            return candidate
    pytest.skip("../shared/data/math is not present")


@pytest.fixture(scope="session")
def embedded_model_path() -> str:
    from pns_hub import models
    return models.resolve_model_path(models.EMBEDDED_DEFAULT)


@pytest.fixture(scope="session")
def tiny_causal_lm_path(tmp_path_factory, embedded_model_path) -> str:
    """A random-init 2-layer Llama with the embedded tokenizer: real mechanics, seconds not minutes."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(embedded_model_path)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048, tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )
    model = LlamaForCausalLM(config)
    folder = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture
def online(monkeypatch):
    """The suite runs with HF_HUB_OFFLINE=1; pushes go to the loopback fake Hub, so lift it for one test only."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)


@pytest.fixture(autouse=True)
def _restore_grad_mode():
    """Test isolation: a library that flips torch's global autograd switch (lighteval does) must not leak into the
    next test. pns_hub.eval.run restores it itself; this keeps a third-party slip from masking as a trainer bug."""
    import torch

    torch.set_grad_enabled(True)  # torch's default: what every test may assume
    yield
    torch.set_grad_enabled(True)
