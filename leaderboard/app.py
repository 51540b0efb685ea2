"""pns-hub leaderboard: a Gradio app (Hub Space layout) over pns-hub results JSON files.

Where the results come from, first that works:
1. ``PNS_RESULTS_REPO=org/results``: a Hub dataset repo of results JSONs, fetched with ``snapshot_download`` (the
   Space variable ``pns-hub leaderboard --push-space ... --results-repo`` sets); offline, the cached snapshot;
2. ``PNS_LEADERBOARD_RESULTS=path``: a local folder;
3. ``results/`` next to this file.
The page says which one it shows, and why a Hub repo was not used.

Run locally:  PNS_LEADERBOARD_RESULTS=path/to/results python leaderboard/app.py   (serves on 127.0.0.1:7860)
As a Space:   pns-hub leaderboard --push-space ORG/NAME --results-repo ORG/RESULTS (Spaces set
              GRADIO_SERVER_NAME=0.0.0.0 themselves). The Space folder holds the few pns_hub modules read below
              (pns_hub.eval.space builds it), so it needs only requirements.txt.

The table, the filters (method, negative source) and the sort (any score column, either direction) are computed
server-side from ``pns_hub.eval.leaderboard`` so the app and ``pns-hub leaderboard`` never disagree.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no telemetry calls: runs offline

HERE = Path(__file__).resolve().parent
if not (HERE / "pns_hub").is_dir() and (HERE.parent / "pns_hub").is_dir():
    sys.path.insert(0, str(HERE.parent))  # run from a checkout: the package beside leaderboard/

import gradio as gr  # noqa: E402
import pandas as pd  # noqa: E402

from pns_hub.eval.leaderboard import CI_SUFFIX, load_results, paired_deltas, to_dataframe  # noqa: E402


logger = logging.getLogger("pns-hub-leaderboard")
NONE_LABEL = "(none)"  # negative source of base models
HIDDEN_SORT = ("base", "limit", "lighteval", "commit", "date", "negative_source")


def local_results_dir() -> Path:
    return Path(os.environ.get("PNS_LEADERBOARD_RESULTS") or HERE / "results")


def results_source() -> tuple[Path, str]:
    """(folder, description): the Hub results repo's snapshot if ``PNS_RESULTS_REPO`` is set and reachable (or
    cached), else the local folder, with the reason in the description."""
    repo = os.environ.get("PNS_RESULTS_REPO", "").strip()
    local = local_results_dir()
    if not repo:
        return local, f"local folder `{local.name}`"
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(repo, repo_type="dataset", allow_patterns=["*.json", "**/*.json"])
    except Exception as err:  # offline with no cached snapshot, unknown repo, Hub down: show the local results
        logger.warning("results repo %s unavailable (%s): showing %s", repo, err, local)
        return local, f"local folder `{local.name}` (Hub dataset `{repo}` unavailable: {type(err).__name__})"
    return Path(folder), f"Hub dataset `{repo}`"


def filter_and_sort(df, methods: list[str], sources: list[str], sort_by: str, descending: bool):
    """Rows whose method and negative source are both selected, sorted on one column (missing values last)."""
    sources = [("" if s == NONE_LABEL else s) for s in (sources or [])]
    view = df[df["method"].isin(methods or []) & df["negative_source"].isin(sources)]
    if sort_by in view.columns:
        view = view.sort_values(sort_by, ascending=not descending, kind="stable", na_position="last")
    return view.reset_index(drop=True)


def build_app(folder: str | Path | None = None) -> gr.Blocks:
    folder, source = (Path(folder), f"`{Path(folder).name}`") if folder else results_source()
    records, rejected = load_results(folder) if folder.is_dir() else ([], [])  # a Space with no results yet
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
            f"{len(records)} runs from {source}."
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
