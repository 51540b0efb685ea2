"""``pns-hub eval MODEL``: run the seven pns_* lighteval tasks and write one leaderboard results JSON per run.

The lighteval pipeline runs in this process (its Python API, the same code path as ``lighteval accelerate``), with
the task table built by ``pns_hub.eval.tasks.build_tasks`` for the requested number of samples. Outputs under
``--output-dir``: lighteval's own ``results/<model>/results_<time>.json`` (+ ``details/`` parquet with every
completion), our schema file ``leaderboard/<model>_<time>.json``, and with n > 1 a ``passk_<model>_<time>.png``.

Backends: ``auto`` (the default: ``openvino`` where :func:`pns_hub.engines.backends.fixed_model_backend` picks it,
else ``accelerate``), ``accelerate`` (transformers; CPU or GPU, tested; the reference), ``openvino`` (lighteval's
custom-model route onto :mod:`pns_hub.engines.openvino`, CPU; f32 unless ``--dtype bfloat16`` on a CPU with native
bf16; f32 greedy tokens equal the reference's, tested) and ``vllm`` (lighteval's vLLM model; needs vllm
0.10.0-0.10.1.x, which lighteval 0.13.0 pins and no environment of ours has: TRL 1.16 needs 0.22-0.31; it fails up
front with that reason, tested, docs/vllm.md).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from pns_hub.data.problems import BENCHMARK_NAMES, EVAL_NAMES


logger = logging.getLogger(__name__)

BACKENDS = ("auto", "accelerate", "openvino", "vllm")
ENGINE_OF_BACKEND = {"accelerate": "transformers", "openvino": "openvino", "vllm": "vllm"}  # as records name it


def resolve_backend(backend: str, dtype: str) -> str:
    """``auto`` as the engine that runs: OpenVINO where :func:`pns_hub.engines.backends.fixed_model_backend` picks it for
    the model's dtype (CPU, runtime installed, ``PNS_HUB_GENERATE_BACKEND`` not set to a torch engine), else
    transformers. One switch for every fixed-model engine, so an evaluation and the demo agree. On OpenVINO
    ``dtype="auto"`` is f32 (:func:`openvino_dtype`)."""
    if backend != "auto":
        return backend
    from pns_hub.engines.backends import fixed_model_backend

    return "openvino" if fixed_model_backend(openvino_dtype(dtype)) == "openvino" else "accelerate"


def openvino_dtype(dtype: str) -> str:
    """An evaluation's dtype on OpenVINO: ``auto`` is f32 there, the reference's precision, so that a default
    evaluation scores the same on every CPU (the engine serves bf16 where native, when asked: #14, bf16 changes
    greedy tokens)."""
    return "float32" if dtype == "auto" else dtype


def ensure_offline_placeholders() -> None:
    """Create an empty ``lighteval/tasks/tasks/tinyBenchmarks.pkl`` if it is missing.

    Why: lighteval 0.13.0 imports every built-in task file when it builds its registry, and the built-in
    ``tiny_benchmarks`` task downloads ``tinyBenchmarks.pkl`` from GitHub at import time unless a file of that name
    already exists there. Offline that download raises ``ConnectionError`` and every evaluation fails, even ours.
    The placeholder only stops the download; it is never loaded (only the tinyBenchmarks tasks read it, and we never
    run them; loading it would fail loudly rather than silently, since it is empty).
    """
    import lighteval.tasks.tasks as builtin_tasks

    path = Path(list(builtin_tasks.__path__)[0]) / "tinyBenchmarks.pkl"
    if not path.exists():
        try:
            path.touch()
        except OSError as err:  # read-only site-packages: say what to do instead of failing obscurely later
            raise RuntimeError(f"cannot create the offline placeholder {path} ({err}); create an empty file "
                               "there once (see pns_hub/eval/run.py) or run with network access") from err


def parse_benchmarks(values: list[str] | None) -> list[str]:
    """Accept ``gsm8k math_500`` or ``gsm8k,math_500`` (``all`` = the seven, ``testbed`` on request); reject unknown
    names."""
    names = [n.strip() for v in (values or ["all"]) for n in v.split(",") if n.strip()]
    if not names or names == ["all"]:
        return list(BENCHMARK_NAMES)
    unknown = [n for n in names if n not in EVAL_NAMES]
    if unknown:
        raise ValueError(f"unknown benchmark(s) {unknown}; known: {', '.join(EVAL_NAMES)}")
    return list(dict.fromkeys(names))


def _safe_name(model: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", model.strip("/")).strip("_")[-80:] or "model"


def per_problem_counts(details: dict, num_samples: int) -> dict[str, dict[str, int]]:
    """``{bench: {problem id: correct samples}}`` from lighteval's per-sample details (``DetailsLogger.details``).

    Why keep them: an interval for an accuracy needs n, and a difference between two models on the same problems
    needs each problem's outcome for both (paired bootstrap); lighteval's results JSON keeps only the means.
    pass@1 of one problem is correct / n, so the count is recovered exactly.
    """
    out: dict[str, dict[str, int]] = {}
    for task, rows in details.items():
        name = task.split("|")[0]
        if not name.startswith("pns_"):
            continue
        counts = out.setdefault(name[len("pns_"):], {})
        for i, detail in enumerate(rows):
            specific = getattr(detail.doc, "specific", None) or {}
            problem_id = str(specific.get("id") or f"#{i}")
            counts[problem_id] = int(round(float(detail.metric["pass@1"]) * num_samples))
    return out


def print_scores(record: dict) -> None:
    """One line per benchmark: pass@1 with its 95% interval and n (n unknown only for records without details)."""
    from pns_hub.stats import Estimate

    for bench, score in record["scores"].items():
        ci = record.get("intervals", {}).get(bench)
        text = Estimate(score, ci["low"], ci["high"], ci["n"], ci.get("method", "")).format() if ci else \
            f"{100 * score:.1f}% (no per-problem details: interval unknown)"
        print(f"{bench:>14}: pass@1 {text}", file=sys.stderr)


def prediction_digests(details: dict) -> dict[str, str]:
    """Per benchmark, a sha256 of every problem's prompt and generated text (sorted by prompt, so order-free).

    Why: at a small budget every model scores 0.0, so comparing scores cannot tell a reproduction of the right model
    from one of the wrong model; the generated text can (greedy decoding is deterministic for given weights and
    dtype). ``details`` is lighteval's ``DetailsLogger.details`` (task name -> per-sample details)."""
    import hashlib

    out = {}
    for task, samples in details.items():
        bench = task.split("|")[0].removeprefix("pns_")
        pairs = sorted(json.dumps([d.doc.query, list(d.model_response.text)], ensure_ascii=False) for d in samples)
        out[bench] = hashlib.sha256("\n".join(pairs).encode()).hexdigest()
    return out


def _unique_path(path: Path) -> Path:
    """``path``, or ``path`` with ``-1``, ``-2`` ... before the suffix if taken: two runs of one model in the same
    second must not overwrite each other's record."""
    candidate, n = path, 0
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def _model_config(backend: str, model_path: str, batch_size: int, dtype: str, generation: dict, cache_dir: str,
                  kv_budget_gb: float):
    """lighteval's model config; ``cache_dir`` is a fresh folder per run (see :func:`_disable_sample_cache`)."""
    import torch

    if backend == "vllm":
        from lighteval.models.vllm.vllm_model import VLLMModelConfig

        return VLLMModelConfig(model_name=model_path, dtype=dtype, generation_parameters=generation,
                               cache_dir=cache_dir)
    if backend == "openvino":
        from pns_hub.eval.openvino_model import OpenVinoModelConfig

        return OpenVinoModelConfig(model_name=model_path, batch_size=batch_size, kv_budget_gb=kv_budget_gb,
                                   generation_parameters=generation, cache_dir=cache_dir, dtype=dtype)
    from lighteval.models.transformers.transformers_model import TransformersModelConfig

    return TransformersModelConfig(
        model_name=model_path, batch_size=batch_size, dtype=dtype, generation_parameters=generation,
        device="cuda" if torch.cuda.is_available() else "cpu", cache_dir=cache_dir,
    )


def run_eval(model: str, benchmarks: list[str] | None = None, limit: int | None = None, num_samples: int = 1,
             max_new_tokens: int | None = None, temperature: float | None = None, top_p: float = 0.95,
             seed: int = 0, batch_size: int = 32, dtype: str = "auto", backend: str = "auto",
             output_dir: str | Path = "eval_results", method: str = "base", base: str | None = None,
             negative_source: str | None = None, model_name: str | None = None, save_details: bool = True,
             kv_budget_gb: float | None = None) -> dict:
    """Evaluate ``model`` (Hub id, folder or ``embedded:...``) and return the leaderboard record (as a dict) with
    ``paths`` added: ``record`` (our JSON), ``lighteval`` (lighteval's JSON) and ``passk_png`` (n > 1 only).

    ``temperature`` defaults to 0 (greedy) for one sample and 0.6 for several (lighteval refuses n > 1 at 0).
    ``kv_budget_gb`` caps one batch's KV cache (default ``DEFAULT_KV_BUDGET_GB``): long tasks run in smaller batches.
    """
    import torch

    # lighteval 0.13 calls torch.set_grad_enabled(False) process-wide, both when its transformers backend is first
    # imported and when it builds a model. Record the caller's mode before any lighteval import and give it back, or
    # any training after an in-process evaluation (the demo, a notebook, a test session) silently gets no gradients.
    grad_enabled = torch.is_grad_enabled()
    try:
        return _run_eval(model, benchmarks, limit, num_samples, max_new_tokens, temperature, top_p, seed, batch_size,
                         dtype, backend, output_dir, method, base, negative_source, model_name, save_details,
                         kv_budget_gb)
    finally:
        torch.set_grad_enabled(grad_enabled)


def _folders(model_path: str) -> set[str]:
    """Names of the sub-folders of a local model folder (empty for a Hub id)."""
    path = Path(model_path)
    return {p.name for p in path.iterdir() if p.is_dir()} if path.is_dir() else set()


def _remove_new_empty_folders(model_path: str, before: set[str]) -> None:
    """Remove empty folder trees lighteval made inside a local model folder during this run.

    Why: every ``SampleCache`` lighteval builds (more than one per run in some code paths) makes its folder at
    ``cache_dir / model_name``, which for an absolute local path *is* the model folder; the caches are switched off
    (:func:`_disable_sample_cache`), but the empty folders would be published with the model. Only folders that did
    not exist before the run and hold no file are removed."""
    for name in _folders(model_path) - before:
        tree = Path(model_path) / name
        if any(p.is_file() for p in tree.rglob("*")):
            logger.warning("lighteval wrote files into %s; left in place", tree)
            continue
        shutil.rmtree(tree, ignore_errors=True)


def _disable_sample_cache(model) -> None:
    """Switch off lighteval's sample cache for this run and remove the empty folder it made.

    Why: the cache is keyed by model name and config, not by the weights, so a folder retrained (or swapped) in place
    is "evaluated" from the old weights' cached outputs (a reproduction of the wrong model matches exactly); and for
    a local model it lives *inside the model folder* (``Path(cache_dir) / "/abs/model"`` is the model folder), so a
    published repo would carry it. Runs are short enough here that recomputing is the honest default."""
    cache = getattr(model, "_cache", None)
    if cache is None:
        return
    model._cache = None
    folder = Path(cache.cache_dir)
    for empty in (folder, *folder.parents):
        try:
            empty.rmdir()  # only ever removes an empty folder: one this run's cache just made
        except OSError:
            break


def _run_pipeline(spec: str, params, tracker, output_dir: Path, temperature: float, backend: str, model_config,
                  kv_budget_gb: float, num_samples: int):
    """Build and run lighteval's pipeline (``tracker`` collects the details); returns lighteval's results JSON.

    The transformers backend runs through our subclass (:mod:`pns_hub.eval.model`): no per-step scores, batches
    within the KV budget, ``do_sample`` when sampling (lighteval 0.13 never sets it, so a temperature would be
    ignored and n > 1 samples fail)."""
    from lighteval.pipeline import Pipeline

    if backend in ("vllm", "openvino"):  # lighteval builds the model from its config (openvino: a custom model)
        pipeline = Pipeline(tasks=spec, pipeline_parameters=params, evaluation_tracker=tracker,
                            model_config=model_config)
    else:
        from pns_hub.eval.model import BoundedTransformersModel

        lm = BoundedTransformersModel(model_config, kv_budget_bytes=kv_budget_gb * 2**30, num_samples=num_samples,
                                      sample=temperature > 0)
        pipeline = Pipeline(tasks=spec, pipeline_parameters=params, evaluation_tracker=tracker, model=lm)
    _disable_sample_cache(pipeline.model)
    pipeline.evaluate()
    pipeline.save_and_push_results()
    written = sorted((output_dir / "results").rglob("results_*.json"), key=lambda p: p.stat().st_mtime)
    if not written:
        raise RuntimeError(f"lighteval wrote no results JSON under {output_dir / 'results'}")
    return written[-1]


def _run_eval(model, benchmarks, limit, num_samples, max_new_tokens, temperature, top_p, seed, batch_size, dtype,
              backend, output_dir, method, base, negative_source, model_name, save_details, kv_budget_gb) -> dict:
    from lighteval.logging.evaluation_tracker import EvaluationTracker
    from lighteval.pipeline import ParallelismManager, PipelineParameters

    from pns_hub.eval import leaderboard
    from pns_hub.eval import passk, tasks
    from pns_hub.eval.model import DEFAULT_KV_BUDGET_GB
    from pns_hub.models import best_dtype, display_name, is_embedded, resolve_model_path

    from pns_hub.data.problems import check_limit

    check_limit(limit)
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    backend = resolve_backend(backend, dtype)
    if backend == "vllm":
        from pns_hub.engines.vllm_engine import check_lighteval_backend
        check_lighteval_backend()  # lighteval's pin: fail with the reason, not lighteval's ImportError
    if backend == "openvino":
        from pns_hub.engines.openvino import precision

        dtype = openvino_dtype(dtype)
        precision(dtype)  # a dtype it cannot serve here fails before lighteval starts
    ensure_offline_placeholders()
    benchmarks = parse_benchmarks(benchmarks)
    kv_budget_gb = DEFAULT_KV_BUDGET_GB if kv_budget_gb is None else kv_budget_gb
    if kv_budget_gb <= 0:
        raise ValueError(f"kv_budget_gb must be > 0, got {kv_budget_gb}")
    temperature = (0.0 if num_samples == 1 else 0.6) if temperature is None else temperature
    if num_samples > 1 and temperature == 0:
        raise ValueError("num_samples > 1 needs temperature > 0 (greedy samples would all be identical)")
    dtype = {"auto": str(best_dtype()).replace("torch.", "")}.get(dtype, dtype)
    model_path = resolve_model_path(model)
    display = model_name or model
    # The length goes through the tasks' generation_size only: lighteval 0.13's transformers backend, given
    # generation_parameters max_new_tokens, takes that number as the whole context budget and left-truncates every
    # prompt to it (measured: --max-new-tokens 16 fed the model the last 16 of 124 prompt tokens).
    generation = {"temperature": temperature, "top_p": top_p, "seed": seed}
    output_dir = Path(output_dir)

    module = type(sys)("pns_hub_eval_tasks_runtime")  # a module object: lighteval's registry accepts one
    module.TASKS_TABLE = tasks.build_tasks(num_samples, benchmarks=benchmarks, max_new_tokens=max_new_tokens)
    tracker = EvaluationTracker(output_dir=str(output_dir), save_details=save_details)
    params = PipelineParameters(
        launcher_type=ParallelismManager.VLLM if backend == "vllm" else ParallelismManager.ACCELERATE,
        custom_tasks_directory=module, max_samples=limit,
    )
    spec = ",".join(f"{tasks.task_name(b)}|0" for b in benchmarks)
    start = time.perf_counter()
    folders_before = _folders(model_path)
    sample_cache = tempfile.mkdtemp(prefix="lighteval-cache-")  # never another run's samples: _disable_sample_cache
    try:
        config = _model_config(backend, model_path, batch_size, dtype, generation, sample_cache, kv_budget_gb)
        lighteval_json = _run_pipeline(spec, params, tracker, output_dir, temperature, backend, config,
                                       kv_budget_gb, num_samples)
    finally:
        shutil.rmtree(sample_cache, ignore_errors=True)
        _remove_new_empty_folders(model_path, folders_before)
    elapsed = time.perf_counter() - start
    record = leaderboard.record_from_lighteval(
        json.loads(lighteval_json.read_text()), model=display, method=method,
        base=base or (display_name(model) if is_embedded(model) else None), negative_source=negative_source,
        num_samples=num_samples, limit=limit, commit=leaderboard.git_commit(),
        lighteval_results=str(lighteval_json), dtype=dtype, top_p=top_p,
        per_problem=per_problem_counts(tracker.details_logger.details, num_samples),
        predictions=prediction_digests(tracker.details_logger.details),
        engine=ENGINE_OF_BACKEND[backend], temperature=temperature, seed=seed, max_new_tokens=max_new_tokens,
    )
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    record_path = leaderboard.write_record(
        record, _unique_path(output_dir / "leaderboard" / f"{_safe_name(display)}_{stamp}.json"))
    out = record.to_dict()
    out["paths"] = {"record": str(record_path), "lighteval": str(lighteval_json)}
    out["elapsed_s"] = round(elapsed, 2)
    if num_samples > 1:
        curves = {b: {int(k): v for k, v in c.items()} for b, c in record.passk.items()}
        out["paths"]["passk_png"] = str(passk.plot_curves(
            curves, output_dir / f"passk_{_safe_name(display)}_{stamp}.png", title=f"pass@k: {display}"))
    return out


def build_parser() -> argparse.ArgumentParser:
    """The ``pns-hub eval`` options (``pns-hub check-recipe`` parses evaluate recipes with it)."""
    parser = argparse.ArgumentParser(prog="pns-hub eval", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("model", help="Hub id, local folder, or embedded:smollm2-135m-instruct")
    parser.add_argument("--benchmarks", nargs="+", default=["all"], help=f"any of {', '.join(EVAL_NAMES)}")
    parser.add_argument("--limit", type=int, default=None, help="first N problems per benchmark (after lighteval's "
                        "fixed shuffle); default all")
    parser.add_argument("--num-samples", type=int, default=1, help="samples per problem (pass@k up to this)")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="override the per-task generation length")
    parser.add_argument("--temperature", type=float, default=None, help="None: 0 (greedy) for one sample, 0.6 for "
                        "several")
    parser.add_argument("--top-p", type=float, default=0.95, help="nucleus sampling mass")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed")
    parser.add_argument("--batch-size", type=int, default=32, help="prompts per batch (fewer where the KV budget "
                        "requires)")
    parser.add_argument("--kv-budget-gb", type=float, default=None, help="KV-cache memory one batch may use "
                        "(default 1.5); long generations run in smaller batches to stay within it")
    parser.add_argument("--dtype", default="auto", help="auto (bf16 where the hardware has it; f32 on "
                        "openvino), bfloat16, float32")
    parser.add_argument("--backend", choices=BACKENDS, default="auto", help="auto (openvino where installed and no GPU, "
                        "unless PNS_HUB_GENERATE_BACKEND names a torch engine; else accelerate), accelerate "
                        "(transformers, the reference), openvino (CPU; f32, or bf16 where native with --dtype "
                        "bfloat16; pip install 'pns-hub[openvino]'), vllm (lighteval's: needs vllm<0.10.2, "
                        "docs/vllm.md)")
    parser.add_argument("--output-dir", default="eval_results", help="lighteval's results and details, our record")
    parser.add_argument("--method", default="base", help="leaderboard method label (base, pns-dpo, rs-dpo, ...)")
    parser.add_argument("--base", default=None, help="base model the evaluated one was trained from")
    parser.add_argument("--negative-source", default=None, help="which negatives trained it (pns, rejection_sampling)")
    parser.add_argument("--model-name", default=None, help="name shown on the leaderboard (default: MODEL)")
    return parser


def cli_main(argv: list[str] | None = None) -> int:
    """``pns-hub eval MODEL --benchmarks ... [--limit N] [--num-samples N] [--backend auto|accelerate|openvino|vllm]``."""
    args = build_parser().parse_args(argv)
    try:
        out = run_eval(args.model, args.benchmarks, args.limit, args.num_samples, args.max_new_tokens,
                       args.temperature, args.top_p, args.seed, args.batch_size, args.dtype, args.backend,
                       args.output_dir, args.method, args.base, args.negative_source, args.model_name,
                       kv_budget_gb=args.kv_budget_gb)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print_scores(out)
    print(json.dumps({k: out[k] for k in ("model", "scores", "intervals", "average", "paths", "elapsed_s")}, indent=2))
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=os.environ.get("LOGLEVEL", "INFO"))
    sys.exit(cli_main())
