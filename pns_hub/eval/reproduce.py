"""``pns-hub reproduce ORG``: re-run the evaluation of published models and diff against the published scores.

Reproduction needs nothing but the published artifacts: the results dataset ``ORG/pns-results`` holds every result
record (``results/*.json``) and the evaluation settings used (``eval_settings.json``); each record names its model
repo. The repos are read from the Hub (``snapshot_download``) or, offline, from local folders in Hub layout named
after the repos (``--local-root``, e.g. the ``hub/`` folder a ``pns-hub demo`` run writes).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from pns_hub.eval import leaderboard


logger = logging.getLogger(__name__)

RESULTS_REPO = "pns-results"


def resolve_repo(repo_id: str, local_root: str | Path | None, repo_type: str = "model") -> Path:
    """A published repo as a local folder: ``<local_root>/<name>`` if given, else a Hub snapshot."""
    name = repo_id.split("/")[-1]
    if local_root is not None:
        folder = Path(local_root) / name
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: no local copy of {repo_id} (expected a folder in Hub layout)")
        return folder
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(repo_id, repo_type=repo_type))


# what defines an evaluation besides its problems; a published value the reproduction does not match is a mismatch
SETTINGS_COMPARED = ("harness", "engine", "dtype", "temperature", "top_p", "seed", "max_new_tokens",
                     "lighteval_version", "commit")


def _problem_row(record, new, bench: str) -> dict | None:
    """A row naming how the problem sets differ, when the published record lists its problems (``per_problem``)
    and the reproduction scored other ones; ``None`` when they are the same (or the record lists none)."""
    theirs = set(record.per_problem.get(bench) or ())
    ours = set((new.per_problem.get(bench) or ()) if new else ())
    if not theirs or theirs == ours:
        return None
    return {"model": record.model, "benchmark": f"problems:{bench}", "published": f"{len(theirs)} ids",
            "reproduced": f"{len(ours)} ids, {len(theirs & ours)} in common", "delta": None,
            "same_predictions": None, "ok": False}


def diff_records(published: list[leaderboard.ResultRecord], reproduced: list[leaderboard.ResultRecord | None],
                 tolerance: float) -> tuple[list[dict], int]:
    """Per published record (``reproduced`` is aligned with it, so two records of one model stay apart) and
    benchmark: published score, reproduced score, delta, whether the generated text is the same (its digest, when
    the published record has one); a row when the problems scored differ; and one row per setting in
    :data:`SETTINGS_COMPARED` that the published record states and the reproduction does not match.

    Why the text: at a small budget every model scores 0.0, and equal zeros would "reproduce" any model. Why the
    problems: a score over other problems is another measurement, however close its value."""
    rows, mismatches = [], 0
    for record, new in zip(published, reproduced):
        for bench, score in sorted(record.scores.items()):
            again = new.scores.get(bench) if new else None
            delta = None if again is None else again - score
            digest = record.predictions.get(bench)
            same_text = None if digest is None else bool(new) and new.predictions.get(bench) == digest
            ok = delta is not None and abs(delta) <= tolerance + 1e-12 and same_text is not False
            mismatches += not ok
            rows.append({"model": record.model, "benchmark": bench, "published": score, "reproduced": again,
                         "delta": delta, "same_predictions": same_text, "ok": ok})
            if (row := _problem_row(record, new, bench)) is not None:
                mismatches += 1
                rows.append(row)
        for name in SETTINGS_COMPARED:
            theirs, ours = getattr(record, name), getattr(new, name, None)
            if theirs is not None and theirs != ours:  # a record from before the field existed states nothing
                mismatches += 1
                rows.append({"model": record.model, "benchmark": f"setting:{name}", "published": theirs,
                             "reproduced": ours, "delta": None, "same_predictions": None, "ok": False})
    return rows, mismatches


def diff_markdown(rows: list[dict]) -> str:
    def fmt(v):
        if v is None:
            return "—"
        if isinstance(v, float):
            return f"{v:+.4f}" if v < 0 else f"{v:.4f}"
        return str(v)

    text = {True: "same", False: "DIFFERENT", None: "—"}
    lines = ["| model | benchmark | published | reproduced | delta | predictions | match |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['benchmark']} | {fmt(r['published'])} | {fmt(r['reproduced'])} | "
                     f"{fmt(r['delta'])} | {text[r.get('same_predictions')]} | {'yes' if r['ok'] else 'NO'} |")
    return "\n".join(lines) + "\n"


def _runnable_engine(engine: str | None, dtype: str) -> str | None:
    """``engine`` if it runs here for ``dtype``, else ``None``: this machine's pick (the diff then names it)."""
    from pns_hub.engines.backends import fixed_model_backend
    from pns_hub.eval import greedy

    try:
        with greedy.engine(engine):
            fixed_model_backend(dtype)  # raises where this machine lacks the engine
    except (RuntimeError, ValueError) as err:
        logger.warning("the record's engine %r does not run here (%s); using this machine's", engine, err)
        return None
    return engine


def _rerun_greedy(record: leaderboard.ResultRecord, settings: dict, model_path: str,
                  limit: int | None) -> leaderboard.ResultRecord:
    """The demo's evaluation again, on the problems the record lists, with its token budget, seed, dtype and engine
    (the engine only where it runs here: otherwise this machine's pick, and the diff names the difference)."""
    from pns_hub.eval import greedy

    if len(record.per_problem) != 1:
        raise ValueError(f"{record.model}: a {greedy.HARNESS} record scores one benchmark and lists its problems; "
                         f"this one lists {sorted(record.per_problem)}")
    (bench, counts), = record.per_problem.items()
    ids = list(counts)[:limit] if limit else list(counts)
    rows, missing = greedy.problems_by_id(bench, ids)
    if missing:
        raise ValueError(f"{record.model}: benchmark {bench!r} here has no problem with id(s) {missing[:3]} "
                         f"({len(missing)} of the {len(ids)} the record lists): the data differ, nothing to re-run")
    dtype = record.dtype or greedy.DTYPE
    with greedy.engine(_runnable_engine(record.engine, dtype)):
        result = greedy.evaluate(model_path, rows, record.max_new_tokens or settings["max_new_tokens"],
                                 record.seed if record.seed is not None else settings.get("seed", 0), dtype)
    return greedy.to_record(record.model, record.method, record.negative_source, record.base, result, bench)


def _rerun_lighteval(record: leaderboard.ResultRecord, model_path: str, settings: dict, limit: int | None,
                     output_dir: Path) -> leaderboard.ResultRecord:
    """``pns-hub eval`` again with the record's settings (older records: the results dataset's eval_settings)."""
    from pns_hub.eval.run import ENGINE_OF_BACKEND, run_eval

    backend_of_engine = {engine: backend for backend, engine in ENGINE_OF_BACKEND.items()}

    def stated(name, default):  # the record's own value; a record from before the field: the dataset's settings
        return getattr(record, name) if getattr(record, name) is not None else settings.get(name, default)

    out = run_eval(
        model_path, benchmarks=sorted(record.scores), limit=limit or record.limit, num_samples=record.num_samples,
        max_new_tokens=stated("max_new_tokens", None), temperature=stated("temperature", None),
        seed=stated("seed", 0), batch_size=settings.get("batch_size", 32),
        dtype=record.dtype or "auto", top_p=record.top_p if record.top_p is not None else 0.95,
        backend=backend_of_engine.get(record.engine or "", "auto"),  # the engine that made it, where recorded
        output_dir=output_dir, method=record.method, base=record.base,
        negative_source=record.negative_source, model_name=record.model,
    )
    return leaderboard.ResultRecord.from_dict({k: v for k, v in out.items() if k not in ("paths", "elapsed_s")})


def reproduce(org: str, output_dir: str | Path, local_root: str | Path | None = None, tolerance: float = 0.0,
              limit: int | None = None) -> dict:
    """Re-evaluate every model of ``ORG``'s published results exactly as its record says; rebuild and diff."""
    from pns_hub.eval import greedy

    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive number of problems or None, got {limit}")
    output_dir = Path(output_dir)
    results_folder = resolve_repo(f"{org}/{RESULTS_REPO}", local_root, repo_type="dataset")
    published, problems = leaderboard.load_results(results_folder / "results")
    if problems:
        raise ValueError(f"published results under {results_folder} have invalid files: {problems}")
    if not published:
        raise FileNotFoundError(f"{results_folder / 'results'}: no published result records")
    settings_path = results_folder / "eval_settings.json"
    settings = json.loads(settings_path.read_text()) if settings_path.exists() else {}
    reproduced: list[leaderboard.ResultRecord] = []
    for index, record in enumerate(published):
        if record.model.startswith("embedded:"):
            model_path = record.model  # the embedded default ships with the package
        else:
            model_path = str(resolve_repo(record.model, local_root))
        logger.info("re-evaluating %s (%s, %s)", record.model, model_path, record.harness or "lighteval")
        if record.harness == greedy.HARNESS:
            reproduced.append(_rerun_greedy(record, settings, model_path, limit))
        else:
            reproduced.append(_rerun_lighteval(record, model_path, settings, limit, output_dir / "eval" / str(index)))
        # the index keeps two records of one model apart (their own names may coincide to the second)
        name = f"{index:03d}_{record.model.replace('/', '_')}.json"
        leaderboard.write_record(reproduced[-1], output_dir / "results" / name)
    board = leaderboard.build_leaderboard(output_dir / "results", output_dir / "leaderboard")
    rows, mismatches = diff_records(published, reproduced, tolerance)
    (output_dir / "diff.md").write_text(diff_markdown(rows))
    (output_dir / "diff.json").write_text(json.dumps(rows, indent=2))
    return {"rows": rows, "mismatches": mismatches, "leaderboard": board, "diff": str(output_dir / "diff.md")}


def cli_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pns-hub reproduce", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("org", help="the Hub organisation (or user) that published the artifacts")
    parser.add_argument("--local-root", help="offline: folder holding the repos in Hub layout, named after them")
    parser.add_argument("--output-dir", default="outputs/reproduce", help="re-run records, leaderboard and diff.md")
    parser.add_argument("--tolerance", type=float, default=0.0,
                        help="largest accepted |reproduced - published| per benchmark (0: exact)")
    parser.add_argument("--limit", type=int, help="override the published per-benchmark problem limit")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error(f"--limit must be a positive number of problems, got {args.limit}")
    result = reproduce(args.org, args.output_dir, args.local_root, args.tolerance, args.limit)
    print(diff_markdown(result["rows"]))
    print(f"leaderboard: {result['leaderboard']}")
    print(f"{result['mismatches']} of {len(result['rows'])} rows do not match (scores beyond {args.tolerance}, "
          "different generated text, or different settings)")
    return 1 if result["mismatches"] else 0
