"""Synthesis, one shard end to end: sample, verify, filter, score and pair; plus the row schema.

``rejected`` is always a *valid negative* (``VerifyResult.is_valid_negative``); ``chosen`` is always verified correct:
the policy's own correct sample when it has one, else the gold solution (same for every source of a problem, so the
sources differ only in their negatives). Every distinct sample is verified once per shard.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from pns_hub.engines import generation

from pns_hub import models

from pns_hub.synthesis import baselines as negatives

from pns_hub.grading import verify
from pns_hub.synthesis.selection import plausibility, score_all, select_negatives

if TYPE_CHECKING:
    from pns_hub.synthesis.sampling import Samplers
    from pns_hub.synthesis.config import SynthesisConfig


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
    from pns_hub.grading.answer_format import format_ok

    return format_ok(text, truncated)


def model_id(spec: str) -> str:
    """A model as the dataset names it (columns and card): its Hub id and what it is, never a local path."""
    return models.display_name(spec)



def process_shard(problems: list[dict], config: SynthesisConfig, samplers: Samplers, rm_scorer=None,
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
    perturbed = [_perturbations(p, config) if negatives.PERTURBED in sources else [] for p in problems]
    for i, outs in enumerate(perturbed):
        for j, out in enumerate(outs):
            where[("perturbed", i, j)] = len(flat)
            flat.append((out[0], problems[i]["answer"]))
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
                seen = set()
                for j, (text, how) in enumerate(perturbed[i]):
                    res = results[where[("perturbed", i, j)]]
                    if not res.is_valid_negative or text in seen:
                        continue
                    seen.add(text)
                    if source in config.format_filter and not _format_ok(text, False):
                        continue
                    candidates[source][i].append({"text": text, "answer": res.extracted, "num_tokens": None,
                                                  "truncated": False, "index": j, "perturbation": how})
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
    raw, squashed, judged = score_all(rm_scorer, judge_scorer, pairs)
    for n, (kind, i, cand) in enumerate(slots):
        target = chosen[i] if kind == "chosen" else cand
        target.update(rm=raw[n], rm_sq=squashed[n], judge=judged[n], plaus=plausibility(config, squashed[n], judged[n]))

    for i, p in enumerate(problems):
        if chosen[i] is None:
            continue
        for source in sources:
            cands = candidates[source][i]
            if not cands:
                skipped.append({"problem_id": p["id"], "source": source, "reason": "no verified-wrong candidate"
                                + (" passing the format check" if source in config.format_filter else "")})
                continue
            for cand, selection in select_negatives(source, cands, config, p["id"]):
                rows[source].append(_row(p, chosen[i], cand, source, selection, len(cands), config, k_params))
    return {"rows": rows, "skipped": skipped, "sample_stats": _sample_stats(problems, samples, roles, results, where)}


def _perturbations(problem: dict, config: SynthesisConfig) -> list[tuple[str, str]]:
    """Up to ``num_samples`` distinct perturbed gold solutions: the same candidate budget k as the sampled sources
    (the fair protocol), each from its own seed (seed, problem id, j) so the set does not depend on sharding."""
    if not problem.get("solution"):
        return []
    outs, seen = [], set()
    for j in range(config.num_samples):
        seed = negatives.stable_seed(config.seed, "perturb", problem["id"]) if j == 0 else \
            negatives.stable_seed(config.seed, "perturb", problem["id"], j)  # j = 0 keeps the old single perturbation
        out = negatives.perturb_solution(problem["solution"], problem["answer"], seed)
        if out and out[0] not in seen:
            seen.add(out[0])
            outs.append(out)
    return outs


def _sample_stats(problems, samples, roles, results, where) -> dict[str, list[dict]]:
    """Per sampled completion of the generator (``pns``) and the policy: its problem, whether it is well-formed and
    the verifier's verdict. Why: the generator report (before vs after GRPO) needs the wrong rate among *all*
    well-formed samples, not only among the negatives that became candidates."""
    out = {}
    for role in (negatives.PNS, "policy"):
        if role not in samples:
            continue
        out[role] = [{"problem_id": problems[i]["id"], "format_ok": _format_ok(c.text, c.truncated),
                      "verdict": results[where[(roles[role], i, j)]].verdict}
                     for i, comps in enumerate(samples[role]) for j, c in enumerate(comps)]
    return out


def _row(p: dict, chosen: dict, cand: dict, source: str, selection: str, n_cands: int, config: SynthesisConfig,
         k_params: str) -> dict:
    if source == negatives.PNS:
        gen_id, gen_rev, params = model_id(config.generator), config.generator_revision, k_params
    elif source == negatives.REJECTION_SAMPLING:
        gen_id, gen_rev, params = model_id(config.policy), config.policy_revision, k_params
    elif source == negatives.PROMPTED_WRONG:
        gen_id, gen_rev = model_id(config.instruct_model), config.instruct_revision
        params = json.dumps(json.loads(k_params) | {"prompt": "negatives.WRONG_PROMPT_TEMPLATE"}, sort_keys=True)
    else:
        gen_id, gen_rev = "pns_hub.synthesis.baselines.perturb_solution", None
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
