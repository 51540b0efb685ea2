"""Generation tokens/s on the embedded model: naive (fp32, batch 1, ``model.generate``) vs tuned (best dtype,
large length-sorted batches, our compacting decode loop), both through ``pns_hub.generation.generate``.

Quality checks run in the same script: greedy outputs of the tuned loop must equal ``model.generate``'s on the same
weights, and the share of sampled completions with a parseable final answer is reported for both paths.
"""

from __future__ import annotations

import os
import sys
import time

try:
    from benchmarks import _common
except ImportError:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from benchmarks import _common


def _timed_generate(model, tokenizer, prompts, params, batch_size, backend) -> tuple[list, float]:
    from pns_hub import generation

    previous = os.environ.get("PNS_HUB_GENERATE_BACKEND")
    os.environ["PNS_HUB_GENERATE_BACKEND"] = backend
    try:
        start = time.perf_counter()
        out = generation.generate(model, tokenizer, prompts, params, batch_size=batch_size, progress=False)
        return out, time.perf_counter() - start
    finally:
        if previous is None:
            os.environ.pop("PNS_HUB_GENERATE_BACKEND", None)
        else:
            os.environ["PNS_HUB_GENERATE_BACKEND"] = previous


def greedy_matches(model, tokenizer, prompts, max_new_tokens: int = 24) -> bool:
    """Tuned loop vs ``model.generate`` under greedy decoding, one prompt at a time (no padding effects)."""
    from pns_hub.generation import SamplingParams

    params = SamplingParams(num_samples=1, max_new_tokens=max_new_tokens, temperature=0.0)
    ref, _ = _timed_generate(model, tokenizer, prompts, params, 1, "hf")
    new, _ = _timed_generate(model, tokenizer, prompts, params, 1, "compact")
    return [c[0].text for c in ref] == [c[0].text for c in new]


def run(quick: bool = False) -> list[dict]:
    import torch

    from pns_hub import data, generation, models, verify
    from pns_hub.generation import SamplingParams

    models.configure_threads()
    rows = data.load_problems("gsm8k", limit=64)
    prompts = [generation.build_prompt(r["problem"]) for r in rows]
    tokenizer = models.load_tokenizer(models.EMBEDDED_DEFAULT)
    naive_n, new_tokens = (2, 32) if quick else (4, 128)
    tuned_prompts, samples, batch = (16, 4, 64) if quick else (64, 4, 256)
    load0 = _common.load_avg()

    fp32 = models.load_model(models.EMBEDDED_DEFAULT, dtype=torch.float32)
    naive_out, naive_s = _timed_generate(fp32, tokenizer, prompts[:naive_n],
                                         SamplingParams(1, new_tokens, 0.7, 0.95, 0), 1, "hf")
    tuned_model = models.load_model(models.EMBEDDED_DEFAULT, dtype="auto")
    greedy_ok = greedy_matches(tuned_model, tokenizer, prompts[:3], 16 if quick else 32)
    tuned_out, tuned_s = _timed_generate(tuned_model, tokenizer, prompts[:tuned_prompts],
                                         SamplingParams(samples, new_tokens, 0.7, 0.95, 0), batch, "compact")
    del fp32
    naive_tok = sum(c.num_tokens for o in naive_out for c in o)
    tuned_tok = sum(c.num_tokens for o in tuned_out for c in o)
    parse = lambda out: sum(verify.extract_answer(c.text)[0] is not None for o in out for c in o) / sum(map(len, out))  # noqa: E731
    params = sum(p.numel() for p in tuned_model.parameters())
    tuned_rate = tuned_tok / tuned_s
    return [_common.row(
        "generation (embedded 135M)", round(naive_tok / naive_s, 1), round(tuned_rate, 1), "tok/s",
        achieved_gflops=round(2 * params * tuned_rate / 1e9, 1),
        roofline="bf16_gflops" if tuned_model.dtype == torch.bfloat16 else "fp32_gflops",
        greedy_identical=greedy_ok,
        notes=(f"naive fp32 bs1 model.generate {naive_n}x{new_tokens}; tuned {tuned_model.dtype} compacting loop "
               f"{tuned_prompts} prompts x {samples} samples, batch {batch}, {new_tokens} new; greedy tuned==HF: "
               f"{greedy_ok}; parseable answers naive {parse(naive_out):.0%} tuned {parse(tuned_out):.0%}; "
               f"load {load0}->{_common.load_avg()}"))]


def main(argv=None) -> None:
    _common.script_main(run, argv)


if __name__ == "__main__":
    main()
