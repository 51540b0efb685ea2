"""The CPU dense LM head gives what TRL's chunked fused head gives: log-probs, entropy, metrics and gradients."""

import pytest


def _pair(path, outputs=("log_probs", "entropy", "log_sum_sq_probs", "mean_logits", "is_top1"), temperature=0.7):
    import torch
    from transformers import AutoModelForCausalLM
    from trl.trainer.utils import add_fused_lm_head

    from pns_hub.engines import lm_head
    ref = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    ours = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    for model in (ref, ours):
        add_fused_lm_head(model, temperature=temperature, outputs=outputs)
    assert lm_head.use_dense_lm_head(ours, temperature=temperature)
    return ref, ours


@pytest.mark.parametrize("num_items_in_batch", [None, 7])
def test_dense_head_matches_trl_fused_head(tiny_causal_lm_path, num_items_in_batch):
    import torch

    ref, ours = _pair(tiny_causal_lm_path)
    torch.manual_seed(0)
    input_ids = torch.randint(0, ref.config.vocab_size, (3, 12))
    attention_mask = torch.ones_like(input_ids)
    attention_mask[2, :4] = 0  # a left-padded row
    labels = input_ids.clone()
    labels[:, :5] = -100  # prompt positions are not scored
    labels[2, :4] = -100
    results = []
    for model in (ref, ours):
        out = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels, fused_lm_head=True,
                    num_items_in_batch=num_items_in_batch)
        (out.loss + 0.1 * out.entropy.sum()).backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        results.append((out, grads))
    (a, grads_a), (b, grads_b) = results
    for field in ("loss", "log_probs", "entropy", "log_sum_sq_probs", "mean_logits"):
        torch.testing.assert_close(getattr(b, field), getattr(a, field), atol=1e-5, rtol=1e-4, msg=field)
    assert torch.equal(b.is_top1, a.is_top1) and torch.equal(b.label_mask, a.label_mask)
    assert (b.log_probs[~b.label_mask] == 0).all()
    assert grads_a.keys() == grads_b.keys() and grads_a
    for name in grads_a:
        torch.testing.assert_close(grads_b[name], grads_a[name], atol=1e-5, rtol=1e-4, msg=name)


@pytest.mark.parametrize("outputs", [("log_probs",), ("log_probs", "entropy", "mean_logits", "is_top1")])
def test_dense_head_computes_what_trl_asked_for(tiny_causal_lm_path, outputs):
    """A DPO reference model asks TRL's head for log-probs only, a DPO policy for its metrics too (not WPO's
    log_sum_sq_probs): the dense head leaves the same fields None as TRL's, and the rest (temperature 1, the path
    without a division) and the gradients still match."""
    import torch

    from pns_hub.engines import lm_head
    ref, ours = _pair(tiny_causal_lm_path, outputs=outputs, temperature=1.0)
    torch.manual_seed(1)
    input_ids = torch.randint(0, ref.config.vocab_size, (2, 10))
    labels = input_ids.clone()
    labels[:, :4] = -100
    results = []
    for model in (ref, ours):
        out = model(input_ids=input_ids, labels=labels, fused_lm_head=True)
        out.loss.backward()
        results.append((out, {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}))
    (a, grads_a), (b, grads_b) = results
    for field in lm_head.ALL_OUTPUTS:
        assert (getattr(b, field) is None) == (getattr(a, field) is None) == (field not in outputs), field
        if field in outputs and field != "is_top1":
            torch.testing.assert_close(getattr(b, field), getattr(a, field), atol=1e-5, rtol=1e-4, msg=field)
    for name in grads_a:
        torch.testing.assert_close(grads_b[name], grads_a[name], atol=1e-5, rtol=1e-4, msg=name)


def test_dense_head_leaves_plain_forward_alone(tiny_causal_lm_path):
    import torch

    ref, ours = _pair(tiny_causal_lm_path)
    input_ids = torch.arange(8)[None]
    torch.testing.assert_close(ours(input_ids=input_ids).logits, ref(input_ids=input_ids).logits)
