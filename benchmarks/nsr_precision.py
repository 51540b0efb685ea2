"""One rollout batch of the NSR experiment's arm (4 optimizer steps of 8 prompts x 8 samples x 128 tokens, the
recipe's shapes; ``arms.train_rl_arm`` with ``train_steps`` 4) in f32, as the arms train, and under Trainer's bf16
autocast: seconds in all and per step. Why: the NSR run's cost decides whether it fits the sessions there are, and
the arms train f32 on CPUs that have native bf16 (AMX); the switch is worth making only for a large gain, and only
before any NSR replicate has run.

    python benchmarks/nsr_precision.py f32|bf16 --warmup=DIR    # one precision per process: each starts cold
    pns-hub bench --only nsr_precision --warmup=DIR             # both, one process (the suite's convention)

Without ``--warmup`` (the testbed warm-up checkpoint, which CI does not have) the suite gets one skip row.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path


def run(quick: bool = False) -> list[dict]:
    """The suite's entry: f32 (naive) and bf16 (tuned) seconds of one rollout batch, or a skip row without a
    warm-up. ``quick`` changes nothing: one rollout batch is the smallest unit that means anything."""
    try:
        from benchmarks import _common
    except ImportError:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from benchmarks import _common

    warmup = _common.option("warmup")
    if not warmup or not Path(warmup).is_dir():
        return [_common.row("NSR rollout batch, f32 vs bf16", None, None, "s", higher_is_better=False,
                            notes="skipped: needs --warmup=<testbed warm-up checkpoint>")]
    f32, bf16 = (measure(p, warmup) for p in ("f32", "bf16"))
    return [_common.row("NSR rollout batch (4 steps, 8 x 8 x 128), f32 vs bf16", f32["total_s"], bf16["total_s"],
                        "s", higher_is_better=False, notes=f"{f32['cpu']}; steps f32 {f32['step_s']}, bf16 "
                                                           f"{bf16['step_s']}")]


def main(argv: list[str]) -> dict:
    warmup = next(a.split("=", 1)[1] for a in argv if a.startswith("--warmup="))
    return measure(argv[0], warmup)


def measure(precision: str, warmup: str) -> dict:
    from transformers import TrainerCallback

    from pns_hub import models
    from pns_hub.experiments import arms
    from pns_hub.experiments import testbed_stages as ts
    from pns_hub.experiments.nsr_glow import ExperimentConfig
    from pns_hub.hardware import device_name

    if precision not in ("f32", "bf16"):
        raise SystemExit(f"precision must be f32 or bf16, got {precision!r}")
    shared_args = ts.training_args

    def with_precision(cls, seed, lr, out, **extra):
        args = shared_args(cls, seed, lr, out, **extra)
        args.bf16 = precision == "bf16"
        return args

    arms.training_args = with_precision
    full = ts.BUDGETS["full"]
    budget = full.__class__(**{**full.__dict__, "train_steps": full.steps_per_generation})  # one rollout batch
    work = Path(tempfile.mkdtemp(prefix="nsr-precision-"))
    cfg = ExperimentConfig(output_dir=str(work), warmup_model=warmup, budget="full", seeds=[0], learning_rate=1e-5)
    rows = ts.problem_sets(budget, budget.train_problems)["train"][: budget.prompts_per_step * budget.train_steps]
    marks: list[float] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, *args, **kwargs):
            marks.append(time.perf_counter())

        def on_step_end(self, *args, **kwargs):
            marks.append(time.perf_counter())

    threads = models.configure_threads()
    start = time.perf_counter()
    try:
        out = arms.train_rl_arm(cfg, budget, warmup, "nsr", 0, rows, work / "nsr", stage_key="bench",
                                callbacks=[Clock()])
    finally:
        arms.training_args = shared_args  # the suite runs other stages in this process
        shutil.rmtree(work, ignore_errors=True)
    return {"precision": precision, "cpu": device_name(),
            "torch_threads": threads, "total_s": round(time.perf_counter() - start, 1),
            "step_s": [round(marks[i + 1] - marks[i], 1) for i in range(0, len(marks), 2)],
            "reward_curve": out["reward_curve"]}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
