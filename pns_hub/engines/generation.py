"""One prompt format and one batched sampler for every stage that generates (synthesis, RM pairs, eval, trajectories).

Why batched and length-sorted: on a CPU, ``generate`` at batch 1 is bound by per-step overhead; batches of 32-256
prompts of similar length share each step's cost and waste little on padding. Our own decode loop
(:func:`_decode_compacting`) also prefills each prompt once for all its samples, writes the KV cache into
preallocated buffers and drops finished rows in batches. Results are returned in input order.
``benchmarks/generation_throughput.py`` measures this loop against ``model.generate`` (fp32 and bf16), transformers'
continuous batching and OpenVINO on the same work; the figures live in ``benchmarks/results/``, not here.
"""

from __future__ import annotations

import functools
import logging
import math
import os
from dataclasses import dataclass


logger = logging.getLogger(__name__)

# transformers versions whose DynamicLayer internals the preallocated cache below was tested against
# (tests/test_perf_defaults.py fails on any other, so an upgrade is checked rather than trusted).
CHECKED_TRANSFORMERS = ("5.23.0",)
SYSTEM_PROMPT = None  # the embedded model's template adds its own default system message
PROMPT_TEMPLATE = (
    "Solve the following math problem. Reason step by step, then give the final answer in \\boxed{{}}.\n\n{problem}"
)


def build_prompt(problem: str) -> list[dict]:
    """Conversational prompt (TRL's format) used by synthesis, training and the lighteval tasks alike."""
    messages = [{"role": "system", "content": SYSTEM_PROMPT}] if SYSTEM_PROMPT else []
    return messages + [{"role": "user", "content": PROMPT_TEMPLATE.format(problem=problem)}]


@dataclass
class Completion:
    """One sampled completion: its text, how many tokens it took, and whether it hit the length limit."""

    text: str
    num_tokens: int
    truncated: bool


@dataclass
class SamplingParams:
    """Sampling settings recorded next to every generated row, so a dataset says how it was made."""

    num_samples: int = 1
    max_new_tokens: int = 256
    temperature: float = 0.7
    top_p: float = 0.95
    seed: int = 0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _render(tokenizer, prompt) -> str:
    if isinstance(prompt, str):
        return prompt
    return tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)


def _eos_ids(model, tokenizer) -> set[int]:
    ids = {tokenizer.eos_token_id, tokenizer.pad_token_id} - {None}
    configured = getattr(model.generation_config, "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids |= set(configured)
    return ids


BACKENDS = ("auto", "compact", "hf", "openvino")


def _backend() -> str:
    """``auto`` (default): OpenVINO for fixed models on a CPU where it is installed and serves their dtype (f32, or
    bf16 where native), else our loop (:mod:`pns_hub.engines.backends`); ``compact``: our decode loop; ``hf``:
    ``model.generate`` (the reference path, kept for checks); ``openvino``: OpenVINO GenAI for fixed models. A model
    held in memory (being trained) always runs in torch (our loop, or ``model.generate`` under ``hf``)."""
    value = os.environ.get("PNS_HUB_GENERATE_BACKEND", "auto").strip().lower()
    if value not in BACKENDS:
        raise ValueError(f"PNS_HUB_GENERATE_BACKEND must be one of {BACKENDS}, not {value!r}")
    return value


def _nucleus(logits, top_p: float):
    """Each row's nucleus (top-p) distribution, renormalised and sorted, plus the token ids in that order.

    Same rule as transformers' TopPLogitsWarper (a token stays when the tokens more likely than it hold less than
    ``top_p`` of the mass; the most likely always stays), written so a test can compare the two distributions.
    """
    probs, idx = logits.softmax(dim=-1).sort(dim=-1, descending=True)
    keep = (probs.cumsum(dim=-1) - probs) < top_p
    keep[:, 0] = True
    probs = probs.masked_fill(~keep, 0.0)
    return probs / probs.sum(dim=-1, keepdim=True), idx


def _pick_next(logits, sample: bool, temperature: float, top_p: float, generator):
    """Greedy argmax, or temperature + nucleus sampling (see :func:`_nucleus`)."""
    import torch

    if not sample:
        return logits.argmax(dim=-1)
    logits = logits.float() / temperature
    if top_p >= 1.0:
        return torch.multinomial(logits.softmax(dim=-1), 1, generator=generator).squeeze(1)
    probs, idx = _nucleus(logits, top_p)
    return idx.gather(1, torch.multinomial(probs, 1, generator=generator)).squeeze(1)


@functools.lru_cache(maxsize=1)
def _preallocated_layer_class():
    """A KV-cache layer that writes each step into a buffer sized once, instead of concatenating.

    Why: ``DynamicLayer`` grows by ``torch.cat`` every step, which copies the whole cache (rows x context x layers)
    every step.
    Here a step writes one column in place; attention reads a view of the filled part. Dropping finished rows
    compacts the buffer in place, over the filled part only. Built on first use so that importing this module
    does not import transformers.
    """
    from transformers.cache_utils import DynamicLayer

    return _make_preallocated_layer(DynamicLayer)


def _make_preallocated_layer(base):
    class PreallocatedLayer(base):
        def __init__(self, capacity: int):
            super().__init__()
            self.capacity = capacity
            self.length = 0

        def lazy_initialization(self, key_states, value_states) -> None:
            self.dtype, self.device = key_states.dtype, key_states.device
            rows, heads, _, dim = key_states.shape
            self._k = key_states.new_empty((rows, heads, self.capacity, dim))
            self._v = value_states.new_empty((rows, value_states.shape[1], self.capacity, value_states.shape[-1]))
            self.is_initialized = True

        def _grow(self, needed: int) -> None:
            """Only reached if a caller under-sized the buffer: double it (one copy) rather than fail."""
            capacity = max(needed, 2 * self.capacity)
            for name in ("_k", "_v"):
                old = getattr(self, name)
                new = old.new_empty(old.shape[:2] + (capacity,) + old.shape[3:])
                new[:, :, :self.length] = old[:, :, :self.length]
                setattr(self, name, new)
            self.capacity = capacity

        def update(self, key_states, value_states, *args, **kwargs):
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            end = self.length + key_states.shape[-2]
            if end > self.capacity:
                self._grow(end)
            self._k[:, :, self.length:end] = key_states
            self._v[:, :, self.length:end] = value_states
            self.length = end
            self.keys, self.values = self._k[:, :, :end], self._v[:, :, :end]
            return self.keys, self.values

        def get_seq_length(self) -> int:
            return self.length

        def batch_repeat_interleave(self, repeats: int) -> None:
            if self.length:
                for name in ("_k", "_v"):
                    old = getattr(self, name)
                    new = old.new_empty((old.shape[0] * repeats,) + old.shape[1:])
                    new[:, :, :self.length] = old[:, :, :self.length].repeat_interleave(repeats, dim=0)
                    setattr(self, name, new)
                self.keys, self.values = self._k[:, :, :self.length], self._v[:, :, :self.length]

        def batch_select_indices(self, indices) -> None:
            if self.length:
                n = indices.numel()
                for name in ("_k", "_v"):
                    buf = getattr(self, name)
                    buf[:n, :, :self.length] = buf[indices, :, :self.length]  # RHS is a copy: safe in place
                    setattr(self, name, buf[:n])
                self.keys, self.values = self._k[:, :, :self.length], self._v[:, :, :self.length]

    return PreallocatedLayer


def _new_cache(model, capacity: int):
    """A cache with preallocated layers when every layer is plain full attention; the stock one otherwise."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    cache = DynamicCache(config=model.config)
    if cache.layers and all(type(layer) is DynamicLayer for layer in cache.layers):
        layer = _preallocated_layer_class()
        cache.layers = [layer(capacity) for _ in cache.layers]
    return cache


def _compact_threshold() -> float:
    """Share of finished rows that triggers compaction (``PNS_HUB_COMPACT_AT``; 0 = compact on every finish)."""
    return float(os.environ.get("PNS_HUB_COMPACT_AT", "0.5"))


def _decode_compacting(model, input_ids, attention_mask, num_samples, max_new_tokens, sample, temperature, top_p,
                       eos, pad_id, generator):
    """Prefill each prompt once, fan its KV cache out to ``num_samples`` rows, then decode one token per step.

    Why not ``model.generate``: it keeps every row of the batch in every forward pass until the *last* row ends,
    so a batch whose lengths vary (sampled math solutions: 40 to 400 tokens) spends most steps on finished rows.
    Here finished rows are dropped from the batch once they are half of it (``PNS_HUB_COMPACT_AT``):
    compacting copies the live cache, so doing it on every finish costs more than carrying dead rows for a while.
    Dead rows are fed a pad token and their output is ignored. The KV cache is preallocated
    for prompt + ``max_new_tokens`` (see :func:`_preallocated_layer_class`). One host sync per step (``any finished?``).

    Returns a ``[rows, max_new_tokens]`` tensor of new tokens (``pad_id`` after a row's end) and each row's length
    (``-1`` when it never produced an end token).
    """
    import torch

    rows = input_ids.shape[0] * num_samples
    out = torch.full((rows, max_new_tokens), pad_id, dtype=torch.long)
    lengths = torch.full((rows,), -1, dtype=torch.long)
    if max_new_tokens <= 0:
        return out, lengths
    cache = _new_cache(model, input_ids.shape[1] + max_new_tokens)
    position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
    logits = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                   past_key_values=cache, use_cache=True, logits_to_keep=1).logits[:, -1, :]
    if num_samples > 1:
        cache.batch_repeat_interleave(num_samples)
        logits = logits.repeat_interleave(num_samples, dim=0)
        attention_mask = attention_mask.repeat_interleave(num_samples, dim=0)
        position_ids = position_ids.repeat_interleave(num_samples, dim=0)
    # Attention mask for prompt + every new token, filled up front; step t reads the first prompt_len + t + 1.
    prompt_len = attention_mask.shape[1]
    mask = torch.cat([attention_mask, attention_mask.new_ones((rows, max_new_tokens))], dim=1)
    alive = torch.arange(rows)  # output row of each batch row
    live = torch.ones(rows, dtype=torch.bool)  # batch rows still generating (dead ones wait for compaction)
    next_pos = position_ids[:, -1:] + 1
    eos = torch.tensor(sorted(eos), dtype=torch.long, device=logits.device)
    threshold = _compact_threshold()
    for step in range(max_new_tokens):
        tokens = _pick_next(logits, sample, temperature, top_p, generator)
        cpu_tokens = tokens.cpu()
        out[alive[live], step] = cpu_tokens[live]
        done = torch.isin(cpu_tokens, eos.cpu()) & live
        if step == max_new_tokens - 1:
            break
        if bool(done.any()):
            lengths[alive[done]] = step
            live &= ~done
            dead = int((~live).sum())
            if not bool(live.any()):
                return out, lengths
            if dead >= max(1, threshold * live.numel()):
                keep = live.nonzero().squeeze(1)
                cache.batch_select_indices(keep.to(tokens.device))
                alive, live = alive[keep], live[keep]
                tokens, mask, next_pos = tokens[keep.to(tokens.device)], mask[keep], next_pos[keep]
        tokens = torch.where(live.to(tokens.device), tokens, torch.full_like(tokens, pad_id))
        logits = model(input_ids=tokens[:, None], attention_mask=mask[:, :prompt_len + step + 1],
                       position_ids=next_pos, past_key_values=cache, use_cache=True).logits[:, -1, :]
        next_pos = next_pos + 1
    final = live & torch.isin(out[alive, max_new_tokens - 1], eos.cpu())
    lengths[alive[final]] = max_new_tokens - 1
    return out, lengths


def generate(
    model,
    tokenizer,
    prompts: list,
    params: SamplingParams | None = None,
    batch_size: int = 32,
    progress: bool = True,
    desc: str = "generate",
) -> list[list[Completion]]:
    """Sample ``params.num_samples`` completions for each prompt (chat messages or a rendered string).

    Prompts are sorted by length and run in batches of ``batch_size`` sequences (each prompt repeated
    ``num_samples`` times within its batch); ``temperature == 0`` means greedy. Seeds are set per batch so a rerun
    of the same inputs yields the same outputs. Larger batches pay off on CPU (64-256 rows): finished rows leave
    the batch, so a long straggler no longer costs a full batch's work per step.
    ``PNS_HUB_GENERATE_BACKEND=hf`` switches to ``model.generate`` (the reference path the benchmarks compare to).
    """
    import torch

    params = params or SamplingParams()
    backend = _backend()
    texts = [_render(tokenizer, p) for p in prompts]
    encoded = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
    per_batch = max(1, batch_size // max(1, params.num_samples))
    results: list[list[Completion]] = [[] for _ in texts]
    eos_ids = _eos_ids(model, tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(eos_ids)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(texts) * params.num_samples, desc=desc, unit="seq")
    device = next(model.parameters()).device
    sample = params.temperature > 0
    for b in range(math.ceil(len(order) / per_batch)):
        idx = order[b * per_batch:(b + 1) * per_batch]
        batch = tokenizer.pad({"input_ids": [encoded[i] for i in idx]}, return_tensors="pt", padding=True)
        batch = {k: v.to(device) for k, v in batch.items()}
        torch.manual_seed(params.seed + b)
        with torch.inference_mode():
            if backend == "hf":
                out = model.generate(
                    **batch,
                    max_new_tokens=params.max_new_tokens,
                    do_sample=sample,
                    temperature=params.temperature if sample else None,
                    top_p=params.top_p if sample else None,
                    top_k=None,
                    num_return_sequences=params.num_samples,
                    pad_token_id=tokenizer.pad_token_id,
                )
                new = out[:, batch["input_ids"].shape[1]:].tolist()
            else:
                generator = torch.Generator(device=device).manual_seed(params.seed + b)
                out, _ = _decode_compacting(
                    model, batch["input_ids"], batch["attention_mask"], params.num_samples, params.max_new_tokens,
                    sample, params.temperature, params.top_p, eos_ids, pad_id, generator,
                )
                new = out.tolist()
        for row, tokens in enumerate(new):
            source = idx[row // params.num_samples]
            length = next((k for k, t in enumerate(tokens) if t in eos_ids), None)
            truncated = length is None
            kept = tokens if truncated else tokens[:length]
            results[source].append(Completion(tokenizer.decode(kept, skip_special_tokens=True), len(kept), truncated))
        if bar:
            bar.update(len(idx) * params.num_samples)
    if bar:
        bar.close()
    return results
