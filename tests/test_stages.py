"""A stage's recorded time covers every process it ran in: one cut by a stop and resumed costs both segments."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from pns_hub.experiments import stages
from pns_hub.experiments.stages import StageRunner


def test_a_stage_that_failed_and_reran_records_both_segments(tmp_path, monkeypatch):
    monkeypatch.setattr(stages, "HEARTBEAT_SECONDS", 0.05)
    runner = StageRunner(tmp_path)

    def cut():
        time.sleep(0.3)
        raise RuntimeError("stopped")

    with pytest.raises(RuntimeError):
        runner.run("train", {"lr": 1e-5}, cut)
    progress = tmp_path / "stages" / "train.progress.json"
    assert json.loads(progress.read_text())["seconds"] >= 0.3
    result = runner.run("train", {"lr": 1e-5}, lambda: (time.sleep(0.2), {"ok": 1})[1])
    marker = json.loads((tmp_path / "stages" / "train.json").read_text())
    assert result == {"ok": 1} and marker["segments"] == 2 and runner.segments["train"] == 2
    assert marker["seconds"] >= 0.5 and runner.timings["train"] == marker["seconds"]
    assert not progress.exists()  # finished: the marker holds the total
    again = StageRunner(tmp_path)  # a later run reusing the marker reports the stage as resumed, with its total
    again.run("train", {"lr": 1e-5}, lambda: pytest.fail("a finished stage must be reused"))
    assert again.resumed() == {"train": 2} and again.timings["train"] == marker["seconds"]


def test_earlier_segments_of_other_settings_are_not_counted(tmp_path):
    (tmp_path / "stages").mkdir()
    (tmp_path / "stages" / "train.progress.json").write_text(json.dumps({"key": "other", "seconds": 500.0,
                                                                          "segments": 3}))
    StageRunner(tmp_path).run("train", {"lr": 1e-5}, lambda: {})
    marker = json.loads((tmp_path / "stages" / "train.json").read_text())
    assert marker["segments"] == 1 and marker["seconds"] < 5


CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from pns_hub.experiments import stages
    stages.HEARTBEAT_SECONDS = 0.1
    stages.StageRunner(Path(sys.argv[1])).run("train", {"lr": 1e-5}, lambda: time.sleep(60) or {})
""")


def test_a_killed_stage_leaves_its_time_for_the_resume(tmp_path):
    """SIGKILL, as a stop does: no exit handler runs, so only the heartbeat's file carries the time over."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)], env={**os.environ, "OMP_NUM_THREADS": "1"})
    progress = tmp_path / "stages" / "train.progress.json"
    deadline = time.time() + 120
    while time.time() < deadline and not (progress.exists() and json.loads(progress.read_text())["seconds"] >= 1.0):
        time.sleep(0.1)
    child.send_signal(signal.SIGKILL)
    child.wait()
    spent = json.loads(progress.read_text())["seconds"]
    assert spent >= 1.0
    StageRunner(tmp_path).run("train", {"lr": 1e-5}, lambda: {})
    marker = json.loads((tmp_path / "stages" / "train.json").read_text())
    assert marker["segments"] == 2 and marker["seconds"] >= spent
