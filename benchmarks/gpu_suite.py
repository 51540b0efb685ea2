"""GPU stages (run only when CUDA is present; skipped cleanly otherwise): a random-init Qwen2 model with the
0.5B shapes (no checkpoint download) — DPO-style training step MFU and generation tokens/s, with the GPU named.

UNTESTED: written on a CPU-only machine; no GPU was available when it was written.
"""

from __future__ import annotations

import sys
import time

try:
    from benchmarks import _common
except ImportError:
    sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.dirname(__file__)))
    from benchmarks import _common

# Qwen2.5-0.5B's published shapes; weights are random (throughput does not depend on them).
QWEN2_05B = dict(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                 num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=4096, tie_word_embeddings=True)
# Dense bf16 peaks (TFLOP/s) for MFU; unknown GPUs report MFU as None.
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L4": 121.0, "A10": 125.0, "L40": 181.0}


def _peak(name: str) -> float | None:
    return next((v for k, v in PEAK_TFLOPS.items() if k in name), None)


def run(quick: bool = False) -> list[dict]:
    import torch

    if not torch.cuda.is_available():
        return [_common.row("GPU suite", None, None, "", notes="skipped: no CUDA device (untested code path)")]
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from pns_hub import generation
    from pns_hub.generation import SamplingParams
    from pns_hub import models

    name = torch.cuda.get_device_name(0)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(Qwen2Config(**QWEN2_05B)).to("cuda", torch.bfloat16)
    params = sum(p.numel() for p in model.parameters())
    rows = []
    # Training step: chosen+rejected of 8 pairs x 512 tokens through policy fwd+bwd (+ a no-grad reference pass).
    batch, length, steps = (16, 256, 3) if quick else (16, 512, 10)
    x = torch.randint(0, QWEN2_05B["vocab_size"], (batch, length), device="cuda")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-6)
    times = []
    for _ in range(steps + 1):
        torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.no_grad():
            model(input_ids=x)  # reference pass (naive DPO)
        loss = model(input_ids=x, labels=x).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    step = sorted(times[1:])[len(times[1:]) // 2]
    flops = 8 * params * batch * length  # 6NT policy + 2NT reference
    peak = _peak(name)
    rows.append(_common.row(f"GPU DPO-shaped step (Qwen2 0.5B shapes, {batch}x{length})", None, round(step, 3),
                            "s/step", higher_is_better=False,
                            notes=f"{name}; MFU {100 * flops / step / 1e12 / peak:.1f}%" if peak else name))
    # Generation through pns_hub.generation (the tokenizer is the embedded one; ids stay in the Qwen vocab).
    tokenizer = models.load_tokenizer(models.EMBEDDED_DEFAULT)
    model.eval()
    prompts = [f"Problem {i}: compute {i} + {i * 3}." for i in range(32 if quick else 128)]
    start = time.perf_counter()
    out = generation.generate(model, tokenizer, prompts, SamplingParams(4, 64 if quick else 256, 0.7, 0.95, 0),
                              batch_size=128 if quick else 512, progress=False)
    seconds = time.perf_counter() - start
    tokens = sum(c.num_tokens for o in out for c in o)
    rows.append(_common.row("GPU generation (Qwen2 0.5B shapes)", None, round(tokens / seconds, 1), "tok/s",
                            notes=f"{name}; {len(prompts)} prompts x 4 samples"))
    return rows


def main(argv=None) -> None:
    _common.script_main(run, argv)


if __name__ == "__main__":
    main()
