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
    """The leaderboard's rows: every arm of every seed (its model named ``...@seed<N>``), each base once. A seed run
    on another machine has a warm-up of its own: its base is a row of its own (model ``testbed-warmup@seed<N>``,
    file ``<which>-base-seed<N>.json``) and its arms name that base, so the leaderboard pairs every arm with the
    model it was trained from."""
    from pns_hub.experiments.report import result_records

    paths, bases = [], {}
    for rep in replicates:
        warmup, seed = rep["models"]["base"], rep["seed"]
        written = warmup in bases
        if not written:
            bases[warmup] = "testbed-warmup" if not bases else f"testbed-warmup@seed{seed}"
        for record in result_records(which, {**rep, **rep["single_seed"]}, f"@seed{seed}", bases[warmup]):
            if record.method == "base":
                if written:
                    continue
                name = "base" if record.model == "testbed-warmup" else f"base-seed{seed}"
            else:
                name = f"{record.method}-seed{seed}"
            paths.append(str(write_record(record, root / "results" / f"{which}-{name}.json")))
    return paths


def replicate_path(which: str, root: Path, seed: int) -> Path:
    """Where a seed's replicate JSON goes: written by the run, read by :func:`finished_seeds`."""
    return root / "replicates" / f"{which}-seed{seed}.json"


def finished_seeds(which: str, seeds: list[int], root: Path) -> list[int]:
    """The seeds whose replicate JSON is written: a replicate's JSON is written only after all its stages ran, so an
    interim report over these reads the JSONs and trains nothing (a half-run seed would start training)."""
    return [s for s in seeds if replicate_path(which, root, s).exists()]


REPLICATE_FIELDS = ("seed", "models", "evals", "arms", "single_seed", "cpu")


def load_finished(which: str, cfg: ExperimentConfig, budget, root: Path) -> tuple[list[dict], list[str]]:
    """The finished replicates, read from their JSONs alone: no stage, warm-up or model is needed, so seeds run on
    different machines (each JSON copied into one ``replicates/`` folder) pool into one report, and a fresh machine
    re-publishes a report from committed files. Why the checks: a JSON from another recipe would pool silently."""
    replicates, files = [], []
    for seed in finished_seeds(which, cfg.seeds, root):
        path = replicate_path(which, root, seed)
        try:
            rep = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from None
        missing = [f for f in REPLICATE_FIELDS if f not in rep]
        if missing:
            raise ValueError(f"{path}: replicate lacks field(s) {missing}")
        if rep["seed"] != seed:
            raise ValueError(f"{path}: field 'seed' is {rep['seed']!r}, the file name says {seed}")
        recorded = {"learning_rate": cfg.lr(which), "budget": asdict(budget)}
        for field, want in recorded.items():
            if field in rep and rep[field] != want:
                raise ValueError(f"{path}: field {field!r} is {rep[field]!r}, this report's settings say {want!r}")
        if which == "nsr":
            for arm, record in rep["arms"].items():
                if record.get("steps") != budget.train_steps:
                    raise ValueError(f"{path}: arms.{arm}.steps is {record.get('steps')!r}, the budget's "
                                     f"train_steps is {budget.train_steps}")
        replicates.append(rep)
        files.append(str(path))
    return replicates, files


def cpu_line(replicates: list[dict]) -> str:
    """One CPU, or which seeds ran on which (a report pooled over machines says so beside every figure)."""
    by_cpu: dict[str, list] = {}
    for rep in replicates:
        by_cpu.setdefault(rep["cpu"], []).append(rep["seed"])
    if len(by_cpu) == 1:
        return next(iter(by_cpu))
    return "; ".join(f"seed{'s' * (len(s) > 1)} {', '.join(map(str, s))}: {cpu}" for cpu, s in by_cpu.items())


def _run_replicates(which: str, cfg: ExperimentConfig, budget, root: Path) -> tuple[list[dict], list[str], dict]:
    """Every seed's replicate, stage by stage (each JSON written as it finishes), and the stage bookkeeping."""
    from pns_hub.experiments import arms
    from pns_hub.experiments.stages import StageRunner

    runner, sets = StageRunner(root), problem_sets(budget, budget.train_problems)
    base = runner.run("warmup", warmup_settings(cfg, budget), lambda: stage_warmup(cfg, budget, root / "warmup"))[
        "folder"]
    base_eval = _base_eval(which, cfg, runner, budget, base, sets)
    replicates, files = [], []
    for seed in cfg.seeds:
        rep = (arms.run_nsr if which == "nsr" else arms.run_glow)(cfg, runner, budget, base, sets, seed, base_eval)
        rep.update(cpu=device_name(), stage_seconds=_stage_times(runner, seed), learning_rate=cfg.lr(which),
                   budget=asdict(budget))
        path = replicate_path(which, root, seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rep, indent=2, default=str))
        replicates.append(rep)
        files.append(str(path))
    return replicates, files, {"stage_seconds": {k: round(v, 1) for k, v in runner.timings.items()},
                               "reused_stages": runner.reused, "resumed_stages": runner.resumed()}


def run_experiment(which: str, cfg: ExperimentConfig, command: str = "") -> dict:
    """Every seed's replicate, then the pooled report; with ``finished_only``, the pooled report over the finished
    replicates' JSONs only."""
    from pns_hub.experiments.pooled import glow_pooled, nsr_pooled
    from pns_hub.experiments.pooled_report import write_pooled

    models.configure_threads()
    root, budget, start = Path(cfg.output_dir), _budget(which, cfg), time.perf_counter()
    if cfg.finished_only:
        replicates, files = load_finished(which, cfg, budget, root)
        if not replicates:
            raise ValueError(f"--finished_only: no seed of {cfg.seeds} has a finished replicate under "
                             f"{root / 'replicates'}")
        stages = {"stage_seconds": {}, "reused_stages": [], "resumed_stages": [], "from_replicate_files": True}
    else:
        replicates, files, stages = _run_replicates(which, cfg, budget, root)
    pooled = (nsr_pooled if which == "nsr" else glow_pooled)(replicates)
    result = {**pooled, "command": command or f"pns-hub experiment {which}", "config": asdict(cfg),
              "learning_rate": cfg.lr(which), "budget": asdict(budget), "cpu": cpu_line(replicates),
              "cpu_by_seed": {r["seed"]: r["cpu"] for r in replicates},
              "wall_seconds": round(time.perf_counter() - start, 1), **stages, "replicate_files": files,
              "arms_by_seed": {r["seed"]: r["arms"] for r in replicates},
              "seeds_planned": list(cfg.seeds), "interim": len(replicates) < len(cfg.seeds)}
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
