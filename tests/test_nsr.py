"""PSR / NSR / W-REINFORCE: exact advantages, no gradient from correct samples in nsr mode, and a real NSR step."""

import pytest
import torch


def test_w_reinforce_advantages_are_exactly_lambda_and_minus_one():
    from pns_hub.trainers.nsr import outcome_advantages

    correct = torch.tensor([1.0, 0.0, 1.0, 0.0, float("nan")])
    assert outcome_advantages(correct, "w_reinforce", 0.1).tolist() == pytest.approx([0.1, -1.0, 0.1, -1.0, 0.0])
    assert outcome_advantages(correct, "w_reinforce", 0.1)[0].item() == torch.tensor(0.1).item()  # exact
    assert outcome_advantages(correct, "psr").tolist() == [1.0, 0.0, 1.0, 0.0, 0.0]
    assert outcome_advantages(correct, "nsr").tolist() == [0.0, -1.0, 0.0, -1.0, 0.0]
    # no group mean: an all-wrong group keeps -1 (GRPO would give 0)
    assert outcome_advantages(torch.zeros(4), "w_reinforce", 0.1).tolist() == [-1.0] * 4
    with pytest.raises(ValueError):
        outcome_advantages(correct, "grpo")


def test_config_defaults_and_validation(tmp_path):
    from pns_hub.trainers.trainer_configs import NSRConfig

    args = NSRConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False)
    assert (args.nsr_mode, args.nsr_lambda, args.beta) == ("w_reinforce", 0.1, 0.0)
    with pytest.raises(ValueError, match="nsr_mode"):
        NSRConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False, nsr_mode="ppo")


def test_correctness_reward_uses_math_verify():
    from pns_hub.trainers.nsr import make_correctness_reward

    reward = make_correctness_reward()
    completions = [[{"role": "assistant", "content": "so \\boxed{72}"}],
                   [{"role": "assistant", "content": "so \\boxed{71}"}],
                   [{"role": "assistant", "content": "no idea"}]]
    assert reward(completions=completions, answer=["72", "72", "72"]) == [1.0, 0.0, 0.0]


def _trainer(model_path, tmp_path, mode, **extra):
    from datasets import Dataset

    from pns_hub import data, generation
    from pns_hub.trainers.trainer_configs import NSRConfig
    from pns_hub.trainers.nsr import NSRTrainer

    rows = data.load_problems("gsm8k_train", limit=1)
    ds = Dataset.from_list([{"prompt": generation.build_prompt(r["problem"]), "answer": r["answer"]} for r in rows])
    args = NSRConfig(
        output_dir=str(tmp_path), use_cpu=True, bf16=False, per_device_train_batch_size=4, num_generations=4,
        max_completion_length=12, max_steps=1, report_to="none", logging_steps=1, save_strategy="no",
        gradient_checkpointing=False, nsr_mode=mode, seed=0, **extra,
    )
    return NSRTrainer(model=model_path, args=args, train_dataset=ds)


def _seq_logps(model, batch):
    from trl.trainer.utils import selective_log_softmax

    ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], dim=1)
    mask = torch.cat([batch["prompt_mask"], batch["completion_mask"]], dim=1)
    n = batch["completion_ids"].size(1)
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits[:, -n - 1:-1].float()
    return (selective_log_softmax(logits, batch["completion_ids"]) * batch["completion_mask"]).sum(1)


def test_nsr_gives_no_gradient_from_correct_samples(tiny_causal_lm_path, tmp_path):
    trainer = _trainer(tiny_causal_lm_path, tmp_path, "nsr")
    model = trainer.model
    torch.manual_seed(0)
    prompt = torch.randint(5, 500, (2, 6))
    completion = torch.randint(5, 500, (2, 5))
    from pns_hub.trainers.nsr import outcome_advantages

    adv = outcome_advantages(torch.tensor([1.0, 0.0]), "nsr")  # sample 0 correct, sample 1 wrong

    def grads(completion_ids):
        model.zero_grad()
        inputs = {"prompt_ids": prompt, "prompt_mask": torch.ones_like(prompt), "completion_ids": completion_ids,
                  "completion_mask": torch.ones_like(completion_ids), "advantages": adv,
                  "num_items_in_batch": torch.tensor(10.0)}
        trainer._compute_loss(model, inputs).backward()
        return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]).clone()

    base = grads(completion)
    assert base.abs().sum() > 0  # the wrong sample does push
    changed = completion.clone()
    changed[0] = torch.randint(600, 900, (5,))  # rewrite the *correct* sample entirely
    assert torch.equal(grads(changed), base)  # ... and nothing moves: it contributes no gradient
    changed_wrong = completion.clone()
    changed_wrong[1] = torch.randint(600, 900, (5,))
    assert not torch.equal(grads(changed_wrong), base)  # control: the wrong sample's content does matter


@pytest.mark.slow  # one GRPO step with generation on the 135M model: ~3-4 min on a loaded 2-core CPU
def test_nsr_step_lowers_logprob_of_wrong_samples(embedded_model_path, tmp_path):
    from transformers import AutoModelForCausalLM

    trainer = _trainer(embedded_model_path, tmp_path, "nsr", learning_rate=1e-5)
    # A fresh load, not deepcopy: TRL's fused-LM-head patch closes over the original model's forward, so a deep copy
    # would still run the trained weights.
    before = AutoModelForCausalLM.from_pretrained(embedded_model_path, dtype=torch.float32).eval()
    trainer.train()
    batch = trainer.nsr_last_batch
    assert batch is not None
    wrong = batch["correct"] < 0.5
    assert wrong.any()  # the 135M model is ~0% accurate on GSM8K; 12 tokens cannot even reach an answer
    assert batch["advantages"][wrong].tolist() == [-1.0] * int(wrong.sum())
    old = _seq_logps(before, batch)
    new = _seq_logps(trainer.model.eval(), batch)
    # The NSR objective is the (token-mean) log-likelihood of the wrong samples: one step must lower it in total,
    # and at least one wrong sample must lose probability (Adam's first step is sign-like, so not necessarily all).
    assert new[wrong].sum() < old[wrong].sum(), (old, new)
    assert (new[wrong] < old[wrong]).any(), (old, new)
