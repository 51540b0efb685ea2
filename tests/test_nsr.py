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
    from pns_hub.trainers.configs import NSRConfig

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

    from pns_hub.data import problems as data

    from pns_hub.engines import generation
    from pns_hub.trainers.configs import NSRConfig
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


# Correctness the first reward function hands NSRTrainer for one generation batch of 2 prompts x 4 completions:
# group 1 is mixed (GRPO would centre it on its mean), group 2 all wrong (GRPO would give every sample 0), and one
# completion is undecided (None: the verifier could not tell) and must get no advantage in any mode.
MARKS = [1.0, 0.0, None, 1.0, 0.0, 0.0, 0.0, 0.0]
EXPECTED = {"psr": (1.0, 0.0), "nsr": (0.0, -1.0), "w_reinforce": (0.1, -1.0)}  # (correct, not correct)


def _marked_reward(completions, **kwargs):
    """Verdicts by position in the batch, so which samples are 'correct' is fixed whatever the tiny model writes."""
    assert len(completions) == len(MARKS)
    return list(MARKS)


def _flat_grad(model, loss):
    model.zero_grad()
    loss.backward()
    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten()
                      for p in model.parameters() if p.requires_grad]).clone()


def _per_sample_grads(trainer, batch):
    """The gradient each completion contributes to the trainer's own loss (``compute_loss`` on that row alone).

    The (dapo) loss is a sum over tokens divided by ``num_items_in_batch`` of the whole batch, which the row keeps,
    so these gradients add up to the full batch's gradient (checked below)."""
    n = len(batch["advantages"])
    rows = [{k: v[i:i + 1] if torch.is_tensor(v) and v.dim() > 0 and v.size(0) == n else v for k, v in batch.items()}
            for i in range(n)]
    return [_flat_grad(trainer.model, trainer.compute_loss(trainer.model, row)) for row in rows]


def _logp_grad(model, batch, i):
    """d/dtheta of completion i's summed token log-prob / num_items_in_batch, computed without TRL: the direction
    a REINFORCE loss -A_i * logp_i / N must move along, with A_i the advantage the trainer applied."""
    ids = torch.cat([batch["prompt_ids"][i:i + 1], batch["completion_ids"][i:i + 1]], dim=1)
    mask = torch.cat([batch["prompt_mask"][i:i + 1], batch["completion_mask"][i:i + 1]], dim=1)
    n = batch["completion_ids"].size(1)
    logits = model(input_ids=ids, attention_mask=mask).logits[:, -n - 1:-1].float()  # temperature 1
    logps = torch.log_softmax(logits, -1).gather(-1, batch["completion_ids"][i:i + 1, :, None]).squeeze(-1)
    return _flat_grad(model, (logps * batch["completion_mask"][i:i + 1]).sum() / batch["num_items_in_batch"])


@pytest.mark.parametrize("mode", ["nsr", "w_reinforce", "psr"])
def test_trainer_advantages_and_per_sample_gradients(tiny_causal_lm_path, tmp_path, mode):
    """Through NSRTrainer itself: its generate-and-score step, then its loss, one completion at a time.

    nsr: a correct completion contributes *exactly* zero gradient, a wrong one exactly the gradient of +logp/N
    (advantage -1); w_reinforce: correct +0.1, wrong -1; psr: correct +1, wrong 0; undecided 0 everywhere. A plain
    GRPOTrainer fails this (group-relative advantages: +-0.5 in group 1, 0 in the all-wrong group 2)."""
    from datasets import Dataset

    from pns_hub.trainers.configs import NSRConfig
    from pns_hub.trainers.nsr import NSRTrainer

    rows = [{"prompt": [{"role": "user", "content": f"Problem {k}: what is {k} + {k}?"}], "answer": str(2 * k)}
            for k in (1, 2)]
    args = NSRConfig(
        output_dir=str(tmp_path), use_cpu=True, bf16=False, per_device_train_batch_size=8, num_generations=4,
        max_completion_length=6, temperature=1.0, report_to="none", save_strategy="no", gradient_checkpointing=False,
        nsr_mode=mode, nsr_lambda=0.1, seed=0,
    )
    trainer = NSRTrainer(model=tiny_causal_lm_path, reward_funcs=[_marked_reward], args=args,
                         train_dataset=Dataset.from_list(rows))
    trainer.model.train()
    trainer.current_gradient_accumulation_steps = 1  # what Trainer's loop sets before a step (GA 1 here)
    batch = trainer._generate_and_score_completions([rows[0]] * 4 + [rows[1]] * 4)

    pos, neg = EXPECTED[mode]
    expected = [0.0 if m is None else pos if m == 1.0 else neg for m in MARKS]
    assert batch["advantages"].tolist() == pytest.approx(expected)
    assert trainer.nsr_last_batch["advantages"].tolist() == batch["advantages"].tolist()

    grads = _per_sample_grads(trainer, batch)
    full = _flat_grad(trainer.model, trainer.compute_loss(trainer.model, batch))
    assert torch.allclose(sum(grads), full, rtol=1e-4, atol=1e-7)  # the rows really split the batch's loss
    for i, (grad, adv) in enumerate(zip(grads, expected)):
        if adv == 0.0:
            assert torch.count_nonzero(grad) == 0, f"sample {i} (mark {MARKS[i]}) moved the model in {mode}"
            continue
        direction = _logp_grad(trainer.model, batch, i)
        assert direction.norm() > 0
        # grad of -A * logp / N: the applied advantage, read back from the gradient itself
        applied = -(grad @ direction / (direction @ direction)).item()
        assert applied == pytest.approx(adv, rel=1e-3), (i, MARKS[i], applied)
        assert (grad + adv * direction).norm() <= 1e-3 * grad.norm()


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
