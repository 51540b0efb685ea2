"""``pns-hub experiment pns --replicates N``: the PNS claim decided over independent replicates (issue #33).

Shared by every replicate (trained or evaluated once, and the results say so): the warm-up policy (the DPO base), the
reward model and the base's evaluation. Re-drawn in every replicate r, with seed ``seed + r``: the generator's GRPO
training, the synthesis of its negatives and of rejection sampling, the placebo RS' (another seed), DPO on each arm
and its evaluation. The problem slices are the same in every replicate (fair protocol, disjoint), so the replicates
differ by their random draws only, and every DPO model is scored on the same test problems (what the pooled bootstrap
pairs). Every stage is cached per replicate (``stages/r<r>_<stage>.json``): an interrupted run resumes where it
stopped, across sessions. Arms: PNS, RS and RS' in every replicate; prompted_wrong and perturbed in the first
``all_sources_in`` replicates (they may run in fewer; the report counts them).

Outputs under ``--output-dir``: ``replicates/r<r>.json`` (each replicate's table, Figure 1, reward curve, generator
report), ``experiment_pns_replicates.{json,md,png}`` (pooled; Figure 1 and the generator's gains pooled over
replicates are sections of the md), ``figure1_pooled.png`` and ``generator_replicates.png``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path

from pns_hub import models
from pns_hub.experiments import cost
from pns_hub.experiments import demo
from pns_hub.experiments import demo_stages as st
from pns_hub.experiments import figure1
from pns_hub.experiments import generator_pooled as gp
from pns_hub.experiments import replicate_report as rr
from pns_hub.experiments.placebo import PLACEBO
from pns_hub.experiments.rm_curve import curve_stages as rm_curve_stages
from pns_hub.experiments.stages import StageRunner
from pns_hub.synthesis import baselines


def replicate_seed(seed: int, r: int) -> int:
    """Replicate r's seed for GRPO, synthesis and DPO: visible and stable, so a resumed run re-draws nothing."""
    return seed + r


def _shared(cfg, budget, runner: StageRunner, files: dict, base: dict, hub_dir: Path) -> tuple[str, dict, dict]:
    """The warm-up policy (or ``--warmup-model``), the RM and the base's evaluation: trained / run once."""
    if cfg.warmup_model:
        policy = cfg.warmup_model
    else:
        out = hub_dir / "smollm2-135m-testbed-sft"
        policy = runner.run("warmup", base, lambda: st.stage_warmup(
            cfg.model, budget.warmup_examples, budget.micro_batch, cfg.seed, out, f"{cfg.org}/{out.name}"),
            [out / "config.json"])["folder"]
    base["policy"] = policy
    rm_dir = hub_dir / "pns-reward-model"
    rm = runner.run("reward_model", base, lambda: st.stage_reward_model(
        budget, cfg.seed, rm_dir, policy, files["reward_model"], f"{cfg.org}/{rm_dir.name}"), [rm_dir / "config.json"])
    base_eval = runner.run("eval_base", {"model": policy, "trained": runner.keys.get("warmup", policy),
                                         "test": base["sets"], "tokens": budget.eval_max_tokens},
                           lambda: st.stage_eval(policy, files["test"], budget.eval_max_tokens, cfg.seed))
    return policy, rm, base_eval


def run_replicate(r: int, cfg, budget, runner: StageRunner, files: dict, base: dict, policy: str, rm: dict,
                  all_sources: bool, through: str = "dpo") -> dict:
    """Replicate r: generator, negatives (+ RS'), DPO and evaluation of every arm; returns its arms' per-problem
    results and what the replicate measured on the way (reward curve, Figure 1, generator report)."""
    seed, folder = replicate_seed(cfg.seed, r), Path(cfg.output_dir) / "replicates" / f"r{r}"
    settings = {**base, "rm": rm["folder"], "replicate": r, "replicate_seed": seed}
    gen = runner.run(f"r{r}_generator", settings, lambda: demo._generator(
        replace(cfg, seed=seed), budget, folder / "generator", rm["folder"], policy, files["generator"],
        f"{cfg.org}/pns-generator-r{r}"), [folder / "generator" / "config.json"])
    sources = baselines.SOURCES if all_sources else (baselines.PNS, baselines.REJECTION_SAMPLING)
    neg = runner.run(f"r{r}_negatives", {**settings, "generator": runner.keys[f"r{r}_generator"],
                                         "sources": list(sources)},
                     lambda: st.stage_negatives(budget, seed, folder / "negatives", folder / "work", gen["folder"],
                                                rm["folder"], policy, cfg.model, files["synthesis"],
                                                f"{cfg.org}/pns-negatives-r{r}", sources=sources, placebo=True),
                     [folder / "negatives" / "README.md", folder / "negatives-placebo" / "README.md"])
    measured = {"replicate": r, "seed": seed, "reward_curve": gen.get("reward_curve"), "figure1": neg["figure1"],
                "generator_report": neg["generator"], "selection": neg["selection"], "placebo": neg.get("placebo"),
                "plausibility": neg["table"]}
    if through == "negatives":  # the generator ablation: what the generator learned, no DPO
        return {**measured, "arms": {}}
    arms = {s: (neg["folder"], s) for s in sources}
    arms[PLACEBO] = (neg["placebo_folder"], baselines.REJECTION_SAMPLING)
    per_problem = {}
    for arm, (dataset, config) in arms.items():
        out = folder / f"dpo-{arm.replace('_', '-')}"
        dpo = runner.run(f"r{r}_dpo_{arm}", {**settings, "negatives": runner.keys[f"r{r}_negatives"], "arm": arm},
                         lambda d=dataset, c=config, o=out: st.stage_dpo(budget, seed, o, d, c, policy,
                                                                          f"{cfg.org}/{o.name}-r{r}", None),
                         [out / "config.json"])
        ev = runner.run(f"r{r}_eval_{arm}", {"model": dpo["folder"], "trained": runner.keys[f"r{r}_dpo_{arm}"],
                                            "test": base["sets"], "tokens": budget.eval_max_tokens},
                        lambda p=dpo["folder"]: st.stage_eval(p, files["test"], budget.eval_max_tokens, cfg.seed))
        per_problem[arm] = ev["per_problem"]
    return {**measured, "arms": per_problem}


def steps_from_candidates(rep: dict, work: Path) -> None:
    """The generator report's step-checker column for a replicate whose synthesis stage ran before the report had
    one: recomputed from the saved candidates (every valid wrong answer of the warm-up policy and of the generator,
    the answers its RM column was computed on; the counts are checked to match). Nothing is recomputed where the
    column exists; a missing candidates folder is an error, not a silently empty column."""
    from pns_hub.synthesis import fair
    from pns_hub.synthesis.report import load_folder

    report = rep.get("generator_report") or {}
    if not report or all("steps_of_wrong" in report.get(label, {}) for label, _, _ in fair.GENERATOR_ROWS):
        return
    folder = work / "negatives-all-candidates"
    if not (folder / "README.md").exists():
        raise FileNotFoundError(f"{folder}: replicate {rep['replicate']}'s candidates, needed for the step-checker "
                                "column of its generator report, are missing")
    rows = load_folder(folder)
    for label, _, source in fair.GENERATOR_ROWS:
        entry = report[label]
        entry["steps_of_wrong"] = fair.steps_of_wrong(rows.get(source, []), rep["seed"])
        rm_n = (entry.get("rm_score_of_wrong") or {}).get("n")
        steps_n = (entry["steps_of_wrong"] or {}).get("n")
        if rm_n is not None and rm_n != steps_n:
            raise ValueError(f"{folder}: {source} has {steps_n} candidates but the report's RM column {rm_n}")


SHARED_STAGES = frozenset({"warmup", "reward_model", "eval_base"})
# Budget fields only the generator's GRPO reads: a run differing in these alone may share the RM and the base's
# evaluation with another (the oracle ablation shares them with the composite run; --share-stages-from)
GENERATOR_ONLY = frozenset({"gen_reward", "gen_learning_rate", "composite_base", "composite_rm_weight",
                            "composite_judge_weight", "rm_temperature"})


def run_replicates(cfg, budget, replicates: int, all_sources_in: int = 0, recipe: str | None = None,
                   n_resamples: int = 10_000, rm_curve: tuple[int, ...] = (), through: str = "dpo",
                   share_from: str | None = None, finished_only: bool = False) -> dict:
    """Run (or resume) the shared stages and every replicate, then the pooled report; writes every file.

    ``through="negatives"`` stops each replicate after synthesis (generator ablations: no DPO, no pooled DPO
    verdict); ``share_from`` takes the warm-up, RM and base evaluation from another run's output folder, refused
    unless that run's settings differ from these in generator-only fields (:data:`GENERATOR_ONLY`).
    ``finished_only`` runs nothing: it pools the replicates whose files are written (the first ones, in order) and
    says how many of the planned ones that is (a run that spans sessions can publish an interim report)."""
    from pns_hub.hardware import device_name

    if replicates < 1:
        raise ValueError(f"--replicates must be >= 1, got {replicates}")
    models.configure_threads()
    root, start = Path(cfg.output_dir), time.perf_counter()
    if through not in ("dpo", "negatives"):
        raise ValueError(f"through must be 'dpo' or 'negatives', got {through!r}")
    runner = StageRunner(root, adopt_from=Path(share_from) if share_from else None, adoptable=SHARED_STAGES,
                         adopt_ignoring=GENERATOR_ONLY, reuse_only=finished_only)
    planned = replicates
    if finished_only:
        replicates = next(r for r in range(planned + 1) if r == planned or not (root / "replicates" / f"r{r}.json")
                          .exists())
        if replicates < 1:
            raise FileNotFoundError(f"{root}/replicates: no replicate has finished yet, so there is nothing to report")
    sets = demo.problem_sets(cfg, budget)
    files = st.write_problem_files(sets, root / "work" / "problems")
    base = {"model": cfg.model, "seed": cfg.seed, "budget": asdict(budget), "org": cfg.org, "sets": sets.summary()}
    policy, rm, base_eval = _shared(cfg, budget, runner, files, base, root / "hub")
    curve = rm_curve_stages(runner, budget, cfg.seed, rm, policy, files["reward_model"], root / "hub", rm_curve,
                            base) if rm_curve else []
    reps = []
    for r in range(replicates):
        rep = run_replicate(r, cfg, budget, runner, files, base, policy, rm, all_sources=r < all_sources_in,
                            through=through)
        steps_from_candidates(rep, root / "replicates" / f"r{r}" / "work")
        rep["stage_seconds"] = {k: round(v, 1) for k, v in runner.timings.items() if k.startswith(f"r{r}_")}
        if rep["arms"]:
            rep["table"] = rr.replicate_table(rep["arms"], base_eval["per_problem"],
                                              sorted(base_eval["per_problem"]), cfg.seed)
        (root / "replicates").mkdir(parents=True, exist_ok=True)
        (root / "replicates" / f"r{r}.json").write_text(json.dumps(rep, indent=1, default=str))
        reps.append(rep)
    if through == "dpo":
        report = rr.replicate_report(base_eval["per_problem"], [rep["arms"] for rep in reps], seed=cfg.seed,
                                     n_resamples=n_resamples)
        for entry, rep in zip(report["per_replicate"], reps):
            entry["seed"] = rep["seed"]
            entry["generator_report"] = rep.get("generator_report")
    else:
        report = {"replicates": len(reps), "through": through,
                  "per_replicate": [{k: rep.get(k) for k in ("replicate", "seed", "generator_report", "figure1")}
                                    for rep in reps]}
    metrics = rm.get("metrics") or {}
    result = {**report, "command": None, "cpu": device_name(), "recipe": recipe, "budget": asdict(budget),
              "shared": {"warmup": policy, "reward_model": "trained once and shared by every replicate",
                         "base_evaluation": "evaluated once (greedy decoding: deterministic)"},
              "rm_heldout": {k: metrics.get(k) for k in ("pairwise_accuracy", "pairwise_accuracy_low",
                                                         "pairwise_accuracy_high", "num_pairs", "num_train_pairs",
                                                         "problem_bootstrap_ci", "pair_stats")},
              "rm_learning_curve": curve,
              "figure1_pooled": figure1.pool([rep["figure1"] for rep in reps]), "generator_pooled": gp.pooled(reps),
              "reward_curves": {rep["replicate"]: rep.get("reward_curve") for rep in reps},
              "shared_from": dict(runner.adopted), "problem_sets": sets.summary(),
              "replicates_planned": planned, "interim": replicates < planned,
              "stage_seconds": {k: round(v, 1) for k, v in runner.timings.items()}, "reused_stages": runner.reused,
              "resumed_stages": runner.resumed(), "stage_peak_rss_mb": dict(runner.peak_rss_mb),
              "wall_seconds": round(time.perf_counter() - start, 1),
              "costs": cost.stage_costs(runner.timings)}
    return result


def write_outputs(result: dict, root: Path) -> dict:
    """experiment_pns_replicates.{json,md,png} under ``root``."""
    paths = {ext: root / f"experiment_pns_replicates.{ext}" for ext in ("json", "md", "png")}
    ablation = result.get("through") == "negatives"
    header = [f"# pns-hub experiment pns, replicates (generator reward: {result['budget']['gen_reward']}"
              + ("; a generator ablation: synthesis, no DPO)" if ablation else ")"), "",
              f"command: `{result['command']}`  ",
              f"CPU: {result['cpu']}; wall {result['wall_seconds']:.0f} s (this invocation; "
              f"{len(result['reused_stages'])} stages reused); recipe: {result['recipe']}; the reward model and the "
              "warm-up policy are shared by every replicate (trained once).", ""]
    if result.get("interim"):
        header += [f"**Interim report: {result['replicates']} of the {result['replicates_planned']} planned "
                   "replicates have finished**; the verdict below is over those only and is not the run's.", ""]
    rm = result["rm_heldout"]
    if rm.get("pairwise_accuracy") is not None:
        header += [f"Reward model held-out pairwise accuracy: {100 * rm['pairwise_accuracy']:.1f}% "
                   f"[{100 * rm['pairwise_accuracy_low']:.1f}, {100 * rm['pairwise_accuracy_high']:.1f}] "
                   f"(n={rm['num_pairs']} pairs).", ""]
    if result.get("rm_learning_curve"):
        from pns_hub.experiments import rm_curve

        header += ["RM learning curve (same held-out pairs, first n train pairs):", "",
                   rm_curve.markdown(result["rm_learning_curve"])]
    if result.get("costs"):
        header += ["## Cost (hours per replicate and stage, this machine)", "", cost.markdown(result["costs"], result["replicates"],
                                                                                 result.get("replicates_planned"))]
    if result.get("shared_from"):
        header += [f"Stages shared from another run (same settings but the generator's reward): "
                   f"{result['shared_from']}.", ""]
    header += ["## What the generator learned (pooled over replicates)", "", gp.markdown(result["generator_pooled"]),
               "## Figure 1 at testbed scale, pooled over replicates (mean of the replicates' means, t interval "
               "over replicates; `figure1_pooled.png`)", "", figure1.markdown(result["figure1_pooled"])]
    figure1.plot(result["figure1_pooled"], root / "figure1_pooled.png",
                 f"Figure 1 at testbed scale, {result['replicates']} replicates ({result['cpu']})")
    title = f"over {result['replicates']} replicates ({result['cpu']})"
    paths["json"].write_text(json.dumps(result, indent=1, default=str))
    if ablation:  # no DPO arms to report: each replicate's generator and Figure 1 instead
        paths["md"].write_text("\n".join(header) + "\n## Each replicate\n" + gp.replicate_sections(result))
        gp.plot(result, paths["png"], f"generator ({result['budget']['gen_reward']} reward) {title}")
    else:
        paths["md"].write_text(rr.markdown(result, header))
        rr.plot(result, paths["png"], f"PNS vs RS vs RS' {title}")
        gp.plot(result, root / "generator_replicates.png", f"generator ({result['budget']['gen_reward']} reward) "
                                                           f"{title}")
        paths["generator_png"] = root / "generator_replicates.png"
    return {k: str(v) for k, v in paths.items()}


def load_recipe(path: str) -> dict:
    """The fixed settings of a replicate run (``recipes/experiments/*.json``): ``budget`` (Budget fields),
    ``replicates``, ``all_sources_in``, ``seed``. Unknown keys are an error naming the file, not ignored."""
    data = json.loads(Path(path).read_text())
    known = {"budget", "replicates", "all_sources_in", "seed", "rm_curve", "notes", "through"}
    if unknown := set(data) - known:
        raise ValueError(f"{path}: unknown key(s) {sorted(unknown)}; known: {sorted(known)}")
    fields = set(demo.Budget.__dataclass_fields__)
    if unknown := set(data.get("budget", {})) - fields:
        raise ValueError(f"{path}: budget has unknown field(s) {sorted(unknown)}; Budget fields: {sorted(fields)}")
    return data


def budget_from_recipe(recipe: dict) -> "demo.Budget":
    values = dict(recipe["budget"])
    for key in ("dpo_sources", "dpo_seeds"):
        if key in values:
            values[key] = tuple(values[key])
    return demo.Budget(**values)
