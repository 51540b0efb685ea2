"""Shared helpers for the benchmark scripts: the row convention, timing, load stamps, and table output.

A row is a dict with:
  stage (str), naive (float|None), tuned (float|None), unit (str),
  higher_is_better (bool, default True: rates; False for seconds),
  achieved_gflops (float, optional: the tuned figure's useful GFLOP/s, for the % of the measured roofline),
  roofline (str, optional: which peak it is compared to, "bf16_gflops" | "fp32_gflops"),
  notes (str, optional), load (str: 1-minute load average before/after, filled in by the suite),
  peak_rss_mb (float: peak resident memory of the process while the script ran; the suite fills it in with
  ``pns_hub.memory.PeakRSS`` around ``run``, :func:`emit_rows` with the emitting process's lifetime peak; a script
  that measures per-path peaks sets it itself).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path


RESULTS_DIR = Path(os.environ.get("PNS_HUB_BENCH_RESULTS") or Path(__file__).resolve().parent / "results")


def env_setup() -> None:
    """Offline, quiet, and the thread settings every pns-hub job uses."""
    for key, value in (("HF_HUB_OFFLINE", "1"), ("HF_DATASETS_OFFLINE", "1"), ("HF_HUB_DISABLE_TELEMETRY", "1"),
                       ("TOKENIZERS_PARALLELISM", "false"), ("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")):
        os.environ.setdefault(key, value)


def option(name: str, default: str | None = None) -> str | None:
    """A script's own ``--name=value`` option from ``sys.argv`` (``pns-hub bench`` passes such words through to it)."""
    return next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith(f"--{name}=")), default)


def script_main(run, argv=None) -> None:
    """A benchmark script's command line: offline settings, ``--quick`` for CI-sized runs, the rows as a table."""
    env_setup()
    quick = "--quick" in (argv if argv is not None else sys.argv[1:])
    print_rows(run(quick))


def with_generate_backend(backend: str, fn):
    """``fn()`` with ``PNS_HUB_GENERATE_BACKEND`` (the fixed-model engine switch) set to ``backend``, then restored."""
    previous = os.environ.get("PNS_HUB_GENERATE_BACKEND")
    os.environ["PNS_HUB_GENERATE_BACKEND"] = backend
    try:
        return fn()
    finally:
        if previous is None:
            os.environ.pop("PNS_HUB_GENERATE_BACKEND", None)
        else:
            os.environ["PNS_HUB_GENERATE_BACKEND"] = previous


def load_avg() -> float:
    return round(os.getloadavg()[0], 2)


def row(stage, naive, tuned, unit, higher_is_better=True, **extra) -> dict:
    return {"stage": stage, "naive": naive, "tuned": tuned, "unit": unit, "higher_is_better": higher_is_better,
            **extra}


def ratio(r: dict) -> float | None:
    """Speed-up of tuned over naive, whichever direction the unit goes."""
    n, t = r.get("naive"), r.get("tuned")
    if not n or not t:
        return None
    return round((t / n) if r.get("higher_is_better", True) else (n / t), 2)


def machine_info() -> dict:
    import torch

    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    from pns_hub import models
    return {"cpu": cpu or platform.processor(), "cores": models.available_cores(), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "bf16_native": models.cpu_supports_bf16(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def markdown_table(rows: list[dict], peaks: dict) -> str:
    lines = ["| stage | naive | tuned | unit | ratio | % roofline | peak RSS MB | load 1m | notes |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        pct = roofline_pct(r, peaks)
        lines.append(f"| {r['stage']} | {fmt(r.get('naive'))} | {fmt(r.get('tuned'))} | {r.get('unit', '')} | "
                     f"{fmt(ratio(r))}{'x' if ratio(r) else ''} | {fmt(pct) + '%' if pct is not None else '-'} | "
                     f"{fmt(r.get('peak_rss_mb'))} | {r.get('load', '-')} | {r.get('notes', '')} |")
    return "\n".join(lines)


def roofline_pct(r: dict, peaks: dict) -> float | None:
    peak = peaks.get(r.get("roofline") or "")
    if not peak or r.get("achieved_gflops") is None:
        return None
    return round(100 * r["achieved_gflops"] / peak, 1)


ROW_PREFIX = "PNS_BENCH_ROW "


def emit_rows(rows: list[dict]) -> None:
    """Print rows as tagged JSON lines, so the suite can take the figures of a script it runs as a subprocess."""
    from pns_hub.memory import lifetime_peak_mb

    for r in rows:
        r.setdefault("peak_rss_mb", round(lifetime_peak_mb(), 1))
        print(ROW_PREFIX + json.dumps(r), flush=True)


def parse_rows(stdout: str) -> list[dict]:
    """The rows a subprocess printed with :func:`emit_rows` (none when it printed none)."""
    return [json.loads(line[len(ROW_PREFIX):]) for line in stdout.splitlines() if line.startswith(ROW_PREFIX)]


def print_rows(rows: list[dict], peaks: dict | None = None) -> None:
    print(markdown_table(rows, peaks or {}), flush=True)


def write_results(rows: list[dict], peaks: dict, meta: dict, name: str = "latest") -> tuple[Path, Path]:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)  # PNS_HUB_BENCH_RESULTS (read at import) redirects it
    for r in rows:
        r["ratio"] = ratio(r)
        r["roofline_pct"] = roofline_pct(r, peaks)
    payload = {"meta": meta, "peaks": peaks, "rows": rows}
    json_path, md_path = RESULTS_DIR / f"{name}.json", RESULTS_DIR / f"{name}.md"
    json_path.write_text(json.dumps(payload, indent=2) + "\n")
    header = (f"# pns-hub benchmarks ({meta.get('mode')})\n\n{meta.get('started')} on {meta.get('cpu')} "
              f"({meta.get('cores')} cores, torch {meta.get('torch')}, bf16 native: {meta.get('bf16_native')}); "
              f"load average at start {meta.get('load_start')}, at end {meta.get('load_end')} "
              f"(`uptime`: {meta.get('uptime_end', '')}).\n\nRatio = tuned speed-up over naive; % roofline = the tuned "
              "figure's useful GFLOP/s over the matmul peak measured in this run.\n\n")
    md_path.write_text(header + markdown_table(rows, peaks) + "\n")
    return json_path, md_path


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
