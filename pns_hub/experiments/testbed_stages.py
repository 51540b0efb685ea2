"""The stages ``pns-hub experiment nsr|glow`` share: budgets, config, problem sets, the warm-up base, and the cached,
chunked evaluation. The arms (what differs between NSR and GLOW) are :mod:`pns_hub.experiments.arms`; the seed loop
and the command line :mod:`pns_hub.experiments.nsr_glow`.

Why one shared warm-up and one base evaluation for all seeds: the claims compare trained arms with each other; the
warm-up is their common start (re-drawing it per seed would add its own spread to every arm alike), and the base is
not trained, so its counts are context only (the differences to the base are reported, never decided).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from pns_hub import models
from pns_hub.experiments.report import EVAL_DTYPE, EVAL_TEMPERATURE, EVAL_TOP_P


WARMUP_SLICE = 400  # training problems after the warm-up slice of the fair protocol (protocol.DEFAULT_SIZES)
WARMUP_SEED = 0  # the shared base is trained once, with this seed, whatever the replicates' seeds
NSR_ARMS = ("psr", "nsr", "w_reinforce", "grpo")
GLOW_ARMS = ("sft_correct", "sft_all", "glow")
# Placebo arm -> (the arm it copies, training-seed offset): the same arm with another seed, the noise floor
PLACEBOS = {"psr_placebo": ("psr", 1000), "sft_correct_placebo": ("sft_correct", 1000)}
# The learning rates the papers' code uses (NSR: RLVR-Decomposed's verl scripts, constant; GLOW: the authors'
# LLaMA-Factory yamls, cosine with 10% warm-up); ``--learning_rate`` overrides both
LEARNING_RATES = {"nsr": 1e-6, "glow": 1e-5}
# GLOW's weight rule at this size (a stated deviation): the authors' alpha 1 / beta 20 saturate when the per-epoch
# loss gains are ~1 nat (the single-seed run: every weight on the floor 0.5). alpha 2 is in the authors' sweep
# (qwen3b_math_2_*: weight 1 at no change); beta is the authors' 20 scaled by the ratio of the gains: their rule acts
# on gains in [0, ln 3 / 20 = 0.055] nats, ours are 0.64-1.28 (x ~20), so beta 1 acts on [0, 1.1].
GLOW_SETTING = {"alpha": 2.0, "beta": 1.0, "min_weight": 0.5, "max_weight": 5.0}


@dataclass(frozen=True)
class Budget:
    """How much each stage does. Counts only: sampling settings are the paper's whatever the size."""

    warmup_examples: int
    train_problems: int
    train_steps: int  # NSR: optimizer steps per arm
    prompts_per_step: int
    generations: int
    steps_per_generation: int  # NSR: optimizer steps per rollout batch (the paper: 4 mini-batches per rollout)
    max_tokens: int
    eval_problems: int
    eval_samples: int
    glow_problems: int  # GLOW: the first of the training problems its trajectories are drawn on
    glow_samples: int
    glow_epochs: int  # every SFT / GLOW arm trains this many epochs over its own rows (equal epochs)
    glow_eval_samples: int  # GLOW reports accuracy, not pass@k: fewer samples per problem suffice


BUDGETS = {
    "tiny": Budget(warmup_examples=8, train_problems=4, train_steps=2, prompts_per_step=2, generations=2,
                   steps_per_generation=2, max_tokens=8, eval_problems=4, eval_samples=4, glow_problems=4,
                   glow_samples=2, glow_epochs=2, glow_eval_samples=2),
    # The replicated run (recipes/smollm2-135m-instruct/experiment_{nsr,glow}.yaml fix it); per-stage times measured
    # by the smoke runs are in docs/experiments-nsr-glow.md
    "full": Budget(warmup_examples=400, train_problems=96, train_steps=48, prompts_per_step=2, generations=8,
                   steps_per_generation=4, max_tokens=128, eval_problems=100, eval_samples=32, glow_problems=24,
                   glow_samples=4, glow_epochs=3, glow_eval_samples=4),
}


@dataclass
class ExperimentConfig:
    output_dir: str = field(default="outputs/experiment", metadata={"help": "results and work folders go here"})
    model: str = field(default=models.EMBEDDED_DEFAULT, metadata={"help": "model the warm-up starts from"})
    warmup_model: str | None = field(default=None, metadata={"help": "skip the warm-up: use this model as the base"})
    budget: str = field(default="full", metadata={"help": "tiny (tests) | full (the replicated run)"})
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2], metadata={
        "help": "one replicate per seed: training, trajectories and evaluation sampling are drawn with it"})
    placebo: bool = field(default=True, metadata={
        "help": "also train the placebo arm (PSR / SFT-correct with another seed) in every replicate"})
    finished_only: bool = field(default=False, metadata={
        "help": "report over the seeds of --seeds whose replicate has finished (an interim report; trains nothing)"})
    learning_rate: float | None = field(default=None, metadata={
        "help": "default: the paper's (nsr 1e-6 constant, glow 1e-5 cosine)"})
    train_steps: int | None = field(default=None, metadata={"help": "override the budget's NSR optimizer steps"})
    glow_epochs: int | None = field(default=None, metadata={"help": "override the budget's SFT / GLOW epochs"})
    glow_problems: int | None = field(default=None, metadata={
        "help": "override the budget's problems GLOW's trajectories are drawn on"})
    glow_alpha: float = field(default=GLOW_SETTING["alpha"], metadata={"help": "GLOW alpha (see GLOW_SETTING)"})
    glow_beta: float = field(default=GLOW_SETTING["beta"], metadata={"help": "GLOW beta (see GLOW_SETTING)"})
    eval_problems: int | None = field(default=None, metadata={"help": "override the budget's held-out problems"})
    eval_samples: int | None = field(default=None, metadata={
        "help": "override the budget's samples per problem (nsr: eval_samples, glow: glow_eval_samples)"})

    def __post_init__(self):
        if self.budget not in BUDGETS:
            raise ValueError(f"--budget must be one of {sorted(BUDGETS)}, got {self.budget!r}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"--seeds must be distinct and at least one, got {self.seeds}")
        offsets = {offset for _, offset in PLACEBOS.values()}
        if self.placebo and any(s + o in self.seeds for s in self.seeds for o in offsets):
            raise ValueError(f"--seeds {self.seeds}: a placebo seed (seed + {sorted(offsets)}) is also a replicate")

    def lr(self, which: str) -> float:
        return self.learning_rate if self.learning_rate is not None else LEARNING_RATES[which]


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


def warmup_settings(cfg: ExperimentConfig, budget: Budget) -> dict:
    """The shared base depends on the start model and the warm-up size only (not on the replicates' settings)."""
    return {"model": cfg.model, "warmup_model": cfg.warmup_model, "seed": WARMUP_SEED,
            "counts": _counts(budget, ("warmup_examples",))}


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
        "logging_steps": 5, "save_strategy": "no", "report_to": "none", "seed": WARMUP_SEED, "output_dir": str(folder),
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


TRAINING_COUNTS = {"nsr": ("train_problems", "train_steps", "prompts_per_step", "generations", "steps_per_generation",
                           "max_tokens"),
                   "glow": ("glow_problems", "glow_samples", "glow_epochs", "max_tokens")}
EVAL_COUNTS = ("eval_problems", "max_tokens")  # the samples per problem are keyed per chunk (evaluate)
EVAL_CHUNK = 16  # samples per problem in one cached evaluation stage
CHUNK_SEED_STRIDE = 1_000_003  # chunk c samples with seed + c * stride: no batch seed (seed + batch) repeats a chunk's


def _counts(budget: Budget, names: tuple[str, ...]) -> dict:
    return {k: getattr(budget, k) for k in names}


# What a trained arm's stage key holds of the config (with the seed, the lr used and the budget's counts), and what
# it leaves out: the seed list, the placebo switch and the report mode, and the overrides (already in the counts).
TRAIN_KEY_FIELDS = frozenset({"output_dir", "model", "warmup_model", "budget", "glow_alpha", "glow_beta"})
NOT_TRAIN_KEY_FIELDS = frozenset({"seeds", "placebo", "finished_only", "eval_problems", "eval_samples",
                                  "learning_rate", "train_steps", "glow_epochs", "glow_problems"})


def train_settings(cfg: ExperimentConfig, budget: Budget, which: str, seed: int, **extra) -> dict:
    """What a trained arm depends on: its experiment's settings, the replicate's seed, the learning rate used and the
    budget's training counts (editing a budget must retrain, not reuse arms trained at the old size). Not the list of
    seeds (adding a seed must not retrain the others) nor the evaluation overrides (they re-evaluate only), nor how
    the report is taken (``finished_only``). Every config field must be sorted into :data:`TRAIN_KEY_FIELDS` or
    :data:`NOT_TRAIN_KEY_FIELDS`: a new field left unsorted would silently change every arm's key (and retrain)."""
    unsorted = {f.name for f in fields(cfg)} - TRAIN_KEY_FIELDS - NOT_TRAIN_KEY_FIELDS
    if unsorted:
        raise TypeError(f"ExperimentConfig fields {sorted(unsorted)} are in neither TRAIN_KEY_FIELDS nor "
                        "NOT_TRAIN_KEY_FIELDS: say whether a trained arm depends on them")
    skip = set(NOT_TRAIN_KEY_FIELDS)
    if which == "nsr":
        skip |= {"glow_alpha", "glow_beta"}
    return {**{k: v for k, v in asdict(cfg).items() if k not in skip}, "seed": seed, "learning_rate": cfg.lr(which),
            "counts": _counts(budget, TRAINING_COUNTS[which]), **extra}


def eval_settings(runner, trained_stage: str, path: str, budget: Budget, seed: int, **extra) -> dict:
    """What an evaluation depends on: the trained stage's key (a retrained model keeps its folder path, so the path
    alone would serve stale scores), the evaluation counts and the seed."""
    trained = runner.keys[trained_stage]
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
    (``report.engine_agreement``)."""
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


def training_args(cls, seed: int, learning_rate: float, out: Path, **extra):
    """The arguments every arm shares; the arm adds its own (batch, steps or epochs, schedule, checkpointing)."""
    import torch

    shared = dict(output_dir=str(out), use_cpu=not torch.cuda.is_available(), bf16=False, report_to="none",
                  save_strategy="no", logging_steps=1, gradient_checkpointing=False, seed=seed,
                  learning_rate=learning_rate)
    return cls(**{**shared, **extra})


STAGE_KEY_FILE = "stage_key"


def resumable(work: Path, stage_key: str, every: int) -> tuple[dict, str | None]:
    """Checkpoint settings for a long training stage, and the checkpoint to resume it from (or None).

    Why: an NSR arm trains for ~40 min on 2 cores and a session that ends mid-stage would lose all of it; with a
    checkpoint every ``every`` optimizer steps (model, optimizer, scheduler, RNG states: Trainer's own format) it
    resumes where it stopped, and exactly (``tests/test_experiments.py`` compares a resumed run's weights with an
    uninterrupted one's). ``stage_key`` (the stage's settings hash) is written beside the checkpoints: checkpoints
    left by other settings are deleted, never resumed into this stage."""
    import shutil

    from transformers.trainer_utils import get_last_checkpoint

    if not stage_key:  # an empty key would match any other keyless run's checkpoints
        raise ValueError(f"{work}: a resumable stage needs its settings hash as stage_key, got {stage_key!r}")
    last = None
    if work.is_dir():
        mark = work / STAGE_KEY_FILE
        if mark.exists() and mark.read_text() == stage_key:
            last = get_last_checkpoint(str(work))
        else:
            shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    (work / STAGE_KEY_FILE).write_text(stage_key)
    return {"save_strategy": "steps", "save_steps": every, "save_total_limit": 1}, last


def log_curve(trainer, key: str) -> list[dict]:
    """``key`` (TRL's ``reward``, the SFT ``loss``) at every logged step: the training curve the results keep."""
    return [{"step": int(e["step"]), key: float(e[key])} for e in trainer.state.log_history
            if key in e and "step" in e]
