"""NSR and GLOW under 2 processes (DDP over gloo on CPU) compute what 1 process computes on the same global batch.

NSR: TRL scores the completions of *all* processes and each process must keep its own slice of the advantages.
GLOW: the sampler moves a sample to another rank between epochs, so every rank must hold the gathered loss history,
or a moved sample silently falls back to the batch mean. ``tests/trainers_multiprocess.py`` runs both trainers once
per launch (one plain process, then ``torchrun --nproc_per_node 2``; torchrun, not ``accelerate launch --cpu``,
whose CPU launcher starts a single process without MPI) and these tests compare the JSON each rank wrote.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.trainers_multiprocess import MARKS


REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPT = REPO_ROOT / "tests" / "trainers_multiprocess.py"


def _launch(cmd: list[str], out: Path) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
           "PNS_HUB_THREADS": "1", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return [json.loads(p.read_text()) for p in sorted(out.glob("rank*.json"))]


@pytest.fixture(scope="module")
def runs(tiny_causal_lm_path, tmp_path_factory):
    """(the single process's result, [rank 0's, rank 1's]) from one launch each: ~1 min apiece on a loaded CPU."""
    one_dir, two_dir = tmp_path_factory.mktemp("one-process"), tmp_path_factory.mktemp("two-processes")
    one = _launch([sys.executable, str(SCRIPT), tiny_causal_lm_path, str(one_dir)], one_dir)
    torchrun = str(Path(sys.executable).parent / "torchrun")
    two = _launch([torchrun, "--nproc_per_node", "2", str(SCRIPT), tiny_causal_lm_path, str(two_dir)], two_dir)
    assert [(r["world"], r["rank"]) for r in one] == [(1, 0)]
    assert [(r["world"], r["rank"]) for r in two] == [(2, 0), (2, 1)]  # two real ranks ran
    return one[0], two


def _expected_advantage(problem: int) -> float:
    mark = MARKS[problem]
    return 0.0 if mark is None else 0.1 if mark == 1.0 else -1.0  # w_reinforce, lambda 0.1


@pytest.mark.slow
def test_nsr_two_processes_slice_advantages_like_one(runs):
    one, two = runs
    single = one["nsr"]
    # The same global batch, in the same order: rank 0 holds its first half, rank 1 the second.
    assert single["problem"] == two[0]["nsr"]["problem"] + two[1]["nsr"]["problem"]
    assert single["advantages"] == pytest.approx(two[0]["nsr"]["advantages"] + two[1]["nsr"]["advantages"])
    for result in (single, two[0]["nsr"], two[1]["nsr"]):
        # every row's advantage is its own problem's, not a row of the other rank
        assert result["advantages"] == pytest.approx([_expected_advantage(p) for p in result["problem"]])
    # self-check: the halves differ, so a rank reading the other's slice could not pass the line above
    assert sorted(two[0]["nsr"]["advantages"]) != sorted(two[1]["nsr"]["advantages"])


def _epoch_two(records: list[dict]) -> dict[str, tuple[float, float, float, bool]]:
    """sample id -> (loss, previous loss, weight, had history) over the second epoch's micro-batches."""
    rows = {}
    for record in records:
        if not record["first_epoch"]:
            for row in zip(record["sample_ids"], record["loss"], record["previous_loss"], record["weight"],
                           record["has_history"]):
                rows[row[0]] = row[1:]
    return rows


def _ranks_by_epoch(two: list[dict]) -> dict[str, tuple[int, int]]:
    where: dict[str, list[int]] = {}
    for result in two:
        for record in sorted(result["glow"]["records"], key=lambda r: r["first_epoch"], reverse=True):
            for sid in record["sample_ids"]:
                where.setdefault(sid, []).append(result["rank"])
    return {sid: tuple(ranks) for sid, ranks in where.items()}


@pytest.mark.slow
def test_glow_two_processes_share_the_loss_history(runs):
    one, two = runs
    single = _epoch_two(one["glow"]["records"])
    parts = [_epoch_two(result["glow"]["records"]) for result in two]
    assert sorted(single) == [f"p{i}/0" for i in range(8)]
    assert not set(parts[0]) & set(parts[1]) and sorted({**parts[0], **parts[1]}) == sorted(single)  # a split
    # self-check: some sample was trained on the other rank in epoch 2 than in epoch 1, so a per-rank history
    # would have missed its previous loss
    moved = [sid for sid, ranks in _ranks_by_epoch(two).items() if ranks[0] != ranks[1]]
    assert moved
    for part in parts:
        for sid, (loss, prev, weight, had) in part.items():
            assert had, f"{sid}: no history on this rank (the gather was lost)"
            assert (loss, prev, weight) == pytest.approx(single[sid][:3], rel=1e-4, abs=1e-5), sid
    for result in two:  # every rank ends with the whole history, equal to the single process's
        assert result["glow"]["history"] == pytest.approx(one["glow"]["history"], rel=1e-4)
        assert sorted(result["glow"]["history"]) == sorted(single)
