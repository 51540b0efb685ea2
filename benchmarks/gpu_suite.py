"""GPU stages (run only when CUDA is present; one skip row otherwise): DPO-shaped and GRPO-update-shaped training
steps on random-init Qwen2 models with Qwen2.5-0.5B's and Qwen2.5-1.5B's published shapes, in bf16, reporting
tokens/s, peak memory and MFU against the GPU's dense bf16 peak; plus generation tokens/s through pns_hub.engines.generation.

Why random weights: the GPU machines have no internet, and step time does not depend on the values. Why these two
steps: they are the per-step work of the DPO and GRPO recipes with ``precompute_ref_log_probs`` (DPO: policy
forward + backward on chosen and rejected; no reference pass) and ``beta > 0`` (GRPO: policy forward + backward on
prompt + completion, loss on the completion, plus a no-grad reference forward).

MFU = model FLOPs / step time / peak. Model FLOPs per trained token: 6 N_matmul + 12 L q_dim T (PaLM's convention,
Chowdhery et al. 2022, app. B: full attention counted, causal masking not discounted); a forward-only token costs a
third of that. N_matmul counts the LM head and not the embedding lookup (with tied embeddings the one matrix is the
LM head). The pure functions below are tested on CPU (tests/test_gpu_suite.py).

Ran on one H100 on 2026-12-06 (benchmarks/results/gpu_suite-h100.json); multi-GPU launches remain untested.
"""

from __future__ import annotations

import sys
import time

try:
    from benchmarks import _common
except ImportError:
    sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.dirname(__file__)))
    from benchmarks import _common

# Published shapes (config.json of Qwen/Qwen2.5-0.5B and Qwen/Qwen2.5-1.5B); weights are random.
SHAPES = {
    "Qwen2.5-0.5B": dict(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                         num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
                         tie_word_embeddings=True),
    "Qwen2.5-1.5B": dict(vocab_size=151936, hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                         num_attention_heads=12, num_key_value_heads=2, max_position_embeddings=32768,
                         tie_word_embeddings=True),
}
QWEN2_05B = SHAPES["Qwen2.5-0.5B"]  # kept for callers of the earlier suite
# Dense bf16 peaks (TFLOP/s, no sparsity) from the vendors' data sheets; first substring match wins, so the more
# specific names come first (A100 before A10, L40S before L40 before L4, H100 PCIe/NVL before H100 SXM).
PEAK_TFLOPS = (("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H100", 989.0), ("H200", 989.0), ("GH200", 989.0),
               ("A100", 312.0), ("A10G", 70.0), ("A10", 125.0), ("L40S", 362.0), ("L40", 181.0), ("L4", 121.0))


def peak_tflops(device_name: str) -> float | None:
    return next((v for k, v in PEAK_TFLOPS if k in device_name), None)


def matmul_params(config, total_params: int) -> int:
    """Parameters that take part in a matmul per token: all but the embedding lookup (unless it is the LM head)."""
    embedding = config.vocab_size * config.hidden_size
    return total_params if config.tie_word_embeddings else total_params - embedding


def flops_per_token(config, total_params: int, seq_len: int, train: bool = True) -> float:
    """Model FLOPs of one token at context ``seq_len``: 6N + 12 L q T (train) or a third of it (forward only)."""
    q_dim = config.num_attention_heads * (getattr(config, "head_dim", None)
                                          or config.hidden_size // config.num_attention_heads)
    train_flops = 6 * matmul_params(config, total_params) + 12 * config.num_hidden_layers * q_dim * seq_len
    return train_flops if train else train_flops / 3


def dpo_flops(config, total_params: int, pairs: int, length: int) -> float:
    """A DPO update with precomputed reference log-probs: forward + backward on 2 x pairs sequences."""
    return 2 * pairs * length * flops_per_token(config, total_params, length)


def grpo_flops(config, total_params: int, rows: int, prompt: int, completion: int) -> float:
    """A GRPO update with a reference model: policy forward + backward and reference forward on every token, minus
    the LM head on prompt tokens (``logits_to_keep`` computes logits for the completion only)."""
    seq = prompt + completion
    head = config.vocab_size * config.hidden_size
    train = rows * seq * flops_per_token(config, total_params, seq) - rows * prompt * 6 * head
    reference = rows * seq * flops_per_token(config, total_params, seq, train=False) - rows * prompt * 2 * head
    return train + reference


def mfu(flops: float, seconds: float, peak: float | None) -> float | None:
    """Model FLOPs utilisation in percent (None when the GPU's peak is unknown)."""
    return None if not peak else 100.0 * flops / seconds / (peak * 1e12)


def _token_logps(logits, labels):
    """log p(label) per position through TRL's own ``selective_log_softmax``, as its trainers compute it.

    Why TRL's: a full fp32 log-softmax over 16 x 1024 positions x Qwen's 151,936-token vocabulary holds ~10 GiB per
    copy, and its backward two more; that ran an H100 out of memory at the DPO shape (2026-12-06), which the trainers,
    computing it row by row, never do."""
    from trl.trainer.utils import selective_log_softmax

    return selective_log_softmax(logits, labels)


def dpo_step(model, optimizer, pairs: int, length: int, device) -> int:
    """One DPO update on ``pairs`` (chosen, rejected) of ``length`` tokens, reference log-probs precomputed.
    Returns the trained tokens."""
    import torch
    import torch.nn.functional as F

    ids = torch.randint(0, model.config.vocab_size, (2 * pairs, length), device=device)
    logits = model(input_ids=ids).logits[:, :-1]
    logps = _token_logps(logits, ids[:, 1:]).sum(-1)
    ref = torch.zeros_like(logps)  # precomputed reference log-probs: constants to the update
    margin = (logps[:pairs] - ref[:pairs]) - (logps[pairs:] - ref[pairs:])
    loss = -F.logsigmoid(0.1 * margin).mean()
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return ids.numel()


def grpo_step(model, ref_model, optimizer, completions: int, prompt: int, completion: int, device,
              beta: float = 0.001) -> int:
    """One GRPO update (num_iterations 1, token-level loss, k3 KL to a frozen reference) on ``completions`` rows of
    ``prompt + completion`` tokens. Returns the trained tokens."""
    import torch

    ids = torch.randint(0, model.config.vocab_size, (completions, prompt + completion), device=device)
    labels = ids[:, prompt:]
    logps = _token_logps(model(input_ids=ids, logits_to_keep=completion + 1).logits[:, :-1], labels)
    with torch.no_grad():
        ref = _token_logps(ref_model(input_ids=ids, logits_to_keep=completion + 1).logits[:, :-1], labels)
    advantages = torch.randn(completions, 1, device=device)
    ratio = torch.exp(logps - logps.detach())  # 1, with the policy gradient of the on-policy case
    kl = torch.exp(ref - logps) - (ref - logps) - 1
    loss = (-(ratio * advantages) + beta * kl).mean()
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return ids.numel()


def _timed(fn, steps: int, sync) -> float:
    """Median seconds of ``steps`` calls after one warm-up call."""
    times = []
    for _ in range(steps + 1):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    rest = sorted(times[1:])
    return rest[len(rest) // 2]


def train_rows(name: str, shape: dict, quick: bool, device="cuda", dtype=None) -> list[dict]:
    """DPO and GRPO-update rows for one shape: tokens/s, peak GiB and MFU in the notes."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    dtype = dtype or torch.bfloat16
    cuda = torch.device(device).type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    gpu = torch.cuda.get_device_name(0) if cuda else "cpu"
    config = Qwen2Config(**shape, attn_implementation="sdpa")
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config).to(device, dtype)
    if cuda:  # the GPU recipes train with activation_checkpointing: true (recipes/*/dpo, nsr, pns_generator)
        model.gradient_checkpointing_enable()
    model.train()  # checkpointing acts in training mode only
    params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6, fused=cuda)
    rows = []
    pairs, length = (2, 256) if quick else (8, 1024)
    rows.append(_row(f"GPU DPO step ({name} shapes, {pairs} pairs x {length})", gpu, params,
                     dpo_flops(config, params, pairs, length),
                     lambda: dpo_step(model, optimizer, pairs, length, device), steps=2 if quick else 10, sync=sync,
                     cuda=cuda))
    ref = Qwen2ForCausalLM(config).to(device, dtype).eval()
    rows_n, prompt, completion = (4, 128, 256) if quick else (16, 512, 1024)
    rows.append(_row(f"GPU GRPO update ({name} shapes, {rows_n} x ({prompt}+{completion}), beta>0)", gpu, params,
                     grpo_flops(config, params, rows_n, prompt, completion),
                     lambda: grpo_step(model, ref, optimizer, rows_n, prompt, completion, device),
                     steps=2 if quick else 10, sync=sync, cuda=cuda))
    del model, ref, optimizer
    if cuda:
        torch.cuda.empty_cache()
    return rows


def _row(stage, gpu, params, flops, step, steps, sync, cuda) -> dict:
    """Time ``step`` (which returns its trained tokens) and turn ``flops`` per step into MFU."""
    import torch

    if cuda:
        torch.cuda.reset_peak_memory_stats()
    tokens = step()  # a first call before timing: allocations, kernel selection
    seconds = _timed(step, steps, sync)
    util = mfu(flops, seconds, peak_tflops(gpu))
    peak_gib = torch.cuda.max_memory_allocated() / 2 ** 30 if cuda else None
    notes = f"{gpu}; {params / 1e9:.2f} B params; " + (f"MFU {util:.1f}%" if util is not None else "MFU n/a") + \
        (f"; peak {peak_gib:.1f} GiB" if peak_gib is not None else "")
    return _common.row(stage, None, round(tokens / seconds, 1), "tok/s", notes=notes,
                       mfu_percent=None if util is None else round(util, 1),
                       peak_memory_gib=None if peak_gib is None else round(peak_gib, 2))


def run(quick: bool = False) -> list[dict]:
    import torch

    if not torch.cuda.is_available():
        return [_common.row("GPU suite", None, None, "", notes="skipped: no CUDA device (untested code path)")]
    rows = []
    for name, shape in SHAPES.items():
        rows += train_rows(name, shape, quick)
    rows.append(_generation_row(quick))
    return rows


def _generation_row(quick: bool) -> dict:
    """Generation through pns_hub.engines.generation (the embedded tokenizer; its ids stay inside the Qwen vocabulary)."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from pns_hub.engines import generation

    from pns_hub import models
    from pns_hub.engines.generation import SamplingParams

    name = torch.cuda.get_device_name(0)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(Qwen2Config(**QWEN2_05B)).to("cuda", torch.bfloat16).eval()
    tokenizer = models.load_tokenizer(models.EMBEDDED_DEFAULT)
    prompts = [f"Problem {i}: compute {i} + {i * 3}." for i in range(32 if quick else 128)]
    start = time.perf_counter()
    out = generation.generate(model, tokenizer, prompts, SamplingParams(4, 64 if quick else 256, 0.7, 0.95, 0),
                              batch_size=128 if quick else 512, progress=False)
    seconds = time.perf_counter() - start
    tokens = sum(c.num_tokens for o in out for c in o)
    return _common.row("GPU generation (Qwen2.5-0.5B shapes)", None, round(tokens / seconds, 1), "tok/s",
                       notes=f"{name}; {len(prompts)} prompts x 4 samples")


def main(argv=None) -> None:
    _common.script_main(run, argv)


if __name__ == "__main__":
    main()
