"""Per-stage peak RSS: a block's own peak (not the process's lifetime peak), nesting, and the stage runner's record."""

import numpy as np


def _touch(megabytes: int) -> None:
    """Fresh anonymous pages, written (so resident), then unmapped: what is measured does not depend on whether the
    allocator reuses memory it already holds (a fresh-clone run saw a 300 MB numpy array add nothing to RSS after
    other tests had run: served from freed-but-resident heap)."""
    import mmap

    size = megabytes * 2**20
    with mmap.mmap(-1, size) as buf:
        view = np.frombuffer(buf, dtype=np.uint8)
        view[:] = 1
        assert view[-1] == 1
        del view


def test_peak_rss_is_per_block_and_nests():
    from pns_hub.memory import PeakRSS, lifetime_peak_mb

    with PeakRSS() as outer:
        with PeakRSS() as big:
            _touch(300)
        with PeakRSS() as small:
            _touch(50)
    assert big.peak_mb - big.start_mb > 250
    assert small.peak_mb - small.start_mb < 150  # after a 300 MB block: its own peak, not the lifetime one
    assert outer.peak_mb >= big.peak_mb  # the inner reset did not hide the outer block's peak
    assert lifetime_peak_mb() >= big.peak_mb - 1


def test_stage_runner_records_and_reuses_peaks(tmp_path):
    from pns_hub.stages import StageRunner

    runner = StageRunner(tmp_path)
    runner.run("big", {"a": 1}, lambda: (_touch(200), {"ok": 1})[1])
    runner.run("small", {"a": 1}, lambda: {"ok": 2})
    assert runner.peak_rss_mb["big"] - runner.peak_rss_mb["small"] > 150
    again = StageRunner(tmp_path)
    again.run("big", {"a": 1}, lambda: {"ok": 3})
    assert again.reused == ["big"] and again.peak_rss_mb["big"] == runner.peak_rss_mb["big"]


RELEASE_PROBE = """
import json
from pns_hub import memory
called = []
memory.on_release(lambda: called.append(1))
blocks = [bytes(4000) + bytes([i % 256]) for i in range(75_000)]  # ~300 MB in malloc'd chunks (> pymalloc's 512 B)
kept = blocks[::32]  # every 32nd stays alive: the heap is fragmented, so glibc cannot simply shrink its top
del blocks
before = memory.current_rss_mb()
after = memory.release()
print(json.dumps({"before": before, "after": after, "hooks": len(called), "kept": len(kept)}))
"""


def test_release_runs_the_hooks_and_returns_freed_heap_pages():
    """What a stage freed must leave the process: without ``malloc_trim`` the ~290 MB freed between the kept blocks
    stays resident (measured: it does). Run in a fresh interpreter so the heap's state is this probe's alone."""
    import json
    import subprocess
    import sys

    out = json.loads(subprocess.run([sys.executable, "-c", RELEASE_PROBE], capture_output=True, text=True,
                                    check=True).stdout.strip().splitlines()[-1])
    assert out["hooks"] == 1
    assert out["before"] - out["after"] > 150, out
