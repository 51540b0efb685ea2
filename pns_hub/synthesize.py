"""Phase 2 of PNS: turn training problems into TRL-ready preference pairs, for PNS and three baseline sources.

``synthesize_dataset(config)`` builds one Hub-layout folder with four configs (``pns``, ``rejection_sampling``,
``prompted_wrong``, ``perturbed``) that ``load_dataset(folder, "pns")`` reads offline and ``push_folder`` uploads in
one commit. Every row is ``prompt``/``chosen``/``rejected`` message lists (TRL's conversational preference format)
plus provenance and plausibility columns (:data:`FEATURES`).

Design choices (why):

* **Pairs.** ``rejected`` is always a *valid negative* (``VerifyResult.is_valid_negative``: a mathematical answer
  that differs from the gold, never a restatement of it or a word like ``\\boxed{wrong}``); ``chosen`` is always
  *verified correct*: the policy's own correct sample when it has one (on-policy), else the gold solution. The chosen
  side is the same for every source of a problem, so the sources differ only in their negatives.
* **Shards and resume.** Problems are cut into shards of ``shard_size`` in input order. A finished shard is written
  atomically (temp file + rename) and then listed in ``.synthesis/manifest.json`` with its problem ids and the
  config hash; a killed run, restarted with the same config, skips finished shards, so no row is lost or repeated.
* **Seeds do not depend on ranks or batches.** The random unit is the shard (``seed_scope="shard"``, batched: one
  ``generate`` call per shard, seeded from the base seed and the shard's problem ids) or the problem
  (``seed_scope="problem"``: one call per problem, seeded from its id; slower, but independent of ``shard_size``).
  Shard membership is fixed by the input order, so 1 or N processes produce identical rows. Floating-point results
  can still differ between machines or thread counts; tests pin ``PNS_HUB_THREADS``.
* **Processes.** Under ``accelerate launch`` the pending shards are split with ``PartialState.split_between_processes``;
  each rank writes its own shard files; rank 0 merges them in shard order once every rank is done.
* **Nothing silently dropped.** Malformed or duplicate input problems go to ``rejected_problems.jsonl`` (and the log);
  problems for which a source found no negative are counted per reason in the card.
* **Backends.** transformers (batched, CPU or GPU) is the tested path; ``backend="vllm"`` uses vLLM when installed;
  it is *untested here* (no GPU) and its sampling is not bit-identical to transformers'.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import logging
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from pns_hub import generation, models, negatives, verify


logger = logging.getLogger(__name__)

WORK_DIR = ".synthesis"
REJECTED_FILE = "rejected_problems.jsonl"
CHOICES = ("most_plausible", "random", "all")
PLAUSIBILITY_KEYS = ("composite", "rm", "judge")


@dataclass
class SynthesisConfig:
    """Everything that decides the dataset's content (hashed into the manifest) plus where it goes."""

    output_dir: str = field(default="outputs/pns-negatives", metadata={"help": "Hub-layout dataset folder to write."})
    dataset: str = field(default="gsm8k_train", metadata={"help": "Problem set name (pns_hub.data) or a .jsonl path."})
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
    format_filter: list[str] = field(default_factory=lambda: [negatives.PNS],
                                     metadata={"help": "Sources whose negatives must pass rewards.format_ok."})
    chosen_from_policy: bool = field(default=True, metadata={"help": "Prefer a correct policy sample over the gold."})
    backend: str = field(default="transformers", metadata={"help": "'transformers' or 'vllm' (vLLM untested here)."})
    vllm_gpu_memory_utilization: float = field(default=0.9, metadata={
        "help": "vLLM backend: share of the GPU its engine takes (vLLM's default 0.9 leaves no room for the RM and "
                "judge scorers that run beside it)."})
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
                  "seed_scope": (self.seed_scope, ("shard", "problem")), "backend": (self.backend, ("transformers", "vllm"))}
        for name, (value, allowed) in checks.items():
            if value not in allowed:
                raise ValueError(f"{name}={value!r}; choose from {list(allowed)}")
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
                "hub_private", "pretty_name", "vllm_gpu_memory_utilization"}
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


# --------------------------------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------------------------------
def features():
    """Explicit column types, so an all-null score column (scorer disabled) is still ``float64`` on every config."""
    from datasets import Features, List, Value

    message = List({"role": Value("string"), "content": Value("string")})
    cols = {"prompt": message, "chosen": message, "rejected": message}
    for name in ("problem_id", "source_dataset", "problem", "gold_answer", "chosen_answer", "rejected_answer",
                 "chosen_origin", "negative_source", "selection", "perturbation", "generator_id", "generator_revision",
                 "sampling_params"):
        cols[name] = Value("string")
    for name in ("rm_chosen", "rm_rejected", "rm_chosen_squashed", "rm_rejected_squashed", "judge_chosen",
                 "judge_rejected", "plausibility"):
        cols[name] = Value("float64")
    cols["rejected_format_ok"] = Value("bool")
    cols["rejected_truncated"] = Value("bool")
    for name in ("rejected_num_tokens", "rejected_num_chars", "chosen_num_chars", "candidate_index", "num_candidates"):
        cols[name] = Value("int64")
    return Features(cols)


def _format_ok(text: str, truncated: bool) -> bool:
    from pns_hub.rewards import format_ok

    return format_ok(text, truncated)


# --------------------------------------------------------------------------------------------------------------
# Input problems
# --------------------------------------------------------------------------------------------------------------
def _problem_issue(row) -> str | None:
    """Why a problem row cannot be used (None if it can)."""
    if not isinstance(row, dict):
        return f"row is a {type(row).__name__}, not an object"
    for name in ("id", "problem", "answer"):
        if not isinstance(row.get(name), str) or not row[name].strip():
            return f"field '{name}' missing or empty"
    if row.get("solution") is not None and not isinstance(row["solution"], str):
        return "field 'solution' is not a string"
    return None


def load_input_problems(config: SynthesisConfig) -> tuple[list[dict], list[dict]]:
    """Problems to use, and every input problem not used (malformed, duplicate) with the reason."""
    from pns_hub import data

    rejected: list[dict] = []
    if str(config.dataset).endswith(".jsonl"):
        rows, bad = data.load_jsonl_problems(config.dataset, on_error="collect")
        rejected += [{"problem_id": None, "reason": "malformed", **b} for b in bad]
        if config.limit:
            rows = rows[:config.limit]
    else:
        rows = data.load_problems(config.dataset, limit=config.limit)
    kept, seen_ids, seen_text = [], {}, {}
    for index, row in enumerate(rows):
        issue = _problem_issue(row)
        if issue:
            rejected.append({"problem_id": row.get("id") if isinstance(row, dict) else None, "index": index,
                             "reason": "malformed", "error": issue})
            continue
        text_key = " ".join(row["problem"].split()).lower()
        if row["id"] in seen_ids or text_key in seen_text:
            first = seen_ids.get(row["id"]) or seen_text.get(text_key)
            rejected.append({"problem_id": row["id"], "index": index, "reason": "duplicate",
                             "error": f"duplicate of problem {first}"})
            continue
        seen_ids[row["id"]] = row["id"]
        seen_text[text_key] = row["id"]
        kept.append(row)
    for item in rejected:
        logger.warning("input problem not used (%s): %s", item["reason"], item.get("error"))
    return kept, rejected


# --------------------------------------------------------------------------------------------------------------
# Sampling
# --------------------------------------------------------------------------------------------------------------
class _Samplers:
    """One loaded model per (spec, revision); samples are cached per (model, prompt kind) within a shard."""

    def __init__(self, config: SynthesisConfig):
        self.config = config
        self.loaded: dict = {}

    def _load(self, spec: str, revision: str | None):
        key = (spec, revision)
        if key not in self.loaded:
            if self.config.backend == "vllm":
                from vllm import LLM  # untested here: no GPU on the development machines

                self.loaded[key] = ("vllm", LLM(model=models.resolve_model_path(spec), revision=revision,
                                            gpu_memory_utilization=self.config.vllm_gpu_memory_utilization), None)
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
                results = _vllm_generate(model, [prompts[i] for i in idx], params)
            else:
                results = generation.generate(model, tokenizer, [prompts[i] for i in idx], params,
                                              batch_size=self.config.batch_size, progress=False, desc=kind)
            for i, res in zip(idx, results):
                out[i] = res
        return out


def _vllm_generate(llm, prompts, params: generation.SamplingParams) -> list[list]:
    """vLLM path (untested here): chat prompts, ``n=k`` samples, per-request seed."""
    from vllm import SamplingParams as VSP

    sp = VSP(n=params.num_samples, temperature=params.temperature, top_p=params.top_p,
             max_tokens=params.max_new_tokens, seed=params.seed)
    outputs = llm.chat(prompts, sp, use_tqdm=False)
    return [[generation.Completion(o.text, len(o.token_ids), o.finish_reason == "length") for o in out.outputs]
            for out in outputs]


# --------------------------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------------------------
def _squash(scorer, values):
    if hasattr(scorer, "squash"):
        return list(scorer.squash(values))
    return [1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, v)))) for v in values]


def composite(rm_squashed: float | None, judge: float | None) -> float | None:
    """PNS plausibility of a verified-wrong, well-formed answer: 0.5 + 0.25 sigma(RM) + 0.25 judge (pns.md 9.3).

    A disabled component's weight moves to the other one, as in ``rewards.get_composite_reward``.
    """
    if rm_squashed is None and judge is None:
        return None
    if judge is None:
        return 0.5 + 0.5 * rm_squashed
    if rm_squashed is None:
        return 0.5 + 0.5 * judge
    return 0.5 + 0.25 * rm_squashed + 0.25 * judge


def _score_all(rm_scorer, judge_scorer, pairs: list[tuple[str, str]]) -> tuple[list, list, list]:
    """(raw RM, squashed RM, judge) per (problem, completion); ``None`` columns for a disabled scorer."""
    n = len(pairs)
    if not n:
        return [], [], []
    problems, texts = [p for p, _ in pairs], [t for _, t in pairs]
    raw = squashed = judged = [None] * n
    if rm_scorer is not None:
        raw = [float(v) for v in rm_scorer.score(problems, texts)]
        squashed = _squash(rm_scorer, raw)
    if judge_scorer is not None:
        judged = [float(v) for v in judge_scorer.score(problems, texts)]
    return raw, squashed, judged


# --------------------------------------------------------------------------------------------------------------
# One shard
# --------------------------------------------------------------------------------------------------------------
def _model_id(spec: str) -> str:
    """A model as the dataset names it (columns and card): its Hub id and what it is, never a local path."""
    return models.display_name(spec)


def process_shard(problems: list[dict], config: SynthesisConfig, samplers: _Samplers, rm_scorer=None,
                  judge_scorer=None) -> dict:
    """Sample, verify, filter, score and pair one shard. Returns ``{"rows": {source: [...]}, "skipped": [...]}``."""
    sources = list(config.sources)
    k_params = json.dumps(config.sampling().to_dict() | {"seed_scope": config.seed_scope}, sort_keys=True)
    roles = {}  # source -> (spec, revision, prompt kind)
    if negatives.PNS in sources:
        roles[negatives.PNS] = (config.generator, config.generator_revision, "solve")
    if negatives.REJECTION_SAMPLING in sources or config.chosen_from_policy:
        roles["policy"] = (config.policy, config.policy_revision, "solve")
    if negatives.PROMPTED_WRONG in sources:
        roles[negatives.PROMPTED_WRONG] = (config.instruct_model, config.instruct_revision, "wrong")
    samples: dict[str, list[list]] = {}
    cache: dict[tuple, list[list]] = {}
    for role, key in roles.items():
        if key not in cache:  # e.g. generator == policy: sample once, use twice
            cache[key] = samplers.sample(key[0], key[1], key[2], problems)
        samples[role] = cache[key]
    # Verify every distinct sample once.
    flat, where = [], {}
    for key, per_problem in cache.items():
        for i, comps in enumerate(per_problem):
            for j, c in enumerate(comps):
                where[(key, i, j)] = len(flat)
                flat.append((c.text, problems[i]["answer"]))
    perturbed = []
    for i, p in enumerate(problems):
        out = negatives.perturb_solution(p.get("solution") or "", p["answer"], negatives.stable_seed(config.seed, "perturb", p["id"])) \
            if negatives.PERTURBED in sources and p.get("solution") else None
        perturbed.append(out)
        if out:
            where[("perturbed", i)] = len(flat)
            flat.append((out[0], p["answer"]))
    golds = [(p.get("solution"), p["answer"]) for p in problems]
    for i, (sol, ans) in enumerate(golds):
        if sol:
            where[("gold", i)] = len(flat)
            flat.append((sol, ans))
    results = verify.verify_batch([t for t, _ in flat], [g for _, g in flat], num_workers=config.verify_workers,
                                  timeout=config.verify_timeout)

    rows = {s: [] for s in sources}
    skipped: list[dict] = []
    candidates: dict[str, list[list[dict]]] = {s: [[] for _ in problems] for s in sources}
    chosen: list[dict | None] = []
    for i, p in enumerate(problems):
        pick = None
        if config.chosen_from_policy and "policy" in roles:
            key = roles["policy"]
            for j, c in enumerate(samples["policy"][i]):
                if results[where[(key, i, j)]].is_correct and _format_ok(c.text, c.truncated):
                    pick = {"text": c.text, "answer": results[where[(key, i, j)]].extracted, "origin": "policy"}
                    break
        if pick is None and ("gold", i) in where and results[where[("gold", i)]].is_correct:
            pick = {"text": p["solution"], "answer": results[where[("gold", i)]].extracted, "origin": "gold"}
        if pick is None:
            reason = "no verified-correct chosen (no correct policy sample; gold solution missing or not verifying)"
            skipped.append({"problem_id": p["id"], "source": "*", "reason": reason})
        chosen.append(pick)
        if pick is None:
            continue
        for source in sources:
            if source == negatives.PERTURBED:
                if perturbed[i] and results[where[("perturbed", i)]].is_valid_negative:
                    text = perturbed[i][0]
                    candidates[source][i].append({"text": text, "answer": results[where[("perturbed", i)]].extracted,
                                                  "num_tokens": None, "truncated": False, "index": 0,
                                                  "perturbation": perturbed[i][1]})
                continue
            role = negatives.PNS if source == negatives.PNS else ("policy" if source == negatives.REJECTION_SAMPLING else source)
            key = roles[role]
            seen = set()
            for j, c in enumerate(samples[role][i]):
                res = results[where[(key, i, j)]]
                if not res.is_valid_negative or c.text in seen:  # never a restatement or a non-answer
                    continue
                seen.add(c.text)
                if source in config.format_filter and not _format_ok(c.text, c.truncated):
                    continue
                candidates[source][i].append({"text": c.text, "answer": res.extracted, "num_tokens": c.num_tokens,
                                              "truncated": c.truncated, "index": j, "perturbation": None})
    # Score chosen + every candidate in one call per scorer.
    pairs, slots = [], []
    for i, p in enumerate(problems):
        if chosen[i] is None:
            continue
        slots.append(("chosen", i, None))
        pairs.append((p["problem"], chosen[i]["text"]))
        for source in sources:
            for cand in candidates[source][i]:
                slots.append((source, i, cand))
                pairs.append((p["problem"], cand["text"]))
    raw, squashed, judged = _score_all(rm_scorer, judge_scorer, pairs)
    for n, (kind, i, cand) in enumerate(slots):
        target = chosen[i] if kind == "chosen" else cand
        target.update(rm=raw[n], rm_sq=squashed[n], judge=judged[n], plaus=composite(squashed[n], judged[n]))

    for i, p in enumerate(problems):
        if chosen[i] is None:
            continue
        for source in sources:
            cands = candidates[source][i]
            if not cands:
                skipped.append({"problem_id": p["id"], "source": source, "reason": "no verified-wrong candidate"
                                + (" passing the format check" if source in config.format_filter else "")})
                continue
            for cand, selection in _select(source, cands, config, p["id"]):
                rows[source].append(_row(p, chosen[i], cand, source, selection, len(cands), config, k_params))
    return {"rows": rows, "skipped": skipped}


def _select(source: str, cands: list[dict], config: SynthesisConfig, problem_id: str):
    """Which negatives become rows: PNS follows ``rejected_choice``; baselines take one at random (seeded by id)."""
    rng = random.Random(negatives.stable_seed(config.seed, "select", source, problem_id))
    if source != negatives.PNS:
        return [(rng.choice(cands), "random")]
    if config.rejected_choice == "all":
        return [(c, "all") for c in cands]
    if config.rejected_choice == "most_plausible":
        key = {"composite": "plaus", "rm": "rm", "judge": "judge"}[config.plausibility]
        if all(c.get(key) is not None for c in cands):
            return [(max(cands, key=lambda c: (c[key], -c["index"])), f"most_plausible:{config.plausibility}")]
        logger.warning("rejected_choice=most_plausible but no %s score (no scorer configured): picking at random",
                       config.plausibility)
        return [(rng.choice(cands), f"random (no {config.plausibility} score)")]
    return [(rng.choice(cands), "random")]


def _row(p: dict, chosen: dict, cand: dict, source: str, selection: str, n_cands: int, config: SynthesisConfig,
         k_params: str) -> dict:
    if source == negatives.PNS:
        gen_id, gen_rev, params = _model_id(config.generator), config.generator_revision, k_params
    elif source == negatives.REJECTION_SAMPLING:
        gen_id, gen_rev, params = _model_id(config.policy), config.policy_revision, k_params
    elif source == negatives.PROMPTED_WRONG:
        gen_id, gen_rev = _model_id(config.instruct_model), config.instruct_revision
        params = json.dumps(json.loads(k_params) | {"prompt": "negatives.WRONG_PROMPT_TEMPLATE"}, sort_keys=True)
    else:
        gen_id, gen_rev = "pns_hub.negatives.perturb_solution", None
        params = json.dumps({"seed": config.seed, "seed_key": "perturb/<problem_id>"}, sort_keys=True)
    return {
        "prompt": generation.build_prompt(p["problem"]),
        "chosen": [{"role": "assistant", "content": chosen["text"]}],
        "rejected": [{"role": "assistant", "content": cand["text"]}],
        "problem_id": p["id"], "source_dataset": p.get("source") or config.dataset, "problem": p["problem"],
        "gold_answer": p["answer"], "chosen_answer": chosen["answer"], "rejected_answer": cand["answer"],
        "chosen_origin": chosen["origin"], "negative_source": source, "selection": selection,
        "perturbation": cand.get("perturbation"), "generator_id": gen_id, "generator_revision": gen_rev,
        "sampling_params": params,
        "rm_chosen": chosen.get("rm"), "rm_rejected": cand.get("rm"),
        "rm_chosen_squashed": chosen.get("rm_sq"), "rm_rejected_squashed": cand.get("rm_sq"),
        "judge_chosen": chosen.get("judge"), "judge_rejected": cand.get("judge"), "plausibility": cand.get("plaus"),
        "rejected_format_ok": _format_ok(cand["text"], bool(cand["truncated"])),
        "rejected_truncated": bool(cand["truncated"]),
        "rejected_num_tokens": cand["num_tokens"], "rejected_num_chars": len(cand["text"]),
        "chosen_num_chars": len(chosen["text"]), "candidate_index": cand["index"], "num_candidates": n_cands,
    }


# --------------------------------------------------------------------------------------------------------------
# Shards, manifest, resume, processes
# --------------------------------------------------------------------------------------------------------------
def plan_shards(problems: list[dict], shard_size: int) -> list[list[dict]]:
    return [problems[i:i + shard_size] for i in range(0, len(problems), shard_size)]


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@contextlib.contextmanager
def _locked(path: Path):
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _shard_path(work: Path, index: int) -> Path:
    return work / "shards" / f"shard-{index:05d}.json"


def read_manifest(work: Path) -> dict | None:
    path = work / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else None


def _init_manifest(work: Path, config_hash: str, shards: list[list[dict]], overwrite: bool) -> None:
    """Start or resume: a manifest made with another config is an error unless ``overwrite``."""
    (work / "shards").mkdir(parents=True, exist_ok=True)
    old = read_manifest(work)
    if old and old.get("config_hash") != config_hash:
        if not overwrite:
            raise RuntimeError(f"{work}: finished shards were made with another config (hash {old.get('config_hash')} "
                               f"!= {config_hash}); use a new output_dir or overwrite=True")
        for f in (work / "shards").glob("shard-*.json"):
            f.unlink()
        old = None
    manifest = old or {"config_hash": config_hash, "completed": {}}
    manifest["num_shards"] = len(shards)
    manifest["shards"] = {str(i): [p["id"] for p in s] for i, s in enumerate(shards)}
    # A shard listed but whose file is missing (deleted by hand) is simply redone.
    manifest["completed"] = {k: v for k, v in manifest["completed"].items() if _shard_path(work, int(k)).exists()}
    _atomic_write(work / "manifest.json", json.dumps(manifest, indent=1))


def _mark_done(work: Path, index: int, problem_ids: list[str], rank: int) -> None:
    with _locked(work / "manifest.lock"):
        manifest = read_manifest(work)
        manifest["completed"][str(index)] = {"problem_ids": problem_ids, "rank": rank, "time": time.time()}
        _atomic_write(work / "manifest.json", json.dumps(manifest, indent=1))


def completed_shards(work: Path, shards: list[list[dict]]) -> set[int]:
    """Shards whose file exists *and* whose manifest entry lists the planned problem ids."""
    manifest = read_manifest(work) or {"completed": {}}
    done = set()
    for key, entry in manifest["completed"].items():
        i = int(key)
        if i < len(shards) and entry["problem_ids"] == [p["id"] for p in shards[i]] and _shard_path(work, i).exists():
            done.add(i)
    return done


def _build_scorers(config: SynthesisConfig, rm_scorer, judge_scorer):
    if rm_scorer is None and config.reward_model:
        from pns_hub.reward_model import RewardModelScorer

        rm_scorer = RewardModelScorer(config.reward_model)
    if judge_scorer is None and config.judge_model:
        from pns_hub.judge import CoTJudge

        judge_scorer = CoTJudge(config.judge_model)
    return rm_scorer, judge_scorer


def _process_state():
    """accelerate's process group. On a CPU-only machine ``cpu=True`` is what turns a ``torchrun`` launch into a
    gloo group (MULTI_CPU); without it every rank believes it is alone and redoes all the work."""
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


def run_shards(config: SynthesisConfig, problems: list[dict], rm_scorer=None, judge_scorer=None,
               after_shard: Callable[[int], None] | None = None, state=None) -> list[list[dict]]:
    """Process every unfinished shard on this rank; returns the shard plan. ``after_shard`` is a test hook."""
    from accelerate import PartialState

    state = state or _process_state()
    work = Path(config.output_dir) / WORK_DIR
    shards = plan_shards(problems, config.shard_size)
    config_hash = config.content_hash([p["id"] for p in problems])
    if state.is_main_process:
        _init_manifest(work, config_hash, shards, config.overwrite)
    state.wait_for_everyone()
    done = completed_shards(work, shards)
    pending = [i for i in range(len(shards)) if i not in done]
    if done:
        logger.info("resuming: %d of %d shards already done", len(done), len(shards))
    if state.num_processes > 1 and "PNS_HUB_THREADS" not in os.environ:
        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // state.num_processes))
    with state.split_between_processes(pending) as mine:
        mine = list(mine)
        samplers = _Samplers(config)
        rm_scorer, judge_scorer = _build_scorers(config, rm_scorer, judge_scorer) if mine else (None, None)
        bar = None
        if config.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(mine), desc=f"synthesize (rank {state.process_index})", unit="shard")
        for i in mine:
            result = process_shard(shards[i], config, samplers, rm_scorer, judge_scorer)
            result |= {"shard": i, "problem_ids": [p["id"] for p in shards[i]], "config_hash": config_hash}
            _atomic_write(_shard_path(work, i), json.dumps(result))
            _mark_done(work, i, result["problem_ids"], state.process_index)
            if bar:
                bar.update()
            if after_shard:
                after_shard(i)
        if bar:
            bar.close()
    state.wait_for_everyone()
    return shards


def merge_shards(config: SynthesisConfig, shards: list[list[dict]]) -> tuple[dict[str, list[dict]], list[dict]]:
    """Rows per source in shard order, duplicates (same problem, chosen and rejected text) removed."""
    work = Path(config.output_dir) / WORK_DIR
    rows = {s: [] for s in config.sources}
    skipped: list[dict] = []
    seen = {s: set() for s in config.sources}
    for i in range(len(shards)):
        path = _shard_path(work, i)
        if not path.exists():
            raise RuntimeError(f"{path}: shard {i} is missing; rerun to finish it")
        data = json.loads(path.read_text())
        skipped += data["skipped"]
        for source in config.sources:
            for row in data["rows"].get(source, []):
                key = (row["problem_id"], row["chosen"][0]["content"], row["rejected"][0]["content"])
                if key in seen[source]:
                    skipped.append({"problem_id": row["problem_id"], "source": source, "reason": "duplicate row"})
                    continue
                seen[source].add(key)
                rows[source].append(row)
    return rows, skipped


# --------------------------------------------------------------------------------------------------------------
# The dataset folder
# --------------------------------------------------------------------------------------------------------------
def source_license(dataset: str) -> str:
    from pns_hub import data

    spec = data.ALL_SETS.get(dataset)
    return spec.license if spec else "unknown (user-supplied problems)"


def _card(config: SynthesisConfig, datasets_by_source: dict, report_md: str, skipped: list[dict],
          rejected_inputs: list[dict], n_problems: int) -> str:
    from collections import Counter

    from pns_hub import data, hub

    spec = data.ALL_SETS.get(config.dataset)
    skip_counts = Counter((s["source"], s["reason"]) for s in skipped)
    return hub.render_card(
        "dataset.md",
        pretty_name=config.pretty_name,
        license=_hub_license(source_license(config.dataset)),
        source_license=source_license(config.dataset),
        source_dataset=config.dataset,
        source_hub_id=spec.hub_id if spec else None,
        num_problems=n_problems,
        configs=[{"name": s, "rows": len(d), "description": negatives.SOURCE_DESCRIPTIONS[s]}
                 for s, d in datasets_by_source.items()],
        generator=_model_id(config.generator), generator_revision=config.generator_revision,
        policy=_model_id(config.policy), instruct_model=_model_id(config.instruct_model),
        reward_model=config.reward_model and _model_id(config.reward_model),
        judge_model=config.judge_model and _model_id(config.judge_model),
        build_notes=sorted({f"{role}: {note}" for role, (spec, _) in config._models_used().items()
                            if (note := models.build_note(spec))}),
        rejected_choice=config.rejected_choice, plausibility=config.plausibility,
        sampling=json.dumps(config.sampling().to_dict() | {"seed_scope": config.seed_scope}, sort_keys=True),
        repo_id=config.hub_repo_id or "<org>/<name>",
        skipped=[{"source": s, "reason": r, "count": c} for (s, r), c in sorted(skip_counts.items())],
        rejected_inputs=len(rejected_inputs),
        report_table=report_md,
        version=__import__("pns_hub").__version__,
    )


def _hub_license(text: str) -> str:
    """The Hub's licence identifier for the card's YAML; free text stays in the body."""
    known = {"MIT": "mit", "Apache-2.0": "apache-2.0", "CC BY-NC-SA 4.0": "cc-by-nc-sa-4.0"}
    return known.get(text, "other")


def write_folder(config: SynthesisConfig, rows: dict[str, list[dict]], skipped: list[dict],
                 rejected_inputs: list[dict], n_problems: int) -> Path:
    """Datasets per source -> parquet in Hub layout, plausibility report (PNG + table), card, rejected rows."""
    from datasets import Dataset

    from pns_hub import hub, report

    folder = Path(config.output_dir)
    feats = features()
    configs = {s: Dataset.from_list(rows[s], features=feats) if rows[s] else Dataset.from_dict(
        {k: [] for k in feats}, features=feats) for s in config.sources}
    stats = report.plausibility_stats({s: rows[s] for s in config.sources})
    report.plot(stats, {s: rows[s] for s in config.sources}, folder / "plausibility.png")
    table = report.markdown_table(stats)
    (folder / "plausibility.json").write_text(json.dumps(stats, indent=1))
    with open(folder / REJECTED_FILE, "w", encoding="utf-8") as handle:
        for item in rejected_inputs:
            handle.write(json.dumps(item, default=str) + "\n")
    card = _card(config, configs, table, skipped, rejected_inputs, n_problems)
    default = negatives.PNS if negatives.PNS in configs else next(iter(configs))
    hub.write_dataset_folder(folder, configs, card, default=default)
    return folder


def synthesize_dataset(config: SynthesisConfig, rm_scorer=None, judge_scorer=None,
                       after_shard: Callable[[int], None] | None = None) -> Path:
    """Build every configured source into ``config.output_dir`` (Hub layout + card + report); push if asked.

    ``rm_scorer`` / ``judge_scorer``: objects with ``score(problems, completions)`` (RM: raw logits and optionally
    ``squash``; judge: [0, 1]) that override ``config.reward_model`` / ``config.judge_model``; ``None`` + no spec
    leaves the column null. Safe to call again after a crash: finished shards are reused.
    """
    state = _process_state()
    problems, rejected_inputs = load_input_problems(config)
    if not problems:
        raise ValueError(f"{config.dataset}: no usable problems ({len(rejected_inputs)} rejected)")
    Path(config.output_dir).mkdir(parents=True, exist_ok=True)
    shards = run_shards(config, problems, rm_scorer, judge_scorer, after_shard, state)
    folder = Path(config.output_dir)
    if state.is_main_process:
        rows, skipped = merge_shards(config, shards)
        write_folder(config, rows, skipped, rejected_inputs, len(problems))
        logger.info("wrote %s: %s", folder, {s: len(r) for s, r in rows.items()})
        if config.push_to_hub:
            push(folder, config.hub_repo_id, endpoint=config.hub_endpoint, private=config.hub_private)
    state.wait_for_everyone()
    return folder


def push(folder: Path, repo_id: str, endpoint: str | None = None, token: str | None = None,
         private: bool | None = None, api=None) -> str:
    """Upload the dataset folder in one commit (the work directory with its shards stays local)."""
    from pns_hub import hub

    return hub.push_folder(folder, repo_id, repo_type="dataset", token=token, endpoint=endpoint, private=private,
                           commit_message="Upload PNS negatives dataset with pns-hub",
                           ignore_patterns=[f"{WORK_DIR}/*", f"{WORK_DIR}/**"], api=api)


def cli_main(argv: list[str] | None = None) -> int:
    """``pns-hub synthesize [--config recipe.yaml] [--field value ...]`` (TrlParser: YAML + overrides)."""
    from trl import TrlParser

    parser = TrlParser((SynthesisConfig,))
    (config,) = parser.parse_args_and_config(args=argv)
    folder = synthesize_dataset(config)
    print(folder)
    return 0
