"""One prompt format and one batched sampler for every stage that generates (synthesis, RM pairs, eval, trajectories).

Why batched and length-sorted: on a CPU, ``generate`` at batch 1 is bound by per-step overhead (22 tok/s for the
embedded model in fp32); batches of 32-256 prompts of similar length share each step's cost and waste little on
padding (bf16 batch 64: ~214 tok/s with ``model.generate``). Our own decode loop (:func:`_decode_compacting`) also
prefills each prompt once for all its samples and drops finished rows at once. Results are returned in input order
whatever the internal order. ``benchmarks/generation_throughput.py`` measures both paths.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass


logger = logging.getLogger(__name__)

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


def _backend() -> str:
    """``compact`` (default): our decode loop; ``hf``: ``model.generate`` (the reference path, kept for checks)."""
    value = os.environ.get("PNS_HUB_GENERATE_BACKEND", "compact").strip().lower()
    if value not in ("compact", "hf"):
        raise ValueError(f"PNS_HUB_GENERATE_BACKEND must be 'compact' or 'hf', not {value!r}")
    return value


def _pick_next(logits, sample: bool, temperature: float, top_p: float, generator):
    """Greedy argmax, or temperature + nucleus sampling (same filtering rule as transformers' TopPLogitsWarper)."""
    import torch

    if not sample:
        return logits.argmax(dim=-1)
    logits = logits.float() / temperature
    if top_p < 1.0:
        sorted_logits, sorted_idx = torch.sort(logits, descending=False)
        cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        remove = cumulative <= (1 - top_p)
        remove[..., -1:] = False  # always keep the most likely token
        logits = logits.masked_fill(remove.scatter(1, sorted_idx, remove), float("-inf"))
    return torch.multinomial(logits.softmax(dim=-1), 1, generator=generator).squeeze(1)


def _decode_compacting(model, input_ids, attention_mask, num_samples, max_new_tokens, sample, temperature, top_p,
                       eos, pad_id, generator):
    """Prefill each prompt once, fan its KV cache out to ``num_samples`` rows, then decode one token per step.

    Why not ``model.generate``: it keeps every row of the batch in every forward pass until the *last* row ends,
    so a batch whose lengths vary (sampled math solutions: 40 to 400 tokens) spends most steps on finished rows.
    Here finished rows are dropped from the KV cache at once, so step cost tracks the rows still running. The
    per-step Python work is a few tensor ops and one host sync (``any finished?``).

    Returns a ``[rows, max_new_tokens]`` tensor of new tokens (``pad_id`` after a row's end) and each row's length
    (``-1`` when it never produced an end token).
    """
    import torch
    from transformers import DynamicCache

    rows = input_ids.shape[0] * num_samples
    out = torch.full((rows, max_new_tokens), pad_id, dtype=torch.long)
    lengths = torch.full((rows,), -1, dtype=torch.long)
    if max_new_tokens <= 0:
        return out, lengths
    cache = DynamicCache(config=model.config)
    position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
    logits = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                   past_key_values=cache, use_cache=True, logits_to_keep=1).logits[:, -1, :]
    if num_samples > 1:
        cache.batch_repeat_interleave(num_samples)
        logits = logits.repeat_interleave(num_samples, dim=0)
        attention_mask = attention_mask.repeat_interleave(num_samples, dim=0)
        position_ids = position_ids.repeat_interleave(num_samples, dim=0)
    alive = torch.arange(rows)
    next_pos = position_ids[:, -1:] + 1
    eos = torch.tensor(sorted(eos), dtype=torch.long, device=logits.device)
    for step in range(max_new_tokens):
        tokens = _pick_next(logits, sample, temperature, top_p, generator)
        out[alive, step] = tokens.cpu()
        done = torch.isin(tokens, eos)
        if step == max_new_tokens - 1:
            break
        if bool(done.any()):
            lengths[alive[done.cpu()]] = step
            keep = (~done).nonzero().squeeze(1)
            if keep.numel() == 0:
                return out, lengths
            cache.batch_select_indices(keep)
            alive, tokens = alive[keep.cpu()], tokens[keep]
            attention_mask, next_pos = attention_mask[keep], next_pos[keep]
        attention_mask = torch.cat([attention_mask, attention_mask.new_ones((attention_mask.shape[0], 1))], dim=1)
        logits = model(input_ids=tokens[:, None], attention_mask=attention_mask, position_ids=next_pos,
                       past_key_values=cache, use_cache=True).logits[:, -1, :]
        next_pos = next_pos + 1
    if max_new_tokens:
        final = torch.isin(out[alive, max_new_tokens - 1], eos.cpu())
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
