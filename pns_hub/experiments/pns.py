"""``pns-hub experiment pns``: the PNS claim, measured. The demo's chain (:mod:`pns_hub.experiments.demo`) at the experiment's size:
base -> RM -> generator -> all four negative sources (fair protocol) -> one DPO model per source and seed -> greedy
accuracy of the base and every DPO model on held-out testbed problems -> table, plot and a one-line verdict.

The claim (pns.md): DPO with PNS negatives beats DPO with the other negatives; the paper's main baseline is rejection
sampling. The verdict uses the fixed rule :func:`pns_hub.experiments.report.verdict` on the paired bootstrap difference
PNS-DPO minus RS-DPO, each problem's score averaged over the DPO seeds (so the interval is over problems, the unit
that was sampled). The other sources' differences are reported the same way, never tuned toward a winner.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from pns_hub.synthesis import baselines as negatives
from pns_hub.experiments.report import fmt, verdict


CLAIM = "DPO on PNS negatives beats DPO on rejection-sampling negatives (testbed accuracy, seed-averaged)"


def seed_averaged(evals: dict[str, dict], source: str) -> dict[str, float]:
    """Per problem, the mean correctness over every DPO seed of ``source`` (names ``source`` or ``source@seedN``)."""
    runs = [e["per_problem"] for name, e in evals.items() if name.split("@")[0] == source]
    if not runs:
        raise KeyError(f"no evaluated DPO model for source {source!r}")
    return {pid: sum(r[pid] for r in runs) / len(runs) for pid in runs[0]}


def pns_report(evals: dict[str, dict], seed: int) -> dict:
    """Seed-averaged accuracy per source, differences vs base and vs rejection sampling, and the verdict."""
    from pns_hub import stats
    base = evals["base"]["per_problem"]
    sources = sorted({n.split("@")[0] for n in evals if n != "base"}, key=lambda s: negatives.SOURCES.index(s))
    table, diffs = {"base": stats.accuracy(list(base.values())).to_dict()}, {}
    for source in sources:
        scores = seed_averaged(evals, source)
        table[source] = stats.accuracy(list(scores.values()), seed=seed).to_dict()
        _, a, b = stats.pair_by_id(scores, base)
        diffs[f"{source}_minus_base"] = stats.paired_bootstrap(a, b, seed=seed)
        if source != negatives.REJECTION_SAMPLING and negatives.REJECTION_SAMPLING in sources:
            _, a, b = stats.pair_by_id(scores, seed_averaged(evals, negatives.REJECTION_SAMPLING))
            diffs[f"{source}_minus_rejection_sampling"] = stats.paired_bootstrap(a, b, seed=seed)
    main = diffs.get("pns_minus_rejection_sampling")
    from pns_hub.experiments.replicate_report import flips  # per DPO model: test outcomes moved against the base

    return {"table": table, "differences": {k: d.to_dict() for k, d in diffs.items()},
            "flips_vs_base": {name: flips(e["per_problem"], base) for name, e in evals.items() if name != "base"},
            "verdicts": {CLAIM: verdict(main, +1) if main else "not measured (pns or rejection_sampling missing)"}}


def seven_benchmarks(summary: dict, root: Path, limit: int, max_tokens: int, seed: int) -> dict:
    """The base and every DPO model on the first ``limit`` problems of each of the seven benchmarks (greedy, the
    testbed's token budget), cached per model like the testbed evaluations; the PNS - RS comparison and its verdict
    on the pooled problems, by the same rule as the testbed's."""
    from pns_hub.experiments import demo_stages as st
    from pns_hub.experiments.stages import StageRunner

    runner = StageRunner(root)
    evals = {name: runner.run(f"benchmarks_{name}", {"model": path, "trained": summary["model_keys"][name],
                                                     "limit": limit, "tokens": max_tokens, "seed": seed},
                              lambda p=path: st.stage_benchmarks(p, limit, max_tokens, seed))
             for name, path in summary["models"].items()}
    report = pns_report(evals, seed)
    report["verdicts"] = {CLAIM.replace("testbed accuracy", f"seven benchmarks, first {limit} each, pooled"): v
                          for v in report["verdicts"].values()}
    return {**report, "limit": limit, "max_new_tokens": max_tokens,
            "by_benchmark": {name: e["by_benchmark"] for name, e in evals.items()},
            "pooled": {name: e["accuracy"] for name, e in evals.items()},
            "truncated": {name: e["truncated"] for name, e in evals.items()},
            "stage_seconds": {k: round(v, 1) for k, v in runner.timings.items()}, "reused_stages": runner.reused}


def benchmark_lines(bench: dict) -> list[str]:
    """The seven-benchmark table: accuracy per benchmark (Wilson 95%, n each) and pooled, per model."""
    names = list(next(iter(bench["by_benchmark"].values())))
    lines = ["", f"## The seven benchmarks (first {bench['limit']} problems each, greedy, {bench['max_new_tokens']} "
             "new tokens; one row per model and seed)", "",
             "| model | " + " | ".join(names) + " | pooled | truncated |", "|---|" + "---:|" * (len(names) + 2)]
    for model, per in bench["by_benchmark"].items():
        lines.append(f"| {model} | " + " | ".join(fmt(per[n]) for n in names)
                     + f" | {fmt(bench['pooled'][model])} | {bench['truncated'][model]} |")
    d = bench["differences"]
    lines += ["", "Seed-averaged, pooled over the seven benchmarks (paired bootstrap over problems):", ""]
    lines += [f"- {k.replace('_minus_', ' - ')}: {fmt(v, True)} pts" for k, v in d.items()]
    lines += [f"- {claim}: **{v}**" for claim, v in bench["verdicts"].items()]
    return lines


def component_lines(result: dict) -> list[str]:
    """The parts the verdict rests on, measured in the same run: the RM's held-out accuracy (a Wilson interval over
    pairs and one resampling problems), the generator before vs after GRPO, and the plausibility table."""
    rm, lines = result.get("rm_heldout") or {}, ["", "## Components (same run)", ""]
    if rm.get("pairwise_accuracy") is not None:
        clustered = rm.get("problem_bootstrap_ci") or {}
        lines.append(f"- Reward model, held-out pairwise accuracy ({rm['accuracy_source']}): "
                     f"{100 * rm['pairwise_accuracy']:.1f}% [{100 * rm['pairwise_accuracy_low']:.1f}, "
                     f"{100 * rm['pairwise_accuracy_high']:.1f}] (Wilson, n={rm['num_pairs']} pairs)"
                     + (f"; [{100 * clustered['low']:.1f}, {100 * clustered['high']:.1f}] resampling its "
                        f"{clustered['problems']} problems" if clustered else "") + "; chance 50%.")
    if result.get("generator_md"):
        lines += ["", "Generator before vs after GRPO (held-out problems; 95% intervals):", "", result["generator_md"]]
    if result.get("plausibility"):
        lines += ["", "Plausibility of each source's negatives (fair protocol):", "", result["plausibility"]]
    if result.get("figure1_md"):
        lines += ["", "Figure 1 at testbed scale (the pairs DPO trained on; bootstrap 95% over problems; "
                  "![figure1](figure1.png)):", "", result["figure1_md"]]
    curve = result.get("reward_curve") or []
    if curve:
        lines += ["", "Generator reward per GRPO step (total; wrong share; RM / judge / step checker of wrong answers):",
                  "", "  ".join(f"{p['step']}: {p['reward']:+.3f}" + "".join(
                      f" {k[4:]} {p[k]:.3f}" for k in ("pns/wrong", "pns/rm", "pns/judge", "pns/steps") if k in p)
                      for p in curve)]
    return lines


def _reused_note(result: dict) -> str:
    """A resumed run's wall time is this invocation's only: say which stages it reused and what they took then."""
    reused = result.get("reused_stages") or []
    if not reused:
        return ""
    then = sum(result["stage_seconds"].get(name, 0.0) for name in reused)
    return f" (this invocation; {len(reused)} stages reused from an earlier run, where they took {then:.0f} s)"


def write_outputs(result: dict, root: Path) -> dict:
    """experiment_pns.json / .md / .png under ``root``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = {ext: root / f"experiment_pns.{ext}" for ext in ("json", "md", "png")}
    d = result["differences"]
    lines = [f"# pns-hub experiment pns", "", f"command: `{result['command']}`  ", f"CPU: {result['cpu']}; "
             f"wall {result['wall_seconds']:.0f} s{_reused_note(result)}; DPO base: {result['dpo_base']}", "",
             "| DPO negatives | accuracy % [95% CI] | problems | vs base (pts) | vs rejection sampling (pts) |",
             "|---|---:|---:|---:|---:|"]
    for name, e in result["table"].items():
        vs_base, vs_rs = d.get(f"{name}_minus_base"), d.get(f"{name}_minus_rejection_sampling")
        lines.append(f"| {'none (base = warm-up SFT)' if name == 'base' else name} | {fmt(e)} | {e['n']} | "
                     f"{fmt(vs_base, True) if vs_base else ''} | {fmt(vs_rs, True) if vs_rs else ''} |")
    if result.get("flips_vs_base"):
        lines += ["", "Test outcomes each DPO model changes against the base (gained / lost): " + ", ".join(
            f"{name} {f['gained']} / {f['lost']}" for name, f in result["flips_vs_base"].items())]
    lines += ["", "Accuracy of a source: each problem's correctness averaged over the DPO seeds; intervals: Wilson "
              "(base) or bootstrap over problems; differences: paired bootstrap over problems.", "", "## Verdict", ""]
    lines += [f"- {claim}: **{v}**" for claim, v in result["verdicts"].items()]
    lines += component_lines(result)
    if result.get("benchmarks"):
        lines += benchmark_lines(result["benchmarks"])
    paths["md"].write_text("\n".join(lines) + "\n")
    paths["json"].write_text(json.dumps(result, indent=2, default=str))
    if result.get("figure1"):
        from pns_hub.experiments import figure1

        figure1.plot(result["figure1"], root / "figure1.png", f"Figure 1 at testbed scale ({result['cpu']})")
    names = list(result["table"])
    values = [result["table"][n]["value"] for n in names]
    errs = [[v - result["table"][n]["low"] for n, v in zip(names, values)],
            [result["table"][n]["high"] - v for n, v in zip(names, values)]]
    fig, ax = plt.subplots(figsize=(7, 3.8), dpi=120)
    ax.bar(names, values, yerr=errs, capsize=4)
    ax.set_ylabel("greedy accuracy (testbed test split)")
    ax.set_title(f"DPO by negative source, 95% CI ({result['cpu']})", fontsize=9)
    fig.tight_layout()
    fig.savefig(paths["png"])
    plt.close(fig)
    return {k: str(v) for k, v in paths.items()}


def cli_main(argv: list[str]) -> int:
    """``pns-hub experiment pns [--budget tiny|full|SCALE] [--output-dir D] [--model M] [--warmup-model M]``."""
    import argparse

    from pns_hub import models
    from pns_hub.experiments.demo import Budget, DemoConfig, run_demo

    parser = argparse.ArgumentParser(prog="pns-hub experiment pns", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--budget", default="full", help="a scale, or 'tiny', 'smoke', 'full' (see pns-hub demo)")
    parser.add_argument("--output-dir", "--output_dir", default="outputs/experiment-pns", help="where it all goes")
    parser.add_argument("--model", default=models.EMBEDDED_DEFAULT, help="base model: Hub id, folder or embedded:...")
    parser.add_argument("--warmup-model", "--warmup_model", help="skip the warm-up: this SFT checkpoint is the base")
    parser.add_argument("--seed", type=int, default=0, help="seed of every stage")
    parser.add_argument("--test-problems", "--test_problems", type=int,
                        help="override the budget's number of held-out test problems (full: 500; 300 saves ~9 x 200 evaluations)")
    parser.add_argument("--replicates", type=int, default=0,
                        help="run N independent replicates (generator, synthesis, DPO re-drawn; RM shared) with the "
                             "placebo arm RS' and pool them (experiments.replicates); 0 = the single-run experiment")
    parser.add_argument("--recipe", help="the replicate run's fixed settings (recipes/experiments/*.json): budget, "
                                         "replicates, all_sources_in, seed; overrides --budget, --seed, --replicates")
    parser.add_argument("--share-stages-from", "--share_stages_from", metavar="DIR",
                        help="with --recipe: take the warm-up, reward model and base evaluation from the replicate "
                             "run in DIR (refused unless its settings differ from the recipe's in generator-only "
                             "fields: the oracle ablation shares the composite run's RM)")
    parser.add_argument("--finished-only", "--finished_only", action="store_true",
                        help="with --recipe: run nothing, pool the replicates already finished in --output-dir and "
                             "label the report interim (a run that spans sessions)")
    parser.add_argument("--all-sources-in", "--all_sources_in", type=int, default=0,
                        help="with --replicates: also run prompted_wrong and perturbed in the first K replicates")
    parser.add_argument("--benchmark-problems", "--benchmark_problems", type=int, default=0,
                        help="also evaluate every model on the first N problems of each of the seven benchmarks "
                             "(greedy, the testbed's token budget; 0 = off; measured ~40 s per model at N = 10, 2-core CPU)")
    args = parser.parse_args(argv)
    if args.recipe or args.replicates:
        return _replicates_main(args, argv)
    budget = Budget.preset(args.budget)
    if args.test_problems:
        budget = replace(budget, test_problems=args.test_problems)
    cfg = DemoConfig(output_dir=args.output_dir, budget=args.budget, model=args.model,
                     warmup_model=args.warmup_model, seed=args.seed)
    summary = run_demo(cfg, budget)
    result = {**pns_report(summary["per_problem"], args.seed), "command": "pns-hub experiment pns " + " ".join(argv),
              "cpu": summary["cpu"], "wall_seconds": summary["wall_seconds"], "dpo_base": summary["dpo_base"],
              "budget": summary["budget"], "stage_seconds": summary["stage_seconds"],
              "stage_peak_rss_mb": summary["stage_peak_rss_mb"], "rm_heldout": summary["rm_heldout"],
              "reused_stages": summary["reused_stages"],
              "generator_report": summary["generator_report"], "generator_md": summary["generator_md"],
              "plausibility": summary["plausibility"], "reward_curve": summary["reward_curve"],
              "figure1": summary["figure1"], "figure1_md": summary["figure1_md"],
              "problem_sets": summary["problem_sets"]}
    if args.benchmark_problems > 0:
        result["benchmarks"] = bench = seven_benchmarks(summary, Path(args.output_dir), args.benchmark_problems,
                                                        budget.eval_max_tokens, args.seed)
        for name, seconds in bench["stage_seconds"].items():  # the benchmark stages are part of this run's work
            result["stage_seconds"][name] = seconds
            result["wall_seconds"] += 0.0 if name in bench["reused_stages"] else seconds
        result["reused_stages"] = result["reused_stages"] + bench["reused_stages"]
    result["outputs"] = write_outputs(result, Path(args.output_dir))
    print(Path(result["outputs"]["md"]).read_text())
    return 0


def _replicates_main(args, argv: list[str]) -> int:
    """``--replicates N`` / ``--recipe FILE``: :func:`pns_hub.experiments.replicates.run_replicates`, then its files."""
    from pns_hub.experiments import replicates as reps
    from pns_hub.experiments.demo import Budget, DemoConfig

    recipe = reps.load_recipe(args.recipe) if args.recipe else {}
    budget = reps.budget_from_recipe(recipe) if recipe else Budget.preset(args.budget)
    if args.test_problems:
        budget = replace(budget, test_problems=args.test_problems)
    seed, n = recipe.get("seed", args.seed), recipe.get("replicates", args.replicates)
    cfg = DemoConfig(output_dir=args.output_dir, budget=args.budget, model=args.model,
                     warmup_model=args.warmup_model, seed=seed)
    result = reps.run_replicates(cfg, budget, n, recipe.get("all_sources_in", args.all_sources_in), args.recipe,
                                 rm_curve=tuple(recipe.get("rm_curve", ())), through=recipe.get("through", "dpo"),
                                 share_from=args.share_stages_from, finished_only=args.finished_only)
    # the command that ran the replicates; a --finished-only report names itself beside it
    result["command"] = "pns-hub experiment pns " + " ".join(a for a in argv if a.replace("_", "-") != "--finished-only")
    if args.finished_only:
        result["report_command"] = "pns-hub experiment pns " + " ".join(argv)
    result["outputs"] = reps.write_outputs(result, Path(args.output_dir))
    print(Path(result["outputs"]["md"]).read_text())
    return 0
