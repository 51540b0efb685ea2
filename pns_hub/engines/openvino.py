"""OpenVINO GenAI's continuous-batching pipeline as a generation backend for a *fixed* model on CPU.

Why: sampling is what bounds every experiment here (thousands of problems x many samples on 2 cores), and
``openvino_genai.ContinuousBatchingPipeline`` (wheels, no compiler) schedules sequences with paged attention,
per-request sampling settings and seeds; ``benchmarks/generation_throughput.py`` measures it against our loop and
``model.generate`` on the same work.

Why an exporter environment of its own: the exporter (``optimum-intel`` 2.2) pins ``transformers<5.6`` and does not
import under the project's transformers. So the export runs as a subprocess whose ``PYTHONPATH`` puts a pinned
exporter (:data:`EXPORTER_REQUIREMENTS`, installed once with ``pip --target`` under the cache folder) in front of the
project's packages (torch is shared). The exported IR is cached by the model's content fingerprint
(:func:`pns_hub.models.model_fingerprint`): a model retrained in place is exported again.

Only models read from a folder (or an embedded spec) can use this backend: a model being trained in memory has no
exported twin. Transformers stays the reference backend (``pns_hub.engines.generation``).
"""

from __future__ import annotations

import functools
import logging
import math
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from pns_hub import memory

from pns_hub import models
logger = logging.getLogger(__name__)

# the exporter's own pins (optimum-intel 2.2.0's requirements, resolved on PyPI on 2026-11-24); --no-deps, torch shared
EXPORTER_REQUIREMENTS = ("optimum-intel==2.2.0", "optimum==2.3.0", "transformers==5.5.4", "huggingface-hub==1.21.0",
                         "tokenizers==0.22.2", "openvino==2026.4.1", "openvino-tokenizers==2026.4.1.0")
_EXPORT = """
import sys
from optimum.intel import OVModelForCausalLM
model = OVModelForCausalLM.from_pretrained(sys.argv[1], export=True, compile=False, load_in_8bit=False)
model.save_pretrained(sys.argv[2])
"""


def available() -> bool:
    """The runtime is installed (``pip install 'pns-hub[openvino]'``); the exporter is set up on first use."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("openvino", "openvino_genai", "openvino_tokenizers"))


def exporter_dir() -> Path:
    """The pinned exporter packages, installed once (under a lock) into the cache folder."""
    import hashlib

    key = hashlib.sha256("\n".join(EXPORTER_REQUIREMENTS).encode()).hexdigest()[:16]
    target = models.cache_dir() / "openvino-exporter" / key
    if (target / ".complete").exists():
        return target
    with models._file_lock(target.parent / ".lock"):
        if not (target / ".complete").exists():
            logger.info("installing the OpenVINO exporter (%s) into %s", ", ".join(EXPORTER_REQUIREMENTS), target)
            shutil.rmtree(target, ignore_errors=True)
            done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
                                   str(target), *EXPORTER_REQUIREMENTS], capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"installing the OpenVINO exporter failed:\n{done.stderr[-3000:]}")
            (target / ".complete").write_text("\n".join(EXPORTER_REQUIREMENTS) + "\n")
    return target


def export(spec: str) -> Path:
    """The OpenVINO IR (and converted tokenizer) of a model folder or embedded spec, exported once per content."""
    source = models.resolve_model_path(spec)
    if not os.path.isdir(source):
        raise ValueError(f"the openvino backend exports local folders or embedded models, not {spec!r}")
    key = models.model_fingerprint(source).replace(":", "-").replace("/", "-")[:64]
    target = models.cache_dir() / "openvino" / key
    if _mark_used(target):
        return target
    with models._file_lock(target.parent / f".{key}.lock"):
        if not (target / "openvino_tokenizer.xml").exists():
            tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=target.parent))
            try:
                env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(exporter_dir()), *sys.path[1:]])}
                done = subprocess.run([sys.executable, "-c", _EXPORT, source, str(tmp)], env=env, capture_output=True,
                                      text=True)
                if done.returncode != 0:
                    raise RuntimeError(f"exporting {source} to OpenVINO failed:\n{done.stderr[-3000:]}")
                _save_tokenizer(source, tmp)
                os.replace(tmp, target)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            logger.info("exported %s to OpenVINO: %s", spec, target)
    prune_cache(target.parent, keep=target)
    return target


# ~16 exports of SmolLM2-135M in f32 (0.5 GB each); ``PNS_HUB_OPENVINO_CACHE_GB`` overrides
CACHE_BUDGET_GB = 8.0
IN_USE_S = 1800  # an export used this recently may be about to load in another process: never evicted


def prune_cache(root: Path, keep: Path, budget_gb: float | None = None, now: float | None = None) -> list[Path]:
    """Evicts the least recently used exports until the cache fits its budget; returns what it removed.

    Why: every trained model evaluated through the engine gets an export of its own, so an experiment's dozens of
    arms grew the cache without bound (21 GB here, and a shared disk filled). Never the export just made (``keep``),
    nor one used in the last :data:`IN_USE_S` seconds; a removed export is made again on its next use.
    """
    import time

    budget = float(os.environ.get("PNS_HUB_OPENVINO_CACHE_GB") or CACHE_BUDGET_GB) if budget_gb is None else budget_gb
    now = time.time() if now is None else now
    entries = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    sizes = {p: sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) for p in entries}
    total, removed = sum(sizes.values()), []
    for entry in sorted(entries, key=lambda p: p.stat().st_mtime):
        if total <= budget * 2**30:
            break
        if entry == keep or now - entry.stat().st_mtime < IN_USE_S:
            continue
        with models._file_lock(root / f".{entry.name}.lock"):
            shutil.rmtree(entry, ignore_errors=True)
        total -= sizes[entry]
        removed.append(entry)
        logger.info("evicted the OpenVINO export %s (cache over %.1f GB)", entry.name, budget)
    return removed


def _mark_used(target: Path) -> bool:
    """A complete export is there; its time is set to now, since the cache evicts the least recently used
    (:func:`prune_cache`). False when it is missing (or was evicted a moment ago): then it is exported again."""
    try:
        if (target / "openvino_tokenizer.xml").exists():
            os.utime(target)
            return True
    except FileNotFoundError:
        pass
    return False


def _save_tokenizer(source: str, folder: Path) -> None:
    import openvino
    from openvino_tokenizers import convert_tokenizer

    tokenizer, detokenizer = convert_tokenizer(models.load_tokenizer(source), with_detokenizer=True)
    openvino.save_model(tokenizer, str(folder / "openvino_tokenizer.xml"))
    openvino.save_model(detokenizer, str(folder / "openvino_detokenizer.xml"))


# The engine's precision per model dtype: weights' compute (INFERENCE_PRECISION_HINT) and KV cache in the same one
# (the CPU plugin's bf16 attention refuses an f32 cache). bf16 only where the CPU runs it natively
# (:func:`precision`): elsewhere the plugin would quietly compute f32 and the record would say bf16.
PRECISIONS = {"float32": "f32", "bfloat16": "bf16"}
_BYTES = {"f32": 4, "bf16": 2}


def serves(dtype: str) -> bool:
    """The engine runs a model in ``dtype`` here: f32 anywhere, bf16 only on a CPU with native bf16."""
    return dtype in PRECISIONS and (dtype != "bfloat16" or models.cpu_supports_bf16())


def precision(dtype: str) -> str:
    """The engine precision that serves a model in ``dtype``; a clear error for the dtypes it cannot serve here."""
    if dtype not in PRECISIONS:
        raise ValueError(f"the openvino backend runs float32 or bfloat16 models, not {dtype}")
    if not serves(dtype):
        raise ValueError("the openvino backend runs bfloat16 only on a CPU with native bf16 (AVX512-BF16 or AMX); "
                         "this one has neither: use float32")
    return PRECISIONS[dtype]


def kv_bytes_per_token(folder: Path, dtype: str = "float32") -> int:
    """K and V for every layer in the engine's precision: what one cached token costs (the memory bound is
    sequences x length x this)."""
    import json

    config = json.loads((folder / "config.json").read_text())
    heads = config.get("num_key_value_heads") or config["num_attention_heads"]
    head_dim = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
    return 2 * config["num_hidden_layers"] * heads * head_dim * _BYTES[PRECISIONS[dtype]]


# Tokens per KV-cache block of OpenVINO's CPU plugin (the scheduler allocates whole blocks per sequence). A test
# checks it against the engine's own report of the cache it allocated.
KV_BLOCK_TOKENS = 32


def kv_blocks(sequences: int, longest: int) -> int:
    """KV blocks that hold ``sequences`` sequences of up to ``longest`` tokens. Why blocks and not
    ``SchedulerConfig.cache_size``: that is whole GB, so a 1.05 GB need reserved 2 GB (full GSM8K through the
    lighteval backend peaked at 4.29 GB RSS with it)."""
    return max(1, sequences) * max(1, math.ceil(longest / KV_BLOCK_TOKENS))


SCHEDULER_TOKENS_PER_STEP = 1024
# OpenVINO 2026.4's CPU plugin dies with SIGFPE compiling a bf16 model for one thread on an Intel Xeon with AMX
# (plain ``compile_model`` too; 2, 3 and 4 threads compile). configure_threads picks one thread when the machine is
# busy, so a bf16 engine takes at least this many; f32 is unaffected.
MIN_BF16_THREADS = 2


def engine_threads(threads: int, engine_precision: str) -> int:
    """Threads to give the engine: ``threads``, but never fewer than :data:`MIN_BF16_THREADS` for bf16."""
    return max(threads, MIN_BF16_THREADS) if engine_precision == "bf16" else max(1, threads)


@functools.lru_cache(maxsize=1)
def pipeline(folder: str, num_blocks: int, threads: int, engine_precision: str = "f32"):
    """The last compiled pipeline is kept (compiling costs seconds); only one: with two kept, an evaluation of five
    models in one process held the previous model's pipeline too (stage peaks 5.1-6.3 GB vs 2.8 GB for the first).
    ``num_blocks`` bounds its KV cache (:func:`kv_blocks`); ``engine_precision`` is :func:`precision`'s answer."""
    import openvino_genai

    scheduler = openvino_genai.SchedulerConfig()
    scheduler.num_kv_blocks = num_blocks
    # Every prompt starts with the same system + instruction text (about half of a testbed prompt), so its KV blocks
    # are computed once and shared. Measured on 500 greedy testbed evaluations: 1.15x, all 500 outputs identical.
    scheduler.enable_prefix_caching = True
    # Tokens a step may process (default 256): at 256 the prompts' prefill is cut into many small steps while the
    # decode batch fills up. Measured (64 GSM8K prompts x 4 samples x 128 tokens, 2-core EPYC Zen 5, fresh processes):
    # 1.09x in bf16, 1.10x in f32, peak RSS within 31 MB; 2,048 was no faster than 1,024.
    scheduler.max_num_batched_tokens = SCHEDULER_TOKENS_PER_STEP
    properties = {"INFERENCE_PRECISION_HINT": engine_precision, "KV_CACHE_PRECISION": engine_precision,
                  "INFERENCE_NUM_THREADS": engine_threads(threads, engine_precision)}
    return openvino_genai.ContinuousBatchingPipeline(folder, scheduler, "CPU", properties)


memory.on_release(pipeline.cache_clear)


def generate(spec: str, prompts: list, params, batch_size: int = 256, progress: bool = True,
             desc: str = "generate (openvino)", dtype: str = "float32") -> list:
    """``pns_hub.engines.generation.generate``'s contract (same prompt rendering, ``Completion`` rows in input order) on the
    exported model: compute and KV cache in ``dtype`` (f32, the reference's precision, unless bf16 is asked for), one
    request per prompt with its own seed (``params.seed`` + prompt index), at most ``batch_size`` sequences' KV cache
    resident (the memory bound)."""
    import numpy as np
    import openvino
    import openvino_genai

    from pns_hub.engines.generation import Completion, _eos_ids, _render

    engine_precision = precision(dtype)  # before the export: a dtype it cannot serve fails at once
    folder = export(spec)
    tokenizer = models.load_tokenizer(spec)  # resolves embedded specs itself
    encoded = [tokenizer(_render(tokenizer, p), add_special_tokens=False)["input_ids"] for p in prompts]
    eos = _eos_ids(_GenerationConfigHolder(folder), tokenizer)
    longest = max((len(e) for e in encoded), default=0) + params.max_new_tokens
    pipe = pipeline(str(folder), kv_blocks(batch_size, longest), models.configure_threads(), engine_precision)
    sample = params.temperature > 0
    configs = []
    for i in range(len(prompts)):
        config = openvino_genai.GenerationConfig()
        # Greedy rows of one prompt are one row repeated (OpenVINO refuses num_return_sequences > 1 for greedy).
        config.max_new_tokens, config.num_return_sequences = params.max_new_tokens, params.num_samples if sample else 1
        config.stop_token_ids = set(eos)
        config.do_sample = sample
        if sample:
            config.temperature, config.top_p, config.top_k, config.rng_seed = \
                params.temperature, params.top_p, 0, params.seed + i
        configs.append(config)
    per_call = max(1, (4 * batch_size) // max(1, params.num_samples))  # several batches' worth: the scheduler refills
    results, bar = [], None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(prompts) * params.num_samples, desc=desc, unit="seq")
    for start in range(0, len(prompts), per_call):
        ids = [openvino.Tensor(np.array([e], dtype=np.int64)) for e in encoded[start:start + per_call]]
        for out in pipe.generate(ids, configs[start:start + per_call]):
            rows = []
            for tokens in out.m_generation_ids:
                tokens = list(tokens)
                length = next((k for k, t in enumerate(tokens) if t in eos), None)  # stop tokens may be left out
                kept = tokens if length is None else tokens[:length]
                truncated = length is None and len(tokens) >= params.max_new_tokens
                rows.append(Completion(tokenizer.decode(kept, skip_special_tokens=True), len(kept), truncated))
            results.append(rows if sample else rows * params.num_samples)
        if bar:
            bar.update(len(ids) * params.num_samples)
    if bar:
        bar.close()
    return results


class _GenerationConfigHolder:
    """What ``_eos_ids`` reads from a torch model (its generation config), read from the exported folder instead."""

    def __init__(self, folder: Path):
        from transformers import GenerationConfig

        self.generation_config = GenerationConfig.from_pretrained(str(folder))
