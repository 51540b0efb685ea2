"""Peak resident memory per stage, so a summary or benchmark row can say what each part of a run needed.

Why not ``resource.getrusage`` alone: its ``ru_maxrss`` is the peak over the whole process life, so after a 3 GB stage
every later stage would read 3 GB too. On Linux, writing ``5`` to ``/proc/self/clear_refs`` resets the peak
(``VmHWM`` in ``/proc/self/status``) to the current RSS; :class:`PeakRSS` does that at the start of a block and reads
``VmHWM`` at its end, which is exact (the kernel tracks it) and costs nothing while the block runs. The reset also
resets ``ru_maxrss``; :func:`lifetime_peak_mb` keeps the lifetime figure right. Where the reset is
not possible (another OS, a locked-down /proc) a sampling thread (every 50 ms) measures the block's peak instead,
which can miss a shorter spike; ``method`` says which one a figure came from. Child processes (the verifier's worker
pool) are not included.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import gc
import re
import resource
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Iterator


_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
_OPEN: list["PeakRSS"] = []  # blocks being measured: a nested block's reset must not hide an outer block's peak
_BEFORE_RESETS_MB = 0.0  # the highest peak wiped by a reset (the reset also resets getrusage's ru_maxrss)
_RELEASE_HOOKS: list[Callable[[], None]] = []  # per-process caches of loaded models (scorers, judge, engines)


def _status_kb(field: str) -> int | None:
    try:
        match = re.search(rf"^{field}:\s+(\d+)\s+kB", _STATUS.read_text(), re.M)
    except OSError:
        return None
    return int(match.group(1)) if match else None


def current_rss_mb() -> float | None:
    kb = _status_kb("VmRSS")
    return None if kb is None else kb / 1024


def lifetime_peak_mb() -> float:
    """The process's peak RSS since it started, resets included (``ru_maxrss`` is in kB on Linux)."""
    return max(_BEFORE_RESETS_MB, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def reset_peak() -> bool:
    """Reset the kernel's peak-RSS counter to the current RSS; False where that is not possible.

    The peak so far is first handed to every open :class:`PeakRSS` block, so nesting stays exact.
    """
    global _BEFORE_RESETS_MB
    before = _status_kb("VmHWM")
    _BEFORE_RESETS_MB = max(_BEFORE_RESETS_MB, (before or 0) / 1024)
    for block in _OPEN:
        block._carried = max(block._carried, (before or 0) / 1024)
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return _status_kb("VmHWM") is not None


class PeakRSS:
    """``with PeakRSS() as m: ...`` then ``m.peak_mb`` (the block's peak RSS), ``m.start_mb``, ``m.method``."""

    def __init__(self, interval_s: float = 0.05):
        self.interval_s = interval_s
        self.peak_mb = self.start_mb = None
        self.method = None
        self._stop = threading.Event()
        self._thread = None
        self._sampled = 0.0
        self._carried = 0.0

    def __enter__(self) -> "PeakRSS":
        self.start_mb = current_rss_mb()
        if reset_peak():
            self.method = "VmHWM"
            _OPEN.append(self)
        else:
            self.method = "sampled"
            self._sampled = self.start_mb or 0.0
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sampled = max(self._sampled, current_rss_mb() or 0.0)

    def __exit__(self, *exc) -> None:
        if self.method == "VmHWM":
            _OPEN.remove(self)
            self.peak_mb = max(self._carried, _status_kb("VmHWM") / 1024)
        else:
            self._stop.set()
            self._thread.join()
            self._sampled = max(self._sampled, current_rss_mb() or 0.0)
            self.peak_mb = self._sampled or lifetime_peak_mb()

    def to_dict(self) -> dict:
        return {"peak_rss_mb": round(self.peak_mb, 1) if self.peak_mb is not None else None,
                "start_rss_mb": round(self.start_mb, 1) if self.start_mb is not None else None,
                "method": self.method}


@functools.cache
def _libc() -> ctypes.CDLL:
    """The C library, looked up once (``find_library`` runs ``ldconfig``; ``release`` is called at every stage)."""
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")


_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number (malloc.h)
MMAP_THRESHOLD_BYTES = 1 << 20


def fix_mmap_threshold(threshold: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Serve every allocation of ``threshold`` bytes or more from its own mapping, returned to the OS on ``free``.

    Why: glibc raises its mmap threshold each time a large mapped block is freed (up to 32 MB), after which
    tensor-sized blocks come from the heap, where blocks of ever-changing sizes (a batch per sequence length) leave
    holes the heap cannot return. Measured on the demo's warm-up SFT (160 examples, micro-batch 2, 2-core EPYC): RSS
    crept from 3.7 to 4.35 GB over 20 steps and peaked at 4.54 GB; with the threshold fixed at 1 MiB it stayed at
    3.4-3.6 GB, peak 3.82 GB, 4% slower (77 vs 74 s). Setting it explicitly turns glibc's adjustment off; a no-op
    (False) where the C library has no ``mallopt``. Called by the ``pns-hub`` command line before any work."""
    try:
        return bool(_libc().mallopt(_M_MMAP_THRESHOLD, int(threshold)))
    except (OSError, AttributeError):
        return False


def on_release(hook: Callable[[], None]) -> Callable[[], None]:
    """Register a cache-clearing function for :func:`release` (modules that keep loaded models per process)."""
    _RELEASE_HOOKS.append(hook)
    return hook


def release() -> float | None:
    """Give back what finished work left resident; returns the RSS after (MB).

    Why: a chain of stages in one process kept growing (the PNS experiment: 7.5 GB in the RM stage, 9.6 GB by the
    sixth DPO model, for 135M-parameter models). Three things hold memory after a stage: caches of loaded models
    that the next stage may not need (cleared by the registered hooks; a stage that needs one loads it again),
    reference cycles (``gc.collect``), and heap pages glibc keeps after ``free`` (``malloc_trim(0)`` returns the
    free pages inside the heap, not only its top; a no-op where the C library has no such call).
    """
    for hook in _RELEASE_HOOKS:
        hook()
    free_heap()
    if "pyarrow" in sys.modules:  # datasets' Arrow buffers come from Arrow's own pool, which keeps freed memory
        sys.modules["pyarrow"].default_memory_pool().release_unused()
    return current_rss_mb()


def free_heap() -> None:
    """Collect reference cycles, then hand glibc's free heap pages back to the OS (``malloc_trim(0)``)."""
    gc.collect()
    try:
        _libc().malloc_trim(0)
    except (OSError, AttributeError):
        pass


class ModelSlot:
    """Holds the model ``load()`` makes; with ``resident=False`` it is loaded for each :meth:`use` and freed after.

    Why: a GRPO run's reward model and judge work for a moment per generation round, then sit in memory through the
    policy's forward and backward, where the process peaks; the demo's generator stage loads its two on use (the
    stage's peak with and without: README, "What `make demo` does"). Resident is the default: a large judge loaded
    every round costs more time than its memory is worth. The first load happens here, so a bad spec fails at
    construction, not at the first step.
    """

    def __init__(self, load: Callable[[], Any], resident: bool = True):
        self._load, self.resident = load, resident
        self._model = load()  # kept until the end of the first use either way

    @property
    def model(self) -> Any:
        """The model, loaded if it is not (and then kept until the end of the next :meth:`use`)."""
        if self._model is None:
            self._model = self._load()
        return self._model

    @contextlib.contextmanager
    def use(self) -> Iterator[Any]:
        try:
            yield self.model
        finally:
            if not self.resident and self._model is not None:
                self._model = None
                free_heap()
