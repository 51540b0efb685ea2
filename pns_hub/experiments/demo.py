"""``pns-hub demo`` and ``pns-hub experiment pns``: the whole PNS method, end to end, offline, on the in-regime
testbed under the fair protocol (issue #17). One chain, two sizes: the demo (``--budget 1``, < 20 min on a 2-core CPU)
and the experiment (``--budget full``: every negative source, 2 DPO seeds, >= 500 test problems, a verdict).

Stages (each cached under ``OUTPUT/stages/``, so an interrupted run resumes; stage code in :mod:`pns_hub.experiments.demo_stages`):

0. ``warmup``        SFT on gold solutions of the protocol's warm-up slice: the base policy and the DPO base (skipped
                     with ``--warmup-model PATH``, e.g. the cached ``sft_warmup_testbed`` checkpoint);
1. ``reward_model``  the policy's own (correct, wrong) samples on the RM slice -> centred Bradley-Terry RM; held-out
                     pairwise accuracy with its Wilson interval, split by where the chosen side came from;
2. ``generator``     reverse-RL GRPO with the composite reward (format, accuracy inversion, RM, judge) on its slice;
3. ``negatives``     synthesis on the synthesis slice: the same k, filter and rule for every source, same problems and
                     chosen side; plausibility under random-of-k and most-plausible-of-k; generator before/after;
4. ``dpo_<source>``  DPO from the warm-up model on each source's pairs (same settings), per seed;
5. ``eval_*``        greedy accuracy of the base and every DPO model on the testbed test split (Wilson intervals),
                     each DPO model vs base and vs rejection-sampling DPO by paired bootstrap;
6. ``leaderboard``   records -> markdown + PNG with intervals, as the ``pns-results`` dataset folder.

The seven benchmarks are not part of the demo: the 135M model scores ~0 on them (``pns-hub eval`` runs them).
Problem sets never overlap (:func:`pns_hub.experiments.protocol.fair_problem_sets` checks it).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from pns_hub.experiments import demo_stages as st
from pns_hub.experiments import mechanism
from pns_hub import hub
from pns_hub import models
from pns_hub.experiments.stages import StageRunner


logger = logging.getLogger(__name__)

WARMUP_RECIPE_SLICE = 400  # recipes/smollm2-135m-instruct/sft_warmup_testbed.yaml: testbed_train[0:400]
REPOS = {
    "warmup": ("smollm2-135m-testbed-sft", "model"),
    "reward_model": ("pns-reward-model", "model"),
    "generator": ("pns-generator", "model"),
    "negatives": ("pns-negatives", "dataset"),
    "results": ("pns-results", "dataset"),
}
SOURCES = ("pns", "rejection_sampling", "prompted_wrong", "perturbed")
LOCAL_ORG = "local"  # the org the cards and records name until a push names the real one (_retarget)


@dataclass
class Budget:
    """How much work each stage does; sizes are problems unless named otherwise."""

    warmup_examples: int
    rm_problems: int  # RM slice, including its held-out problems
    rm_heldout: int
    rm_samples: int
    rm_epochs: int
    gen_steps: int
    gen_prompts_per_step: int
    gen_generations: int
    max_tokens: int
    synth_problems: int
    synth_samples: int  # k: the candidate budget of every source
    dpo_epochs: int
    dpo_learning_rate: float
    test_problems: int
    eval_max_tokens: int
    dpo_sources: tuple[str, ...] = ("pns", "rejection_sampling")
    dpo_seeds: tuple[int, ...] = (0,)
    rm_gold_fallback: bool = True  # gold as the chosen side where the policy never solved a problem (counted)
    # examples per forward/backward in every training stage; optimizer steps still see 8 (gradient accumulation), so
    # activation and logits memory (batch x length x the 49,152-token vocabulary) scale with this, not with 8 (#14)
    micro_batch: int = 1
    # The generator's reward (issue #33): "composite" (the paper's gates + RM + judge) or "oracle" (the step checker
    # in place of RM + judge). A wrong answer earns composite_base + composite_rm_weight * sigmoid(RM / rm_temperature)
    # + composite_judge_weight * judge; the defaults are the recipes' (0.5, 0.25, 0.25, T = 1).
    gen_reward: str = "composite"
    gen_learning_rate: float = 1e-5
    composite_base: float = 0.5
    composite_rm_weight: float = 0.25
    composite_judge_weight: float = 0.25
    rm_temperature: float = 1.0

    @classmethod
    def for_scale(cls, scale: float) -> "Budget":
        """The demo. Sized from stage times measured at ``smoke`` (AMD EPYC Zen 3, 2 cores, under load): synthesis
        (~100 s per problem there: 4 sources x k candidates, each scored by RM and judge) and the warm-up (~4 s per
        example) dominate. Completion lengths do not scale (testbed solutions take ~55 tokens, a few ~150)."""
        def n(base: int, minimum: int = 1) -> int:
            return max(minimum, int(math.ceil(base * scale)))

        return cls(warmup_examples=n(160, 16), rm_problems=n(16, 6), rm_heldout=n(6, 2), rm_samples=4, rm_epochs=2,
                   gen_steps=n(2, 1), gen_prompts_per_step=2, gen_generations=4, max_tokens=192,
                   synth_problems=n(8, 4), synth_samples=4, dpo_epochs=2, dpo_learning_rate=5e-6,
                   test_problems=n(40, 8), eval_max_tokens=192)

    @classmethod
    def preset(cls, name: str) -> "Budget":
        """``tiny``: about a minute on a tiny model (tests). ``smoke``: the slow demo test's size (measured: 31 min
        under load, base 15% of 20). ``full``: the experiment, sized from measured stage times (see README)."""
        if name == "tiny":
            return cls(warmup_examples=8, rm_problems=6, rm_heldout=2, rm_samples=2, rm_epochs=1, gen_steps=1,
                       gen_prompts_per_step=2, gen_generations=2, max_tokens=8, synth_problems=4, synth_samples=2,
                       dpo_epochs=1, dpo_learning_rate=5e-6, test_problems=6, eval_max_tokens=8,
                       dpo_sources=SOURCES, dpo_seeds=(0, 1))
        if name == "smoke":
            return cls(warmup_examples=100, rm_problems=10, rm_heldout=4, rm_samples=4, rm_epochs=2, gen_steps=1,
                       gen_prompts_per_step=2, gen_generations=4, max_tokens=192, synth_problems=6, synth_samples=4,
                       dpo_epochs=2, dpo_learning_rate=5e-6, test_problems=20, eval_max_tokens=192)
        if name == "full":
            # RM: ~0.48 pairs of the policy's own samples per problem at 4 samples (measured: 349 from 720), so 1000
            # problems with 450 held out give ~265 train and ~215 held-out pairs. 720 with 260 held out gave 240 and
            # 109: held-out 0.532 [0.439, 0.623], an interval too wide to tell 0.53 from the 0.707 [0.601, 0.795] the
            # same recipe reached on a disjoint slice. 100 problems gave 61 train pairs, too few. No gold sides.
            return cls(warmup_examples=400, rm_problems=1000, rm_heldout=450, rm_samples=4, rm_epochs=2, gen_steps=6,
                       gen_prompts_per_step=2, gen_generations=4, max_tokens=192, synth_problems=24, synth_samples=4,
                       dpo_epochs=2, dpo_learning_rate=5e-6, test_problems=500, eval_max_tokens=192,
                       dpo_sources=SOURCES, dpo_seeds=(0, 1), rm_gold_fallback=False)
        return cls.for_scale(float(name))


@dataclass
class DemoConfig:
    output_dir: str = "outputs/demo"
    budget: str = "1"
    model: str = models.EMBEDDED_DEFAULT
    warmup_model: str | None = None
    org: str = "local"
    push_to_hub: bool = False
    seed: int = 0


def problem_sets(cfg: DemoConfig, budget: Budget):
    """The fair protocol's disjoint slices. With ``--warmup-model`` the warm-up slice is the recipe's 400 problems the
    cached checkpoint trained on, so no later slice overlaps what that model has seen."""
    from pns_hub.experiments.protocol import fair_problem_sets

    warm = WARMUP_RECIPE_SLICE if cfg.warmup_model else budget.warmup_examples
    return fair_problem_sets({"warmup": warm, "reward_model": budget.rm_problems,
                              "generator": budget.gen_steps * budget.gen_prompts_per_step,
                              "synthesis": budget.synth_problems}, test_size=budget.test_problems)


class _RewardLog:
    """Collects GRPO's logged rewards, step by step, for the reward curve in the summary."""

    def __new__(cls):
        from transformers import TrainerCallback

        class Callback(TrainerCallback):
            def __init__(self):
                self.history: list[dict] = []

            def on_log(self, args, state, control, logs=None, **kwargs):
                if logs and "reward" in logs:  # the total and every component (pns/*, rewards/*) per step
                    self.history.append({"step": state.global_step, **{
                        k: v for k, v in logs.items() if k in ("reward", "reward_std", "kl", "entropy")
                        or k.startswith(("pns/", "rewards/", "completions/mean_length"))}})

        return Callback()


def _generator(cfg, budget, folder, rm, policy, problems, hub_id) -> dict:
    log = _RewardLog()
    out = st.stage_generator(budget, cfg.seed, folder, rm, policy, cfg.model, problems, hub_id, [log])
    return {**out, "reward_curve": log.history}


def _leaderboard(folder: Path, records: list, budget: Budget, seed: int) -> dict:
    from pns_hub.eval import leaderboard
    results = folder / "results"
    results.mkdir(parents=True, exist_ok=True)
    for stale in results.glob("*.json"):
        stale.unlink()
    for name, rec in records:
        leaderboard.write_record(rec, results / f"{name}.json")
    (folder / "eval_settings.json").write_text(json.dumps({"benchmark": "testbed", "decoding": "greedy", "seed": seed,
                                                           "max_new_tokens": budget.eval_max_tokens,
                                                           "limit": budget.test_problems, "num_samples": 1}, indent=2))
    board = leaderboard.build_leaderboard(results, folder)
    table = Path(board["markdown"]).read_text()
    card = hub.yaml_header({"license": "apache-2.0", "tags": ["pns-hub", "leaderboard", "math"],
                            "pretty_name": "pns-hub results"}, "dataset")
    (folder / "README.md").write_text(card + "\n# pns-hub results\n\nGreedy accuracy on the pns-hub testbed test split "
                                      "(math-verify), one JSON record per model under `results/`:\n\n" + table +
                                      "\n![leaderboard](leaderboard.png)\n")
    return {"folder": str(folder), "markdown": table, "png": board["png"]}


def run_demo(cfg: DemoConfig, budget: Budget | None = None) -> dict:
    """Run (or resume) every stage and return a summary with every figure and the path of every artifact."""
    models.configure_threads()
    budget = budget or Budget.preset(cfg.budget)
    root, start = Path(cfg.output_dir), time.perf_counter()
    hub_dir, work = root / "hub", root / "work"
    runner = StageRunner(root)
    sets = problem_sets(cfg, budget)
    files = st.write_problem_files(sets, work / "problems")
    # no org in the key: it is only a name in the cards and records, put in at push time (_retarget), so publishing a
    # finished demo re-runs nothing
    base = {"model": cfg.model, "seed": cfg.seed, "budget": asdict(budget), "sets": sets.summary()}
    folder = {key: hub_dir / name for key, (name, _) in REPOS.items()}
    repo_id = {key: f"{LOCAL_ORG}/{name}" for key, (name, _) in REPOS.items()}

    if cfg.warmup_model:
        policy = cfg.warmup_model
    else:
        policy = runner.run("warmup", base, lambda: st.stage_warmup(
            cfg.model, budget.warmup_examples, budget.micro_batch, cfg.seed, folder["warmup"], repo_id["warmup"]),
            [folder["warmup"] / "config.json"])["folder"]
    base["policy"] = policy
    rm = runner.run("reward_model", base, lambda: st.stage_reward_model(
        budget, cfg.seed, folder["reward_model"], policy, files["reward_model"], repo_id["reward_model"]),
        [folder["reward_model"] / "config.json"])
    gen = runner.run("generator", {**base, "rm": rm["folder"]}, lambda: _generator(
        cfg, budget, folder["generator"], rm["folder"], policy, files["generator"], repo_id["generator"]),
        [folder["generator"] / "config.json"])
    neg = runner.run("negatives", {**base, "generator": gen["folder"]}, lambda: st.stage_negatives(
        budget, cfg.seed, folder["negatives"], work, gen["folder"], rm["folder"], policy, cfg.model,
        files["synthesis"], repo_id["negatives"]), [folder["negatives"] / "README.md"])
    trained = {"base": (policy, repo_id["warmup"], "base", None)}
    trained_key = {"base": runner.keys.get("warmup", policy)}  # what each model's evaluation depends on
    for source in budget.dpo_sources:
        for seed in budget.dpo_seeds:
            name = source if len(budget.dpo_seeds) == 1 else f"{source}@seed{seed}"
            key, out = f"dpo_{name}", hub_dir / (f"smollm2-135m-{source.replace('_', '-')}-dpo" + (
                f"-seed{seed}" if len(budget.dpo_seeds) > 1 else ""))
            dpo = runner.run(key, {**base, "dataset": neg["folder"], "source": source, "dpo_seed": seed},
                             lambda s=source, sd=seed, o=out: st.stage_dpo(
                                 budget, sd, o, neg["folder"], s, policy, f"{LOCAL_ORG}/{o.name}",
                                 repo_id["negatives"]), [out / "config.json"])
            method = {"pns": "pns-dpo", "rejection_sampling": "rs-dpo"}.get(source, f"{source}-dpo")
            trained[name] = (dpo["folder"], f"{LOCAL_ORG}/{out.name}", method, source)
            trained_key[name] = runner.keys[key]
    # keyed on the trained stage's key, not only the folder: a retrained model keeps its path (stale scores otherwise)
    # "record": 2: the result also names engine, dtype, seed and the text digest (what a reproduction re-runs)
    evals = {name: runner.run(f"eval_{name}", {"model": path, "trained": trained_key[name], "test": sets.summary(),
                                               "tokens": budget.eval_max_tokens, "record": 2},
                              lambda p=path: st.stage_eval(p, files["test"], budget.eval_max_tokens, cfg.seed))
             for name, (path, _, _, _) in trained.items()}
    comparisons = st.compare(evals, cfg.seed)
    records = [(name, st.record(hub_id, method, source, repo_id["warmup"], evals[name], budget.eval_max_tokens))
               for name, (_, hub_id, method, source) in trained.items()]
    board = runner.run("leaderboard", {**base, "evals": {k: v["accuracy"] for k, v in evals.items()}},
                       lambda: _leaderboard(folder["results"], records, budget, cfg.seed),
                       [folder["results"] / "leaderboard.md"])
    pushed = _push(cfg, folder, [Path(path) for name, (path, *_) in trained.items() if name != "base"]) \
        if cfg.push_to_hub else {}
    metrics = rm.get("metrics") or {}
    summary = {
        "output_dir": str(root), "wall_seconds": round(time.perf_counter() - start, 1), "budget": asdict(budget),
        "cpu": _cpu(), "dpo_base": f"warm-up SFT model ({models.display_name(policy)})", "problem_sets": sets.summary(),
        "stage_seconds": {k: round(v, 1) for k, v in runner.timings.items()}, "reused_stages": runner.reused,
        "resumed_stages": runner.resumed(), "stage_peak_rss_mb": dict(runner.peak_rss_mb),
        "stage_start_rss_mb": dict(runner.start_rss_mb), "artifacts": {k: str(v) for k, v in folder.items()},
        "rm_heldout": {k: metrics.get(k) for k in ("pairwise_accuracy", "pairwise_accuracy_low",
                                                   "pairwise_accuracy_high", "num_pairs", "accuracy_source",
                                                   "accuracy_by_chosen_source_ci", "problem_bootstrap_ci",
                                                   "pair_stats")},
        "reward_curve": gen.get("reward_curve"), "generator_report": neg["generator"],
        "generator_md": neg["generator_md"], "plausibility": neg["table_md"], "fair_selection": neg["selection"],
        "figure1": neg.get("figure1"), "figure1_md": neg.get("figure1_md"),
        "evals": {k: v["accuracy"] for k, v in evals.items()}, "comparisons": comparisons,
        "per_problem": {k: {"per_problem": v["per_problem"]} for k, v in evals.items()},
        "models": {name: str(path) for name, (path, _, _, _) in trained.items()}, "model_keys": trained_key,
        "leaderboard": board["markdown"], "leaderboard_png": board["png"], "pushed": pushed,
    }
    summary["final_table"] = final_table(summary)
    summary["mechanism"] = mechanism.effects(summary)
    summary["mechanism_line"] = mechanism.summary_line(summary["mechanism"])
    (root / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return summary


def _retarget(folders: list[Path], org: str) -> None:
    """Name ``org`` instead of :data:`LOCAL_ORG` in the cards and records of these folders (README.md, *.json, *.md
    at their top and in ``results/``): the repo ids of this run's artifacts, the only place the org appears."""
    names = [f.name for f in folders]
    for folder in folders:
        for path in [*folder.glob("*.md"), *folder.glob("*.json"), *folder.glob("results/*.json")]:
            text = original = path.read_text(encoding="utf-8")
            for name in names:
                text = text.replace(f"{LOCAL_ORG}/{name}", f"{org}/{name}")
            if text != original:
                path.write_text(text, encoding="utf-8")


def _push(cfg: DemoConfig, folder: dict[str, Path], dpo_folders: list[Path]) -> dict[str, str]:
    """Publish every artifact under ``cfg.org`` (the DPO models too), after naming the org in their cards."""
    repos = {key: (folder[key], repo_type) for key, (_, repo_type) in REPOS.items()
             if key != "warmup" or not cfg.warmup_model}
    repos.update({f.name: (f, "model") for f in dpo_folders})
    _retarget([path for path, _ in repos.values()], cfg.org)
    return {key: hub.push_folder(path, f"{cfg.org}/{path.name}", repo_type=repo_type,
                                 commit_message=f"pns-hub demo: {key}")
            for key, (path, repo_type) in repos.items()}


def _cpu() -> str:
    from pns_hub.hardware import device_name

    return device_name()


def _pct(e: dict | None) -> str:
    return "n/a" if not e else f"{100 * e['value']:.1f}% [{100 * e['low']:.1f}, {100 * e['high']:.1f}]"


def _pts(e: dict | None) -> str:
    return "" if not e else f"{100 * e['value']:+.1f} [{100 * e['low']:+.1f}, {100 * e['high']:+.1f}]"


def final_table(summary: dict) -> str:
    """Accuracy (Wilson 95%, n) of every model on the test split; deltas (points) with paired bootstrap intervals."""
    lines = ["| model | accuracy [95% CI] | n | vs base (pts) | vs rejection-sampling DPO (pts) |",
             "|---|---:|---:|---:|---:|"]
    for name, acc in summary["evals"].items():
        comp = summary["comparisons"].get(name, {})
        label = "base (warm-up SFT)" if name == "base" else f"DPO on {name}"
        lines.append(f"| {label} | {_pct(acc)} | {acc['n']} | {_pts(comp.get('vs_base'))} | "
                     f"{_pts(comp.get('vs_rejection_sampling'))} |")
    return "\n".join(lines) + "\n"


def print_summary(summary: dict) -> None:
    print("\n" + "=" * 100)
    print(f"pns-hub demo finished in {summary['wall_seconds']:.0f}s on {summary['cpu']} "
          f"(stages reused from an earlier run: {', '.join(summary['reused_stages']) or 'none'})")
    total = sum(summary["stage_seconds"].values()) or 1.0
    peaks, starts = summary.get("stage_peak_rss_mb") or {}, summary.get("stage_start_rss_mb") or {}
    mb = lambda v: "-" if v is None else f"{v:,.0f}"  # noqa: E731
    print(f"  {'stage':<36} {'seconds':>9}  {'share':>6}  RSS at start -> peak (this process, MB)")
    for name, seconds in summary["stage_seconds"].items():
        print(f"  {name:<36} {seconds:8.1f}s  {100 * seconds / total:5.1f}%  {mb(starts.get(name))} -> "
              f"{mb(peaks.get(name))}")
    rm = summary["rm_heldout"]
    if rm.get("pairwise_accuracy") is not None:
        print(f"\nreward model, held-out pairwise accuracy ({rm['accuracy_source']}): {_pct({'value': rm['pairwise_accuracy'], 'low': rm['pairwise_accuracy_low'], 'high': rm['pairwise_accuracy_high']})} "
              f"n={rm['num_pairs']} pairs (chance 50%)")
        clustered = rm.get("problem_bootstrap_ci")
        if clustered:
            print(f"  95% interval resampling problems (pairs of one problem are not independent): "
                  f"[{100 * clustered['low']:.1f}, {100 * clustered['high']:.1f}], {clustered['problems']} problems")
        for source, e in (rm.get("accuracy_by_chosen_source_ci") or {}).items():
            print(f"  chosen side from {source}: {_pct(e)} n={e['n']}")
        print(f"  pairs: {rm.get('pair_stats')}")
    curve = summary.get("reward_curve") or []
    if curve:
        print("\ngenerator reward curve (GRPO step: mean composite reward)")
        print("  " + "  ".join(f"{p['step']}:{p['reward']:+.3f}" for p in curve))
    print("\ngenerator before vs after GRPO (synthesis problems, T 0.8; 95% intervals)\n" + summary["generator_md"])
    print("plausibility of the negatives, fair protocol\n" + summary["plausibility"])
    if summary.get("figure1_md"):  # RM, judge and the model-free step checker, correct vs each source
        print("Figure 1 at testbed scale (the pairs DPO trains on)\n" + summary["figure1_md"])
    print(summary["mechanism_line"] + "\n")
    print(f"final table: greedy accuracy on the testbed test split; DPO base = {summary['dpo_base']}\n"
          + summary["final_table"])
    print("artifacts (folders in Hub layout):")
    for key, path in summary["artifacts"].items():
        print(f"  {key:<24} {path}")
    print(f"  {'leaderboard chart':<24} {summary['leaderboard_png']}")
    print(f"  {'summary':<24} {summary['output_dir']}/summary.json")
    for key, url in (summary.get("pushed") or {}).items():
        print(f"  pushed {key}: {url}")


def cli_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pns-hub demo", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--output-dir", default="outputs/demo", help="where every artifact is written (hub/: one "
                        "folder per Hub repo)")
    parser.add_argument("--budget", default="1", help="a scale (1 = default, estimated ~20 min on a 2-core CPU), or a preset: 'smoke' "
                                                      "(the slow test), 'tiny' (tests), 'full' (the experiment)")
    parser.add_argument("--model", default=models.EMBEDDED_DEFAULT, help="base model: Hub id, folder or embedded:...")
    parser.add_argument("--warmup-model", help="skip the warm-up: use this SFT checkpoint as base policy and DPO base")
    parser.add_argument("--push-to-hub", metavar="ORG", help="publish every artifact under ORG (needs a token)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every stage")
    args = parser.parse_args(argv)
    try:
        Budget.preset(args.budget)
    except ValueError:
        parser.error(f"--budget must be a number, 'tiny', 'smoke' or 'full', got {args.budget!r}")
    cfg = DemoConfig(output_dir=args.output_dir, budget=args.budget, model=args.model, seed=args.seed,
                     warmup_model=args.warmup_model, org=args.push_to_hub or "local",
                     push_to_hub=bool(args.push_to_hub))
    if cfg.push_to_hub:
        import huggingface_hub.constants as constants

        if constants.HF_HUB_OFFLINE:
            parser.error("--push-to-hub needs the network: unset HF_HUB_OFFLINE (the artifacts are written locally "
                         f"under {cfg.output_dir}/hub either way)")
    print_summary(run_demo(cfg))
    return 0
