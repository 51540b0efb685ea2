"""Which engine samples from a *fixed* model (read from a folder or an embedded spec, not trained in this process).

Why a module of its own: only a fixed model can be exported to another engine (:mod:`pns_hub.engines.openvino`), so
the choice between it and the torch paths of :mod:`pns_hub.engines.generation` is made here, for the stages that sample from
fixed models (the experiments' evaluations), and recorded beside their results.
"""

from __future__ import annotations

from pns_hub.engines import generation
def fixed_model_backend(dtype: str = "float32") -> str:
    """The engine :func:`generate_from_folder` uses now for a model in ``dtype`` (recorded beside results: it is part
    of how they were made). The default, ``auto``, is OpenVINO on a CPU where its runtime is installed and it serves
    ``dtype`` (:func:`pns_hub.engines.openvino.serves`; #14: the fastest engine measured here, a well-kept library),
    else our loop.
    In f32 its greedy tokens equal our loop's and its single-token sampling distribution matches the reference rule,
    but in the NSR evaluation its samples were right 1.4 points more often than our loop's ([0.2, 2.4] paired, 5
    models x 100 problems, inside each model's own interval; cause not found), so models compared with each other are
    sampled by one engine (results record which). In bf16 its greedy tokens stay on the f32 argmax at >= 97% of
    positions (tested) and its testbed accuracy matches f32's (``benchmarks/engine_precision.py``).
    ``dtype="auto"`` means what torch would load here (:func:`resolve_dtype_name`)."""
    dtype = resolve_dtype_name(dtype)
    backend = generation._backend()
    if backend == "auto":
        import torch

        from pns_hub.engines import openvino as openvino_backend
        on_cpu = not torch.cuda.is_available()  # GPU users keep torch (or vLLM where a stage offers it)
        serves = openvino_backend.serves(dtype) and openvino_backend.available()
        return "openvino" if serves and on_cpu else "compact"
    if backend == "openvino":
        from pns_hub.engines import openvino as openvino_backend
        if not openvino_backend.available():
            raise RuntimeError("PNS_HUB_GENERATE_BACKEND=openvino needs pip install 'pns-hub[openvino]'")
    return backend


def resolve_dtype_name(dtype: str) -> str:
    """``auto`` resolved to the dtype torch would load here: on a CPU without native bf16 it is float32, which the
    OpenVINO engine serves; asking for OpenVINO with ``auto`` should not fail on the machines where they agree."""
    if dtype not in (None, "auto"):
        return dtype
    from pns_hub import models
    return str(models.resolve_dtype("auto", "cpu")).removeprefix("torch.")


def generate_from_folder(spec: str, prompts: list, params: generation.SamplingParams, batch_size: int = 64,
                         dtype: str = "float32", progress: bool = True,
                         desc: str = "generate") -> list[list[generation.Completion]]:
    """Sample from a model that is read from a folder (or an embedded spec), not trained in this process: the one
    place where a backend other than torch can serve, because it can be exported (:mod:`pns_hub.engines.openvino`)."""
    dtype = resolve_dtype_name(dtype)  # the engine's precision follows the resolved name
    if fixed_model_backend(dtype) == "openvino":
        from pns_hub.engines import openvino as openvino_backend
        return openvino_backend.generate(spec, prompts, params, batch_size=batch_size, progress=progress, desc=desc,
                                         dtype=dtype)  # a dtype it cannot serve here raises there
    from pns_hub import models
    model, tokenizer = models.load_model(spec, dtype=dtype), models.load_tokenizer(spec)
    return generation.generate(model, tokenizer, prompts, params, batch_size=batch_size, progress=progress,
                               desc=desc)
