"""``pns-hub experiment nsr|glow``: the NSR / W-REINFORCE and GLOW claims, each decided over seeds by one command.

Why a chain in one command: a claim about *curves* (NSR keeps pass@k at large k where PSR lowers it, W-REINFORCE is
best overall) or about *out-of-template gain* (GLOW beats SFT on correct samples) is only checkable if every arm starts
from the same warm-up base, trains on the same problems with the same budget, and is evaluated on the same held-out
problems with the same sampling. Why seeds: one training run of a 135M model moves pass@k by a few points either way,
so each seed in ``--seeds`` is a replicate that re-draws the arms' training, GLOW's trajectories and the evaluation's
sampling (:mod:`pns_hub.experiments.arms`), and every verdict pools the replicates and the problems
(:mod:`pns_hub.experiments.pooled`). Each stage is cached per seed (:class:`pns_hub.experiments.stages.StageRunner`),
so an interrupted run resumes, and a seed added later trains only itself.

- ``nsr``: warm-up base -> per seed: PSR, NSR, W-REINFORCE (lambda 0.1), plain GRPO and the PSR placebo at the paper's
  learning rate -> n samples per held-out testbed problem (T 0.6, top_p 0.95, as the paper) -> unbiased pass@k,
  k = 1, 2, 4, ..., n -> pooled curves, NSR - PSR by k, the claims' verdicts, the placebo, the reward curves.
- ``glow``: warm-up base -> per seed: trajectories (right and wrong) on training-template problems -> SFT on correct
  (and its placebo), SFT on all, GLOW on all, at equal epochs -> accuracy in-template (``testbed``) and on held-out
  templates (``testbed_ood``) -> pooled table, GLOW's weight distribution per epoch, the verdict.

Outputs under ``--output_dir``: ``replicates/<which>-seed<N>.json`` (one per seed, written as each finishes, with its
single-seed report), ``experiment_<which>.{json,md,png}`` (pooled) and ``results/`` (leaderboard records). Problem
sets never overlap (:func:`pns_hub.experiments.protocol.check_disjoint`). ``--budget tiny`` exists for tests.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path

from pns_hub import models
from pns_hub.eval.results import write_record
from pns_hub.experiments.testbed_stages import (BUDGETS, GLOW_ARMS, GLOW_SETTING, NSR_ARMS,  # noqa: F401 (the API)
                                                ExperimentConfig, eval_settings, evaluate, problem_sets, stage_warmup,
                                                warmup_settings)
from pns_hub.hardware import device_name


def _budget(which: str, cfg: ExperimentConfig):
    """The budget with the command line's overrides (evaluation size, NSR steps, GLOW epochs) applied."""
    samples = "eval_samples" if which == "nsr" else "glow_eval_samples"  # --eval_samples sets the one this run uses
    overrides = {name: v for k, name in (("eval_problems", "eval_problems"), ("eval_samples", samples),
                                         ("train_steps", "train_steps"), ("glow_epochs", "glow_epochs"),
                                         ("glow_problems", "glow_problems"))
                 if (v := getattr(cfg, k)) is not None}
    return replace(BUDGETS[cfg.budget], **overrides)


def _base_eval(which: str, cfg: ExperimentConfig, runner, budget, base: str, sets: dict) -> dict:
    """The base, evaluated once (with the first seed) and shared by every replicate: it is not trained, so its
    differences are context, and one evaluation saves a model's worth of sampling per seed."""
    seed, n = cfg.seeds[0], budget.eval_samples if which == "nsr" else budget.glow_eval_samples
    splits = ["test"] if which == "nsr" else ["test", "ood"]
    evals = {s: evaluate(runner, f"eval_base_{s}" if which == "glow" else "eval_base",
                         eval_settings(runner, "warmup", base, budget, seed, **({"s": s} if which == "glow" else {})),
                         base, sets[s], n, budget.max_tokens, seed) for s in splits}
    return evals["test"] if which == "nsr" else evals


def _stage_times(runner, seed: int) -> dict:
    return {k.replace(f"@s{seed}", ""): round(v, 1) for k, v in runner.timings.items() if k.endswith(f"@s{seed}")
            or f"@s{seed}_c" in k}


def _write_records(which: str, replicates: list[dict], root: Path) -> list[str]:
    """The leaderboard's rows: every arm of every seed (its model named ``...@seed<N>``), the shared base once."""
    from pns_hub.experiments.report import result_records

    paths = []
    for i, rep in enumerate(replicates):
        for record in result_records(which, {**rep, **rep["single_seed"]}, f"@seed{rep['seed']}"):
            if record.method == "base" and i:
                continue
            name = "base" if record.method == "base" else f"{record.method}-seed{rep['seed']}"
            paths.append(str(write_record(record, root / "results" / f"{which}-{name}.json")))
    return paths


def replicate_path(which: str, root: Path, seed: int) -> Path:
    """Where a seed's replicate JSON goes: written by the run, read by :func:`finished_seeds`."""
    return root / "replicates" / f"{which}-seed{seed}.json"


def finished_seeds(which: str, seeds: list[int], root: Path) -> list[int]:
    """The seeds whose replicate JSON is written: a replicate's JSON is written only after all its stages ran, so an
    interim report over these reuses every stage and trains nothing (a half-run seed would start training)."""
    return [s for s in seeds if replicate_path(which, root, s).exists()]


def run_experiment(which: str, cfg: ExperimentConfig, command: str = "") -> dict:
    """Every seed's replicate (each JSON written as it finishes), then the pooled report."""
    from pns_hub.experiments import arms
    from pns_hub.experiments.pooled import glow_pooled, nsr_pooled
    from pns_hub.experiments.pooled_report import write_pooled
    from pns_hub.experiments.stages import StageRunner

    models.configure_threads()
    root, budget, start = Path(cfg.output_dir), _budget(which, cfg), time.perf_counter()
    seeds = finished_seeds(which, cfg.seeds, root) if cfg.finished_only else cfg.seeds
    if not seeds:
        raise ValueError(f"--finished_only: no seed of {cfg.seeds} has a finished replicate under "
                         f"{root / 'replicates'}")
    runner, sets = StageRunner(root), problem_sets(budget, budget.train_problems)
    base = runner.run("warmup", warmup_settings(cfg, budget), lambda: stage_warmup(cfg, budget, root / "warmup"))[
        "folder"]
    base_eval = _base_eval(which, cfg, runner, budget, base, sets)
    replicates, files = [], []
    for seed in seeds:
        rep = (arms.run_nsr if which == "nsr" else arms.run_glow)(cfg, runner, budget, base, sets, seed, base_eval)
        rep.update(cpu=device_name(), stage_seconds=_stage_times(runner, seed))
        path = replicate_path(which, root, seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rep, indent=2, default=str))
        replicates.append(rep)
        files.append(str(path))
    pooled = (nsr_pooled if which == "nsr" else glow_pooled)(replicates)
    result = {**pooled, "command": command or f"pns-hub experiment {which}", "config": asdict(cfg),
              "learning_rate": cfg.lr(which), "budget": asdict(budget), "cpu": device_name(),
              "wall_seconds": round(time.perf_counter() - start, 1),
              "stage_seconds": {k: round(v, 1) for k, v in runner.timings.items()}, "reused_stages": runner.reused,
              "resumed_stages": runner.resumed(), "replicate_files": files,
              "arms_by_seed": {r["seed"]: r["arms"] for r in replicates},
              "seeds_planned": list(cfg.seeds), "interim": len(seeds) < len(cfg.seeds)}
    if which == "glow":
        result["glow_setting"] = {**GLOW_SETTING, "alpha": cfg.glow_alpha, "beta": cfg.glow_beta}
    result["outputs"] = write_pooled(which, result, root)
    result["outputs"]["results"] = _write_records(which, replicates, root)
    return result


def cli_main(argv: list[str] | None = None) -> int:
    """``pns-hub experiment nsr|glow [--config recipes/.../experiment_nsr.yaml] [--seeds 0 1 2] [--budget ...]``."""
    import sys

    from trl import TrlParser

    argv = list(sys.argv[1:] if argv is None else argv)
    usage = ("usage: pns-hub experiment {nsr,glow,pns} [--config YAML] [--budget tiny|full] [--seeds N ...] "
             "[--output-dir DIR] [--model M] [--warmup-model M] [--learning-rate LR] [--train-steps N] "
             "[--glow-epochs N] [--glow-problems N] [--placebo false] [--finished-only]\n\n"
             "  nsr   NSR / W-REINFORCE vs PSR on the testbed\n  glow  GLOW vs plain SFT on the testbed\n"
             "  pns   the demo's chain at the experiment's size (PNS-DPO vs RS-DPO)\n\n"
             "Run 'pns-hub experiment <name> --help' for its options.")
    if argv[:1] in (["-h"], ["--help"]):
        print(usage)
        return 0
    if not argv or argv[0] not in ("nsr", "glow"):
        print(usage, file=sys.stderr)
        return 2
    (cfg,) = TrlParser((ExperimentConfig,), prog=f"pns-hub experiment {argv[0]}").parse_args_and_config(
        args=argv[1:])
    result = run_experiment(argv[0], cfg, "pns-hub experiment " + " ".join(argv))
    print(Path(result["outputs"]["md"]).read_text())
    return 0
