"""Result records: the schema of one evaluation run's JSON, how it is built from lighteval, written and read back.

Schema (``SCHEMA_VERSION`` 1), one file per run, written by ``pns-hub eval``::

    {"schema_version": 1, "model": "org/name or path", "base": "base model or null",
     "method": "base | pns-dpo | rs-dpo | glow | nsr | w-reinforce | ... (free string)",
     "negative_source": "pns | rejection_sampling | ... or null",
     "scores": {"gsm8k": 0.42, ...},            # pass@1 (mean over n samples) in [0, 1]
     "passk": {"gsm8k": {"1": 0.42, "2": 0.55}},   # optional pass@k curve per benchmark
     "average": 0.31, "num_samples": 1, "limit": null,
     "per_problem": {"gsm8k": {"gsm8k/17": 1, ...}},   # optional: correct samples (of num_samples) per problem id
     "intervals": {"gsm8k": {"low": 0.35, "high": 0.49, "n": 400, "method": "wilson"}},  # optional: 95% interval
     "lighteval_version": "0.13.0", "commit": "git sha of pns-hub or null", "date": "ISO 8601",
     "lighteval_results": "path of lighteval's own results JSON (kept as the source of truth)",
     "dtype": "float32 (what ran) or null", "top_p": 0.95,
     "predictions": {"gsm8k": "sha256 of every problem's generated text"},   # optional, see prediction_digest
     "engine": "openvino | transformers | compact | vllm", "harness": "lighteval | pns-hub-greedy",
     "temperature": 0.0, "seed": 0, "max_new_tokens": 192}   # what defines the run: reproduce re-runs exactly this

The problems a run scored are the keys of ``per_problem``; with the fields above they define the evaluation, so a
reproduction can run the same one and name any difference it cannot remove. Records written before a field existed
leave it null ("not stated").

Why a flat schema of our own next to lighteval's JSON: lighteval's file does not know which method or which negatives
produced a model, and its metric names change with parameters; the table needs stable columns. A folder of such
files (or a Hub results dataset folder, which holds the same JSONs) is the whole leaderboard: no database.

The table, chart and paired differences built from a folder of these files live in :mod:`pns_hub.eval.leaderboard`.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path


logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
BENCHMARK_ORDER = ("gsm8k", "math_500", "aime24", "aime25", "amc23", "minerva_math", "olympiadbench", "testbed")
CI_SUFFIX = " 95% CI"  # interval column of a benchmark: "<bench> 95% CI", cells "[lo, hi] n=N" in %
ID_COLUMNS = ("model", "base", "method", "negative_source")


class ResultsError(ValueError):
    """A results file that does not follow the schema; the message names the file and field."""

    def __init__(self, path, field_name: str | None, message: str):
        self.path, self.field = str(path), field_name
        super().__init__(f"{path}" + (f", field '{field_name}'" if field_name else "") + f": {message}")


@dataclass
class ResultRecord:
    """One evaluation run of one model (see the module docstring for the JSON form)."""

    model: str
    method: str
    scores: dict[str, float]
    base: str | None = None
    negative_source: str | None = None
    passk: dict[str, dict[str, float]] = field(default_factory=dict)
    num_samples: int = 1
    limit: int | None = None
    lighteval_version: str | None = None
    commit: str | None = None
    date: str | None = None
    lighteval_results: str | None = None
    per_problem: dict[str, dict[str, int]] = field(default_factory=dict)
    intervals: dict[str, dict] = field(default_factory=dict)
    dtype: str | None = None
    top_p: float | None = None
    predictions: dict[str, str] = field(default_factory=dict)
    engine: str | None = None  # what generated the completions (transformers, openvino, vllm): part of how it was made
    harness: str | None = None  # which evaluation code ran: "lighteval" (pns-hub eval) or "pns-hub-greedy" (the demo)
    temperature: float | None = None
    seed: int | None = None
    max_new_tokens: int | None = None  # null with lighteval: each task's own generation size
    schema_version: int = SCHEMA_VERSION

    @property
    def average(self) -> float | None:
        """Unweighted mean of the benchmark scores (each benchmark counts once, whatever its size)."""
        return sum(self.scores.values()) / len(self.scores) if self.scores else None

    def to_dict(self) -> dict:
        out = asdict(self)
        out["average"] = self.average
        return out

    @classmethod
    def from_dict(cls, data, path="<dict>") -> "ResultRecord":
        """Validate and build; every problem raises :class:`ResultsError` naming file and field."""
        if not isinstance(data, dict):
            raise ResultsError(path, None, f"expected a JSON object, got {type(data).__name__}")
        version = data.get("schema_version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise ResultsError(path, "schema_version", f"unsupported version {version!r} (this code reads {SCHEMA_VERSION})")
        for name in ("model", "method"):
            if not isinstance(data.get(name), str) or not data[name].strip():
                raise ResultsError(path, name, "must be a non-empty string")
        for name in ("base", "negative_source", "lighteval_version", "commit", "date", "lighteval_results", "dtype",
                     "engine", "harness"):
            if data.get(name) is not None and not isinstance(data[name], str):
                raise ResultsError(path, name, f"must be a string or null, got {type(data[name]).__name__}")
        scores = data.get("scores")
        if not isinstance(scores, dict) or not scores:
            raise ResultsError(path, "scores", "must be a non-empty mapping benchmark -> score")
        for bench, value in scores.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0 \
                    or math.isnan(value):
                raise ResultsError(path, f"scores.{bench}", f"must be a number in [0, 1], got {value!r}")
        for name in ("top_p", "temperature"):
            value = data.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise ResultsError(path, name, f"must be a number or null, got {value!r}")
        for name in ("seed", "max_new_tokens", "limit"):
            value = data.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ResultsError(path, name, f"must be an integer or null, got {value!r}")
        predictions = data.get("predictions") or {}
        if not isinstance(predictions, dict) or not all(isinstance(v, str) for v in predictions.values()):
            raise ResultsError(path, "predictions", "must be a mapping benchmark -> digest string")
        passk = data.get("passk") or {}
        if not isinstance(passk, dict):
            raise ResultsError(path, "passk", "must be a mapping benchmark -> {k: value}")
        _check_per_problem(data, path)
        known = {f.name for f in cls.__dataclass_fields__.values()} | {"average"}
        unknown = set(data) - known
        if unknown:
            raise ResultsError(path, sorted(unknown)[0], f"unknown field(s) {sorted(unknown)}")
        kwargs = {k: v for k, v in data.items() if k != "average"}
        kwargs["scores"] = {k: float(v) for k, v in scores.items()}
        kwargs["passk"] = {b: {str(k): float(v) for k, v in curve.items()} for b, curve in passk.items()}
        return cls(**kwargs)


def _check_per_problem(data: dict, path) -> None:
    """``per_problem`` counts lie in [0, num_samples]; each interval brackets its score inside [0, 1]."""
    samples = data.get("num_samples", 1)
    per_problem = data.get("per_problem") or {}
    if not isinstance(per_problem, dict):
        raise ResultsError(path, "per_problem", "must be a mapping benchmark -> {problem id: correct count}")
    for bench, counts in per_problem.items():
        if not isinstance(counts, dict) or not all(isinstance(c, int) and not isinstance(c, bool) and
                                                   0 <= c <= samples for c in counts.values()):
            raise ResultsError(path, f"per_problem.{bench}", f"must map problem ids to counts in [0, {samples}]")
    intervals = data.get("intervals") or {}
    if not isinstance(intervals, dict):
        raise ResultsError(path, "intervals", "must be a mapping benchmark -> {low, high, n, method}")
    for bench, ci in intervals.items():
        score = (data.get("scores") or {}).get(bench)
        ok = isinstance(ci, dict) and isinstance(ci.get("n"), int) and ci["n"] >= 1 and all(
            isinstance(ci.get(k), (int, float)) and 0.0 <= ci[k] <= 1.0 for k in ("low", "high"))
        if not ok or score is None or not ci["low"] - 1e-9 <= score <= ci["high"] + 1e-9:
            raise ResultsError(path, f"intervals.{bench}", f"must be {{low, high, n}} with low <= score <= high in "
                               f"[0, 1] for a scored benchmark, got {ci!r}")


def intervals_from_counts(per_problem: dict[str, dict[str, int]], num_samples: int) -> dict[str, dict]:
    """95% interval per benchmark from per-problem correct counts (Wilson for one sample, else bootstrap)."""
    from pns_hub.stats import accuracy

    out = {}
    for bench, counts in per_problem.items():
        if counts:
            est = accuracy([c / num_samples for c in counts.values()])
            out[bench] = {"low": est.low, "high": est.high, "n": est.n, "method": est.method}
    return out


# --------------------------------------------------------------------------------------------------------------
# From lighteval's results JSON
# --------------------------------------------------------------------------------------------------------------
def record_from_lighteval(results: dict, model: str, method: str = "base", base: str | None = None,
                          negative_source: str | None = None, num_samples: int = 1, limit: int | None = None,
                          commit: str | None = None, lighteval_results: str | None = None,
                          per_problem: dict[str, dict[str, int]] | None = None, dtype: str | None = None,
                          top_p: float | None = None, predictions: dict[str, str] | None = None,
                          engine: str | None = None, temperature: float | None = None, seed: int | None = None,
                          max_new_tokens: int | None = None) -> ResultRecord:
    """Read ``pass@k`` entries of ``pns_<bench>|<fewshot>`` tasks (see ``pns_hub.eval.tasks``) out of a lighteval
    results dict; the date is the time of conversion, i.e. the end of the run. ``per_problem`` (correct samples per
    problem id, from lighteval's details) gives each score its n and 95% interval."""
    scores, passk = {}, {}
    for task, metrics in results.get("results", {}).items():
        name = task.split("|")[0]
        if not name.startswith("pns_"):
            continue
        bench = name[len("pns_"):]
        curve = {m.split("@", 1)[1]: float(v) for m, v in metrics.items()
                 if m.startswith("pass@") and not m.endswith("_stderr")}
        if "1" not in curve:
            raise ResultsError(lighteval_results or "<lighteval results>", f"results.{task}", "no pass@1 metric")
        scores[bench] = curve["1"]
        passk[bench] = curve
    if not scores:
        raise ResultsError(lighteval_results or "<lighteval results>", "results", "no pns_* task in the results")
    version = None
    try:
        from importlib.metadata import version as _v

        version = _v("lighteval")
    except Exception:  # not installed in this process: leave unknown rather than guess
        pass
    from datetime import datetime, timezone

    return ResultRecord(
        model=model, method=method, base=base, negative_source=negative_source, scores=scores, passk=passk,
        num_samples=num_samples, limit=limit, lighteval_version=version, commit=commit,
        date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        lighteval_results=lighteval_results, per_problem=dict(per_problem or {}),
        intervals=intervals_from_counts(per_problem or {}, num_samples),
        dtype=dtype, top_p=top_p, predictions=dict(predictions or {}), engine=engine, harness="lighteval",
        temperature=temperature, seed=seed, max_new_tokens=max_new_tokens,
    )


def git_commit(path: str | Path | None = None) -> str | None:
    """Commit of the pns-hub checkout (``None`` outside a git checkout, e.g. an installed wheel)."""
    import subprocess

    root = Path(path or Path(__file__).resolve().parents[2])
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def write_record(record: ResultRecord, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record.to_dict(), indent=2, ensure_ascii=False) + "\n")
    return path


# --------------------------------------------------------------------------------------------------------------
# Folder of results -> table
# --------------------------------------------------------------------------------------------------------------
def load_results(results_dir: str | Path) -> tuple[list[ResultRecord], list[dict]]:
    """Read every ``*.json`` under ``results_dir`` (recursively: a Hub results dataset folder works too).

    lighteval's own results files (they have ``config_general``) are skipped (logged), since each run's schema
    file already points at its lighteval file. Anything else that fails validation is returned in the rejected list
    ``{"path", "error"}``: nothing is dropped without a trace.
    """
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise FileNotFoundError(f"results folder {results_dir} does not exist")
    records, rejected = [], []
    for path in sorted(results_dir.rglob("*.json")):
        if any(part.startswith(".") for part in path.relative_to(results_dir).parts):
            continue  # .cache/, .git/ of a downloaded Hub folder
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            rejected.append({"path": str(path), "error": f"{path}: invalid JSON ({err})"})
            continue
        if isinstance(data, dict) and "config_general" in data:
            logger.info("skipping lighteval's own results file %s", path)
            continue
        try:
            records.append(ResultRecord.from_dict(data, path))
        except ResultsError as err:
            rejected.append({"path": str(path), "error": str(err)})
    return records, rejected


def format_interval(ci: dict | None) -> str:
    """``[36.8, 46.3] n=400`` (percent) for an interval dict; empty when the record has none."""
    return f"[{100 * ci['low']:.1f}, {100 * ci['high']:.1f}] n={ci['n']}" if ci else ""


def parse_interval(text) -> tuple[float, float, int] | None:
    """Inverse of :func:`format_interval` (the PNG's error bars come from the table's cells)."""
    match = re.fullmatch(r"\[([\d.]+), ([\d.]+)\] n=(\d+)", str(text or ""))
    return (float(match[1]), float(match[2]), int(match[3])) if match else None
