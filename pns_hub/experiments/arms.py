"""One replicate (one seed) of ``pns-hub experiment nsr|glow``: train every arm from the shared base, evaluate it on
the shared held-out problems, keep the training curves.

Why a replicate re-draws everything the seed touches: the claims are about an objective (NSR, GLOW), not about one
training run of it; the seed drives the arms' training (data order, rollouts), GLOW's trajectories and the
evaluation's sampling, so the spread between replicates is the spread a reader re-running the experiment would see.
Each replicate also trains a placebo arm (:data:`testbed_stages.PLACEBOS`): PSR (nsr) or SFT on correct samples
(glow) again with another training seed, evaluated exactly like the others.

- NSR arms: PSR, NSR, W-REINFORCE (lambda 0.1) through :class:`pns_hub.trainers.nsr.NSRTrainer`, plain GRPO through
  TRL's trainer; the paper's constant learning rate (1e-6), no KL, several optimizer steps per rollout batch
  (the paper: 4 mini-batches), ``train_steps`` optimizer steps. The reward curve of every arm is kept.
- GLOW arms: SFT on correct, SFT on all, GLOW on all, each for the same number of *epochs* over its own rows (SFT on
  correct has about half the rows, so about half the steps; the table states rows, epochs, steps and tokens); the
  authors' cosine schedule; GLOW's weights per epoch and label are kept.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pns_hub import models
from pns_hub.experiments.report import EVAL_DTYPE, glow_report, nsr_report
from pns_hub.experiments.testbed_stages import (GLOW_ARMS, GLOW_SETTING, NSR_ARMS, PLACEBOS, WARMUP_SLICE, Budget,
                                                ExperimentConfig, eval_settings, evaluate, log_curve,
                                                resumable, train_settings, training_args)

logger = logging.getLogger(__name__)
# NSR arms save a checkpoint every this many rollout batches (full budget: 2 x 4 optimizer steps, ~6 min on 2 cores):
# what a session that ends mid-stage loses at most
RL_CHECKPOINT_ROLLOUTS = 2


def arms(which: str, placebo: bool) -> list[str]:
    """The arms one replicate trains, the placebo last."""
    names = list(NSR_ARMS if which == "nsr" else GLOW_ARMS)
    return names + [p for p, (arm, _) in PLACEBOS.items() if placebo and arm in names]


def arm_seed(arm: str, seed: int) -> tuple[str, int]:
    """(the objective an arm trains with, its training seed): a placebo is its arm with the seed moved."""
    if arm in PLACEBOS:
        real, offset = PLACEBOS[arm]
        return real, seed + offset
    return arm, seed


def _stage(name: str, seed: int) -> str:
    return f"{name}@s{seed}"


# -- NSR -------------------------------------------------------------------------------------------------------------
def train_rl_arm(cfg: ExperimentConfig, budget: Budget, base: str, arm: str, seed: int, rows: list[dict],
                 folder: Path, *, stage_key: str, callbacks=()) -> dict:
    """PSR / NSR / W-REINFORCE through NSRTrainer; plain GRPO (group-normalised, same reward) through TRL's trainer.
    Checkpointed every ``RL_CHECKPOINT_ROLLOUTS`` rollout batches under ``folder/work`` and resumed from there when
    the stage (same ``stage_key``) runs again (:func:`testbed_stages.resumable`)."""
    import shutil

    from datasets import Dataset

    from pns_hub import hub
    from pns_hub.engines import lm_head
    from pns_hub.engines.generation import build_prompt
    from pns_hub.trainers.configs import NSRConfig
    from pns_hub.trainers.nsr import NSRTrainer, make_correctness_reward

    mode, train_seed = arm_seed(arm, seed)
    dataset = Dataset.from_list([{"prompt": build_prompt(r["problem"]), "answer": r["answer"]} for r in rows])
    rl = dict(per_device_train_batch_size=budget.prompts_per_step * budget.generations,
              num_generations=budget.generations, steps_per_generation=budget.steps_per_generation,
              max_completion_length=budget.max_tokens, max_steps=budget.train_steps, temperature=1.0, beta=0.0,
              lr_scheduler_type="constant", warmup_steps=0, max_grad_norm=1.0)
    tokenizer = models.load_tokenizer(base, padding_side="left")
    out = folder / "work"
    # a checkpoint at a rollout-batch boundary, so a resumed run draws its next rollout exactly where it stopped;
    # only within one pass over the prompts: Trainer's resume skips the batches of the current pass but starts TRL's
    # RepeatSampler afresh, so after a pass boundary it would replay the first pass's order (an inexact resume)
    saving, last = {}, None
    if budget.train_steps * budget.prompts_per_step <= len(rows):
        saving, last = resumable(out, stage_key, budget.steps_per_generation * RL_CHECKPOINT_ROLLOUTS)
    else:
        logger.info("%s: %d steps x %d prompts make more than one pass over %d prompts: not checkpointed (a resume "
                    "would not be exact)", arm, budget.train_steps, budget.prompts_per_step, len(rows))
    if mode == "grpo":
        from trl import GRPOConfig, GRPOTrainer

        args = training_args(GRPOConfig, train_seed, cfg.lr("nsr"), out, scale_rewards="group", **rl, **saving)
        trainer = GRPOTrainer(model=base, reward_funcs=[make_correctness_reward()], args=args,
                              train_dataset=dataset, processing_class=tokenizer, callbacks=list(callbacks))
    else:
        args = training_args(NSRConfig, train_seed, cfg.lr("nsr"), out, nsr_mode=mode, nsr_lambda=0.1, **rl,
                             **saving)
        trainer = NSRTrainer(model=base, args=args, train_dataset=dataset, processing_class=tokenizer,
                             callbacks=list(callbacks))
    lm_head.use_dense_lm_head_in_trainer(trainer, temperature=trainer.temperature)  # as train_nsr/train_generator
    if last:
        logger.info("%s: resuming from %s", arm, last)
    trainer.train(resume_from_checkpoint=last)
    hub.save_model_folder(trainer, tokenizer, folder, f"# {arm} on the pns-hub testbed (experiment nsr)\n")
    shutil.rmtree(out, ignore_errors=True)  # ~1.6 GB of optimizer state a checkpoint: the stage is done with it
    return {"folder": str(folder), "steps": trainer.state.global_step, "train_seed": train_seed,
            "reward_curve": log_curve(trainer, "reward")}


def run_nsr(cfg: ExperimentConfig, runner, budget: Budget, base: str, sets: dict, seed: int,
            base_eval: dict) -> dict:
    """One replicate: every arm trained with ``seed`` (the placebo with its own), evaluated with ``seed``."""
    root = Path(cfg.output_dir) / f"seed{seed}"
    models_, trained, evals = {"base": base}, {}, {"base": base_eval}
    for arm in arms("nsr", cfg.placebo):
        key = {**train_settings(cfg, budget, "nsr", seed), "base": runner.keys["warmup"], "arm": arm}
        name = _stage(f"train_{arm}", seed)
        trained[arm] = runner.run(name, key, lambda a=arm, n=name: train_rl_arm(
            cfg, budget, base, a, seed, sets["train"], root / a, stage_key=runner.keys[n]),
            [root / arm / "config.json"])
        models_[arm] = path = trained[arm]["folder"]
        evals[arm] = evaluate(runner, _stage(f"eval_{arm}", seed),
                              eval_settings(runner, _stage(f"train_{arm}", seed), path, budget, seed), path,
                              sets["test"], budget.eval_samples, budget.max_tokens, seed)
    return {"seed": seed, "models": models_, "evals": evals,
            "arms": {a: {k: v for k, v in t.items() if k != "folder"} for a, t in trained.items()},
            "single_seed": nsr_report(evals, seed)}


# -- GLOW ------------------------------------------------------------------------------------------------------------
def train_sft_arm(cfg: ExperimentConfig, budget: Budget, base: str, arm: str, seed: int, trajectories: str,
                  folder: Path) -> dict:
    """SFT on correct / on all trajectories, or GLOW on all: same base, same epochs over each arm's own rows."""
    from datasets import load_dataset

    from pns_hub import hub
    from pns_hub.engines import lm_head
    from pns_hub.trainers.configs import GlowConfig

    kind, train_seed = arm_seed(arm, seed)
    config = "positive" if kind == "sft_correct" else "all"
    dataset = load_dataset(trajectories, config, split="train")
    if len(dataset) == 0:
        raise ValueError(f"{trajectories} [{config}] has no rows: {arm} has nothing to train on")
    tokenizer = models.load_tokenizer(base, padding_side="right")
    args = training_args(GlowConfig, train_seed, cfg.lr("glow"), folder / "work", per_device_train_batch_size=4,
                         num_train_epochs=budget.glow_epochs, lr_scheduler_type="cosine", warmup_steps=0.1,
                         max_length=512, glow_record=kind == "glow", glow_alpha=cfg.glow_alpha,
                         glow_beta=cfg.glow_beta, glow_min_weight=GLOW_SETTING["min_weight"],
                         glow_max_weight=GLOW_SETTING["max_weight"])
    if kind == "glow":
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
    tokens = [e["num_tokens"] for e in trainer.state.log_history if "num_tokens" in e]
    return {"folder": str(folder), "rows": len(dataset), "epochs": budget.glow_epochs,
            "steps": trainer.state.global_step, "tokens": int(tokens[-1]) if tokens else None,
            "train_seed": train_seed, "loss_curve": log_curve(trainer, "loss"), "weights": weights}


def run_glow(cfg: ExperimentConfig, runner, budget: Budget, base: str, sets: dict, seed: int,
             base_eval: dict) -> dict:
    """One replicate: trajectories drawn with ``seed`` from the base, every arm trained on them, evaluated with it.

    The trajectories are sampled in float32, the evaluations' precision. (The SIGFPE that first prompted it, bf16 on
    an AMX Xeon at one thread, is fixed in the engine: ``engines.openvino.engine_threads``.)"""
    from pns_hub.synthesis.trajectories import sample_trajectories

    root = Path(cfg.output_dir) / f"seed{seed}"
    folder, problems = root / "trajectories", sets["train"][:budget.glow_problems]
    sampled = f"testbed_train[{WARMUP_SLICE}:{WARMUP_SLICE + len(problems)}]"  # what the card says it holds
    traj_key = {**train_settings(cfg, budget, "glow", seed), "base": runner.keys["warmup"], "stage": "trajectories"}
    traj = runner.run(_stage("trajectories", seed), traj_key, lambda: {
        "summary": sample_trajectories(model_name_or_path=base, problems=problems, num_samples=budget.glow_samples,
                                       dataset_name=sampled, max_new_tokens=budget.max_tokens, seed=seed,
                                       dtype=EVAL_DTYPE, verify_workers=0, output_dir=str(folder), progress=True)},
                      [folder / "README.md"])
    models_, trained, evals = {"base": base}, {}, {"base": base_eval}
    for arm in arms("glow", cfg.placebo):
        key = {**train_settings(cfg, budget, "glow", seed), "base": runner.keys["warmup"], "arm": arm,
               "trajectories": runner.keys[_stage("trajectories", seed)]}
        trained[arm] = runner.run(_stage(f"train_{arm}", seed), key, lambda a=arm: train_sft_arm(
            cfg, budget, base, a, seed, str(folder), root / a), [root / arm / "config.json"])
        models_[arm] = path = trained[arm]["folder"]
        evals[arm] = {s: evaluate(runner, _stage(f"eval_{arm}_{s}", seed),
                                  eval_settings(runner, _stage(f"train_{arm}", seed), path, budget, seed, s=s), path,
                                  sets[s], budget.glow_eval_samples, budget.max_tokens, seed)
                      for s in ("test", "ood")}
    weights = [w for t in trained.values() for w in t["weights"]]
    return {"seed": seed, "models": models_, "trajectories": traj["summary"], "evals": evals, "weights": weights,
            "glow_setting": {**GLOW_SETTING, "alpha": cfg.glow_alpha, "beta": cfg.glow_beta},
            "arms": {a: {k: v for k, v in t.items() if k not in ("folder", "weights")} for a, t in trained.items()},
            "single_seed": glow_report(evals, weights, seed)}
