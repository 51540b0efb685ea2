import subprocess
import sys
import pytest

from pns_hub import models
def test_embedded_model_loads_from_cache_without_reconverting(embedded_model_path, monkeypatch):
    def no_conversion(*args):
        raise AssertionError("a cached embedded model must not be converted again")

    monkeypatch.setattr(models, "_convert_embedded", no_conversion)
    model = models.load_model(models.EMBEDDED_DEFAULT)
    tokenizer = models.load_tokenizer(models.EMBEDDED_DEFAULT)
    assert model.config.model_type == "llama" and tokenizer.chat_template
    assert tokenizer.padding_side == "left" and tokenizer.pad_token is not None
    assert not hasattr(model.config, "quantization_config")
    text = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert "<|im_start|>assistant" in text


def test_conversion_is_race_safe(tmp_path):
    """Two processes converting into an empty cache at once both succeed and leave one complete folder."""
    code = "from pns_hub import models; print(models.resolve_model_path(models.EMBEDDED_DEFAULT))"
    env = {**__import__("os").environ, "PNS_HUB_CACHE": str(tmp_path)}
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    paths = {o[0].decode().strip().splitlines()[-1] for o in outs}
    assert len(paths) == 1
    folder = tmp_path / "models" / "smollm2-135m-instruct"
    assert (folder / "model.safetensors").exists() and (folder / "tokenizer.json").exists()
    assert not [p for p in (tmp_path / "models").iterdir() if p.name.startswith(".smollm2") and p.is_dir()]


def test_bf16_detection(monkeypatch):
    import torch

    models.cpu_supports_bf16.cache_clear()
    monkeypatch.setenv("PNS_HUB_BF16", "0")
    assert models.best_dtype("cpu") == torch.float32
    models.cpu_supports_bf16.cache_clear()
    monkeypatch.setenv("PNS_HUB_BF16", "1")
    assert models.best_dtype("cpu") == torch.bfloat16
    models.cpu_supports_bf16.cache_clear()
    monkeypatch.delenv("PNS_HUB_BF16")
    flags = open("/proc/cpuinfo").read()
    assert models.cpu_supports_bf16() == (" amx_bf16" in flags or " avx512_bf16" in flags)
    models.cpu_supports_bf16.cache_clear()


def test_non_embedded_specs_pass_through_and_unknown_embedded_fails():
    assert models.resolve_model_path("org/some-model") == "org/some-model"
    with pytest.raises(ValueError, match="unknown embedded model"):
        models.resolve_model_path("embedded:nope")
    assert models.embedded_hub_id(models.EMBEDDED_DEFAULT) == "HuggingFaceTB/SmolLM2-135M-Instruct"


def test_artifacts_name_hub_ids_and_what_the_embedded_model_is(tmp_path):
    """Cards cite a Hub id (what a folder's card records) or nothing, never a path; the embedded model says it is a
    dequantised Q4_1 GGUF wherever it is named."""
    from pns_hub import hub
    warm = tmp_path / "warm"
    warm.mkdir()
    (warm / "README.md").write_text(hub.yaml_header({"model_name": "org/warm", "base_model": "x/y"}) + "# card\n")
    assert models.hub_id(str(warm)) == "org/warm" == models.display_name(str(warm))
    assert str(warm) in models.build_note(str(warm))
    bare = tmp_path / "bare"
    bare.mkdir()
    assert models.hub_id(str(bare)) is None and str(tmp_path) not in models.display_name(str(bare))
    assert models.hub_id(models.EMBEDDED_DEFAULT) == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert "dequantised Q4_1 GGUF" in models.display_name(models.EMBEDDED_DEFAULT)
    assert models.hub_id("org/model") == "org/model" and models.build_note("org/model") is None
