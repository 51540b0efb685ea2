"""pns-hub leaderboard: a Gradio app (Hub Space layout) over a folder of results JSON files.

Run locally:  PNS_LEADERBOARD_RESULTS=path/to/results python leaderboard/app.py   (serves on 127.0.0.1:7860)
As a Space:   put the results JSON files in ``results/`` next to this file (or point PNS_LEADERBOARD_RESULTS at a
              downloaded results dataset); Spaces set GRADIO_SERVER_NAME=0.0.0.0 themselves.

The table, the filters (method, negative source) and the sort (any score column, either direction) are computed
server-side from ``pns_hub.leaderboard`` so the app and ``pns-hub leaderboard`` never disagree.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no telemetry calls: runs offline

import gradio as gr  # noqa: E402
import pandas as pd  # noqa: E402

from pns_hub.leaderboard import CI_SUFFIX, load_results, paired_deltas, to_dataframe  # noqa: E402


NONE_LABEL = "(none)"  # negative source of base models
HIDDEN_SORT = ("base", "limit", "lighteval", "commit", "date", "negative_source")


def results_dir() -> Path:
    return Path(os.environ.get("PNS_LEADERBOARD_RESULTS") or Path(__file__).resolve().parent / "results")


def filter_and_sort(df, methods: list[str], sources: list[str], sort_by: str, descending: bool):
    """Rows whose method and negative source are both selected, sorted on one column (missing values last)."""
    sources = [("" if s == NONE_LABEL else s) for s in (sources or [])]
    view = df[df["method"].isin(methods or []) & df["negative_source"].isin(sources)]
    if sort_by in view.columns:
        view = view.sort_values(sort_by, ascending=not descending, kind="stable", na_position="last")
    return view.reset_index(drop=True)


def build_app(folder: str | Path | None = None) -> gr.Blocks:
    folder = Path(folder or results_dir())
    records, rejected = load_results(folder)
    df = to_dataframe(records)
    methods = sorted(df["method"].unique().tolist())
    sources = sorted({s or NONE_LABEL for s in df["negative_source"].tolist()})
    sort_columns = [c for c in df.columns if c not in HIDDEN_SORT and not c.endswith(CI_SUFFIX)]
    deltas = paired_deltas(records)

    with gr.Blocks(title="pns-hub leaderboard") as demo:
        gr.Markdown(
            "# pns-hub leaderboard\n"
            "pass@1 (%) on seven math benchmarks and the in-regime testbed (lighteval, one prompt, math-verify "
            "scoring); `<benchmark> 95% CI` columns give each score's 95% interval and number of problems. "
            f"{len(records)} runs from `{folder.name}`."
            + (f" {len(rejected)} file(s) rejected: " + "; ".join(r["error"] for r in rejected) if rejected else "")
        )
        with gr.Row():
            method_box = gr.CheckboxGroup(methods, value=methods, label="Method", elem_id="filter-method")
            source_box = gr.CheckboxGroup(sources, value=sources, label="Negative source", elem_id="filter-source")
        with gr.Row():
            sort_box = gr.Radio(sort_columns, value="average", label="Sort by", elem_id="sort-by")
            desc_box = gr.Checkbox(value=True, label="Descending", elem_id="sort-desc")
        table = gr.Dataframe(value=filter_and_sort(df, methods, sources, "average", True), interactive=False,
                             elem_id="leaderboard-table", wrap=True)
        if deltas:
            gr.Markdown("Paired differences to the base model on the same problems (pass@1 points, bootstrap over "
                        "problems: delta, 95% interval low/high, p-value).")
            gr.Dataframe(value=pd.DataFrame(deltas), interactive=False, elem_id="deltas-table", wrap=True)
        inputs = [method_box, source_box, sort_box, desc_box]
        for component in inputs:
            component.change(lambda m, s, by, d: filter_and_sort(df, m, s, by, d), inputs, table)
    return demo


if __name__ == "__main__":
    build_app().launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        share=False,
    )
