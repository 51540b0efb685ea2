"""lighteval 0.13 custom tasks for the seven pns_hub benchmarks and the testbed, with one prompt and one scorer.

Use: ``lighteval accelerate "model_name=...,generation_parameters={...}" "pns_gsm8k|0,pns_aime24|0"
--custom-tasks pns_hub/eval/tasks.py`` (or ``pns-hub eval``, which wraps this).

Why custom tasks rather than lighteval's built-ins: the built-ins use a different prompt per benchmark (gsm8k even
caps generation at 256 tokens), lack amc23 and minerva_math, and score olympiad_bench by exact match. Here every task
uses ``pns_hub.engines.generation.PROMPT_TEMPLATE`` (the prompt the training data were made with) and scores with
``pns_hub.grading.verify`` (math-verify behind a size guard), so an eval score means the same thing as a training reward.
Names carry a ``pns_`` prefix because lighteval refuses custom tasks that reuse a built-in name.

Offline by design: lighteval loads data with ``datasets.load_dataset(path=hf_repo)``, so each task's ``hf_repo`` is a
local folder holding ``test.jsonl`` written from the bundled copies (``pns_hub.data.problems.load_problems``). The folder is
``$PNS_EVAL_DATA_DIR`` or ``<pns_hub cache>/eval_data``; it is (re)written when missing or stale.

Samples per problem come from ``$PNS_EVAL_NUM_SAMPLES`` (default 1) and the generation length from
``$PNS_EVAL_MAX_NEW_TOKENS`` (default: per task) when lighteval imports this file; ``pns-hub
eval`` builds the table itself with :func:`build_tasks`. Metrics per task: ``pass@1`` (the mean over the n samples,
i.e. avg@n) and ``pass@k`` for k = 2, 4, ..., n with the unbiased estimator.

Caveat when calling ``lighteval accelerate`` directly with n > 1: lighteval 0.13 never sets ``do_sample``, so the
model's own generation config must enable sampling; ``pns-hub eval`` sets it whenever temperature > 0.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np
from lighteval.metrics.metrics_sample import SampleLevelComputation, SamplingMetric
from lighteval.metrics.utils.metric_utils import SampleLevelMetricGrouping
from lighteval.models.model_output import ModelResponse
from lighteval.tasks.lighteval_task import LightevalTaskConfig
from lighteval.tasks.requests import Doc, SamplingMethod

from pns_hub.data.problems import BENCHMARK_NAMES, EVAL_NAMES, load_problems
from pns_hub.eval.passk import curve_ks, pass_at_k
from pns_hub.engines.generation import PROMPT_TEMPLATE
from pns_hub.grading.verify import verify_batch


TASK_PREFIX = "pns_"
# Token budget per benchmark, from the bundled gold worked solutions (embedded tokenizer; pns_hub/eval/lengths.py
# states the rule and reprints the table): the smallest power of two >= 2 x their 99th-percentile length, so a model
# wordier than the reference solutions is still judged on its answer. Measured p99 / max tokens: gsm8k 239 / 313 ->
# 512, math_500 875 / 1,549 -> 2,048, minerva_math 540 / 688 -> 2,048; aime24 4,365 and olympiadbench 3,456 / 4,661
# -> 8,192 (the cap, the embedded model's context), as aime25 and amc23 (no worked solutions). Memory does not grow
# unchecked with these lengths: pns_hub.eval.model caps each batch's KV cache.
GENERATION_SIZE = {"gsm8k": 512, "math_500": 2048, "minerva_math": 2048}
DEFAULT_GENERATION_SIZE = 8192
DATA_FORMAT_VERSION = "1"
# The testbed's gold solutions are 40-120 tokens; 512 leaves a slow reasoner room and stops a looping one early.
GENERATION_SIZE_TESTBED = 512


def task_name(bench: str) -> str:
    return f"{TASK_PREFIX}{bench}"


# --------------------------------------------------------------------------------------------------------------
# Data: bundled problems -> local folders lighteval can load_dataset() offline
# --------------------------------------------------------------------------------------------------------------
def default_data_dir() -> Path:
    from pns_hub.models import cache_dir

    return Path(os.environ.get("PNS_EVAL_DATA_DIR") or cache_dir() / "eval_data")


def prepare_data(data_dir: str | Path | None = None, benchmarks=BENCHMARK_NAMES) -> dict[str, Path]:
    """Write ``<data_dir>/<bench>/test.jsonl`` (shared schema) for each benchmark; return bench -> folder.

    A marker with a hash of the rows makes a rerun skip the write, and a changed bundled copy rewrite it. Files are
    written to a temp name and renamed, so a concurrent lighteval never reads half a file.
    """
    data_dir = Path(data_dir or default_data_dir())
    folders = {}
    for bench in benchmarks:
        rows = load_problems(bench)
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        digest = hashlib.sha256((DATA_FORMAT_VERSION + text).encode()).hexdigest()[:16]
        folder = data_dir / bench
        marker = folder / ".pns_hub_digest"
        if not (marker.exists() and marker.read_text() == digest and (folder / "test.jsonl").exists()):
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", dir=folder, delete=False, suffix=".tmp", encoding="utf-8") as tmp:
                tmp.write(text)
            os.replace(tmp.name, folder / "test.jsonl")
            marker.write_text(digest)
        folders[bench] = folder
    return folders


# --------------------------------------------------------------------------------------------------------------
# Prompt and scorer
# --------------------------------------------------------------------------------------------------------------
def pns_prompt(line: dict, task_name: str | None = None) -> Doc:
    """One row of the shared schema -> lighteval Doc with THE pns_hub prompt (lighteval adds the chat template)."""
    return Doc(
        task_name=task_name,
        query=PROMPT_TEMPLATE.format(problem=line["problem"]),
        choices=[str(line["answer"])],
        gold_index=0,
        specific={"id": line.get("id"), "source": line.get("source")},
    )


def score_predictions(predictions: list[str], gold: str) -> list[int]:
    """1/0 per prediction, exactly ``pns_hub.grading.verify``'s ``correct`` verdict (wrong, unparseable, unverifiable -> 0).

    Few predictions are checked in-process (a worker pool costs more than it saves); many go through the watchdog
    pool so one pathological answer cannot stall a 256-sample evaluation.
    """
    workers = 0 if len(predictions) < 16 else None
    return [int(r.is_correct) for r in verify_batch(predictions, [gold] * len(predictions), num_workers=workers)]


class PnsMathSampling(SamplingMetric, SampleLevelComputation):
    """pass@1 (= avg@n) and unbiased pass@k for k in ``ks``, from n samples scored by ``pns_hub.grading.verify``."""

    def __init__(self, n: int = 1, ks: list[int] | None = None):
        super().__init__()
        self.n = n
        self.ks = ks or curve_ks(n)

    @property
    def metric_names(self) -> list[str]:
        return [f"pass@{k}" for k in self.ks]

    def compute(self, doc: Doc, model_response: ModelResponse, **kwargs) -> dict[str, float]:
        golds = doc.get_golds()
        if len(golds) != 1:
            raise ValueError(f"task {doc.task_name}: expected one gold answer, got {len(golds)}")
        predictions = list(model_response.final_text)[: self.n]
        if len(predictions) < self.n:
            raise ValueError(f"task {doc.task_name}: {len(predictions)} predictions for n={self.n} samples")
        correct = sum(score_predictions(predictions, golds[0]))
        return {f"pass@{k}": pass_at_k(self.n, correct, k) for k in self.ks}

    def num_samples(self) -> int:
        return self.n


def make_metric(n: int = 1) -> SampleLevelMetricGrouping:
    fn = PnsMathSampling(n=n)
    names = fn.metric_names
    return SampleLevelMetricGrouping(
        metric_name=names,
        higher_is_better=dict.fromkeys(names, True),
        category=SamplingMethod.GENERATIVE,
        sample_level_fn=fn,
        corpus_level_fn=dict.fromkeys(names, np.mean),
    )


def build_tasks(num_samples: int = 1, data_dir: str | Path | None = None, benchmarks=BENCHMARK_NAMES,
                max_new_tokens: int | None = None) -> list[LightevalTaskConfig]:
    """One ``LightevalTaskConfig`` per benchmark, all with the same prompt and metric.

    ``max_new_tokens`` replaces the per-task generation length. It has to be set here, never in the model's
    ``generation_parameters``: lighteval 0.13's transformers backend takes a ``max_new_tokens`` found there as the
    whole context budget and left-truncates every prompt to that many tokens.
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    if max_new_tokens is not None and max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    folders = prepare_data(data_dir, benchmarks)
    return [
        LightevalTaskConfig(
            name=task_name(bench),
            prompt_function=pns_prompt,
            hf_repo=str(folders[bench]),
            hf_subset="default",
            hf_avail_splits=["test"],
            evaluation_splits=["test"],
            few_shots_split=None,
            few_shots_select=None,
            generation_size=max_new_tokens or (GENERATION_SIZE_TESTBED if bench == "testbed" else
                                               GENERATION_SIZE.get(bench, DEFAULT_GENERATION_SIZE)),
            stop_sequence=[],  # chat models stop at EOS; a stop string could cut a solution short
            metrics=[make_metric(num_samples)],
            version=0,
        )
        for bench in benchmarks
    ]


TASKS_TABLE = build_tasks(  # the seven benchmarks and the testbed (pns_testbed)
    int(os.environ.get("PNS_EVAL_NUM_SAMPLES", "1")), benchmarks=EVAL_NAMES,
    max_new_tokens=int(os.environ["PNS_EVAL_MAX_NEW_TOKENS"]) if os.environ.get("PNS_EVAL_MAX_NEW_TOKENS") else None,
)
