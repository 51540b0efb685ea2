"""Leaderboard: one results JSON per evaluation run, flattened into a markdown table and a PNG chart.

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
     "predictions": {"gsm8k": "sha256 of every problem's generated text"}}   # optional, see prediction_digest

Why a flat schema of our own next to lighteval's JSON: lighteval's file does not know which method or which negatives
produced a model, and its metric names change with parameters; the table needs stable columns. A folder of such
files (or a Hub results dataset folder, which holds the same JSONs) is the whole leaderboard: no database.

Every score carries its n and 95% interval where the record has them (``pns-hub eval`` writes both; older files show
the score alone), and a model trained from a base that was evaluated on the same problems gets a paired-bootstrap
difference to it (:func:`paired_deltas`), which is what "better than the base" has to mean on 30-500 problems.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import sys
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
        for name in ("base", "negative_source", "lighteval_version", "commit", "date", "lighteval_results", "dtype"):
            if data.get(name) is not None and not isinstance(data[name], str):
                raise ResultsError(path, name, f"must be a string or null, got {type(data[name]).__name__}")
        scores = data.get("scores")
        if not isinstance(scores, dict) or not scores:
            raise ResultsError(path, "scores", "must be a non-empty mapping benchmark -> score")
        for bench, value in scores.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0 \
                    or math.isnan(value):
                raise ResultsError(path, f"scores.{bench}", f"must be a number in [0, 1], got {value!r}")
        top_p = data.get("top_p")
        if top_p is not None and (isinstance(top_p, bool) or not isinstance(top_p, (int, float))):
            raise ResultsError(path, "top_p", f"must be a number or null, got {top_p!r}")
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
    from .stats import accuracy

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
                          top_p: float | None = None, predictions: dict[str, str] | None = None) -> ResultRecord:
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
        dtype=dtype, top_p=top_p, predictions=dict(predictions or {}),
    )


def git_commit(path: str | Path | None = None) -> str | None:
    """Commit of the pns-hub checkout (``None`` outside a git checkout, e.g. an installed wheel)."""
    import subprocess

    root = Path(path or Path(__file__).resolve().parent.parent)
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


def to_dataframe(records: list[ResultRecord]):
    """One row per record, scores in percent, sorted by average (best first); after the average, one
    ``<bench> 95% CI`` column per benchmark that some record has an interval for."""
    import pandas as pd

    benches = [b for b in BENCHMARK_ORDER if any(b in r.scores for r in records)]
    benches += sorted({b for r in records for b in r.scores} - set(benches))
    ci_benches = [b for b in benches if any(b in r.intervals for r in records)]
    rows = []
    for r in records:
        row = {"model": r.model, "base": r.base or "", "method": r.method, "negative_source": r.negative_source or ""}
        row.update({b: round(100 * r.scores[b], 2) if b in r.scores else None for b in benches})
        row["average"] = round(100 * r.average, 2) if r.average is not None else None
        row.update({b + CI_SUFFIX: format_interval(r.intervals.get(b)) for b in ci_benches})
        row.update({"n": r.num_samples, "limit": r.limit, "lighteval": r.lighteval_version or "",
                    "commit": (r.commit or "")[:10], "date": r.date or ""})
        rows.append(row)
    columns = [*ID_COLUMNS, *benches, "average", *(b + CI_SUFFIX for b in ci_benches), "n", "limit", "lighteval",
               "commit", "date"]
    df = pd.DataFrame(rows, columns=columns)
    if len(df):
        df = df.sort_values("average", ascending=False, kind="stable").reset_index(drop=True)
    return df


def to_markdown(df) -> str:
    """GitHub markdown table (no tabulate dependency): scores in %, missing as an en dash; a benchmark's interval
    column is folded into its score cell (``6.00 [2.1, 16.2] n=50``)."""
    ci_columns = [c for c in df.columns if c.endswith(CI_SUFFIX)]
    if ci_columns:
        df = df.copy()
        for column in ci_columns:
            bench = column[:-len(CI_SUFFIX)]
            df[bench] = [f"{v:.2f} {ci}" if ci and v is not None and v == v else v
                         for v, ci in zip(df[bench], df[column])]
        df = df.drop(columns=ci_columns)

    def cell(value):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "–"
        if isinstance(value, float):
            return f"{value:.2f}"
        return str(value).replace("|", "\\|")

    header = "| " + " | ".join(df.columns) + " |"
    rule = "|" + "|".join("---:" if df[c].dtype.kind in "fi" or c in BENCHMARK_ORDER else "---"
                          for c in df.columns) + "|"
    lines = [header, rule] + ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def plot(df, path: str | Path) -> Path:
    """Grouped bar chart: one group per benchmark plus the average, one bar per model/method, with the 95%
    interval as an error bar where the record has one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    benches = [c for c in df.columns if c not in (*ID_COLUMNS, "n", "limit", "lighteval", "commit", "date")
               and not c.endswith(CI_SUFFIX)]
    fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(benches)), 4.5), dpi=120)
    width = 0.8 / max(1, len(df))
    for i, row in enumerate(df.itertuples(index=False)):
        values = [getattr(row, b) if getattr(row, b) is not None and not
                  (isinstance(getattr(row, b), float) and math.isnan(getattr(row, b))) else 0.0 for b in benches]
        cis = [parse_interval(df.iloc[i].get(b + CI_SUFFIX)) for b in benches]
        errors = [[max(0.0, v - ci[0]) if ci else 0.0 for v, ci in zip(values, cis)],  # max: cells are rounded
                  [max(0.0, ci[1] - v) if ci else 0.0 for v, ci in zip(values, cis)]]
        ax.bar([x + i * width for x in range(len(benches))], values, width, label=f"{row.model} ({row.method})",
               yerr=errors if any(cis) else None, capsize=2, error_kw={"elinewidth": 0.8})
    ax.set_xticks([x + width * (len(df) - 1) / 2 for x in range(len(benches))], benches, rotation=20)
    ax.set_ylabel("pass@1 (%)")
    ax.set_title("pns-hub leaderboard (error bars: 95% interval)")
    ax.legend(fontsize=7)
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def reference_for(record: ResultRecord, records: list[ResultRecord]) -> ResultRecord | None:
    """The base-model run a trained model is compared to: the newest ``method == "base"`` record that is the
    record's base (its model or its own base equals ``record.base``) and scored some of the same problems."""
    if record.method == "base" or not record.base or not record.per_problem:
        return None
    candidates = [r for r in records if r is not record and r.method == "base" and record.base in (r.model, r.base)
                  and any(set(r.per_problem.get(b, {})) & set(ids) for b, ids in record.per_problem.items())]
    return max(candidates, key=lambda r: r.date or "", default=None)


def paired_deltas(records: list[ResultRecord]) -> list[dict]:
    """Paired-bootstrap difference (pass@1, percentage points) of every trained model to its base, per benchmark,
    over the problems both runs scored."""
    from .stats import pair_by_id, paired_bootstrap

    rows = []
    for record in records:
        ref = reference_for(record, records)
        if ref is None:
            continue
        for bench, counts in record.per_problem.items():
            ids, ours, theirs = pair_by_id({k: c / record.num_samples for k, c in counts.items()},
                                           {k: c / ref.num_samples for k, c in ref.per_problem.get(bench, {}).items()})
            if not ids:
                continue
            diff = paired_bootstrap(ours, theirs)
            rows.append({"model": record.model, "method": record.method,
                         "negative_source": record.negative_source or "", "vs": ref.model, "benchmark": bench,
                         "n": diff.n, "delta": round(100 * diff.value, 2), "low": round(100 * diff.low, 2),
                         "high": round(100 * diff.high, 2), "p": round(diff.p_value, 4)})
    return rows


def deltas_markdown(rows: list[dict]) -> str:
    """The paired differences as a markdown table (empty string when there are none)."""
    if not rows:
        return ""
    lines = ["| model | method | vs | benchmark | n paired | Δ pass@1 (pts) | 95% CI | p |", "|---|---|---|---|---:|---:|---|---:|"]
    lines += [f"| {r['model']} | {r['method']} | {r['vs']} | {r['benchmark']} | {r['n']} | {r['delta']:+.2f} | "
              f"[{r['low']:+.2f}, {r['high']:+.2f}] | {r['p']:.3g} |" for r in rows]
    return "\n".join(lines) + "\n"


def build_leaderboard(results_dir: str | Path, out_dir: str | Path) -> dict:
    """Write ``leaderboard.md``, ``leaderboard.png`` and ``leaderboard.csv`` into ``out_dir``."""
    records, rejected = load_results(results_dir)
    if not records:
        raise ResultsError(results_dir, None, "no valid results files" +
                           (f" ({len(rejected)} rejected: {rejected[0]['error']})" if rejected else ""))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    df = to_dataframe(records)
    md = to_markdown(df)
    deltas = paired_deltas(records)
    if deltas:
        md += "\nPaired differences to the base model on the same problems (bootstrap over problems):\n\n"
        md += deltas_markdown(deltas)
        import pandas as pd

        pd.DataFrame(deltas).to_csv(out_dir / "deltas.csv", index=False)
    if rejected:
        md += "\nRejected files:\n" + "".join(f"- {r['error']}\n" for r in rejected)
    (out_dir / "leaderboard.md").write_text(md)
    df.to_csv(out_dir / "leaderboard.csv", index=False)
    plot(df, out_dir / "leaderboard.png")
    return {"records": len(records), "rejected": rejected, "deltas": deltas, "markdown": str(out_dir / "leaderboard.md"),
            "png": str(out_dir / "leaderboard.png"), "csv": str(out_dir / "leaderboard.csv")}


def cli_main(argv: list[str] | None = None) -> int:
    """``pns-hub leaderboard RESULTS_DIR --out DIR``: exit 1 when some files were rejected (listed on stderr)."""
    parser = argparse.ArgumentParser(prog="pns-hub leaderboard", description=cli_main.__doc__)
    parser.add_argument("results_dir", help="folder of results JSON files (or a downloaded Hub results dataset)")
    parser.add_argument("--out", default="leaderboard_out", help="output folder for leaderboard.{md,png,csv}")
    args = parser.parse_args(argv)
    try:
        summary = build_leaderboard(args.results_dir, args.out)
    except (ResultsError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(Path(summary["markdown"]).read_text())
    print(f"wrote {summary['markdown']}, {summary['png']}, {summary['csv']} ({summary['records']} runs)")
    for item in summary["rejected"]:
        print(f"rejected: {item['error']}", file=sys.stderr)
    return 1 if summary["rejected"] else 0
