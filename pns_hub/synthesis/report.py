"""Plausibility report of a negatives dataset: do PNS negatives look as good as correct solutions? (pns.md section 7)

The paper's Figure 1 claim is that PNS negatives get reward-model scores close to (or above) correct solutions,
while rejection-sampling negatives score far lower. This module measures that for every source of a dataset built
by :mod:`pns_hub.synthesis.run`: RM and judge score distributions of the negatives against their chosen (correct)
responses, the format rate, lengths, and how often the RM prefers the negative. Output: a PNG (matplotlib, Agg) and a
markdown table, which synthesis puts into the dataset card and ``pns-hub report`` can refresh.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
from pathlib import Path
from typing import Mapping, Sequence


logger = logging.getLogger(__name__)

TABLE_START, TABLE_END = "<!-- plausibility:start -->", "<!-- plausibility:end -->"


def _values(rows: Sequence[Mapping], column: str) -> list[float]:
    return [float(r[column]) for r in rows if r.get(column) is not None]


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def source_stats(rows: Sequence[Mapping]) -> dict:
    """Summary of one source's rows (``None`` where a score column is empty, e.g. no RM configured)."""
    rm_rej, rm_cho = _values(rows, "rm_rejected"), _values(rows, "rm_chosen")
    paired = [(float(r["rm_rejected"]), float(r["rm_chosen"])) for r in rows
              if r.get("rm_rejected") is not None and r.get("rm_chosen") is not None]
    judge_rej, judge_cho = _values(rows, "judge_rejected"), _values(rows, "judge_chosen")
    fmt = [bool(r["rejected_format_ok"]) for r in rows if r.get("rejected_format_ok") is not None]
    return {
        "rows": len(rows),
        "problems": len({r["problem_id"] for r in rows}),
        "rm_rejected_mean": _mean(rm_rej), "rm_rejected_median": _median(rm_rej),
        "rm_chosen_mean": _mean(rm_cho),
        "rm_gap_mean": _mean([c - n for n, c in paired]),
        "rm_prefers_negative": (sum(n > c for n, c in paired) / len(paired)) if paired else None,
        "judge_rejected_mean": _mean(judge_rej), "judge_chosen_mean": _mean(judge_cho),
        "plausibility_mean": _mean(_values(rows, "plausibility")),
        "format_rate": (sum(fmt) / len(fmt)) if fmt else None,
        "rejected_chars_mean": _mean(_values(rows, "rejected_num_chars")),
        "chosen_chars_mean": _mean(_values(rows, "chosen_num_chars")),
    }


def plausibility_stats(by_source: Mapping[str, Sequence[Mapping]]) -> dict[str, dict]:
    """``{source: stats}`` for every source (rows as dicts or a ``datasets.Dataset``)."""
    out = {}
    for source, rows in by_source.items():
        rows = rows.to_list() if hasattr(rows, "to_list") else list(rows)
        # a pair without a chosen or rejected side is no pair: counted apart and named, never in the statistics
        complete = [r for r in rows if r.get("rejected") is not None and r.get("chosen") is not None]
        broken = [r for r in rows if r.get("rejected") is None or r.get("chosen") is None]
        for r in broken:
            logger.warning("%s: row of problem %s has no %s side; left out of the statistics", source,
                           r.get("problem_id"), "rejected" if r.get("rejected") is None else "chosen")
        out[source] = {**source_stats(complete),
                       "incomplete_rows": len(broken), "incomplete_problem_ids": [r.get("problem_id") for r in broken]}
    return out


def _fmt(value, pct: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{100 * value:.0f}%" if pct else f"{value:.3g}"


def markdown_table(stats: Mapping[str, dict]) -> str:
    """One line per source; ``n/a`` marks a score that was not computed (scorer disabled) or has no rows."""
    head = ("| source | rows | problems | RM rejected (mean / median) | RM chosen (mean) | RM prefers negative "
            "| judge rejected / chosen | format ok | length rejected / chosen (chars) |\n"
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
    lines = []
    for source, s in stats.items():
        lines.append(
            f"| {source} | {s['rows']} | {s['problems']} | {_fmt(s['rm_rejected_mean'])} / {_fmt(s['rm_rejected_median'])}"
            f" | {_fmt(s['rm_chosen_mean'])} | {_fmt(s['rm_prefers_negative'], pct=True)}"
            f" | {_fmt(s['judge_rejected_mean'])} / {_fmt(s['judge_chosen_mean'])} | {_fmt(s['format_rate'], pct=True)}"
            f" | {_fmt(s['rejected_chars_mean'])} / {_fmt(s['chosen_chars_mean'])} |"
        )
    notes = [f"\n{source}: {s['incomplete_rows']} row(s) without a chosen or rejected side, not counted above "
             f"(problems {', '.join(map(str, s['incomplete_problem_ids'][:5]))})"
             for source, s in stats.items() if s.get("incomplete_rows")]
    return head + "\n".join(lines) + "\n" + "\n".join(notes) + ("\n" if notes else "")


def plot(stats: Mapping[str, dict], by_source: Mapping[str, Sequence[Mapping]], path: str | Path) -> Path:
    """Box plots of RM and judge scores per source next to the chosen responses; a text panel when no scores."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = {s: (r.to_list() if hasattr(r, "to_list") else list(r)) for s, r in by_source.items()}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, column, title in ((axes[0], "rm", "reward-model score (raw)"), (axes[1], "judge", "CoT-judge score [0, 1]")):
        data, labels = [], []
        chosen = [v for r in rows.values() for v in _values(r, f"{column}_chosen")]
        if chosen:
            data.append(chosen)
            labels.append("chosen (correct)")
        for source, r in rows.items():
            values = _values(r, f"{column}_rejected")
            if values:
                data.append(values)
                labels.append(source)
        if data:
            ax.boxplot(data, showmeans=True)
            ax.set_xticks(range(1, len(labels) + 1), labels, rotation=20, ha="right")
        else:
            ax.text(0.5, 0.5, f"no {column} scores\n(scorer not configured)", ha="center", va="center")
            ax.set_xticks([])
        ax.set_title(title)
    fig.suptitle("Plausibility of negatives by source")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def load_folder(folder: str | Path) -> dict[str, list[dict]]:
    """Every config of a Hub-layout dataset folder, read with ``load_dataset`` (as a user would)."""
    import yaml
    from datasets import load_dataset

    folder = Path(folder)
    readme = (folder / "README.md").read_text(encoding="utf-8")
    if not readme.startswith("---\n"):
        raise ValueError(f"{folder / 'README.md'}: no YAML header with 'configs:'")
    meta = yaml.safe_load(readme[4:readme.index("\n---", 4)])
    names = [c["config_name"] for c in meta.get("configs", [])]
    if not names:
        raise ValueError(f"{folder / 'README.md'}: 'configs:' lists no config")
    return {name: load_dataset(str(folder), name, split="train").to_list() for name in names}


def update_card(readme: Path, table: str) -> None:
    """Replace the table between the plausibility markers of a card (added at the end if absent)."""
    text = readme.read_text(encoding="utf-8")
    block = f"{TABLE_START}\n{table}{TABLE_END}"
    if TABLE_START in text and TABLE_END in text:
        head, rest = text.split(TABLE_START, 1)
        text = head + block + rest.split(TABLE_END, 1)[1]
    else:
        text = text.rstrip() + "\n\n## Plausibility\n\n" + block + "\n"
    readme.write_text(text, encoding="utf-8")


def write_report(folder: str | Path, update_readme: bool = True) -> dict[str, dict]:
    """Recompute the report of a dataset folder: ``plausibility.png``, ``plausibility.json`` and the card table."""
    folder = Path(folder)
    by_source = load_folder(folder)
    stats = plausibility_stats(by_source)
    plot(stats, by_source, folder / "plausibility.png")
    (folder / "plausibility.json").write_text(json.dumps(stats, indent=1))
    if update_readme:
        update_card(folder / "README.md", markdown_table(stats))
    return stats


def cli_main(argv: list[str] | None = None) -> int:
    """``pns-hub report FOLDER [--no-update-card]``: print the table and refresh the PNG and card."""
    parser = argparse.ArgumentParser(prog="pns-hub report", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("folder", help="dataset folder written by 'pns-hub synthesize'")
    parser.add_argument("--no-update-card", action="store_true", help="leave README.md unchanged")
    args = parser.parse_args(argv)
    stats = write_report(args.folder, update_readme=not args.no_update_card)
    print(markdown_table(stats))
    print(f"plot: {Path(args.folder) / 'plausibility.png'}")
    return 0
