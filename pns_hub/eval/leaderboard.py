"""Leaderboard: a folder of result records (:mod:`pns_hub.eval.results`) flattened into a markdown table and a PNG chart.

A folder of such files (or a Hub results dataset folder, which holds the same JSONs) is the whole leaderboard: no
database.

Every score carries its n and 95% interval where the record has them (``pns-hub eval`` writes both; older files show
the score alone), and a model trained from a base that was evaluated on the same problems gets a paired-bootstrap
difference to it (:func:`paired_deltas`), which is what "better than the base" has to mean on 30-500 problems.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path

from pns_hub.eval.results import (  # noqa: F401  (the record API, long imported from here)
    BENCHMARK_ORDER, CI_SUFFIX, ID_COLUMNS, SCHEMA_VERSION, ResultRecord, ResultsError, format_interval, git_commit,
    intervals_from_counts, load_results, parse_interval, record_from_lighteval, write_record,
)


logger = logging.getLogger(__name__)


def common_benchmarks(records: list[ResultRecord]) -> list[str]:
    """The benchmarks every record scores, in table order: the only ones an average may compare across rows (an
    average over other benchmarks for other rows ranks runs by which benchmarks they ran)."""
    benches = [b for b in BENCHMARK_ORDER if all(b in r.scores for r in records)]
    return benches + sorted(set.intersection(*(set(r.scores) for r in records)) - set(benches)) if records else []


def to_dataframe(records: list[ResultRecord]):
    """One row per record, scores in percent, sorted by average (best first); after the average, one
    ``<bench> 95% CI`` column per benchmark that some record has an interval for. ``average`` is the mean over
    :func:`common_benchmarks` (``df.attrs["average_over"]``); None when the records share no benchmark."""
    import pandas as pd

    benches = [b for b in BENCHMARK_ORDER if any(b in r.scores for r in records)]
    benches += sorted({b for r in records for b in r.scores} - set(benches))
    ci_benches = [b for b in benches if any(b in r.intervals for r in records)]
    common = common_benchmarks(records)
    rows = []
    for r in records:
        row = {"model": r.model, "base": r.base or "", "method": r.method, "negative_source": r.negative_source or ""}
        row.update({b: round(100 * r.scores[b], 2) if b in r.scores else None for b in benches})
        row["average"] = round(100 * sum(r.scores[b] for b in common) / len(common), 2) if common else None
        row.update({b + CI_SUFFIX: format_interval(r.intervals.get(b)) for b in ci_benches})
        row.update({"n": r.num_samples, "limit": r.limit, "lighteval": r.lighteval_version or "",
                    "commit": (r.commit or "")[:10], "date": r.date or ""})
        rows.append(row)
    columns = [*ID_COLUMNS, *benches, "average", *(b + CI_SUFFIX for b in ci_benches), "n", "limit", "lighteval",
               "commit", "date"]
    df = pd.DataFrame(rows, columns=columns)
    if len(df):
        df = df.sort_values("average", ascending=False, kind="stable").reset_index(drop=True)
    df.attrs["average_over"] = common
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


def _number(value) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def chart_bars(df) -> tuple[list[str], list[dict]]:
    """The chart's groups (each benchmark, then ``average`` when two or more benchmarks are common to every row)
    and one bar per run and group that has a score: ``{run, model, method, group, value, low, high}`` in percent.

    A missing score has no bar (a zero-height bar reads as "scored 0"). The average is over the benchmarks every
    row has (``df.attrs["average_over"]``); its interval combines the benchmarks' intervals as independent normal
    errors (half-width sqrt(sum w_b^2) / k), since the benchmarks' problems are disjoint samples."""
    common = df.attrs.get("average_over") or []
    benches = [c for c in df.columns if c not in (*ID_COLUMNS, "average", "n", "limit", "lighteval", "commit", "date")
               and not c.endswith(CI_SUFFIX)]
    groups = benches + (["average"] if len(common) >= 2 else [])
    bars = []
    for run, (_, row) in enumerate(df.iterrows()):
        cis = {b: parse_interval(row.get(b + CI_SUFFIX)) for b in benches}
        for group in groups:
            value = _number(row.get(group))
            if value is None:
                continue
            if group == "average":
                half = math.sqrt(sum(((cis[b][1] - cis[b][0]) / 2) ** 2 for b in common)) / len(common) \
                    if all(cis[b] for b in common) else None
                low, high = (value - half, value + half) if half is not None else (None, None)
            else:
                low, high = cis[group][:2] if cis[group] else (None, None)
            bars.append({"run": run, "model": row["model"], "method": row["method"], "group": group, "value": value,
                         "low": low, "high": high})
    return groups, bars


def draw(df):
    """The chart as a matplotlib figure: one colour per method (its runs side by side), the legend beside the axes,
    95% intervals as error bars (see :func:`chart_bars`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = list(dict.fromkeys(df["method"]))
    df = df.iloc[sorted(range(len(df)), key=lambda i: order.index(df["method"].iloc[i]))]  # a method's runs together
    df.attrs = dict(df.attrs)
    groups, bars = chart_bars(df.reset_index(drop=True))
    palette = plt.get_cmap("tab10" if len(order) <= 10 else "tab20")
    colour = {m: palette(i % palette.N) for i, m in enumerate(order)}
    width = 0.8 / max(1, len(df))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(groups) + 0.15 * len(df) * len(groups)), 4.5), dpi=120)
    labelled = set()
    for bar in bars:
        x = groups.index(bar["group"]) + bar["run"] * width
        err = None if bar["low"] is None else [[max(0.0, bar["value"] - bar["low"])],  # max: cells are rounded
                                               [max(0.0, bar["high"] - bar["value"])]]
        ax.bar(x, bar["value"], width, color=colour[bar["method"]], yerr=err, capsize=2, error_kw={"elinewidth": 0.8},
               label=bar["method"] if bar["method"] not in labelled else "_nolegend_", edgecolor="white",
               linewidth=0.3)
        labelled.add(bar["method"])
    over = df.attrs.get("average_over") or []
    names = [f"average\n({', '.join(over)})" if g == "average" else g for g in groups]
    ax.set_xticks([x + width * (len(df) - 1) / 2 for x in range(len(groups))], names, rotation=0, fontsize=8)
    ax.set_ylabel("pass@1 (%)")
    ax.set_title(f"pns-hub leaderboard: {len(df)} runs (error bars: 95% interval; no bar: not evaluated)", fontsize=9)
    ax.legend(title="method", fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    ax.grid(True, axis="y", alpha=0.3)
    return fig


def plot(df, path: str | Path) -> Path:
    """:func:`draw` written to ``path`` (PNG), the legend kept inside the image."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = draw(df)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def reference_for(record: ResultRecord, records: list[ResultRecord]) -> ResultRecord | None:
    """The base-model run a trained model is compared to: a ``method == "base"`` record that is the record's base
    (its model or its own base equals ``record.base``) and scored some of the same problems; among several, one with
    the same samples per problem (the same sampling, e.g. the same experiment) first, then the newest."""
    if record.method == "base" or not record.base or not record.per_problem:
        return None
    candidates = [r for r in records if r is not record and r.method == "base" and record.base in (r.model, r.base)
                  and any(set(r.per_problem.get(b, {})) & set(ids) for b, ids in record.per_problem.items())]
    return max(candidates, key=lambda r: (r.num_samples == record.num_samples, r.date or ""), default=None)


def paired_deltas(records: list[ResultRecord]) -> list[dict]:
    """Paired-bootstrap difference (pass@1, percentage points) of every trained model to its base, per benchmark,
    over the problems both runs scored."""
    from pns_hub.stats import pair_by_id, paired_bootstrap

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
    over = df.attrs["average_over"]
    md += (f"\naverage: mean over {', '.join(over)}, the benchmarks every run has.\n" if over else
           "\naverage: none (no benchmark is common to every run).\n")
    if rejected:
        md += "\nRejected files:\n" + "".join(f"- {r['error']}\n" for r in rejected)
    (out_dir / "leaderboard.md").write_text(md)
    df.to_csv(out_dir / "leaderboard.csv", index=False)
    plot(df, out_dir / "leaderboard.png")
    return {"records": len(records), "rejected": rejected, "deltas": deltas, "markdown": str(out_dir / "leaderboard.md"),
            "png": str(out_dir / "leaderboard.png"), "csv": str(out_dir / "leaderboard.csv")}


def cli_main(argv: list[str] | None = None) -> int:
    """``pns-hub leaderboard RESULTS_DIR --out DIR``: exit 1 when some files were rejected (listed on stderr).
    ``pns-hub leaderboard --push-space ORG/NAME [--results-repo ORG/RESULTS]``: create/update the Space (see
    :mod:`pns_hub.eval.space`); ``--space-dir DIR`` only builds the Space folder."""
    parser = argparse.ArgumentParser(prog="pns-hub leaderboard", description=cli_main.__doc__,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("results_dir", nargs="?", help="folder of results JSON files (or a downloaded Hub results "
                        "dataset); not needed with --push-space/--space-dir")
    parser.add_argument("--out", default="leaderboard_out", help="output folder for leaderboard.{md,png,csv}")
    parser.add_argument("--push-space", metavar="ORG/NAME", help="create the gradio Space and upload the app")
    parser.add_argument("--results-repo", metavar="ORG/RESULTS", help="Hub dataset of results JSONs the Space "
                        "reads (its PNS_RESULTS_REPO variable)")
    parser.add_argument("--space-dir", help="build the Space folder here (kept; with --push-space, what is pushed)")
    args = parser.parse_args(argv)
    if args.push_space or args.space_dir:
        from pns_hub.eval import space
        if args.push_space:
            print(f"pushed the Space: {space.push_space(args.push_space, args.results_repo, args.space_dir)}")
        else:
            print(f"Space folder: {space.build_space_folder(args.space_dir)}")
        return 0
    if not args.results_dir:
        parser.error("RESULTS_DIR is required (unless --push-space or --space-dir)")
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
