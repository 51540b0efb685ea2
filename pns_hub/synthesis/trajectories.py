"""Sample k solutions per problem, label each with the verifier, and write an SFT dataset of trajectories.

This is the data GLOW (and plain positive-only SFT, its baseline) trains on: conversational ``messages`` (the shared
prompt from :func:`pns_hub.engines.generation.build_prompt` + the sampled solution), a ``label`` (positive = verified correct,
negative = wrong or no final answer), and the evidence behind it (extracted answer, verdict, reason, gold).

Configs: ``all`` (every row), ``positive``, ``negative``. A completion the verifier could not decide
(``unverifiable``) is labelled ``unknown``: it is kept in ``all`` (nothing is dropped silently; GLOW trains on
unfiltered samples) and counted in the card, but belongs to neither side.

The embedded 135M model is ~0% accurate, so by default each problem's reference solution is added as a positive
trajectory (``source = "gold"``, ``sample_id = "<problem_id>/gold"``), verified like any other row.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from pathlib import Path


logger = logging.getLogger(__name__)

POSITIVE, NEGATIVE, UNKNOWN = "positive", "negative", "unknown"
CONFIGS = ("all", "positive", "negative")


def label_for(verdict: str) -> str:
    """positive = verified correct; negative = wrong or unparseable (a failed attempt); unknown = undecidable."""
    from pns_hub.grading import verify
    if verdict == verify.CORRECT:
        return POSITIVE
    if verdict in (verify.WRONG, verify.UNPARSEABLE):
        return NEGATIVE
    return UNKNOWN


def build_rows(problems: list[dict], completions: list[list], results: list, model_id: str,
               gold_results: list | None = None) -> list[dict]:
    """One row per sampled completion (and per gold solution, when ``gold_results`` is given), in problem order."""
    from pns_hub.engines.generation import build_prompt

    rows, cursor = [], 0
    for p_index, problem in enumerate(problems):
        prompt = build_prompt(problem["problem"])
        candidates = [(f"{problem['id']}/{k}", c.text, "model", c.num_tokens, c.truncated)
                      for k, c in enumerate(completions[p_index])]
        for sample_id, text, source, num_tokens, truncated in candidates:
            result = results[cursor]
            cursor += 1
            rows.append(_row(sample_id, problem, prompt, text, source, model_id, result, num_tokens, truncated))
        if gold_results is not None and problem.get("solution"):
            result = gold_results[p_index]
            rows.append(_row(f"{problem['id']}/gold", problem, prompt, problem["solution"], "gold", model_id,
                             result, None, False))
    return rows


def _row(sample_id, problem, prompt, text, source, model_id, result, num_tokens, truncated) -> dict:
    return {
        "sample_id": sample_id,
        "problem_id": problem["id"],
        "problem": problem["problem"],
        "messages": prompt + [{"role": "assistant", "content": text}],
        "label": label_for(result.verdict),
        "extracted_answer": result.extracted,
        "verdict": result.verdict,
        "reason": result.reason,
        "gold": problem["answer"],
        "source": source,
        "generator": model_id if source == "model" else "reference solution",
        "num_tokens": num_tokens,
        "truncated": truncated,
    }


def split_configs(rows: list[dict]) -> dict:
    """The three configs as ``datasets.Dataset`` objects (an empty side keeps the schema of ``all``)."""
    from datasets import Dataset

    full = Dataset.from_list(rows)
    return {
        "all": full,
        "positive": full.filter(lambda r: r["label"] == POSITIVE),
        "negative": full.filter(lambda r: r["label"] == NEGATIVE),
    }


def sample_trajectories(
    model_name_or_path: str | None = None,
    dataset_name: str | None = None,
    limit: int | None = None,
    num_samples: int = 4,
    max_new_tokens: int = 256,
    temperature: float = 0.7,
    top_p: float = 0.95,
    seed: int = 0,
    batch_size: int = 32,
    dtype: str = "auto",
    include_gold_positives: bool = True,
    verify_workers: int | None = None,
    output_dir: str = "data/trajectories",
    push_repo_id: str | None = None,
    problems: list[dict] | None = None,
    progress: bool = True,
) -> dict:
    """Sample, verify, label and write the trajectories dataset folder; returns a summary dict.

    ``problems`` (rows of :func:`pns_hub.data.problems.load_problems`' schema) overrides loading ``dataset_name``
    (default ``gsm8k_train``) with ``limit``; it then needs ``dataset_name`` to say what they are, since the name is
    what the dataset card states as the source (a testbed run once shipped a card naming ``gsm8k_train``).
    """
    from pns_hub.data import problems as data
    from pns_hub import hub
    from pns_hub import models
    from pns_hub.grading import verify
    from pns_hub.engines.backends import generate_from_folder
    from pns_hub.engines.generation import SamplingParams, build_prompt

    model_name_or_path = model_name_or_path or models.EMBEDDED_DEFAULT
    if problems is None:
        dataset_name = dataset_name or "gsm8k_train"
        problems = data.load_problems(dataset_name, limit=limit)
    elif not dataset_name:
        raise ValueError("sample_trajectories: `problems` were passed without `dataset_name`; name what they are (e.g. "
                         "'testbed_train[400:424]'): the card states it as the trajectories' source")
    if not problems:
        raise ValueError(f"no problems to sample from ({dataset_name}, limit={limit})")
    params = SamplingParams(num_samples=num_samples, max_new_tokens=max_new_tokens, temperature=temperature,
                            top_p=top_p, seed=seed)
    start = time.perf_counter()
    models.configure_threads()
    completions = generate_from_folder(model_name_or_path, [build_prompt(p["problem"]) for p in problems], params,
                                       batch_size=batch_size, dtype=dtype, progress=progress,
                                       desc="sample trajectories")
    gen_seconds = time.perf_counter() - start
    texts = [c.text for per_problem in completions for c in per_problem]
    golds = [p["answer"] for p, per_problem in zip(problems, completions) for _ in per_problem]
    results = verify.verify_batch(texts, golds, num_workers=verify_workers, progress=progress)
    gold_results = None
    if include_gold_positives:
        gold_results = verify.verify_batch([p.get("solution") or "" for p in problems],
                                           [p["answer"] for p in problems], num_workers=verify_workers)
    model_id = models.display_name(model_name_or_path)
    rows = build_rows(problems, completions, results, model_id, gold_results)
    configs = split_configs(rows)
    counts = Counter(r["label"] for r in rows)
    verdicts = Counter((r["source"], r["verdict"]) for r in rows)
    summary = {
        "model": model_id,
        "model_spec": model_name_or_path,
        "dataset_name": dataset_name,
        "num_problems": len(problems),
        "num_rows": len(rows),
        "labels": {k: counts.get(k, 0) for k in (POSITIVE, NEGATIVE, UNKNOWN)},
        "verdicts": [{"source": s, "verdict": v, "count": n} for (s, v), n in sorted(verdicts.items())],
        "model_accuracy": sum(r["label"] == POSITIVE for r in rows if r["source"] == "model")
        / max(1, sum(r["source"] == "model" for r in rows)),
        "include_gold_positives": include_gold_positives,
        "sampling": params.to_dict(),
        "generation_seconds": round(gen_seconds, 1),
        "output_dir": str(output_dir),
    }
    card = hub.render_card("trajectories.md", summary=summary, configs={k: len(v) for k, v in configs.items()},
                           repo_id=push_repo_id or Path(output_dir).name)
    hub.write_dataset_folder(output_dir, configs, card, default="all")
    logger.info("wrote %d trajectories (%s) to %s", len(rows), summary["labels"], output_dir)
    if push_repo_id:
        summary["pushed"] = hub.push_folder(output_dir, push_repo_id, repo_type="dataset",
                                            commit_message="Upload trajectories dataset with pns-hub")
    return summary


def cli_main(argv: list[str]) -> int:
    """``pns-hub trajectories``: same options as the recipe (``--config recipes/.../sample_trajectories.yaml``)."""
    from trl import TrlParser

    from pns_hub.trainers.configs import TrajectoryArguments

    (args,) = TrlParser((TrajectoryArguments,), prog="pns-hub trajectories").parse_args_and_config(argv)
    summary = sample_trajectories(**vars(args))
    print(summary)
    return 0


__all__ = ["sample_trajectories", "build_rows", "split_configs", "label_for", "cli_main", "CONFIGS"]
