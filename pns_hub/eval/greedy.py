"""Greedy accuracy of a fixed model on a list of problems: the evaluation ``pns-hub demo`` and the experiments run,
and the one ``pns-hub reproduce`` re-runs for their records.

Why not lighteval here: lighteval costs minutes per benchmark on this CPU and picks its own problems (``max_samples``
after its fixed shuffle); the batched sampler + math-verify gives the same greedy accuracy in a fraction of the time
on exactly the problems named, with per-problem results for paired comparisons. What defines the run (problem ids,
token budget, seed, engine, precision) goes into the record (``HARNESS``), so that a reproduction can run it again
exactly and name what it could not match.
"""

from __future__ import annotations

import hashlib
import json
import os
from contextlib import contextmanager

HARNESS = "pns-hub-greedy"  # the record's ``harness`` for this evaluation (lighteval's records say "lighteval")
DTYPE = "float32"


def prediction_digest(prompts_and_texts) -> str:
    """sha256 of every (prompt, generated texts) pair, sorted so the order of the problems does not matter.

    Why: at a small budget two models can score the same, so equal scores cannot tell a reproduction of the right
    model from one of the wrong model; greedy text can (deterministic for given weights, engine and dtype)."""
    pairs = sorted(json.dumps([prompt, list(texts)], ensure_ascii=False) for prompt, texts in prompts_and_texts)
    return hashlib.sha256("\n".join(pairs).encode()).hexdigest()


@contextmanager
def engine(name: str | None):
    """Within the block, fixed models are sampled by ``name`` (``PNS_HUB_GENERATE_BACKEND``; ``None``: unchanged).
    A reproduction runs on the engine that made the record, not on whatever this machine would pick."""
    if name is None:
        yield
        return
    before = os.environ.get("PNS_HUB_GENERATE_BACKEND")
    os.environ["PNS_HUB_GENERATE_BACKEND"] = name
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PNS_HUB_GENERATE_BACKEND", None)
        else:
            os.environ["PNS_HUB_GENERATE_BACKEND"] = before


def evaluate(model: str, rows: list[dict], max_tokens: int, seed: int, dtype: str = DTYPE) -> dict:
    """Greedy completions of ``rows`` (``pns_hub.data`` schema) graded by math-verify: 0/1 per problem id, accuracy
    with its Wilson 95% interval, truncations, the engine that ran and the digest of the generated text."""
    from pns_hub import stats
    from pns_hub.engines.backends import fixed_model_backend, generate_from_folder
    from pns_hub.engines.generation import SamplingParams, build_prompt
    from pns_hub.grading import verify

    params = SamplingParams(num_samples=1, max_new_tokens=max_tokens, temperature=0.0, seed=seed)
    prompts = [build_prompt(r["problem"]) for r in rows]
    outs = generate_from_folder(model, prompts, params, batch_size=64, dtype=dtype, progress=False)
    texts = [o[0].text for o in outs]
    checks = verify.verify_batch(texts, [r["answer"] for r in rows], num_workers=0)
    correct = {r["id"]: int(c.is_correct) for r, c in zip(rows, checks)}
    digest = prediction_digest((json.dumps(p, ensure_ascii=False), [t]) for p, t in zip(prompts, texts))
    return {"per_problem": correct, "accuracy": stats.accuracy(list(correct.values())).to_dict(),
            "truncated": sum(o[0].truncated for o in outs), "backend": fixed_model_backend(dtype),
            "predictions": digest, "dtype": dtype, "seed": seed, "max_new_tokens": max_tokens}


def problems_by_id(benchmark: str, ids: list[str]) -> tuple[list[dict], list[str]]:
    """The rows of ``benchmark`` with these ids, in the given order, and the ids it does not have."""
    from pns_hub.data.problems import load_problems

    index = {r["id"]: r for r in load_problems(benchmark)}
    return [index[i] for i in ids if i in index], [i for i in ids if i not in index]


def to_record(model_id: str, method: str, source: str | None, base: str | None, result: dict,
              benchmark: str = "testbed"):
    """One :func:`evaluate` result as a leaderboard record that names everything that defined the run (problem ids,
    greedy, seed, token budget, engine, dtype, text digest), so ``pns-hub reproduce`` can re-run exactly that."""
    from datetime import datetime, timezone

    from pns_hub.eval.results import ResultRecord, git_commit, intervals_from_counts

    per = {benchmark: result["per_problem"]}
    digest = result.get("predictions")  # absent in a demo stage cached before digests were kept
    return ResultRecord(model=model_id, method=method, scores={benchmark: result["accuracy"]["value"]}, base=base,
                        negative_source=source, per_problem=per, intervals=intervals_from_counts(per, 1),
                        limit=len(result["per_problem"]), commit=git_commit(), dtype=result.get("dtype", DTYPE),
                        date=datetime.now(timezone.utc).isoformat(timespec="seconds"), engine=result.get("backend"),
                        predictions={benchmark: digest} if digest else {}, harness=HARNESS, temperature=0.0,
                        seed=result.get("seed"), max_new_tokens=result.get("max_new_tokens"))
