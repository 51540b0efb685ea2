"""``pns-hub demo``: the whole PNS method, end to end, offline, on the embedded default and bundled data.

Stages (each cached under ``OUTPUT/stages/``, so an interrupted run resumes where it stopped):

0. ``warmup``        SFT on gold solutions so the base model answers in ``\\boxed{}`` (without it every reverse-RL
                     rollout fails the format gate alike and GRPO has no signal); this is the base policy below;
1. ``reward_model``  sample (correct, wrong) pairs from the policy, train a centred Bradley-Terry RM;
2. ``generator``     reverse-RL GRPO with the composite reward (format, accuracy inversion, RM, CoT judge);
3. ``negatives``     synthesize the preference dataset (pns + rejection_sampling, prompted_wrong, perturbed) in Hub
                     layout with its card and plausibility plot;
4. ``dpo_pns`` / ``dpo_rejection_sampling``  DPO on PNS negatives, and on rejection-sampling negatives to compare;
5. ``eval_*``        the base model and both DPO models on a slice of each of the seven benchmarks (lighteval);
6. ``leaderboard``   results JSON -> markdown + PNG, written as the ``pns-results`` dataset folder.

Every artifact is a folder in Hub layout under ``OUTPUT/hub/<repo name>``; ``--push-to-hub ORG`` uploads them, and
``pns-hub reproduce ORG --local-root OUTPUT/hub`` re-runs the evaluation from them alone.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from . import hub, models
from .stages import StageRunner


logger = logging.getLogger(__name__)

REPOS = {
    "warmup": ("smollm2-135m-boxed-sft", "model"),
    "reward_model": ("pns-reward-model", "model"),
    "generator": ("pns-generator", "model"),
    "negatives": ("pns-negatives", "dataset"),
    "dpo_pns": ("smollm2-135m-pns-dpo", "model"),
    "dpo_rejection_sampling": ("smollm2-135m-rs-dpo", "model"),
    "results": ("pns-results", "dataset"),
}


@dataclass
class Budget:
    """How much work each stage does. ``scale=1`` is the default demo (< 20 min on a 2-core CPU)."""

    warmup_examples: int
    rm_problems: int
    rm_heldout: int
    rm_samples: int
    rm_epochs: int
    gen_steps: int
    gen_prompts_per_step: int
    gen_generations: int
    gen_max_tokens: int
    synth_problems: int
    synth_samples: int
    synth_max_tokens: int
    dpo_epochs: int
    eval_limit: int
    eval_max_tokens: int

    @classmethod
    def for_scale(cls, scale: float) -> "Budget":
        def n(base: int, minimum: int = 1) -> int:
            return max(minimum, int(math.ceil(base * scale)))

        # Completion lengths do not scale: the 135M model needs ~150-200 tokens to reach a \boxed{} answer, and a
        # truncated sample is neither a usable negative nor a rewardable GRPO rollout. Only counts scale.
        return cls(
            warmup_examples=n(48, 32), rm_problems=n(16, 8), rm_heldout=n(6, 4), rm_samples=4, rm_epochs=2,
            gen_steps=n(5, 2), gen_prompts_per_step=2, gen_generations=4, gen_max_tokens=192,
            synth_problems=n(12, 6), synth_samples=4, synth_max_tokens=192,
            dpo_epochs=1, eval_limit=n(3, 1), eval_max_tokens=n(256, 64),
        )


class _RewardLog:
    """Collects GRPO's logged rewards, step by step, for the reward curve in the summary."""

    def __new__(cls):
        from transformers import TrainerCallback

        class Callback(TrainerCallback):
            def __init__(self):
                self.history: list[dict] = []

            def on_log(self, args, state, control, logs=None, **kwargs):
                if logs and "reward" in logs:
                    self.history.append({"step": state.global_step, "reward": logs["reward"],
                                         **{k: v for k, v in logs.items() if k.startswith("rewards/") and
                                            k.endswith("/mean")}})

        return Callback()


def _repo_id(cfg: "DemoConfig", key: str) -> str:
    """The Hub id an artifact will be published under (``org/name``): what its card and the cards citing it say."""
    return f"{cfg.org}/{REPOS[key][0]}"


def _parse(types, argv: list[str]):
    from trl import TrlParser

    return TrlParser(types).parse_args_and_config(args=argv)


def _args(settings: dict) -> list[str]:
    """A settings dict as the command-line flags the recipes accept (the same values a YAML recipe would set)."""
    argv = []
    for key, value in settings.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            argv += [f"--{key}", *map(str, value)]
        else:
            argv += [f"--{key}", str(value).lower() if isinstance(value, bool) else str(value)]
    return argv


# ----------------------------------------------------------------------------------------------------------------
# Stages
# ----------------------------------------------------------------------------------------------------------------
def stage_warmup(cfg: "DemoConfig", budget: Budget, folder: Path) -> dict:
    from trl import ModelConfig

    from .pns_configs import PNSSFTConfig
    from .sft import SFTWarmupArguments, train_sft_warmup

    script_args, training_args, model_args = _parse((SFTWarmupArguments, PNSSFTConfig, ModelConfig), _args({
        "model_name_or_path": cfg.model, "dataset_name": "gsm8k_train", "dataset_offset": 4096,
        "dataset_limit": budget.warmup_examples, "learning_rate": 5e-5, "lr_scheduler_type": "constant",
        "num_train_epochs": 1, "per_device_train_batch_size": 8, "max_length": 512, "gradient_checkpointing": False,
        "logging_steps": 2, "save_strategy": "no", "report_to": "none", "seed": cfg.seed, "output_dir": str(folder),
        "hub_model_id": _repo_id(cfg, "warmup"),
    }))
    return {"folder": train_sft_warmup(script_args, training_args, model_args)}


def stage_reward_model(cfg: "DemoConfig", budget: Budget, folder: Path, policy: str) -> dict:
    from trl import ModelConfig

    from .pns_configs import PNSRewardConfig, RewardModelScriptArguments
    from .reward_model import train_reward_model

    script_args, training_args, model_args = _parse((RewardModelScriptArguments, PNSRewardConfig, ModelConfig), _args({
        "model_name_or_path": policy, "dataset_name": "gsm8k_train",
        "dataset_limit": budget.rm_problems + budget.rm_heldout, "heldout_problems": budget.rm_heldout,
        "policy_model": policy, "num_samples": budget.rm_samples, "max_new_tokens": budget.gen_max_tokens,
        "sample_batch_size": 64, "center_rewards_coefficient": 0.01, "learning_rate": 2e-5,
        "num_train_epochs": budget.rm_epochs, "per_device_train_batch_size": 8, "max_length": 512,
        "gradient_checkpointing": False, "save_strategy": "no", "report_to": "none", "logging_steps": 5,
        "seed": cfg.seed, "output_dir": str(folder), "hub_model_id": _repo_id(cfg, "reward_model"),
    }))
    metrics = train_reward_model(script_args, training_args, model_args)
    return {"folder": str(folder), "metrics": metrics}


def stage_generator(cfg: "DemoConfig", budget: Budget, folder: Path, rm_folder: str, policy: str) -> dict:
    from trl import ModelConfig

    from .pns_configs import PNSGeneratorScriptArguments, PNSGRPOConfig
    from .grpo import train_generator

    script_args, training_args, model_args = _parse((PNSGeneratorScriptArguments, PNSGRPOConfig, ModelConfig), _args({
        "model_name_or_path": policy, "dataset_name": "gsm8k_train",
        "dataset_limit": budget.gen_steps * budget.gen_prompts_per_step, "holdout": 0,
        "reward_funcs": ["pns_composite"], "reward_weights": [1.0], "reward_model_path": rm_folder,
        "judge_model": cfg.model, "learning_rate": 1e-5, "beta": 0.0,
        "num_generations": budget.gen_generations,
        "per_device_train_batch_size": budget.gen_generations * budget.gen_prompts_per_step,
        "max_completion_length": budget.gen_max_tokens, "temperature": 0.8, "max_steps": budget.gen_steps,
        "lr_scheduler_type": "constant", "gradient_checkpointing": False, "logging_steps": 1,
        "save_strategy": "no", "report_to": "none", "seed": cfg.seed, "output_dir": str(folder),
        "hub_model_id": _repo_id(cfg, "generator"),
    }))
    log = _RewardLog()
    train_generator(script_args, training_args, model_args, callbacks=[log])
    return {"folder": str(folder), "reward_curve": log.history}


def stage_negatives(cfg: "DemoConfig", budget: Budget, folder: Path, generator: str, rm_folder: str,
                    policy: str) -> dict:
    from .synthesize import SynthesisConfig, synthesize_dataset

    # The generator synthesizes on training problems (as in the paper's phase 2); the policy for rejection sampling
    # and the prompted-wrong baseline is the base model that DPO will train.
    config = SynthesisConfig(
        generator=generator, policy=policy, instruct_model=policy, reward_model=rm_folder,
        judge_model=cfg.model, dataset="gsm8k_train", limit=budget.synth_problems,
        num_samples=budget.synth_samples, max_new_tokens=budget.synth_max_tokens, output_dir=str(folder),
        seed=cfg.seed, batch_size=64, hub_repo_id=_repo_id(cfg, "negatives"),
    )
    from .report import markdown_table

    path = synthesize_dataset(config)
    stats = json.loads((Path(path) / "plausibility.json").read_text())
    return {"folder": str(path), "report": markdown_table(stats)}


def stage_dpo(cfg: "DemoConfig", budget: Budget, folder: Path, dataset: str, config_name: str, policy: str) -> dict:
    from trl import ModelConfig

    from .dpo import DPOScriptArguments, PNSDPOConfig, train_dpo

    script_args, training_args, model_args = _parse((DPOScriptArguments, PNSDPOConfig, ModelConfig), _args({
        "model_name_or_path": policy, "dataset_name": dataset, "dataset_config": config_name,
        "method": "pns-dpo" if config_name == "pns" else "rs-dpo" if config_name == "rejection_sampling"
        else f"{config_name}-dpo",
        "beta": 0.1, "learning_rate": 5e-6, "num_train_epochs": budget.dpo_epochs, "per_device_train_batch_size": 8,
        "gradient_accumulation_steps": 1, "max_length": 768, "precompute_ref_log_probs": True,
        "gradient_checkpointing": False, "logging_steps": 1, "save_strategy": "no", "report_to": "none",
        "seed": cfg.seed, "output_dir": str(folder), "dataset_hub_id": _repo_id(cfg, "negatives"),
        "hub_model_id": _repo_id(cfg, f"dpo_{config_name}"),
    }))
    return {"folder": train_dpo(script_args, training_args, model_args)}


def stage_eval(cfg: "DemoConfig", budget: Budget, model: str, name: str, method: str, negative_source: str | None,
               work: Path) -> dict:
    from .eval.run import run_eval

    out = run_eval(model, benchmarks=None, limit=budget.eval_limit, num_samples=1,
                   max_new_tokens=budget.eval_max_tokens, temperature=0.0, seed=cfg.seed, batch_size=32,
                   output_dir=work / "eval" / name.split("/")[-1], method=method,
                   base=models.display_name(cfg.model), negative_source=negative_source,
                   model_name=name)
    return {"record": out["paths"]["record"], "scores": out["scores"], "average": out.get("average")}


def stage_leaderboard(cfg: "DemoConfig", budget: Budget, folder: Path, records: list[str]) -> dict:
    from . import leaderboard

    results = folder / "results"
    results.mkdir(parents=True, exist_ok=True)
    for stale in results.glob("*.json"):
        stale.unlink()
    for path in records:
        record = leaderboard.ResultRecord.from_dict(json.loads(Path(path).read_text()), path)
        record.lighteval_results = None  # a path on the machine that ran it; meaningless once published
        leaderboard.write_record(record, results / Path(path).name)
    settings = {"max_new_tokens": budget.eval_max_tokens, "temperature": 0.0, "seed": cfg.seed, "batch_size": 32,
                "limit": budget.eval_limit, "num_samples": 1}
    (folder / "eval_settings.json").write_text(json.dumps(settings, indent=2))
    board = leaderboard.build_leaderboard(results, folder)
    table = Path(board["markdown"]).read_text()
    card = hub.yaml_header({"license": "apache-2.0", "tags": ["pns-hub", "leaderboard", "math"],
                            "pretty_name": "pns-hub results"})
    (folder / "README.md").write_text(
        card + "\n# pns-hub results\n\nOne JSON record per evaluation run under `results/` (schema: "
        "`pns_hub.leaderboard.ResultRecord`), the evaluation settings in `eval_settings.json`, and the table:\n\n"
        + table + "\n![leaderboard](leaderboard.png)\n\nReproduce: `pns-hub reproduce <org>`.\n")
    return {"folder": str(folder), "markdown": table, "png": board["png"]}


# ----------------------------------------------------------------------------------------------------------------
# Orchestration
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class DemoConfig:
    output_dir: str = "outputs/demo"
    budget: float = 1.0
    model: str = models.EMBEDDED_DEFAULT
    org: str = "local"
    push_to_hub: bool = False
    seed: int = 0


def run_demo(cfg: DemoConfig) -> dict:
    """Run (or resume) every stage and return a summary with the path of every artifact."""
    models.configure_threads()
    root = Path(cfg.output_dir)
    hub_dir, work = root / "hub", root / "work"
    budget = Budget.for_scale(cfg.budget)
    runner = StageRunner(root)
    # org is part of every key: the cards name the repo ids the artifacts will be published under
    base = {"model": cfg.model, "seed": cfg.seed, "budget": asdict(budget), "org": cfg.org}
    folder = {key: hub_dir / name for key, (name, _) in REPOS.items()}
    repo_id = {key: f"{cfg.org}/{name}" for key, (name, _) in REPOS.items()}
    start = time.perf_counter()

    warm = runner.run("warmup", base, lambda: stage_warmup(cfg, budget, folder["warmup"]),
                      [folder["warmup"] / "config.json"])
    policy = warm["folder"]
    rm = runner.run("reward_model", {**base, "policy": policy},
                    lambda: stage_reward_model(cfg, budget, folder["reward_model"], policy),
                    [folder["reward_model"] / "config.json"])
    gen = runner.run("generator", {**base, "rm": rm["folder"]},
                     lambda: stage_generator(cfg, budget, folder["generator"], rm["folder"], policy),
                     [folder["generator"] / "config.json"])
    neg = runner.run("negatives", {**base, "generator": gen["folder"]},
                     lambda: stage_negatives(cfg, budget, folder["negatives"], gen["folder"], rm["folder"], policy),
                     [folder["negatives"] / "README.md"])
    dpo = {}
    for config_name in ("pns", "rejection_sampling"):
        key = f"dpo_{config_name}"
        dpo[config_name] = runner.run(key, {**base, "dataset": neg["folder"]},
                                      lambda c=config_name, k=key: stage_dpo(cfg, budget, folder[k], neg["folder"], c,
                                                                             policy),
                                      [folder[key] / "config.json"])
    evaluated = [(policy, repo_id["warmup"], "base", None)] + [
        (dpo[c]["folder"], repo_id[f"dpo_{c}"], "pns-dpo" if c == "pns" else "rs-dpo", c) for c in dpo]
    records = []
    for model, name, method, source in evaluated:
        result = runner.run(f"eval_{method}", {**base, "model": model},
                            lambda m=model, n=name, me=method, s=source: stage_eval(cfg, budget, m, n, me, s, work))
        records.append(result["record"])
    board = runner.run("leaderboard", {**base, "records": records},
                       lambda: stage_leaderboard(cfg, budget, folder["results"], records),
                       [folder["results"] / "leaderboard.md"])
    pushed = {}
    if cfg.push_to_hub:
        for key, (name, repo_type) in REPOS.items():
            pushed[key] = hub.push_folder(folder[key], repo_id[key], repo_type=repo_type,
                                          commit_message=f"pns-hub demo: {key}")
    summary = {
        "output_dir": str(root), "wall_seconds": round(time.perf_counter() - start, 1),
        "stage_seconds": {k: round(v, 1) for k, v in runner.timings.items()}, "reused_stages": runner.reused,
        "stage_peak_rss_mb": dict(runner.peak_rss_mb),
        "artifacts": {key: str(folder[key]) for key in REPOS},
        "rm_heldout_accuracy": (rm.get("metrics") or {}).get("pairwise_accuracy"),
        "reward_curve": gen.get("reward_curve"), "plausibility": neg.get("report"),
        "leaderboard": board["markdown"], "leaderboard_png": board["png"], "pushed": pushed,
    }
    (root / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return summary


def print_summary(summary: dict) -> None:
    print("\n" + "=" * 100)
    print(f"pns-hub demo finished in {summary['wall_seconds']:.0f}s "
          f"(stages reused from an earlier run: {', '.join(summary['reused_stages']) or 'none'})")
    total = sum(summary["stage_seconds"].values()) or 1.0
    peaks = summary.get("stage_peak_rss_mb") or {}
    print(f"  {'stage':<28} {'seconds':>9}  {'share':>6}  peak RSS (this process, MB)")
    for name, seconds in summary["stage_seconds"].items():
        peak = peaks.get(name)
        print(f"  {name:<28} {seconds:8.1f}s  {100 * seconds / total:5.1f}%  {'-' if peak is None else f'{peak:,.0f}'}")
    if summary.get("rm_heldout_accuracy") is not None:
        print(f"\nreward model held-out pairwise accuracy: {summary['rm_heldout_accuracy']:.3f} (chance 0.5)")
    curve = summary.get("reward_curve") or []
    if curve:
        print("\ngenerator reward curve (GRPO step: mean composite reward)")
        print("  " + "  ".join(f"{p['step']}:{p['reward']:+.3f}" for p in curve))
    if summary.get("plausibility"):
        print("\nplausibility of the negatives\n" + summary["plausibility"])
    print("\nleaderboard\n" + summary["leaderboard"])
    print("artifacts (folders in Hub layout):")
    for key, path in summary["artifacts"].items():
        print(f"  {key:<24} {path}")
    print(f"  {'leaderboard chart':<24} {summary['leaderboard_png']}")
    print(f"  {'summary':<24} {summary['output_dir']}/summary.json")
    for key, url in (summary.get("pushed") or {}).items():
        print(f"  pushed {key}: {url}")


def cli_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pns-hub demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-dir", default="outputs/demo")
    parser.add_argument("--budget", type=float, default=1.0,
                        help="scales every stage (1 = default, under 20 min on a 2-core CPU; 0.25 = smoke test)")
    parser.add_argument("--model", default=models.EMBEDDED_DEFAULT, help="base model: Hub id, folder or embedded:...")
    parser.add_argument("--push-to-hub", metavar="ORG", help="publish every artifact under ORG (needs a token)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    cfg = DemoConfig(output_dir=args.output_dir, budget=args.budget, model=args.model, seed=args.seed,
                     org=args.push_to_hub or "local", push_to_hub=bool(args.push_to_hub))
    if cfg.push_to_hub:
        import huggingface_hub.constants as constants

        if constants.HF_HUB_OFFLINE:
            parser.error("--push-to-hub needs the network: unset HF_HUB_OFFLINE (the artifacts are written locally "
                         f"under {cfg.output_dir}/hub either way)")
    print_summary(run_demo(cfg))
    return 0
