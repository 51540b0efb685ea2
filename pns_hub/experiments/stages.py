"""Cached, timed pipeline stages: what lets ``pns-hub demo`` resume after an interruption.

A stage is skipped when its marker file records the same inputs (a hash of its settings) and its outputs still exist;
anything else re-runs it. Timings and each stage's peak resident memory (:class:`pns_hub.memory.PeakRSS`) are kept,
so a run can report each stage's share of the wall time and what memory it needed.

A stage cut by a stop and resumed (its trainer from the last checkpoint) costs every segment it ran, not only the
last: a heartbeat keeps the running total in ``stages/<name>.progress.json`` (to within :data:`HEARTBEAT_SECONDS` of
a kill), and the marker records the total and the number of segments.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from pns_hub import models
from pns_hub.memory import PeakRSS, release


logger = logging.getLogger(__name__)


def settings_hash(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


HEARTBEAT_SECONDS = 30.0  # how often a running stage saves its elapsed time: a kill loses at most this much
ROOT_TOKEN = "<stage-root>"  # how a path under the runner's root is written in keys, markers and cached results


def portable(value, root: Path):
    """``value`` with every path string under ``root`` written as ``<stage-root>/...`` (``Path`` objects too).

    Why: a stage's settings and results name folders (``outputs/demo/hub/pns-reward-model``); written as the caller
    spelled them, the same run from another directory, or with an absolute ``--output-dir``, has other keys and
    restarts from the first stage, and a cached result would point at a folder relative to another directory."""
    if isinstance(value, dict):
        return {k: portable(v, root) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [portable(v, root) for v in value]
    if isinstance(value, (str, Path)) and (isinstance(value, Path) or "/" in value or value == str(root)):
        try:
            relative = Path(value).resolve().relative_to(root.resolve())
        except (ValueError, OSError):
            return str(value)
        return ROOT_TOKEN if str(relative) == "." else f"{ROOT_TOKEN}/{relative.as_posix()}"
    return value


def located(value, root: Path):
    """Inverse of :func:`portable`: ``<stage-root>/...`` strings as paths under this run's ``root``."""
    if isinstance(value, dict):
        return {k: located(v, root) for k, v in value.items()}
    if isinstance(value, list):
        return [located(v, root) for v in value]
    if isinstance(value, str) and (value == ROOT_TOKEN or value.startswith(ROOT_TOKEN + "/")):
        return str(root / value[len(ROOT_TOKEN) + 1:]) if value != ROOT_TOKEN else str(root)
    return value


def _without(settings: dict, budget_fields: frozenset[str]) -> dict:
    """``settings`` with the named fields dropped from its ``budget`` (if any)."""
    if "budget" not in settings:
        return settings
    return {**settings, "budget": {k: v for k, v in settings["budget"].items() if k not in budget_fields}}


@dataclass
class StageRunner:
    """Runs named stages under ``root/stages/``, reusing results whose settings did not change."""

    root: Path
    timings: dict[str, float] = field(default_factory=dict)
    peak_rss_mb: dict[str, float | None] = field(default_factory=dict)
    start_rss_mb: dict[str, float | None] = field(default_factory=dict)  # after release(): what earlier stages left
    reused: list[str] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)  # stage -> settings hash, for stages that depend on it
    # Another run whose stages named in ``adoptable`` may be reused when their settings equal ours once the budget
    # fields in ``adopt_ignoring`` are dropped (an ablation that changes only the generator shares the RM; #33)
    adopt_from: Path | None = None
    adoptable: frozenset[str] = frozenset()
    adopt_ignoring: frozenset[str] = frozenset()
    adopted: dict[str, str] = field(default_factory=dict)  # stage -> the run it was taken from
    reuse_only: bool = False  # report what has finished: a stage that would have to run is an error
    segments: dict[str, int] = field(default_factory=dict)  # stage -> processes it ran in (> 1: resumed after a cut)

    def run(self, name: str, settings: dict, fn: Callable[[], dict], outputs: list[Path] | None = None) -> dict:
        marker = self.root / "stages" / f"{name}.json"
        settings = portable(settings, self.root)
        key = self.keys[name] = settings_hash(settings)
        if name in self.adoptable and self.adopt_from is not None:
            return self._adopt(name, settings)
        if marker.exists():
            saved = located(json.loads(marker.read_text()), self.root)
            if saved.get("key") == key and all(Path(p).exists() for p in saved.get("outputs", [])):
                logger.info("stage %s: reusing the result of an earlier run (%s)", name, marker)
                self._record_reuse(name, saved, saved.get("seconds", 0.0))
                return saved["result"]
        if self.reuse_only:
            raise FileNotFoundError(f"stage {name!r} has not finished under {self.root} (or its settings changed): a "
                               "report of finished work runs nothing")
        logger.info("stage %s: running", name)
        # the load seen at the job's start is stale an hour later: oversubscribed OpenMP threads cost ~4x (an NSR step:
        # 264 s at 2 threads vs 51-63 s at 1 while other work held a core), so each stage picks its threads anew
        models.configure_threads()
        release()  # the previous stage's leftovers must not count as this stage's memory (or stay resident)
        progress = marker.with_suffix(".progress.json")
        earlier, segments = self._earlier_segments(name, progress, key)
        with PeakRSS() as memory, _Heartbeat(progress, key, earlier, segments) as beat:
            result = fn()
        seconds = beat.total()
        self.timings[name], self.segments[name] = seconds, segments
        self.peak_rss_mb[name] = round(memory.peak_mb, 1) if memory.peak_mb is not None else None
        self.start_rss_mb[name] = round(memory.start_mb, 1) if memory.start_mb is not None else None
        marker.parent.mkdir(parents=True, exist_ok=True)
        tmp = marker.with_suffix(".tmp")
        tmp.write_text(json.dumps(portable({"key": key, "settings": settings, "seconds": seconds, "segments": segments,
                                            "peak_rss_mb": self.peak_rss_mb[name],
                                            "start_rss_mb": self.start_rss_mb[name], "result": result,
                                            "outputs": [str(p) for p in (outputs or [])]}, self.root),
                                  indent=2, default=str))
        tmp.replace(marker)  # a stage is done only once its marker is complete
        progress.unlink(missing_ok=True)
        return result

    def _earlier_segments(self, name: str, progress: Path, key: str) -> tuple[float, int]:
        """Seconds already spent on this stage by cut-off runs with the same settings, and this run's segment number
        (1 for a fresh start). A progress file of other settings is another stage's past: it starts from zero."""
        if progress.exists():
            saved = json.loads(progress.read_text())
            if saved.get("key") == key:
                logger.info("stage %s: resuming (segment %d, %.0f s spent before)", name, saved["segments"] + 1,
                            saved["seconds"])
                return float(saved["seconds"]), int(saved["segments"]) + 1
        return 0.0, 1

    def _record_reuse(self, name: str, saved: dict, seconds: float) -> None:
        """A stage not run now still has a row in the timing and memory table, and is listed as reused."""
        self.timings[name] = seconds
        if seconds:  # an adopted stage comes with 0.0 s: another run's cost and segments, not ours
            self.segments[name] = saved.get("segments", 1)  # markers before segments were counted: one
        self.peak_rss_mb[name] = saved.get("peak_rss_mb")
        self.start_rss_mb[name] = saved.get("start_rss_mb")
        self.reused.append(name)

    def _adopt(self, name: str, settings: dict) -> dict:
        """Stage ``name`` of the run under ``adopt_from``: refused, naming the fields, unless that run's settings equal
        ours up to the ignored budget fields. Why refuse rather than re-run: an ablation that silently retrains its
        RM would compare two reward models, not two generator rewards."""
        source = Path(self.adopt_from)
        marker = source / "stages" / f"{name}.json"
        if not marker.exists():
            raise FileNotFoundError(f"{marker}: stage {name!r} of the run to share from has not finished (run that "
                                    "run first, or drop the sharing)")
        saved = json.loads(marker.read_text())
        # compared as the paths they name (a folder of the source run is "<stage-root>/..." in its marker)
        theirs = _without(located(saved["settings"], source), self.adopt_ignoring)
        ours = _without(located(settings, self.root), self.adopt_ignoring)
        if theirs != ours:
            differ = sorted(k for k in set(theirs) | set(ours) if k != "budget" and theirs.get(k) != ours.get(k))
            a, b = theirs.get("budget") or {}, ours.get("budget") or {}
            differ += sorted(f"budget.{k}" for k in set(a) | set(b) if a.get(k) != b.get(k))
            raise ValueError(f"{marker}: stage {name!r} was run with other settings ({', '.join(differ)} differ), so "
                             "it cannot be shared with this run")
        self.keys[name] = saved["key"]  # later stages depend on the adopted result, not on a re-run
        self._record_reuse(name, saved, 0.0)  # another run's cost: not this run's
        self.adopted[name] = str(source)
        logger.info("stage %s: shared from %s", name, marker)
        return located(saved["result"], source)

    def resumed(self) -> dict[str, int]:
        """Stages that took more than one process (cut by a stop, resumed): their seconds sum every segment, work
        redone after the last checkpoint included."""
        return {name: n for name, n in self.segments.items() if n > 1}

    def shares(self) -> list[tuple[str, float, float]]:
        total = sum(self.timings.values()) or 1.0
        return [(name, seconds, 100 * seconds / total) for name, seconds in self.timings.items()]


class _Heartbeat:
    """Writes a running stage's total seconds (earlier segments + this one) to ``path`` every
    :data:`HEARTBEAT_SECONDS`, from a daemon thread, so a process killed mid-stage leaves its time behind."""

    def __init__(self, path: Path, key: str, earlier: float, segment: int):
        self.path, self.key, self.earlier, self.segment = path, key, earlier, segment
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name=f"heartbeat:{path.stem}")

    def total(self) -> float:
        """Seconds of every segment so far: the earlier ones' and this one's."""
        return self.earlier + time.perf_counter() - self._start

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"key": self.key, "seconds": round(self.total(), 1),
                                   "segments": self.segment}))
        tmp.replace(self.path)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            self._write()

    def __enter__(self) -> "_Heartbeat":
        self._start = time.perf_counter()
        self._write()  # the segment counts from its first second, even if killed before the first beat
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        if exc[0] is not None:  # a stage that failed keeps its time for the next try
            self._write()
