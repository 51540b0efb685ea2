"""Generation on the embedded model, same work through every path, one variable at a time.

Work: the first P GSM8K prompts x S samples x N new tokens (T 0.7, top_p 0.95, seed 0), all P x S rows in one batch,
through (a) ``model.generate`` fp32, (b) ``model.generate`` bf16, (c) our compacting loop
(``pns_hub.engines.generation``) in fp32 and bf16, (d) transformers' continuous batching (``generate_batch``), and
(e) ``openvino_genai.ContinuousBatchingPipeline`` through :mod:`pns_hub.engines.openvino` (f32, the ``[openvino]``
extra; its exporter runs in a pinned environment of its own) and (f) the same engine in bf16 (compute and KV cache;
only where the CPU has native bf16). Each row: generated tokens/s (tokens up to and
including EOS), the peak RSS of that path (``pns_hub.memory.PeakRSS``), and the share of the roofline-implied rate, measured bf16 matmul
peak / (2 x parameters) tokens/s (the rate if every weight were used once per token at the bf16 peak); where fp32
matmuls are faster than bf16 (no native bf16), the fp32 peak, and the bf16 paths are skipped with the two peaks
named (``BF16_MIN_SHARE``).

Quality, on the same prompts: greedy decoding of the first 4 prompts (32 tokens) through each path, compared with
``model.generate`` in the same dtype (tokens must be equal) and, across dtypes, the share of tokens equal before the
first divergence (bf16 rounding may flip a near-tie; this is reported, not required).

Which dtype is faster is measured, not assumed: without AVX512-BF16/AMX, bf16 matmuls are emulated (this script
names the CPU's bf16 flags); the summary row takes the faster of our loop's dtypes, against ``model.generate``
in that dtype. ``--shape P,S,N`` changes the
work (default 64,4,128, the synthesis shape of issue 14; ``--quick`` 8,2,32); ``--paths a,b,e`` runs those paths only
(the (c) key runs both of our loop's rows).
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


SAMPLING = {"temperature": 0.7, "top_p": 0.95, "seed": 0}
BF16_MIN_SHARE = 0.5  # run bf16 paths only where bf16 matmuls reach this share of the fp32 peak
GREEDY_PROMPTS, GREEDY_TOKENS = 4, 32


def ours(backend: str, model, tokenizer, prompts, samples: int, new_tokens: int, temperature: float):
    """(text, generated tokens incl. EOS) per row via ``pns_hub.engines.generation.generate``: ``hf`` = model.generate,
    ``compact`` = our loop; one batch of all rows."""
    from pns_hub.engines import generation
    from pns_hub.engines.generation import SamplingParams

    params = SamplingParams(samples, new_tokens, temperature, SAMPLING["top_p"], SAMPLING["seed"])
    out = _common.with_generate_backend(backend, lambda: generation.generate(model, tokenizer, prompts, params,
                                                              batch_size=len(prompts) * samples, progress=False))
    return [(c.text, c.num_tokens + (0 if c.truncated else 1)) for o in out for c in o]


def continuous(model, tokenizer, prompts, samples: int, new_tokens: int, temperature: float):
    """transformers' continuous batching (``generate_batch``) on the same prompts; one request per sample."""
    from transformers import GenerationConfig

    from pns_hub.engines.generation import _render

    ids = [tokenizer(_render(tokenizer, p), add_special_tokens=False)["input_ids"] for p in prompts]
    config = GenerationConfig(max_new_tokens=new_tokens, do_sample=temperature > 0,
                              temperature=temperature if temperature > 0 else None,
                              top_p=SAMPLING["top_p"] if temperature > 0 else None, top_k=None,
                              eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    inputs = [i for i in ids for _ in range(samples)]
    # Sized explicitly: left to itself the paged cache takes a share of *free memory* (80-90%, meant for a GPU); on
    # this CPU box an 8 x 2 x 32 run was OOM-killed at 11 GB RSS. Pages for every row's prompt + new tokens, and
    # batches of at most 512 tokens (the logits of a batch are tokens x vocabulary floats).
    from transformers.generation.configuration_utils import ContinuousBatchingConfig

    page = 256
    pages = sum(-(-(len(i) + new_tokens) // page) for i in inputs)
    cb = ContinuousBatchingConfig(page_size=page, num_blocks=pages + 1, max_batch_tokens=512,
                                  max_requests_per_batch=len(inputs))
    results = model.generate_batch(inputs=inputs, generation_config=config, continuous_batching_config=cb,
                                   progress_bar=False)
    return [(tokenizer.decode(r.generated_tokens, skip_special_tokens=True), len(r.generated_tokens))
            for r in results.values()]


def openvino_path(model, tokenizer, prompts, samples: int, new_tokens: int, temperature: float,
                  dtype: str = "float32"):
    """``pns_hub.engines.openvino`` on the embedded model's export (weights' compute and KV cache in ``dtype``);
    ``model`` is unused: the engine runs the exported twin of the same weights. One call, all rows resident (as the
    other paths)."""
    from pns_hub import models
    from pns_hub.engines import openvino as openvino_backend
    from pns_hub.engines.generation import SamplingParams

    params = SamplingParams(samples, new_tokens, temperature, SAMPLING["top_p"], SAMPLING["seed"])
    out = openvino_backend.generate(models.EMBEDDED_DEFAULT, prompts, params, batch_size=len(prompts) * samples,
                                    progress=False, dtype=dtype)
    return [(c.text, c.num_tokens + (0 if c.truncated else 1)) for o in out for c in o]


def _count(rows) -> int:
    return sum(n for _, n in rows)


def _timed(fn):
    from pns_hub.memory import PeakRSS

    with PeakRSS() as memory:
        start = time.perf_counter()
        rows = fn()
        seconds = time.perf_counter() - start
    return rows, seconds, memory.peak_mb


def greedy_texts(fn, model, tokenizer, prompts) -> list[str]:
    """Greedy continuations of the first prompts, one prompt at a time (no padding effects), as text."""
    rows = []
    for p in prompts[:GREEDY_PROMPTS]:
        rows.append(fn(model, tokenizer, [p], 1, GREEDY_TOKENS, 0.0)[0][0])
    return rows


def prefix_share(a: list[str], b: list[str], tokenizer) -> float:
    """Share of ``a``'s tokens that equal ``b``'s before the first difference (1.0 = identical)."""
    same = total = 0
    for x, y in zip(a, b):
        tx, ty = tokenizer(x)["input_ids"], tokenizer(y)["input_ids"]
        k = next((i for i, (u, v) in enumerate(zip(tx, ty)) if u != v), min(len(tx), len(ty)))
        same, total = same + k, total + max(len(tx), 1)
    return round(same / max(total, 1), 3)


def _shape(quick: bool) -> tuple[int, int, int]:
    if given := _common.option("shape"):
        return tuple(int(x) for x in given.split(","))
    return (8, 2, 32) if quick else (64, 4, 128)


def run(quick: bool = False, shape: tuple[int, int, int] | None = None) -> list[dict]:
    import torch

    from benchmarks.roofline import matmul_gflops
    from pns_hub.data import problems as data
    from pns_hub.engines import generation
    from pns_hub import models
    models.configure_threads()
    P, S, N = shape or _shape(quick)
    prompts = [generation.build_prompt(r["problem"]) for r in data.load_problems("gsm8k", limit=P)]
    tokenizer = models.load_tokenizer(models.EMBEDDED_DEFAULT)
    bf16_peak = matmul_gflops(torch.bfloat16, seconds=0.5 if quick else 2.0)
    fp32_peak = matmul_gflops(torch.float32, seconds=0.5 if quick else 2.0)
    # bf16 paths run only where bf16 matmuls are not far slower than fp32: without AVX512-BF16/AMX torch falls back
    # to a scalar bf16 dot kernel (seen in gdb on a Zen 3 EPYC: at::native::AVX2::bf16_dot_with_fp32_arith), and a
    # bf16 row would take hours to say what the peaks already say.
    run_bf16 = bf16_peak >= BF16_MIN_SHARE * fp32_peak
    dtypes = (torch.float32, torch.bfloat16) if run_bf16 else (torch.float32,)
    weights = {dt: models.load_model(models.EMBEDDED_DEFAULT, dtype=dt) for dt in dtypes}
    params = sum(p.numel() for p in weights[torch.float32].parameters())
    implied = max(bf16_peak, fp32_peak) * 1e9 / (2 * params)
    best_dtype = "bf16" if bf16_peak > fp32_peak else "fp32"
    paths = [("a", "model.generate fp32", torch.float32, lambda *a: ours("hf", *a)),
             ("b", "model.generate bf16", torch.bfloat16, lambda *a: ours("hf", *a)),
             ("c", "our loop fp32", torch.float32, lambda *a: ours("compact", *a)),
             ("c", "our loop bf16", torch.bfloat16, lambda *a: ours("compact", *a)),
             ("d", "continuous batching (generate_batch) fp32", torch.float32, continuous)]
    from pns_hub.engines import openvino as openvino_backend
    if openvino_backend.available():
        openvino_backend.export(models.EMBEDDED_DEFAULT)  # once, untimed: the export is cached by content
        paths.append(("e", "openvino-genai ContinuousBatchingPipeline f32", torch.float32, openvino_path))
        if models.cpu_supports_bf16():  # the engine runs bf16 only natively (pns_hub.engines.openvino.precision)
            paths.append(("f", "openvino-genai ContinuousBatchingPipeline bf16", torch.bfloat16,
                          lambda *a: openvino_path(*a, dtype="bfloat16")))
    chosen = _common.option("paths")
    paths = [p for p in paths if chosen is None or p[0] in chosen.split(",")]
    # the quality reference is model.generate in each dtype, whichever paths run
    reference = {dt: greedy_texts(lambda *a: ours("hf", *a), weights[dt], tokenizer, prompts) for dt in weights}
    load0, rows, rates = _common.load_avg(), [], {}
    for key, name, dtype, fn in paths:
        if dtype not in weights:
            rows.append(_common.row(f"generation ({key}) {name}", None, None, "tok/s",
                                    notes=f"not run: bf16 matmul {bf16_peak:.0f} GFLOP/s < {BF16_MIN_SHARE:.0%} of "
                                          f"fp32 {fp32_peak:.0f} GFLOP/s on this CPU (emulated bf16)"))
            continue
        try:
            greedy = greedy_texts(fn, weights[dtype], tokenizer, prompts)
            out, seconds, peak = _timed(lambda: fn(weights[dtype], tokenizer, prompts, S, N, SAMPLING["temperature"]))
        except Exception as err:  # noqa: BLE001 - one failing path must not lose the others' figures
            rows.append(_common.row(f"generation ({key}) {name}", None, None, "tok/s", notes=f"FAILED: {err!r}"[:300]))
            continue
        rate = _count(out) / seconds
        rates[name] = rate
        same = greedy == reference[dtype]
        rows.append(_common.row(
            f"generation ({key}) {name}", None, round(rate, 1), "tok/s", peak_rss_mb=round(peak, 1),
            achieved_gflops=round(2 * params * rate / 1e9, 1), roofline=f"{best_dtype}_gflops",
            greedy_equal_same_dtype=same,
            notes=(f"{P} prompts x {S} samples x {N} new, one batch of {P * S} rows; {_count(out)} tokens in "
                   f"{seconds:.1f}s; {rate / implied:.0%} of the roofline-implied {implied:.0f} tok/s ({best_dtype} "
                   f"peak / 2 x {params / 1e6:.0f}M params); greedy "
                   f"{GREEDY_PROMPTS}x{GREEDY_TOKENS} equal to model.generate {str(dtype)[6:]}: {same}; tokens "
                   f"before first divergence vs fp32 generate: {prefix_share(greedy, reference[torch.float32], tokenizer):.0%}")))
    if not openvino_backend.available():
        rows.append(_common.row("generation (e) openvino-genai ContinuousBatchingPipeline", None, None, "tok/s",
                                notes="not run: pip install 'pns-hub[openvino]'"))
    best = max((n for n in rates if n.startswith("our loop")), key=rates.get, default=None)
    base = rates.get(best.replace("our loop", "model.generate")) if best else None
    if best and base:
        rows.append(_common.row(f"generation: {best} vs model.generate, same dtype", round(base, 1),
                                round(rates[best], 1), "tok/s", notes="same work, batch and dtype"))
    engine, reference = rates.get("openvino-genai ContinuousBatchingPipeline f32"), rates.get("model.generate fp32")
    if engine and reference:
        rows.append(_common.row("generation: openvino-genai f32 vs model.generate fp32", round(reference, 1),
                                round(engine, 1), "tok/s", notes="same work, rows and dtype"))
    engine_bf16 = rates.get("openvino-genai ContinuousBatchingPipeline bf16")
    if engine and engine_bf16:
        rows.append(_common.row("generation: openvino-genai bf16 vs f32", round(engine, 1), round(engine_bf16, 1),
                                "tok/s", notes="same work and engine; only the precision differs"))
    fastest = max(rates, key=rates.get, default=None)
    generate_bf16 = rates.get("model.generate bf16")
    if fastest and generate_bf16:  # issue 14's goal: >= 2x model.generate bf16 at the same batch
        rows.append(_common.row(f"generation: fastest ({fastest}) vs model.generate bf16", round(generate_bf16, 1),
                                round(rates[fastest], 1), "tok/s", notes="same prompts, samples, lengths, rows"))
    cpu = " + ".join(models.cpuinfo_bf16_flags()) or "no native bf16 (emulated)"
    for r in rows:
        r["notes"] = (r.get("notes", "") + f"; bf16 peak {bf16_peak:.0f} vs fp32 {fp32_peak:.0f} GFLOP/s ({cpu}); "
                      f"load {load0}->{_common.load_avg()}")
    return rows


def main(argv=None) -> None:
    _common.script_main(run, argv)


if __name__ == "__main__":
    main()
