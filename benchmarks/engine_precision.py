"""Does the engine or its precision change what a model scores? Greedy accuracy on the testbed, same problems, through
our loop and OpenVINO, each in f32 and (where the CPU has native bf16) bf16.

Why: OpenVINO serves bf16 requests where the CPU runs bf16 natively (#14: faster), and bf16 rounding changes greedy
tokens, so "same tokens" cannot be its check; the same accuracy on the same problems can. Each row: accuracy with its
Wilson 95% interval and n, tokens/s; each comparison: paired bootstrap of the per-problem difference (95%) and how
many completions are identical. The reference is our loop in f32.

Model: ``--model=PATH`` (default ``outputs/demo/hub/smollm2-135m-testbed-sft``, the warm-up model ``make demo``
trains, which solves a share of the testbed: an untrained model scoring ~0 would compare two zeros); ``--limit=N``
problems (default 500; ``--quick`` 20 at 64 tokens).
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

DEFAULT_MODEL = "outputs/demo/hub/smollm2-135m-testbed-sft"
MAX_TOKENS, BATCH = 192, 64


def _greedy(model: str, engine: str, dtype: str, prompts: list[str], max_tokens: int) -> tuple[list, float]:
    """Completions through one engine in one dtype (the fixed-model switch, forced), and the seconds they took."""
    from pns_hub.engines import backends
    from pns_hub.engines import generation
    params = generation.SamplingParams(num_samples=1, max_new_tokens=max_tokens, temperature=0.0, seed=0)
    start = time.perf_counter()
    outs = _common.with_generate_backend(engine, lambda: backends.generate_from_folder(
        model, prompts, params, batch_size=BATCH, dtype=dtype, progress=False))
    return [o[0] for o in outs], time.perf_counter() - start


def run(quick: bool = False) -> list[dict]:
    from pns_hub.data import problems as data
    from pns_hub.engines import generation
    from pns_hub import models
    from pns_hub.engines import openvino as openvino_backend
    from pns_hub import stats
    from pns_hub.grading import verify
    models.configure_threads()
    model = _common.option("model", DEFAULT_MODEL)
    limit, max_tokens = (20, 64) if quick else (int(_common.option("limit", "500")), MAX_TOKENS)
    try:  # a missing local folder is an error there ("no such model folder"); here it means: run the demo first
        found = os.path.isdir(models.resolve_model_path(model))
    except FileNotFoundError:
        found = False
    if not found:
        return [_common.row("engine precision (testbed accuracy)", None, None, "accuracy",
                            notes=f"not run: no model at {model} (run `make demo` first, or pass --model=PATH)")]
    rows = data.load_problems("testbed", limit=limit)
    prompts = [generation.build_prompt(r["problem"]) for r in rows]
    paths = [("our loop", "compact", "float32")]
    if openvino_backend.available():
        paths.append(("openvino", "openvino", "float32"))
    if models.cpu_supports_bf16():
        paths.append(("our loop", "compact", "bfloat16"))
        if openvino_backend.available():
            paths.append(("openvino", "openvino", "bfloat16"))
    results, out = {}, []
    for name, engine, dtype in paths:
        completions, seconds = _greedy(model, engine, dtype, prompts, max_tokens)
        checks = verify.verify_batch([c.text for c in completions], [r["answer"] for r in rows], num_workers=0)
        label = f"{name} {dtype}"
        results[label] = ([int(c.is_correct) for c in checks], [c.text for c in completions])
        acc = stats.accuracy(results[label][0])
        tokens = sum(c.num_tokens for c in completions)
        out.append(_common.row(f"engine precision: {label}", None, round(acc.value, 4), "accuracy",
                               accuracy=acc.to_dict(), tok_per_s=round(tokens / seconds, 1),
                               notes=f"testbed greedy, n={acc.n}, {max_tokens} tokens: {acc.value:.1%} "
                                     f"[{acc.low:.1%}, {acc.high:.1%}]; {tokens / seconds:.0f} tok/s (batch {BATCH})"))
    reference = "our loop float32"
    pairs = [(label, reference) for label in results if label != reference]
    if {"openvino bfloat16", "our loop bfloat16"} <= set(results):
        pairs.append(("openvino bfloat16", "our loop bfloat16"))  # the two bf16 engines with each other
    for label, other in pairs:
        diff = stats.paired_bootstrap(results[label][0], results[other][0])
        same = sum(a == b for a, b in zip(results[label][1], results[other][1]))
        out.append(_common.row(f"engine precision: {label} - {other}", None, round(diff.value, 4),
                               "accuracy difference", paired=diff.to_dict(), identical_texts=same,
                               notes=f"paired bootstrap {diff.value:+.1%} [{diff.low:+.1%}, {diff.high:+.1%}], "
                                     f"n={diff.n}; identical completions {same}/{len(rows)}"))
    for r in out:
        r["notes"] += f"; model {model}"
    return out


def main(argv=None) -> None:
    _common.script_main(run, argv)


if __name__ == "__main__":
    main()
