"""The OpenVINO backend against the reference (our torch loop, f32) on the embedded model: the same greedy text, and
sampling that keeps the generation contract (rows per prompt, seeds, truncation). The export runs for real (the
pinned exporter is installed into the test cache on first use)."""

import pytest


PROBLEMS = ["Sam has 23 apples and buys 15 more. How many apples does Sam have now?",
            "A book costs 7 dollars. How much do 6 books cost?",
            "Mia had 90 stickers and gave away 35. How many are left?"]


def test_backend_choice_is_checked(monkeypatch):
    from pns_hub import backends, generation, openvino_backend

    monkeypatch.setenv("PNS_HUB_GENERATE_BACKEND", "vllm")
    with pytest.raises(ValueError, match="must be one of"):
        backends.fixed_model_backend()
    monkeypatch.setenv("PNS_HUB_GENERATE_BACKEND", "auto")  # the default outside tests
    installed = openvino_backend.available()
    assert backends.fixed_model_backend("float32") == ("openvino" if installed else "compact")
    assert backends.fixed_model_backend("bfloat16") == "compact"  # the engine runs f32 only
    monkeypatch.setenv("PNS_HUB_GENERATE_BACKEND", "openvino")
    with pytest.raises(ValueError, match="runs f32"):
        backends.generate_from_folder("unused", ["x"], generation.SamplingParams(), dtype="bfloat16")


@pytest.mark.slow  # exporter install (~25 s, once per cache) + export of the 135M model (~45 s) + generation
def test_openvino_matches_the_torch_loop(embedded_model_path, monkeypatch):
    from pns_hub import backends, generation, models, openvino_backend

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
