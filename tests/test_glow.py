"""GLOW: the weight rule by hand, and the trainer's recorded weights/losses under 2 epochs x grad accumulation 2."""

import math

import pytest
import torch


def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


def test_glow_weights_match_hand_values():
    from pns_hub.trainers.glow import glow_weights

    prev = torch.tensor([1.0, 1.0, 1.0, 1.0, 1.0])
    cur = torch.tensor([1.2, 1.05, 1.0, 0.95, 0.9])  # gains -0.2, -0.05, 0, +0.05, +0.1
    w = glow_weights(cur, prev)  # defaults alpha 1, beta 20, clamp [0.5, 5]
    expected = [max(0.5, min(5.0, 1 - _sigmoid(20 * g))) for g in (-0.2, -0.05, 0.0, 0.05, 0.1)]
    assert w.tolist() == pytest.approx(expected, abs=1e-6)
    assert w.tolist() == pytest.approx([0.98201, 0.73106, 0.5, 0.5, 0.5], abs=1e-4)  # glow_nsr.md table
    w2 = glow_weights(cur, prev, alpha=2.0)
    assert w2.tolist() == pytest.approx([1.96403, 1.46212, 1.0, 0.53788, 0.5], abs=1e-4)
    assert glow_weights(torch.tensor([0.0]), torch.tensor([10.0]), alpha=20, beta=-1).item() == 5.0  # upper clamp


def test_glow_weights_are_detached():
    from pns_hub.trainers.glow import glow_weights

    cur = torch.tensor([1.0, 2.0], requires_grad=True)
    assert not glow_weights(cur, torch.tensor([1.5, 1.5])).requires_grad


def test_missing_history_falls_back_to_batch_mean():
    from pns_hub.trainers.glow import previous_losses

    cur = torch.tensor([1.0, 3.0, 5.0])
    prev, has = previous_losses([7, 8, 9], cur, {8: 2.5})
    assert prev.tolist() == pytest.approx([3.0, 2.5, 3.0])
    assert has.tolist() == [False, True, False]


def _dataset(n=6):
    from datasets import Dataset

    rows = [{"sample_id": f"p{i}/0", "label": "negative" if i % 2 else "positive", "messages": [
        {"role": "user", "content": f"What is {i} + {i}?"},
        {"role": "assistant", "content": f"{i} + {i} = {2 * i + i % 2}. The answer is \\boxed{{{2 * i + i % 2}}}."},
    ]} for i in range(n)]
    return Dataset.from_list(rows)


def test_trainer_two_epochs_grad_accumulation(tiny_causal_lm_path, tmp_path):
    from transformers import AutoTokenizer

    from pns_hub.trainers.configs import GlowConfig
    from pns_hub.trainers.glow import GlowTrainer

    tokenizer = AutoTokenizer.from_pretrained(tiny_causal_lm_path)
    # alpha 2, beta 5 and a wide clamp keep weights away from the bounds, so the check is sensitive to the gain.
    args = GlowConfig(
        output_dir=str(tmp_path), use_cpu=True, bf16=False, num_train_epochs=2, per_device_train_batch_size=2,
        gradient_accumulation_steps=2, learning_rate=5e-3, report_to="none", logging_steps=1, save_strategy="no",
        gradient_checkpointing=False, glow_record=True, max_length=128, glow_alpha=2.0, glow_beta=5.0,
        glow_min_weight=0.01, glow_max_weight=5.0, seed=0,
    )
    trainer = GlowTrainer(model=tiny_causal_lm_path, args=args, train_dataset=_dataset(8), processing_class=tokenizer)
    trainer.train()
    records = trainer.glow_records
    assert len(records) == 8  # 8 samples / 2 per micro-batch x 2 epochs: the sample_id reached compute_loss
    first = [r for r in records if r["first_epoch"]]
    second = [r for r in records if not r["first_epoch"]]
    assert len(first) == 4 and len(second) == 4
    seen_first = {}
    for r in first:
        assert r["weight"] == [1.0, 1.0]  # plain SFT in epoch 1
        seen_first.update(zip(r["sample_ids"], r["loss"]))
    assert sorted(seen_first) == sorted(f"p{i}/0" for i in range(8))
    for r in second:
        for sid, loss, prev, w in zip(r["sample_ids"], r["loss"], r["previous_loss"], r["weight"]):
            assert prev == pytest.approx(seen_first[sid], abs=1e-6)  # history keyed by sample id, from epoch 1
            expected = max(0.01, min(5.0, 2.0 * (1 - _sigmoid(5.0 * (seen_first[sid] - loss)))))
            assert w == pytest.approx(expected, abs=1e-5)
    assert trainer.glow_history == pytest.approx({s: l for r in second for s, l in zip(r["sample_ids"], r["loss"])})
    # Logged loss per optimizer step = mean over its 2 micro-batches of mean(l_i * w_i): proves the /GA scaling.
    steps = [h for h in trainer.state.log_history if "loss" in h and "step" in h]
    assert len(steps) == 4
    for k, h in enumerate(steps):
        micro = records[2 * k:2 * k + 2]
        expected = sum(sum(l * w for l, w in zip(m["loss"], m["weight"])) / 2 for m in micro) / 2
        assert h["loss"] == pytest.approx(expected, rel=1e-4)


def test_trainer_rejects_missing_or_duplicate_sample_ids(tiny_causal_lm_path, tmp_path):
    from transformers import AutoTokenizer

    from pns_hub.trainers.configs import GlowConfig
    from pns_hub.trainers.glow import GlowTrainer

    tokenizer = AutoTokenizer.from_pretrained(tiny_causal_lm_path)
    args = GlowConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False, report_to="none")
    with pytest.raises(KeyError, match="sample_id"):
        GlowTrainer(model=tiny_causal_lm_path, args=args, train_dataset=_dataset(2).remove_columns("sample_id"),
                    processing_class=tokenizer)
    dup = _dataset(2).map(lambda r: {"sample_id": "same"})
    with pytest.raises(ValueError, match="unique"):
        GlowTrainer(model=tiny_causal_lm_path, args=args, train_dataset=dup, processing_class=tokenizer)


def test_config_rejects_packing(tmp_path):
    from pns_hub.trainers.configs import GlowConfig

    with pytest.raises(ValueError, match="packing"):
        GlowConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False, packing=True)
