"""lighteval's custom-model route onto the OpenVINO engine (:mod:`pns_hub.engines.openvino`): ``pns-hub eval --backend
openvino`` scores the same lighteval tasks with the same prompts as the transformers backend, on the CPU engine.

Why lighteval's ``CustomModelConfig`` and not a model object handed to the pipeline: it is lighteval's documented way
to plug in an engine it does not ship, so ``lighteval custom ... pns_hub/eval/openvino_model.py`` works too, and the
config (with the generation parameters) is what lighteval logs in its results. lighteval loads this file by path
and instantiates the one ``LightevalModel`` subclass it defines, so it imports no other subclass.

Prompts are rendered by lighteval's own ``PromptManager`` (chat template), exactly as its transformers backend does;
generation stops at EOS (a chat model's only stop, as there); greedy tokens equal the transformers backend's (test).
Memory: at most ``batch_size`` sequences' KV cache is resident (the engine's cache is sized for them), whatever the
number of problems; the engine keeps no per-step scores.
"""

from __future__ import annotations

import json
from pathlib import Path

from lighteval.models.abstract_model import LightevalModel
from lighteval.models.custom.custom_model import CustomModelConfig
from lighteval.models.model_output import ModelResponse
from lighteval.tasks.prompt_manager import PromptManager
from lighteval.utils.cache_management import SampleCache


class OpenVinoModelConfig(CustomModelConfig):
    """``model_name``: a local folder or ``embedded:...`` spec (exported once, cached by content hash)."""

    model_definition_file_path: str = __file__
    batch_size: int = 64  # sequences resident at once, fewer where their KV cache would exceed kv_budget_gb
    kv_budget_gb: float = 1.5
    dtype: str = "float32"  # the engine's precision (openvino_backend.precision): float32, or bfloat16 where native


class OpenVinoModel(LightevalModel):
    """Generative tasks only (our math tasks are all generative); log-likelihood requests are refused by name."""

    def __init__(self, config: OpenVinoModelConfig):
        from pns_hub import models
        self.config = config
        self.spec = config.model_name
        self._tokenizer = models.load_tokenizer(self.spec)
        self.prompt_manager = PromptManager(use_chat_template=True, tokenizer=self._tokenizer,
                                            system_prompt=config.system_prompt)
        self._max_length = _context_length(models.resolve_model_path(self.spec))
        self._cache = SampleCache(config)  # lighteval's pipeline registers tasks with it; pns-hub eval switches it off

    @property
    def tokenizer(self):
        return self._tokenizer

    @property
    def add_special_tokens(self) -> bool:
        return False  # the chat template already carries every special token

    @property
    def max_length(self) -> int:
        return self._max_length

    def greedy_until(self, docs: list) -> list[ModelResponse]:
        """One engine call per (generation length, samples) group, answers in the docs' order. Lengths follow the
        transformers backend: a forced ``max_new_tokens`` wins, else the task's size, never past the context."""
        from pns_hub.engines import generation
        from pns_hub.engines import openvino as openvino_backend
        from pns_hub.eval.model import rows_within_budget

        gen = self.config.generation_parameters
        prompts = [self.prompt_manager.prepare_prompt(doc) for doc in docs]
        lengths = [len(ids) for ids in self._tokenizer(prompts, add_special_tokens=False)["input_ids"]]
        groups: dict[tuple[int, int], list[int]] = {}
        for i, doc in enumerate(docs):
            wanted = gen.max_new_tokens or doc.generation_size or self._max_length
            new_tokens = max(1, min(wanted, self._max_length - lengths[i]))
            groups.setdefault((new_tokens, max(1, doc.num_samples)), []).append(i)
        responses: list[ModelResponse | None] = [None] * len(docs)
        per_token = openvino_backend.kv_bytes_per_token(openvino_backend.export(self.spec), self.config.dtype)
        for (new_tokens, samples), idx in groups.items():
            rows = rows_within_budget(self.config.kv_budget_gb * 2**30, max(lengths[i] for i in idx) + new_tokens,
                                      per_token)
            params = generation.SamplingParams(num_samples=samples, max_new_tokens=new_tokens,
                                               temperature=gen.temperature or 0.0,
                                               top_p=1.0 if gen.top_p is None else gen.top_p,
                                               seed=gen.seed or 0)
            outs = openvino_backend.generate(self.spec, [prompts[i] for i in idx], params,
                                             batch_size=max(samples, min(self.config.batch_size, rows)),
                                             desc="lighteval (openvino)", dtype=self.config.dtype)
            for i, completions in zip(idx, outs):
                responses[i] = ModelResponse(input=prompts[i], text=[c.text for c in completions],
                                             output_tokens=[[] for _ in completions])
        return responses

    def loglikelihood(self, docs: list) -> list[ModelResponse]:
        raise NotImplementedError("the openvino backend serves generative tasks only (all of pns-hub's tasks are)")

    def loglikelihood_rolling(self, docs: list) -> list[ModelResponse]:
        raise NotImplementedError("the openvino backend serves generative tasks only (all of pns-hub's tasks are)")


def _context_length(folder: str) -> int:
    config = json.loads((Path(folder) / "config.json").read_text())
    return int(config.get("max_position_embeddings") or 8192)
