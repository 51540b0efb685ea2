"""The generator recipe: YAML parsing, real GRPO steps on CPU, the saved repo folder and its card, offline push."""

import sys
from pathlib import Path

import pytest

from pns_hub.trainers import grpo

from pns_hub import hub
REPO = Path(__file__).resolve().parent.parent
RECIPE = REPO / "recipes" / "smollm2-135m-instruct" / "pns_generator.yaml"


def _parse(*overrides):
    from trl import ModelConfig, TrlParser

    from pns_hub.trainers.pns_configs import PNSGeneratorScriptArguments, PNSGRPOConfig

    parser = TrlParser((PNSGeneratorScriptArguments, PNSGRPOConfig, ModelConfig))
    return parser.parse_args_and_config(args=["--config", str(RECIPE), *overrides])


def test_recipe_yaml_parses_with_cpu_fixups(tmp_path):
    import torch

    script_args, training_args, model_args = _parse("--output_dir", str(tmp_path), "--judge_model", "none")
    assert script_args.reward_funcs == ["pns_composite"] and script_args.judge_model is None
    assert training_args.gradient_checkpointing is False and training_args.report_to in ("none", [], ["none"])
    assert model_args.model_name_or_path == "outputs/smollm2-135m-instruct/sft-warmup"
    if not torch.cuda.is_available():
        assert training_args.use_cpu


def test_dataset_has_prompt_and_reward_columns():
    from pns_hub.trainers.pns_configs import PNSGeneratorScriptArguments

    train, held = grpo.load_generator_rows(PNSGeneratorScriptArguments(dataset_limit=3, holdout=5))
    ds = grpo.build_grpo_dataset(train)
    assert len(ds) == 3 and len(held) == 5 and not {r["id"] for r in train} & {r["id"] for r in held}
    assert set(ds.column_names) == {"prompt", "problem", "answer", "id"}
    assert ds[0]["prompt"][-1]["role"] == "user" and "\\boxed" in ds[0]["prompt"][-1]["content"]


def _run_recipe(model, out, *extra):
    sys.path.insert(0, str(REPO / "recipes"))
    try:
        import pns_generator
    finally:
        sys.path.pop(0)
    return pns_generator.main([
        "--config", str(RECIPE), "--model_name_or_path", model, "--dataset_limit", "2", "--holdout", "0",
        "--num_generations", "2", "--per_device_train_batch_size", "4", "--max_completion_length", "32",
        "--max_steps", "1", "--reward_model_path", "none", "--output_dir", str(out), *extra,
    ])


def test_grpo_step_on_tiny_model_writes_loadable_repo_folder(tmp_path, tiny_causal_lm_path):
    """One real GRPO step (tiny random model, composite + format rewards); the folder is a complete model repo."""
    from transformers import AutoModelForCausalLM

    folder = _run_recipe(tiny_causal_lm_path, tmp_path / "gen", "--judge_model", tiny_causal_lm_path,
                         "--reward_funcs", "pns_composite", "format", "--reward_weights", "1.0", "0.5")
    model = AutoModelForCausalLM.from_pretrained(folder)
    assert model.config.num_hidden_layers == 2
    card = (Path(folder) / "README.md").read_text()
    assert "`pns_composite` | 1.0" in card and "`format` | 0.5" in card
    assert "Never as a solver" in card and "max_completion_length" in card
    assert hub.publish(folder, "user/x", push=False) is None


def test_publish_offline_and_missing_repo(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub.publish(str(tmp_path), "user/pns-gen", push=True) is None  # folder stays; nothing pushed
    with pytest.raises(ValueError, match="hub_model_id"):
        hub.publish(str(tmp_path), None, push=True)


def test_publish_online_uses_hub_push(tmp_path, monkeypatch):
    """With the network on, publish goes through pns_hub.hub.push_folder (the Hub server is the one fake)."""

    seen = {}
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(hub, "push_folder", lambda folder, repo_id, **kw: seen.update(repo=repo_id, **kw) or "url")
    assert hub.publish(str(tmp_path), "user/pns-gen", push=True) == "url"
    assert seen["repo"] == "user/pns-gen" and "*.bin" in seen["ignore_patterns"]


@pytest.mark.slow
def test_grpo_steps_on_embedded_model(tmp_path, embedded_model_path):
    """Real GRPO on the embedded SmolLM2 (2 prompts, 2 generations, 32 tokens, 1 step) with the embedded judge."""
    from transformers import AutoModelForCausalLM

    folder = _run_recipe("embedded:smollm2-135m-instruct", tmp_path / "gen")
    model = AutoModelForCausalLM.from_pretrained(folder)
    assert model.config.vocab_size > 40000
    card = (Path(folder) / "README.md").read_text()
    assert "base_model: HuggingFaceTB/SmolLM2-135M-Instruct" in card


def _completion_log_probs(model_path: str, prompt_texts: list[str], completions: list[list[int]]) -> list[float]:
    """Summed log-probability of each completion's token ids after its prompt (float32, one sequence at a time)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32).eval()
    out = []
    with torch.no_grad():
        for text, ids in zip(prompt_texts, completions):
            head = tok(text, add_special_tokens=False)["input_ids"]
            full = torch.tensor([head + list(ids)])
            logp = torch.log_softmax(model(full).logits[0, len(head) - 1:-1].float(), dim=-1)
            out.append(float(logp.gather(-1, torch.tensor(ids)[:, None]).sum()))
    return out


def test_grpo_step_moves_policy_towards_higher_reward(tmp_path, tiny_causal_lm_path, monkeypatch):
    """Rewards that differ inside a group must move the policy: after one real GRPO step (the recipe's
    train_generator, TRL's GRPOTrainer, our CPU LM head), the completions that earned more gain log-probability
    relative to their group mates that earned less.

    The reward pays for a property a random model shows about half the time (first completion token in the lower
    half of the vocabulary), so every group of 4 is likely to hold both kinds; the test requires at least one such
    group and checks each of them."""
    from pns_hub import models
    from pns_hub.rewards import functions as rewards
    seen = []

    def lower_half_first_token(prompts, completions, completion_ids, **kwargs):
        values = [1.0 if ids and ids[0] < half else 0.0 for ids in completion_ids]
        seen.append((prompts, [list(ids) for ids in completion_ids], values))
        return values

    def factory(script_args, training_args, tokenizer):
        lower_half_first_token.__name__ = "lower_half_first_token"
        return lower_half_first_token

    half = len(models.load_tokenizer(tiny_causal_lm_path)) // 2
    monkeypatch.setitem(rewards.REWARD_FUNCS_REGISTRY, "lower_half_first_token", factory)
    folder = _run_recipe(tiny_causal_lm_path, tmp_path / "gen", "--judge_model", "none",
                         "--reward_funcs", "lower_half_first_token", "--reward_weights", "1.0",
                         "--num_generations", "4", "--per_device_train_batch_size", "8", "--dataset_limit", "2",
                         "--learning_rate", "1e-3", "--beta", "0.0", "--temperature", "1.0")
    assert seen, "the reward function was never called"
    prompts, ids, values = seen[0]
    tok = models.load_tokenizer(tiny_causal_lm_path)
    texts = [tok.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]
    before = _completion_log_probs(tiny_causal_lm_path, texts, ids)
    after = _completion_log_probs(folder, texts, ids)
    gain = [a - b for a, b in zip(after, before)]
    groups = {}
    for text, g, v in zip(texts, gain, values):
        groups.setdefault(text, []).append((v, g))
    mixed = {t: m for t, m in groups.items() if len({v for v, _ in m}) > 1}
    assert mixed, f"no group had differing rewards ({values}); the test has no signal"
    for members in mixed.values():
        high = [g for v, g in members if v == 1.0]
        low = [g for v, g in members if v == 0.0]
        assert sum(high) / len(high) > sum(low) / len(low), members
        assert sum(high) / len(high) > 0, members
