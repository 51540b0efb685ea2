"""``pns-hub bench`` / ``python -m benchmarks``: run every benchmark in ``benchmarks/`` and print one table.

Each stage reports a naive figure and a tuned figure measured in the same run (the machine may be shared, so only
ratios within one run are trustworthy), the tuned figure's share of the roofline measured at the start of the run,
and the 1-minute load average around it. Results go to ``benchmarks/results/<name>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import time
from pathlib import Path

from pns_hub.memory import PeakRSS


# In-process stages first (roofline must come first: later rows are compared to its peaks).
ORDER = ["roofline", "verify_throughput", "generation_throughput", "dpo_step", "grpo_step",
         "synthesis_throughput", "eval_throughput", "generator_learning", "gpu_suite"]


def _benchmarks_dir() -> Path:
    for candidate in (Path.cwd() / "benchmarks", Path(__file__).resolve().parents[2] / "benchmarks"):
        if (candidate / "_common.py").exists():
            return candidate
    raise FileNotFoundError("benchmarks/ not found: run from the repository root (it is not part of the wheel)")


def discover(folder: Path) -> list[str]:
    """Every benchmarks/*.py script (not _private helpers or __main__), in ORDER first, then alphabetical."""
    names = sorted(p.stem for p in folder.glob("*.py") if not p.stem.startswith("_"))
    return [n for n in ORDER if n in names] + [n for n in names if n not in ORDER]


def _follows_convention(module) -> bool:
    """True when the script defines ``run(quick: bool)`` (a ``run`` with another signature is someone else's API)."""
    import inspect

    run = getattr(module, "run", None)
    if not callable(run):
        return False
    try:
        return "quick" in inspect.signature(run).parameters
    except (TypeError, ValueError):
        return False


def _run_subprocess(folder: Path, name: str, timeout: float) -> list[dict]:
    """Run a script that has no ``run(quick)`` in its own process; keep the rows it emits (``_common.emit_rows``),
    or one row with its wall time and status when it emits none."""
    from benchmarks import _common

    start, load0 = time.perf_counter(), os.getloadavg()[0]
    produced: list[dict] = []
    try:
        proc = subprocess.run([sys.executable, str(folder / f"{name}.py")], capture_output=True, text=True,
                              timeout=timeout, cwd=folder.parent)
        produced = _common.parse_rows(proc.stdout) if proc.returncode == 0 else []
        tail = (proc.stdout.strip().splitlines() or [""])[-1][:300]
        status = "ok" if proc.returncode == 0 else f"FAILED: exit {proc.returncode}: {proc.stderr.strip()[-200:]}"
    except subprocess.TimeoutExpired:
        tail, status = "", f"FAILED: timed out after {timeout:.0f}s"
    wall = round(time.perf_counter() - start, 1)
    load = f"{load0:.1f}->{os.getloadavg()[0]:.1f}"
    for r in produced:
        r.update(load=load, notes=f"{r.get('notes', '')}; subprocess {wall}s wall".lstrip("; "))
    return produced or [{"stage": f"{name} (subprocess)", "naive": None, "tuned": wall, "unit": "s wall",
                         "higher_is_better": False, "notes": f"{status}; last line: {tail}", "load": load}]


def run_suite(quick: bool = False, only: list[str] | None = None, name: str | None = None,
              subprocess_timeout: float = 1800.0) -> dict:
    folder = _benchmarks_dir()
    sys.path.insert(0, str(folder.parent))
    from benchmarks import _common

    _common.env_setup()
    from pns_hub import models
    models.configure_threads()
    meta = {"mode": "quick" if quick else "full", "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "load_start": _common.load_avg(), **_common.machine_info()}
    rows, peaks = [], {}
    for script in discover(folder):
        if only and script not in only:
            continue
        module = importlib.import_module(f"benchmarks.{script}")
        load0 = _common.load_avg()
        if not _follows_convention(module):
            if quick:
                rows.append({"stage": f"{script} (subprocess)", "naive": None, "tuned": None, "unit": "",
                             "notes": "skipped in --quick (no run(quick=...) function; runs as a subprocess in full mode)"})
                continue
            rows.extend(_run_subprocess(folder, script, subprocess_timeout))
            continue
        print(f"== {script} (load {load0})", flush=True)
        try:
            with PeakRSS() as memory:
                produced = module.run(quick=quick)
        except Exception as err:  # noqa: BLE001 - one failing stage must not lose the others' figures
            produced = [{"stage": script, "naive": None, "tuned": None, "unit": "",
                         "notes": f"FAILED: {type(err).__name__}: {str(err)[:300]}"}]
        for r in produced:
            r.setdefault("load", f"{load0}->{_common.load_avg()}")
            if memory.peak_mb is not None:
                r.setdefault("peak_rss_mb", round(memory.peak_mb, 1))
            if "peaks" in r:
                peaks.update(r.pop("peaks"))
        rows.extend(produced)
        _common.print_rows(produced, peaks)
    meta["load_end"] = _common.load_avg()
    meta["uptime_end"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    json_path, md_path = _common.write_results(rows, peaks, meta, name or ("quick" if quick else "full"))
    print("\n" + _common.markdown_table(rows, peaks))
    print(f"\nwrote {json_path} and {md_path}  ({meta['uptime_end']})")
    return {"rows": rows, "peaks": peaks, "meta": meta, "json": str(json_path), "markdown": str(md_path)}


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The description as written, and every option's default in its help."""


def cli_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pns-hub bench", description=__doc__,
                                     formatter_class=HelpFormatter)
    parser.add_argument("--quick", action="store_true", help="CI-sized runs (minutes, not tens of minutes)")
    parser.add_argument("--only", nargs="*", help="run only these scripts (names without .py)")
    parser.add_argument("--name", default=None, help="results file stem (default: quick or full)")
    parser.add_argument("--subprocess-timeout", type=float, default=1800.0, help="seconds one script may run")
    # a script's own options (generation_throughput's --shape=P,S,N and --paths=a,e) stay in sys.argv, where it reads
    # them; only the --name=value form, so that a value is never taken for a script name
    args, script_args = parser.parse_known_args(argv)
    if any("=" not in a or not a.startswith("--") for a in script_args):
        parser.error(f"unrecognised arguments: {' '.join(script_args)} (script options take the form --option=value)")
    result = run_suite(quick=args.quick, only=args.only, name=args.name, subprocess_timeout=args.subprocess_timeout)
    failed = [r["stage"] for r in result["rows"] if str(r.get("notes", "")).startswith("FAILED")]
    return 1 if failed else 0
