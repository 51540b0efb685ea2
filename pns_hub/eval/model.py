"""lighteval's transformers model with memory bounded by batch x length, not by the number of generated tokens.

Why a subclass: lighteval 0.13's ``GenerationParameters.to_transformers_dict`` always asks ``generate`` for
``output_scores=True, return_dict_in_generate=True``, and nothing in its transformers backend reads the scores. So
``generate`` kept one float32 ``rows x vocabulary`` tensor per generated token: for the embedded model (49,152 tokens)
at batch 32 that is 6.3 MB a step, 13 GB for 2,048 tokens (``pns-hub eval --benchmarks gsm8k --limit 150`` reached
18.2 GB RSS). Here the scores are switched off; ``return_dict_in_generate`` stays on because lighteval reads
``outputs.sequences``.

The second bound is the KV cache, which grows with rows x (prompt + new tokens). lighteval sizes each split's batch in
``_get_batch_size(max_input_length=prompt + generation size)``; with ``--batch-size`` given it takes that number as is,
so a 32-row batch of 8,192-token AIME generations would need 12 GB of fp32 cache. Here the batch is the requested one
capped by ``kv_budget_bytes``, so every split fits the same budget whatever its generation length.
"""

from __future__ import annotations

import logging

from lighteval.models.transformers.transformers_model import TransformersModel


logger = logging.getLogger(__name__)

DEFAULT_KV_BUDGET_GB = 1.5
# generate() options that make it keep a tensor per generated token; lighteval's backend reads none of them.
PER_STEP_OUTPUTS = ("output_scores", "output_logits", "output_attentions", "output_hidden_states")


def kv_bytes_per_token(config, dtype) -> int:
    """Bytes of KV cache one token of one sequence takes: layers x (K and V) x KV heads x head dim x element size."""
    import torch

    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    heads = getattr(text, "num_key_value_heads", None) or text.num_attention_heads
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    return text.num_hidden_layers * 2 * heads * head_dim * torch.empty((), dtype=dtype).element_size()


def rows_within_budget(budget_bytes: float, tokens_per_row: int, bytes_per_token: int) -> int:
    """Most rows whose KV cache for ``tokens_per_row`` tokens fits ``budget_bytes`` (at least 1: one row must run)."""
    return max(1, int(budget_bytes // max(1, tokens_per_row * bytes_per_token)))


class BoundedTransformersModel(TransformersModel):
    """``TransformersModel`` whose generation keeps no per-step outputs and whose batches fit a KV-cache budget.

    ``kv_budget_bytes`` bounds the cache of one batch, whose rows are prompts x ``num_samples`` (``generate``
    repeats each prompt ``num_return_sequences`` times before the prefill); ``sample`` turns on ``do_sample``
    (lighteval 0.13 never sets it, so with the model's default generation config a temperature is silently ignored
    and n > 1 fails).
    """

    def __init__(self, config, kv_budget_bytes: float = DEFAULT_KV_BUDGET_GB * 2**30, num_samples: int = 1,
                 sample: bool = False):
        super().__init__(config)
        self.kv_budget_bytes = kv_budget_bytes
        self.num_samples = max(1, num_samples)
        for key in PER_STEP_OUTPUTS:
            self.generation_config_dict[key] = False
        if sample:
            self.generation_config_dict["do_sample"] = True

    def _get_batch_size(self, max_input_length: int, override_bs: int | None, starting_batch_size: int = 512) -> int:
        """Prompts per batch: the requested number, fewer when their rows' KV cache would exceed the budget."""
        requested = override_bs or starting_batch_size
        per_token = kv_bytes_per_token(self.model.config, self.model.dtype)
        fits = max(1, rows_within_budget(self.kv_budget_bytes, max_input_length, per_token) // self.num_samples)
        if fits < requested:
            logger.info("batch %d -> %d prompts x %d samples: a %d-token row needs %.1f MB of KV cache (budget "
                        "%.2f GB)", requested, fits, self.num_samples, max_input_length,
                        max_input_length * per_token / 2**20, self.kv_budget_bytes / 2**30)
        return min(requested, fits)
