"""A CPU replacement for TRL's fused LM head: one bf16 projection of the scored positions, then log-softmax in fp32.

Why: TRL's trainers (DPO, GRPO, ...) patch the model so ``model(..., labels=..., fused_lm_head=True)`` returns
per-token log-probabilities without materialising the logits (``trl.kernels.chunked_logprob``). That is the right
trade on a GPU. On a CPU it is the slowest part of a step: without Triton it scores *every* position (prompt and
padding included), and its backward multiplies in fp32 (``a.float() @ b.float()``), which on this CPU runs at ~160-230
GFLOP/s against ~1,100-1,700 for bf16. torch.profiler on the 8-pair DPO step (``benchmarks/dpo_step.py``): the chunked
head was 8.6 s of a 13.5 s step.

Here the head projects only positions whose label is not -100, as one matmul in the model's dtype (the matmul
accumulates in fp32 internally and rounds once; TRL's concern, rounding each vocabulary chunk's partial product
before summing, does not arise with a single product), and computes log-softmax and whichever of entropy and the
metrics TRL asked for, in fp32 with autograd. Memory is ``scored_tokens x vocab`` fp32 per tensor (~0.3 GB for 1,600
tokens and a 49k vocabulary), fine for CPU-sized batches. The output is TRL's ``FusedCausalLMOutput`` with the same
fields, so the trainers are unchanged.
``tests/test_lm_head.py`` checks log-probs, entropy, metrics and gradients against TRL's own head.
"""

from __future__ import annotations

import functools
import types


def _supported(model) -> bool:
    """Only plain heads: logit soft-capping, logit scaling or MoE router losses go to TRL's head unchanged."""
    config = model.config.get_text_config()
    unsupported = ("final_logit_softcapping", "logit_scale", "output_multiplier", "lm_head_multiplier",
                   "logits_scaling")
    return not any(getattr(config, name, None) is not None for name in unsupported) and \
        not getattr(config, "output_router_logits", False)


ALL_OUTPUTS = ("log_probs", "entropy", "log_sum_sq_probs", "mean_logits", "is_top1")


def _requested_outputs(trl_forward) -> tuple[str, ...]:
    """The per-token outputs TRL asked its fused head for (``add_fused_lm_head(..., outputs=...)``: a DPO reference
    model only ``log_probs``; the policy adds its metrics, and ``log_sum_sq_probs`` only for WPO weighting). Read from
    the patched forward's closure; every output when it cannot be read (another TRL version), as before."""
    import inspect

    try:
        outputs = inspect.getclosurevars(trl_forward).nonlocals.get("outputs")
    except TypeError:
        outputs = None
    if isinstance(outputs, tuple) and "log_probs" in outputs and set(outputs) <= set(ALL_OUTPUTS):
        return outputs
    return ALL_OUTPUTS


def use_dense_lm_head(model, temperature: float = 1.0) -> bool:
    """Patch a model TRL already gave a fused head so that, on CPU, ``fused_lm_head=True`` uses the dense head here.

    Call it after the trainer is built (the trainer adds its fused head in ``__init__``), on the same object TRL
    patched (the PEFT base model when there is one). Calls on other devices, with ``shift_labels`` (context
    parallelism) or without ``fused_lm_head`` go to the previous forward. The outputs TRL asked for are the ones
    computed (:func:`_requested_outputs`). Returns whether the model was patched.
    """
    if not _supported(model):
        return False
    trl_forward = model.forward
    outputs = _requested_outputs(trl_forward)

    @functools.wraps(type(model).forward)
    def forward(self, *args, fused_lm_head=False, labels=None, shift_labels=None, num_items_in_batch=None, **kwargs):
        head = self.get_output_embeddings()
        if not fused_lm_head or shift_labels is not None or head.weight.device.type != "cpu":
            return trl_forward(*args, fused_lm_head=fused_lm_head, labels=labels, shift_labels=shift_labels,
                               num_items_in_batch=num_items_in_batch, **kwargs)
        kwargs["use_cache"] = False
        hidden = self.base_model(*args, **kwargs).last_hidden_state[:, :-1]
        labels = labels[:, 1:].to(head.weight.device)
        return dense_log_probs(hidden.to(head.weight.device), head.weight, head.bias, labels, temperature,
                               num_items_in_batch, outputs)

    model.forward = types.MethodType(forward, model)
    return True


def dense_log_probs(hidden, weight, bias, labels, temperature: float = 1.0, num_items_in_batch=None,
                    outputs: tuple[str, ...] = ALL_OUTPUTS):
    """Per-token log-probabilities (and those of TRL's extra fields named in ``outputs``; the others are None, as TRL
    leaves them) of ``labels`` under ``hidden @ weight.T``; -100 = skip.

    Why this shape: every elementwise pass over the ``scored x vocab`` fp32 logits costs about as much as a tenth of
    the step's matmuls (torch.profiler on the 8-pair DPO step: sub, exp, mul, div and logsumexp over them took 5.5 s
    of 12.9 s). So one fused ``log_softmax`` (forward and backward are single kernels, where ``logsumexp`` and the
    subtraction were several passes), no division by a temperature of 1, ``probs`` reused for entropy and
    ``log_sum_sq_probs``, and nothing computed that TRL did not ask for (a reference model asks only log-probs).
    """
    import torch
    from trl.trainer.utils import FusedCausalLMOutput

    mask = labels != -100
    targets = labels[mask]
    logits = torch.nn.functional.linear(hidden[mask], weight.to(hidden.dtype),
                                        None if bias is None else bias.to(hidden.dtype))
    z = logits.float() if temperature == 1.0 else logits.float() / temperature
    log_softmax = torch.log_softmax(z, dim=-1)
    log_probs = log_softmax.gather(-1, targets[:, None]).squeeze(-1)
    probs = log_softmax.exp() if {"entropy", "log_sum_sq_probs"} & set(outputs) else None
    entropy = -(probs * log_softmax).sum(dim=-1) if "entropy" in outputs else None
    with torch.no_grad():
        log_sum_sq_probs = probs.square().sum(dim=-1).log() if "log_sum_sq_probs" in outputs else None
        mean_logits = z.mean(dim=-1) if "mean_logits" in outputs else None
        is_top1 = z.argmax(dim=-1) == targets if "is_top1" in outputs else None

    def spread(x):
        return None if x is None else x.new_zeros(mask.shape).masked_scatter(mask, x)

    log_probs = spread(log_probs)
    loss = -log_probs.sum() / (mask.sum().clamp(min=1) if num_items_in_batch is None else num_items_in_batch)
    return FusedCausalLMOutput(loss=loss, log_probs=log_probs, entropy=spread(entropy),
                               log_sum_sq_probs=spread(log_sum_sq_probs), mean_logits=spread(mean_logits),
                               is_top1=spread(is_top1), label_mask=mask, aux_loss=None)


def use_dense_lm_head_in_trainer(trainer, temperature: float = 1.0) -> bool:
    """Apply :func:`use_dense_lm_head` to a TRL trainer's policy (and separate reference model) when it runs on CPU.

    ``temperature`` must be the one the trainer gave its own head (GRPO: ``args.temperature``; DPO: 1). Skipped
    when the run asked for an fp32 LM head (``cast_lm_head_to_fp32``), is not on CPU, or ``PNS_HUB_DENSE_LM_HEAD=0``
    (keeps TRL's head, e.g. to compare the two).
    """
    import os

    from peft import PeftModel

    if os.environ.get("PNS_HUB_DENSE_LM_HEAD", "1") == "0" or trainer.accelerator.device.type != "cpu" or \
            getattr(trainer.args, "cast_lm_head_to_fp32", False):
        return False
    model = trainer.model
    patched = use_dense_lm_head(model.get_base_model() if isinstance(model, PeftModel) else model, temperature)
    if getattr(trainer, "ref_model", None) is not None:
        use_dense_lm_head(trainer.ref_model, temperature)
    return patched
