"""``pns-hub experiment nsr|glow``: the NSR / W-REINFORCE and GLOW claims as one command each, on the testbed.

Why a chain in one command: a claim about *curves* (NSR keeps pass@k at large k, PSR lowers it, W-REINFORCE is best
overall) or about *out-of-template gain* (GLOW beats SFT on correct samples) is only checkable if every arm starts
from the same warm-up base, trains on the same problems for the same steps, and is evaluated on the same held-out
problems with the same sampling. Each stage is cached (:class:`pns_hub.experiments.stages.StageRunner`), so an interrupted run
resumes.

- ``nsr``: warm-up base -> PSR, NSR, W-REINFORCE (lambda 0.1) and plain GRPO -> n samples per held-out testbed problem
  (T 0.6, top_p 0.95, as the paper) -> unbiased pass@k, k = 1, 2, 4, ..., n, with bootstrap-over-problems intervals
  -> table, curve plot, verdicts.
- ``glow``: warm-up base -> trajectories (right and wrong) on training-template problems -> SFT on correct only, SFT
  on all, GLOW on all (same steps) -> accuracy in-template (``testbed``) and on held-out templates (``testbed_ood``)
  -> table, plot of GLOW's weights per epoch by label, verdict.

Problem sets never overlap (checked with :func:`pns_hub.experiments.protocol.check_disjoint`): warm-up is ``testbed_train[0:w]``
(the slice ``recipes/smollm2-135m-instruct/sft_warmup_testbed.yaml`` trains on), RL / trajectory problems come after
``WARMUP_SLICE`` in the same split, evaluation uses the test split and the held-out templates.

Verdicts, tables and plots: :mod:`pns_hub.experiments.report` (with its fixed verdict rule). ``--budget tiny`` exists
for tests (seconds on a tiny model); ``--budget full`` is the 90-minute size, sized from measured throughput.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from pns_hub import models
from pns_hub.experiments.report import (EVAL_DTYPE, EVAL_TEMPERATURE, EVAL_TOP_P, glow_report, nsr_report, result_records,
                                write_outputs)
from pns_hub.hardware import device_name
from pns_hub.eval.results import write_record


logger = logging.getLogger(__name__)

WARMUP_SLICE = 400  # training problems after the warm-up slice of the fair protocol (pns_hub.experiments.protocol.DEFAULT_SIZES)
NSR_ARMS = ("psr", "nsr", "w_reinforce", "grpo")
GLOW_ARMS = ("sft_correct", "sft_all", "glow")


@dataclass(frozen=True)
class Budget:
    """How much each stage does. Counts only: sampling settings are the paper's whatever the size."""

    warmup_examples: int
    train_problems: int
    train_steps: int
    prompts_per_step: int
    generations: int
    max_tokens: int
    eval_problems: int
    eval_samples: int
    glow_samples: int
    glow_epochs: int
    glow_eval_samples: int  # GLOW reports accuracy, not pass@k: fewer samples per problem suffice


BUDGETS = {
    "tiny": Budget(warmup_examples=8, train_problems=4, train_steps=1, prompts_per_step=2, generations=2, max_tokens=8,
                   eval_problems=4, eval_samples=4, glow_samples=2, glow_epochs=2,
                   glow_eval_samples=2),
    # Sized from measured throughput (EPYC Zen 3, 2 threads, fp32): sampling ~350 tok/s at 64 rows, ~55 tok/answer
    "full": Budget(warmup_examples=400, train_problems=24, train_steps=12, prompts_per_step=2, generations=8,
                   max_tokens=128, eval_problems=100, eval_samples=32, glow_samples=4, glow_epochs=2,
                   glow_eval_samples=8),
}


@dataclass
class ExperimentConfig:
    output_dir: str = field(default="outputs/experiment", metadata={"help": "results and work folders go here"})
    model: str = field(default=models.EMBEDDED_DEFAULT, metadata={"help": "model the warm-up starts from"})
    warmup_model: str | None = field(default=None, metadata={"help": "skip the warm-up: use this model as the base"})
    budget: str = field(default="full", metadata={"help": "tiny (tests) | full (the 90-minute run)"})
    learning_rate: float = field(default=1e-5)
    seed: int = field(default=0)
    eval_problems: int | None = field(default=None, metadata={"help": "override the budget's held-out problems"})
    eval_samples: int | None = field(default=None, metadata={
        "help": "override the budget's samples per problem (nsr: eval_samples, glow: glow_eval_samples)"})

    def __post_init__(self):
        if self.budget not in BUDGETS:
            raise ValueError(f"--budget must be one of {sorted(BUDGETS)}, got {self.budget!r}")


# -- shared stages ---------------------------------------------------------------------------------------------------
def problem_sets(budget: Budget, train_size: int) -> dict[str, list[dict]]:
    """Warm-up, training, test and held-out-template problems, proven disjoint."""
    from pns_hub.data.problems import load_problems
    from pns_hub.experiments.protocol import check_disjoint

    train = load_problems("testbed_train")
    sets = {"warmup": train[:budget.warmup_examples], "train": train[WARMUP_SLICE:WARMUP_SLICE + train_size],
            "test": load_problems("testbed")[:budget.eval_problems],
            "ood": load_problems("testbed_ood")[:budget.eval_problems]}
    check_disjoint(sets)
    return sets


def stage_warmup(cfg: ExperimentConfig, budget: Budget, folder: Path) -> dict:
    """The shared base: SFT on the first testbed_train problems, as recipes/.../sft_warmup_testbed.yaml does."""
    if cfg.warmup_model:
        return {"folder": cfg.warmup_model}
    from trl import ModelConfig

    from pns_hub.trainers.pns_configs import PNSSFTConfig
    from pns_hub.experiments.demo_stages import flags as _args, parse as _parse
    from pns_hub.trainers.sft import SFTWarmupArguments, train_sft_warmup

    script, training, model_args = _parse((SFTWarmupArguments, PNSSFTConfig, ModelConfig), _args({
        "model_name_or_path": cfg.model, "dataset_name": "testbed_train", "dataset_offset": 0,
        "dataset_limit": budget.warmup_examples, "learning_rate": 5e-5, "lr_scheduler_type": "constant",
        "num_train_epochs": 1, "per_device_train_batch_size": 8, "max_length": 512, "gradient_checkpointing": False,
        "logging_steps": 5, "save_strategy": "no", "report_to": "none", "seed": cfg.seed, "output_dir": str(folder),
    }))
    return {"folder": train_sft_warmup(script, training, model_args)}


def sample_counts(model: str, problems: list[dict], n: int, max_tokens: int, seed: int) -> dict:
    """n samples per problem at the paper's T 0.6 / top_p 0.95; ``(n, c)`` per problem by math-verify."""
    from pns_hub.grading import verify
    from pns_hub.engines.backends import fixed_model_backend, generate_from_folder
    from pns_hub.engines.generation import SamplingParams, build_prompt

    params = SamplingParams(num_samples=n, max_new_tokens=max_tokens, temperature=EVAL_TEMPERATURE, top_p=EVAL_TOP_P,
                            seed=seed)
    completions = generate_from_folder(model, [build_prompt(p["problem"]) for p in problems], params,
                                       batch_size=max(64, n), dtype=EVAL_DTYPE)
    texts = [c.text for per in completions for c in per]
    golds = [p["answer"] for p, per in zip(problems, completions) for _ in per]
    correct = [r.is_correct for r in verify.verify_batch(texts, golds, num_workers=0)]
    counts = [[len(per), sum(correct[i * n:(i + 1) * n])] for i, per in enumerate(completions)]
    return {"ids": [p["id"] for p in problems], "counts": counts, "backend": fixed_model_backend(EVAL_DTYPE)}


TRAINING_COUNTS = ("warmup_examples", "train_problems", "train_steps", "prompts_per_step", "generations", "max_tokens",
                   "glow_samples", "glow_epochs")
EVAL_COUNTS = ("eval_problems", "max_tokens")  # the samples per problem are keyed per chunk (evaluate)
EVAL_CHUNK = 16  # samples per problem in one cached evaluation stage
CHUNK_SEED_STRIDE = 1_000_003  # chunk c samples with seed + c * stride: no batch seed (seed + batch) repeats a chunk's


def _counts(budget: Budget, names: tuple[str, ...]) -> dict:
    return {k: getattr(budget, k) for k in names}


def _train_settings(cfg: ExperimentConfig, budget: Budget, counts: tuple[str, ...] = TRAINING_COUNTS) -> dict:
    """What a trained model depends on: the config without the evaluation overrides (changing them re-evaluates only)
    and the budget's training counts (editing a budget must retrain, not reuse arms trained at the old size)."""
    return {**{k: v for k, v in asdict(cfg).items() if k not in ("eval_problems", "eval_samples")},
            "counts": _counts(budget, counts)}


def _eval_settings(runner, model: str, path: str, budget: Budget, seed: int, **extra) -> dict:
    """What an evaluation depends on: the trained stage's key (a retrained model keeps its folder path, so the path
    alone would serve stale scores), the evaluation counts and the seed."""
    trained = runner.keys["warmup" if model == "base" else f"train_{model}"]
    return {"model": path, "trained": trained, "counts": _counts(budget, EVAL_COUNTS), "seed": seed, **extra}


def evaluate(runner, name: str, settings: dict, path: str, problems: list[dict], n: int, max_tokens: int,
             seed: int) -> dict:
    """n samples per problem as cached chunks of at most ``EVAL_CHUNK``, summed into ``(n, c)`` per problem.

    Why chunks: raising n (16 -> 32) then draws only the new samples instead of all of them again (the samples of a
    chunk are i.i.d. draws of the same sampling, so counts add up and the unbiased pass@k estimator holds), and an
    interrupted evaluation resumes at the last finished chunk. Each chunk has its own seed, so no two chunks repeat
    the same draws. The engine that drew a chunk (``PNS_HUB_GENERATE_BACKEND``) is recorded, not keyed, so an
    evaluation can mix engines; they are not proven equal (the NSR run measured a 1.4-point gap, see
    :mod:`pns_hub.engines.backends`), so models compared with each other need the same mix: reports print the gap
    (``experiment_report.engine_agreement``)."""
    merged = None
    for c, start in enumerate(range(0, n, EVAL_CHUNK)):
        k, chunk_seed = min(EVAL_CHUNK, n - start), seed + c * CHUNK_SEED_STRIDE
        part = runner.run(f"{name}_c{c}", {**settings, "chunk": c, "samples": k},
                          lambda k=k, s=chunk_seed: sample_counts(path, problems, k, max_tokens, s))
        if merged is None:
            merged = {"ids": part.get("ids"), "counts": [list(x) for x in part["counts"]], "chunks": []}
        else:
            if part.get("ids") != merged["ids"]:
                raise ValueError(f"stage {name}_c{c} evaluated other problems than {name}_c0: remove its marker")
            merged["counts"] = [[n0 + n1, c0 + c1] for (n0, c0), (n1, c1) in zip(merged["counts"], part["counts"])]
        # which engine drew each chunk, with its counts: provenance, and engine_agreement's data where engines mix
        merged["chunks"].append({"backend": part.get("backend", "compact"), "counts": part["counts"]})
    return merged


def _training_args(cls, cfg: ExperimentConfig, budget: Budget, out: Path, **extra):
    import torch

    return cls(output_dir=str(out), use_cpu=not torch.cuda.is_available(), bf16=False, report_to="none",
               save_strategy="no", logging_steps=1, gradient_checkpointing=False, seed=cfg.seed,
               learning_rate=cfg.learning_rate, **extra)


# -- NSR -------------------------------------------------------------------------------------------------------------
def train_rl_arm(cfg: ExperimentConfig, budget: Budget, base: str, arm: str, rows: list[dict], folder: Path) -> dict:
    """PSR / NSR / W-REINFORCE through NSRTrainer; plain GRPO (group-normalised, same reward) through TRL's trainer."""
    from datasets import Dataset
    from pns_hub import hub
    from pns_hub.engines import lm_head
    from pns_hub.engines.generation import build_prompt
    from pns_hub.trainers.configs import NSRConfig
    from pns_hub.trainers.nsr import NSRTrainer, make_correctness_reward

    dataset = Dataset.from_list([{"prompt": build_prompt(r["problem"]), "answer": r["answer"]} for r in rows])
    rl = dict(per_device_train_batch_size=budget.prompts_per_step * budget.generations,
              num_generations=budget.generations, max_completion_length=budget.max_tokens,
              max_steps=budget.train_steps, temperature=1.0, beta=0.0)
    tokenizer = models.load_tokenizer(base, padding_side="left")
    if arm == "grpo":
        from trl import GRPOConfig, GRPOTrainer

        args = _training_args(GRPOConfig, cfg, budget, folder / "work", scale_rewards="group", **rl)
        trainer = GRPOTrainer(model=base, reward_funcs=[make_correctness_reward()], args=args,
                              train_dataset=dataset, processing_class=tokenizer)
    else:
        args = _training_args(NSRConfig, cfg, budget, folder / "work", nsr_mode=arm, nsr_lambda=0.1, **rl)
        trainer = NSRTrainer(model=base, args=args, train_dataset=dataset, processing_class=tokenizer)
    lm_head.use_dense_lm_head_in_trainer(trainer, temperature=trainer.temperature)  # as train_nsr/train_generator
    trainer.train()
    hub.save_model_folder(trainer, tokenizer, folder, f"# {arm} on the pns-hub testbed (experiment nsr)\n")
    return {"folder": str(folder), "steps": trainer.state.global_step}


def run_nsr(cfg: ExperimentConfig, runner, budget: Budget, root: Path) -> dict:
    sets = problem_sets(budget, budget.train_problems)
    base = runner.run("warmup", {"cfg": _train_settings(cfg, budget, ("warmup_examples",))},
                      lambda: stage_warmup(cfg, budget, root / "warmup"))["folder"]
    models_ = {"base": base}
    for arm in NSR_ARMS:
        key = {"cfg": _train_settings(cfg, budget), "base": base, "arm": arm}
        models_[arm] = runner.run(f"train_{arm}", key, lambda a=arm: train_rl_arm(
            cfg, budget, base, a, sets["train"], root / a), [root / arm / "config.json"])["folder"]
    evals = {m: evaluate(runner, f"eval_{m}", _eval_settings(runner, m, path, budget, cfg.seed), path, sets["test"],
                         budget.eval_samples, budget.max_tokens, cfg.seed)
             for m, path in models_.items()}
    return {"models": models_, "evals": evals, **nsr_report(evals, cfg.seed)}


# -- GLOW ------------------------------------------------------------------------------------------------------------
def train_sft_arm(cfg: ExperimentConfig, budget: Budget, base: str, arm: str, trajectories: str, steps: int,
                  folder: Path) -> dict:
    """SFT on correct / on all trajectories, or GLOW on all: same base, same steps (the smaller set repeats)."""
    from datasets import load_dataset

    from pns_hub import hub

    from pns_hub.engines import lm_head
    from pns_hub.trainers.configs import GlowConfig

    config = "positive" if arm == "sft_correct" else "all"
    dataset = load_dataset(trajectories, config, split="train")
    if len(dataset) == 0:
        raise ValueError(f"{trajectories} [{config}] has no rows: {arm} has nothing to train on")
    tokenizer = models.load_tokenizer(base, padding_side="right")
    args = _training_args(GlowConfig, cfg, budget, folder / "work", max_steps=steps, per_device_train_batch_size=4,
                          num_train_epochs=budget.glow_epochs, max_length=512, glow_record=arm == "glow")
    if arm == "glow":
        from pns_hub.trainers.glow import GlowTrainer

        trainer = GlowTrainer(model=base, args=args, train_dataset=dataset, processing_class=tokenizer)
    else:
        from trl import SFTTrainer

        trainer = SFTTrainer(model=base, args=args, train_dataset=dataset.select_columns(["messages"]),
                             processing_class=tokenizer)
    lm_head.use_dense_lm_head_in_trainer(trainer)
    trainer.train()
    tokenizer.padding_side = "left"
    hub.save_model_folder(trainer, tokenizer, folder, f"# {arm} on the pns-hub testbed (experiment glow)\n")
    labels = dict(zip(dataset["sample_id"], dataset["label"]))
    weights = [{"epoch": int(r["epoch"]), "label": labels[sid], "weight": w}
               for r in getattr(trainer, "glow_records", []) if not r["first_epoch"]
               for sid, w in zip(r["sample_ids"], r["weight"])]
    return {"folder": str(folder), "steps": trainer.state.global_step, "weights": weights}


def run_glow(cfg: ExperimentConfig, runner, budget: Budget, root: Path) -> dict:
    from pns_hub.synthesis.trajectories import sample_trajectories

    sets = problem_sets(budget, budget.train_problems)
    base = runner.run("warmup", {"cfg": _train_settings(cfg, budget, ("warmup_examples",))},
                      lambda: stage_warmup(cfg, budget, root / "warmup"))["folder"]
    folder = root / "trajectories"
    sampled = f"testbed_train[{WARMUP_SLICE}:{WARMUP_SLICE + len(sets['train'])}]"  # what the card says it holds
    traj_key = {"base": runner.keys["warmup"], "seed": cfg.seed,
                "counts": _counts(budget, ("train_problems", "glow_samples", "max_tokens"))}
    traj = runner.run("trajectories", traj_key, lambda: {
        "summary": sample_trajectories(model_name_or_path=base, problems=sets["train"], num_samples=budget.glow_samples,
                                       dataset_name=sampled, max_new_tokens=budget.max_tokens, seed=cfg.seed,
                                       verify_workers=0, output_dir=str(folder), progress=False)},
                      [folder / "README.md"])
    rows = traj["summary"]["num_rows"]
    steps = max(1, -(-rows // 4)) * budget.glow_epochs  # GLOW's epochs over all rows; the same steps for every arm
    models_, weights = {"base": base}, []
    for arm in GLOW_ARMS:
        key = {"cfg": _train_settings(cfg, budget), "base": base, "arm": arm, "steps": steps,
               "trajectories": runner.keys["trajectories"]}
        result = runner.run(f"train_{arm}", key,
                            lambda a=arm: train_sft_arm(cfg, budget, base, a, str(folder), steps, root / a),
                            [root / arm / "config.json"])
        models_[arm] = result["folder"]
        weights += result["weights"]
    evals = {m: {s: evaluate(runner, f"eval_{m}_{s}", _eval_settings(runner, m, path, budget, cfg.seed, s=s), path,
                             sets[s], budget.glow_eval_samples, budget.max_tokens, cfg.seed)
                 for s in ("test", "ood")} for m, path in models_.items()}
    return {"models": models_, "trajectories": traj["summary"], "steps": steps, "evals": evals, "weights": weights,
            **glow_report(evals, weights, cfg.seed)}


# -- command line ----------------------------------------------------------------------------------------------------
def run_experiment(which: str, cfg: ExperimentConfig, command: str = "") -> dict:
    from pns_hub.experiments.stages import StageRunner

    models.configure_threads()
    root = Path(cfg.output_dir)
    samples = "eval_samples" if which == "nsr" else "glow_eval_samples"  # --eval_samples sets the one this run uses
    overrides = {name: v for k, name in (("eval_problems", "eval_problems"), ("eval_samples", samples))
                 if (v := getattr(cfg, k)) is not None}
    runner, budget, start = StageRunner(root), replace(BUDGETS[cfg.budget], **overrides), time.perf_counter()
    result = (run_nsr if which == "nsr" else run_glow)(cfg, runner, budget, root)
    result.update(command=command or f"pns-hub experiment {which}", config=asdict(cfg), budget=asdict(budget),
                  cpu=device_name(), wall_seconds=round(time.perf_counter() - start, 1),
                  stage_seconds={k: round(v, 1) for k, v in runner.timings.items()}, reused_stages=runner.reused)
    result["outputs"] = write_outputs(which, result, root)
    result["outputs"]["results"] = [str(write_record(r, root / "results" / f"{which}-{r.method}.json"))
                                    for r in result_records(which, result)]  # the leaderboard's rows
    return result


def cli_main(argv: list[str] | None = None) -> int:
    """``pns-hub experiment nsr|glow [--budget tiny|full] [--output_dir ...] [--warmup_model ...]``."""
    import sys

    from trl import TrlParser

    argv = list(sys.argv[1:] if argv is None else argv)
    usage = ("usage: pns-hub experiment {nsr,glow,pns} [--budget tiny|full] [--output-dir DIR] [--model M] "
             "[--warmup-model M] [--seed N]\n\n  nsr   NSR / W-REINFORCE vs PSR on the testbed\n  glow  GLOW vs "
             "plain SFT on the testbed\n  pns   the demo's chain at the experiment's size (PNS-DPO vs RS-DPO)\n\n"
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
