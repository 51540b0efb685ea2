"""The replicate experiment's report on hand-made per-problem results whose answer is known (PNS wins, loses, ties:
labels and signs checked), and the placebo arm drawing another RS set through the real synthesis."""

import pytest

from pns_hub.experiments import replicate_report as rr
from pns_hub.experiments.placebo import PLACEBO
from pns_hub.experiments.report import CONTRADICTED, SUPPORTED, UNRESOLVED

IDS = [f"p{i:03d}" for i in range(200)]
BASE = {i: int(k % 2 == 0) for k, i in enumerate(IDS)}  # 50%


def _arm(gain: int, loss: int, shift: int = 0) -> dict:
    """The base with ``gain`` of its wrong problems made right and ``loss`` of its right ones made wrong (starting at
    ``shift``, so two arms with the same counts differ on which problems)."""
    out, wrong, right = dict(BASE), [i for i in IDS if not BASE[i]], [i for i in IDS if BASE[i]]
    for i in wrong[shift:shift + gain]:
        out[i] = 1
    for i in right[shift:shift + loss]:
        out[i] = 0
    return out


def _replicates(pns_gain: int, rs_gain: int, n: int = 5) -> list[dict]:
    return [{"pns": _arm(pns_gain + (r % 2), 2, shift=r), "rejection_sampling": _arm(rs_gain, 2, shift=r + 1),
             PLACEBO: _arm(rs_gain + (r % 3) - 1, 2, shift=r + 3)} for r in range(n)]


def test_pns_wins():
    report = rr.replicate_report(BASE, _replicates(pns_gain=30, rs_gain=5), seed=0, n_resamples=2000)
    d = report["pooled"]["pns_minus_rejection_sampling"]
    assert d["n_replicates"] == 5 and d["n"] == 200 and len(d["per_replicate"]) == 5
    # hand count: PNS gains 30 or 31 (mean 30.4) and loses 2, RS gains 5 and loses 2, of 200 problems
    assert d["value"] == pytest.approx((30.4 - 5) / 200) and d["low"] > 0
    assert report["verdicts"][rr.CLAIM] == SUPPORTED
    assert report["verdicts"][rr.PLACEBO_CLAIM] == "yes"
    assert report["pooled"]["pns_minus_base"]["value"] == pytest.approx((30.4 - 2) / 200)
    table = report["per_replicate"][0]["table"]
    assert table["pns"]["flips_vs_base"] == {"gained": 30, "lost": 2, "total": 32}
    assert table["rejection_sampling"]["flips_vs_base"] == {"gained": 5, "lost": 2, "total": 7}
    assert table["base"]["value"] == 0.5 and "flips_vs_base" not in table["base"]


def test_pns_loses_and_the_labels_follow_the_arms():
    report = rr.replicate_report(BASE, _replicates(pns_gain=5, rs_gain=30), seed=0, n_resamples=2000)
    d = report["pooled"]["pns_minus_rejection_sampling"]
    assert d["value"] == pytest.approx((5.4 - 30) / 200) and d["high"] < 0
    assert report["verdicts"][rr.CLAIM] == CONTRADICTED
    # the same data with the arms' labels swapped: the sign flips with them
    swapped = [{"pns": r["rejection_sampling"], "rejection_sampling": r["pns"]} for r in _replicates(5, 30)]
    flipped = rr.replicate_report(BASE, swapped, seed=0, n_resamples=2000)
    assert flipped["verdicts"][rr.CLAIM] == SUPPORTED
    assert flipped["pooled"]["pns_minus_rejection_sampling"]["value"] == pytest.approx(-d["value"])
    assert rr.PLACEBO_CLAIM not in flipped["verdicts"]  # no placebo arm, no placebo line


def test_a_tie_is_not_resolvable_and_a_biased_placebo_is_flagged():
    reps = _replicates(pns_gain=10, rs_gain=10)
    report = rr.replicate_report(BASE, reps, seed=0, n_resamples=2000)
    assert report["verdicts"][rr.CLAIM] == UNRESOLVED
    for rep in reps:  # RS' better than RS in every replicate: a noise floor that is not zero
        rep[PLACEBO] = _arm(40, 0)
    assert rr.replicate_report(BASE, reps, seed=0, n_resamples=2000)["verdicts"][rr.PLACEBO_CLAIM].startswith("no")


def test_one_replicate_gives_no_verdict_on_the_claim_but_keeps_its_placebo_check():
    # One replicate's interval holds problem noise only; the placebo line is what shows that it misses the training
    # draw's, so it is kept (here RS' beats RS by 35 problems: flagged).
    rep = _replicates(pns_gain=30, rs_gain=5, n=1)
    rep[0][PLACEBO] = _arm(40, 0)
    report = rr.replicate_report(BASE, rep, seed=0, n_resamples=2000)
    assert report["pooled"]["pns_minus_rejection_sampling"]["low"] > 0  # the interval is there, the verdict is not
    assert report["verdicts"][rr.CLAIM] == rr.ONE_REPLICATE
    assert report["verdicts"][rr.PLACEBO_CLAIM].startswith("no")


def test_arms_run_in_fewer_replicates_pool_over_those_and_say_so():
    reps = _replicates(pns_gain=20, rs_gain=5)
    reps[0]["prompted_wrong"] = _arm(8, 2)
    report = rr.replicate_report(BASE, reps, seed=0, n_resamples=2000)
    assert report["arms_in_replicates"]["prompted_wrong"] == 1
    assert report["pooled"]["prompted_wrong_minus_rejection_sampling"]["n_replicates"] == 1
    md = rr.markdown(report)
    assert "| pns - rejection_sampling |" in md and "### Replicate 4" in md and "30 / 2" not in md
    gen = {label: {"format_rate": None, "wrong_rate_among_well_formed": None, "rm_score_of_wrong": None,
                   "judge_score_of_wrong": None, "steps_of_wrong": {"value": v, "low": v - 0.01, "high": v + 0.01,
                                                                    "n": 50}}
           for label, v in (("before GRPO (warm-up policy)", 0.754), ("after GRPO (generator)", 0.700))}
    report["per_replicate"][1]["generator_report"] = gen
    md = rr.markdown(report)
    replicate_1 = md.split("### Replicate 1")[1].split("### Replicate 2")[0]
    assert "| after GRPO (generator) | n/a | n/a | n/a | n/a | 0.700 [0.690, 0.710] (n=50) |" in replicate_1
    bad = [dict(r) for r in reps]
    bad[2]["pns"] = {k: v for k, v in bad[2]["pns"].items() if k != "p000"}
    with pytest.raises(ValueError, match="replicate 2, arm 'pns'"):
        rr.replicate_report(BASE, bad, seed=0, n_resamples=2000)


def _scripted_generate(answers):
    """A sampler whose samples depend on the seed it is given: right first, then wrong answers gold + seed-derived
    offsets, each with reasoning long enough for the format check."""
    from pns_hub.engines.generation import Completion

    def generate(model, tokenizer, prompts, params=None, batch_size=32, progress=True, desc="generate"):
        out = []
        for prompt in prompts:
            text = prompt[-1]["content"] if isinstance(prompt, list) else prompt
            gold = int(next(a for p, a in answers.items() if p in text))
            draws = [gold] + [gold + 1 + (params.seed + 7 * j) % 50 for j in range(1, params.num_samples)]
            out.append([Completion(f"Working through the numbers step by step (draw {params.seed % 1000}, sample "
                                   f"{j}), we get the result.\n\nThe final answer is $\\boxed{{{v}}}$.", 30, False)
                        for j, v in enumerate(draws)])
        return out

    return generate


def test_the_placebo_arm_draws_another_rs_set_with_the_main_chosen_side(tmp_path, tiny_causal_lm_path, monkeypatch):
    """Real synthesis (sampling seeds, verification, format filter, rows) with a scripted sampler: RS' comes from
    another seed, so its negatives differ from RS's, while its chosen side is the main run's, problem by problem."""
    from pns_hub.data import problems as data
    from pns_hub.engines import generation
    from pns_hub.experiments import placebo
    from pns_hub.synthesis import fair, report
    from pns_hub.synthesis.config import SynthesisConfig
    from pns_hub.synthesis.run import synthesize_dataset

    rows = data.load_problems("testbed_train")[:4]
    path = tmp_path / "problems.jsonl"
    data.write_jsonl(path, rows)
    monkeypatch.setattr(generation, "generate", _scripted_generate({r["problem"]: r["answer"] for r in rows}))
    config = SynthesisConfig(generator=tiny_causal_lm_path, policy=tiny_causal_lm_path, dataset=str(path), limit=None,
                             sources=["pns", "rejection_sampling"], num_samples=3, max_new_tokens=16, seed=5,
                             rejected_choice="all", output_dir=str(tmp_path / "main"), progress=False,
                             verify_workers=0)
    main = report.load_folder(synthesize_dataset(config))
    rs_prime, info = placebo.placebo_candidates(config, 5, tmp_path, main)
    assert info["seed"] != config.seed and info["dropped_no_main_row"] == 0 and len(rs_prime) == 8

    def negatives(rows_):
        return {(r["problem_id"], r["rejected"][0]["content"]) for r in rows_}

    assert not negatives(rs_prime) & negatives(main["rejection_sampling"])  # another draw, not the same set
    main_chosen = {r["problem_id"]: r["chosen"] for r in main["rejection_sampling"]}
    own_chosen = {r["problem_id"]: r["chosen"] for r in report.load_folder(tmp_path / "negatives-placebo-all-candidates")
                  ["rejection_sampling"]}
    assert all(r["chosen"] == main_chosen[r["problem_id"]] for r in rs_prime)
    assert any(own_chosen[p] != main_chosen[p] for p in own_chosen)  # its own draw had other chosen sides
    selected, sel = fair.fair_select({**main, placebo.PLACEBO: rs_prime}, "random", seed=0)
    assert sel["problems_kept"] == 4 and len(selected[placebo.PLACEBO]) == 4


def test_replicates_share_rm_and_base_redraw_the_rest_and_resume(tmp_path, monkeypatch):
    """Stand-in stages, the real runner and orchestration: RM and base evaluation once, every replicate's stages with
    its own seed, RS' trained on the placebo folder, every replicate's file written, a rerun reuses every stage."""
    from pathlib import Path

    from pns_hub.experiments import demo, replicates
    from pns_hub.experiments import demo_stages as st

    calls = []

    def made(folder, name, **extra):
        calls.append(name)
        Path(folder).mkdir(parents=True, exist_ok=True)
        for marker in ("config.json", "README.md"):
            (Path(folder) / marker).write_text("{}")
        return {"folder": str(folder), **extra}

    def negatives(budget, seed, folder, *a, sources=None, placebo=False):
        Path(str(folder) + "-placebo").mkdir(parents=True, exist_ok=True)
        (Path(str(folder) + "-placebo") / "README.md").write_text("{}")
        fig = {"groups": {"rm": {"correct": {"value": 1.0}, "pns": {"value": 0.5 + seed}}}}
        return made(folder, f"negatives seed {seed} {'+'.join(sources)} placebo={placebo}", figure1=fig,
                    generator={}, selection={}, table={}, placebo={"seed": -seed},
                    placebo_folder=str(folder) + "-placebo")

    def evaluate(model, problems, max_tokens, seed):
        calls.append(f"eval {Path(model).name}")
        return {"per_problem": {f"t{i}": (i + len(Path(model).name)) % 2 for i in range(8)}}

    monkeypatch.setattr(st, "stage_reward_model", lambda b, s, folder, *a: made(folder, "rm", metrics={}))
    monkeypatch.setattr(demo, "_generator", lambda cfg, b, folder, *a: made(folder, f"generator seed {cfg.seed}",
                                                                             reward_curve=[]))
    monkeypatch.setattr(st, "stage_negatives", negatives)
    monkeypatch.setattr(st, "stage_dpo", lambda b, s, out, dataset, config, *a: made(
        out, f"dpo seed {s} on {Path(dataset).name}/{config}"))
    monkeypatch.setattr(st, "stage_eval", evaluate)
    cfg = demo.DemoConfig(output_dir=str(tmp_path), warmup_model=str(tmp_path / "warm"), seed=10)
    result = replicates.run_replicates(cfg, demo.Budget.preset("tiny"), 3, all_sources_in=1, n_resamples=500)
    assert calls.count("rm") == 1 and calls.count("eval warm") == 1
    assert [c for c in calls if c.startswith("generator")] == ["generator seed 10", "generator seed 11",
                                                               "generator seed 12"]
    assert "negatives seed 10 pns+rejection_sampling+prompted_wrong+perturbed placebo=True" in calls
    assert "negatives seed 12 pns+rejection_sampling placebo=True" in calls
    assert "dpo seed 11 on negatives-placebo/rejection_sampling" in calls
    assert "dpo seed 11 on negatives/rejection_sampling" in calls and "dpo seed 11 on negatives/pns" in calls
    assert result["replicates"] == 3 and result["arms_in_replicates"]["perturbed"] == 1
    assert [e["seed"] for e in result["per_replicate"]] == [10, 11, 12]
    pooled_pns = result["figure1_pooled"]["groups"]["rm"]["pns"]
    assert (pooled_pns["value"], pooled_pns["n"], pooled_pns["method"]) == (11.5, 3, "t over replicates")
    assert all((tmp_path / "replicates" / f"r{r}.json").exists() for r in range(3))
    calls.clear()
    again = replicates.run_replicates(cfg, demo.Budget.preset("tiny"), 3, all_sources_in=1, n_resamples=500)
    assert calls == [] and again["pooled"] == result["pooled"]
    paths = replicates.write_outputs({**again, "command": "test"}, tmp_path)
    assert "## Pooled over replicates" in Path(paths["md"]).read_text()
    assert again["interim"] is False and "Interim" not in Path(paths["md"]).read_text()

    # a run spanning sessions: report the finished replicates only, run nothing, say it is interim
    (tmp_path / "replicates" / "r2.json").unlink()
    interim = replicates.run_replicates(cfg, demo.Budget.preset("tiny"), 3, all_sources_in=1, n_resamples=500,
                                        finished_only=True)
    assert calls == [] and interim["replicates"] == 2 and interim["interim"] and interim["replicates_planned"] == 3
    assert [e["seed"] for e in interim["per_replicate"]] == [10, 11]
    text = Path(replicates.write_outputs({**interim, "command": "test"}, tmp_path)["md"]).read_text()
    assert "Interim report: 2 of the 3 planned replicates" in text
    (tmp_path / "stages" / "r1_eval_pns.json").unlink()
    with pytest.raises(FileNotFoundError, match="r1_eval_pns' has not finished"):
        replicates.run_replicates(cfg, demo.Budget.preset("tiny"), 3, all_sources_in=1, finished_only=True)
    assert calls == []


@pytest.mark.parametrize("name", ["pns_replicates.json", "pns_replicates_oracle.json"])
def test_the_committed_recipes_load_and_meet_the_issues_minima(name):
    """The replicate run's fixed settings: loadable, N >= 5, >= 150 pairs per arm possible at the measured 75% kept,
    problem slices disjoint (checked by the protocol on construction)."""
    from pathlib import Path

    from pns_hub.experiments import demo, replicates

    recipe = replicates.load_recipe(Path(__file__).parent.parent / "recipes" / "experiments" / name)
    budget = replicates.budget_from_recipe(recipe)
    assert recipe["replicates"] >= 5 and 0.75 * budget.synth_samples / 4 * budget.synth_problems >= 150
    assert budget.gen_reward == ("oracle" if "oracle" in name else "composite")
    sets = demo.problem_sets(demo.DemoConfig(warmup_model="cached"), budget)
    assert sets.summary()["sizes"]["test"] == 500


def test_a_recipe_with_an_unknown_setting_is_refused(tmp_path):
    from pns_hub.experiments import replicates

    path = tmp_path / "r.json"
    path.write_text('{"replicates": 5, "budget": {"dpo_epoch": 2}}')
    with pytest.raises(ValueError, match="r.json: budget has unknown field.*dpo_epoch"):
        replicates.load_recipe(path)


def test_cost_table_adds_each_replicates_stages_by_kind_and_names_what_dominates():
    """Hand-made stage records: r0 and r1 with every kind, shared stages apart; sums, the goal and the dominant kind
    checked by hand (issue #33 item 7: the time per replicate and stage, and what dominates)."""
    from pns_hub.experiments import cost

    seconds = {"reward_model": 1800.0, "eval_base": 200.0, "r0_generator": 600.0, "r0_negatives": 3000.0,
               "r0_dpo_pns": 400.0, "r0_eval_pns": 100.0, "r0_dpo_rejection_sampling": 500.0,
               "r0_eval_rejection_sampling": 100.0, "r1_generator": 500.0, "r1_negatives": 1200.0,
               "r1_dpo_pns": 450.0, "r1_eval_pns": 50.0, "r10_generator": 7.0}
    costs = cost.stage_costs(seconds, goal_hours=2.0)
    r0, r1, r10 = costs["replicates"]
    assert (r0["replicate"], r0["generator"], r0["negatives"], r0["dpo"], r0["eval"], r0["total"]) == \
        (0, 600.0, 3000.0, 900.0, 200.0, 4700.0)
    assert (r1["dpo"], r1["eval"], r1["total"]) == (450.0, 50.0, 2200.0)
    assert (r10["replicate"], r10["generator"]) == (10, 7.0)  # r10 is not r1's
    assert costs["shared"] == {"reward_model": 1800.0, "eval_base": 200.0}
    assert costs["by_kind"] == {"generator": 1107.0, "negatives": 4200.0, "dpo": 1350.0, "eval": 250.0,
                                "shared": 2000.0}
    assert costs["total_seconds"] == 8907.0 and costs["dominant"] == "negatives"
    assert costs["dominant_share"] == round(4200 / 8907, 3)
    text = cost.markdown(costs)
    assert "| r0 | 0.17 | 0.83 | 0.25 | 0.06 | 1.31 |" in text
    assert "2.47 in all, 1.2x the 2-hour goal; negatives dominates (47% of the total)" in text
    # an interim report (2 of 5 planned): hours "so far", the goal judged on shared + mean replicate x 5, by hand:
    # (2000 + (4700 + 2200 + 7) / 3 x 5) / 3600 = 3.7532 h, 1.9x the 2-hour goal
    interim = cost.markdown(costs, 3, 5)
    assert "so far (from each stage's record): 2.47, 3 of 5 planned replicates; projected for 5: 3.75, 1.9x the " \
           "2-hour goal" in interim
    assert cost.markdown(costs, 5, 5) == text  # all finished: the plain line


def _candidates_folder(folder, rows_by_source):
    """A Hub-layout dataset folder like synthesis writes (one config per source, read back with load_dataset)."""
    from datasets import Dataset

    configs = []
    for source, rows in rows_by_source.items():
        (folder / "data" / source).mkdir(parents=True)
        Dataset.from_list(rows).to_parquet(str(folder / "data" / source / "train-00000-of-00001.parquet"))
        configs.append(f"- config_name: {source}\n  data_files:\n  - split: train\n    path: data/{source}/*.parquet")
    (folder / "README.md").write_text("---\nconfigs:\n" + "\n".join(configs) + "\n---\n# candidates\n")


def test_a_replicate_recorded_without_the_step_column_gets_it_from_its_saved_candidates(tmp_path):
    """Replicates whose synthesis ran before the generator report had a step-checker column get it recomputed from
    the saved candidates, for the right model (warm-up = RS candidates, generator = PNS); counts must match the RM
    column's, and a missing folder is an error."""
    from pns_hub.experiments.replicates import steps_from_candidates

    problem = "Maria has 12 apples. She buys 7 more, then gets 5 as a gift. How many apples does she have?"
    right = "12 + 7 = 19 apples.\n19 + 5 = 24 apples.\n\nThe final answer is $\\boxed{24}$."
    slip = "12 + 7 = 18 apples.\n18 + 5 = 23 apples.\n\nThe final answer is $\\boxed{23}$."

    def row(text):
        return {"problem": problem, "rejected": [{"role": "assistant", "content": text}]}

    _candidates_folder(tmp_path / "work" / "negatives-all-candidates",
                       {"pns": [row(slip), row(slip)], "rejection_sampling": [row(right)]})

    def rep(rm_n_after=2):
        return {"replicate": 0, "seed": 0, "generator_report": {
            "before GRPO (warm-up policy)": {"rm_score_of_wrong": {"value": 0.4, "n": 1}},
            "after GRPO (generator)": {"rm_score_of_wrong": {"value": 0.5, "n": rm_n_after}}}}

    filled = rep()
    steps_from_candidates(filled, tmp_path / "work")
    before, after = (filled["generator_report"][k]["steps_of_wrong"] for k in ("before GRPO (warm-up policy)",
                                                                                "after GRPO (generator)"))
    assert (before["value"], before["n"]) == (1.0, 1)
    assert after["value"] == pytest.approx((0.5 + 1 + 1) / 3) and after["n"] == 2
    with pytest.raises(ValueError, match="RM column 3"):
        steps_from_candidates(rep(rm_n_after=3), tmp_path / "work")
    with pytest.raises(FileNotFoundError, match="candidates"):
        steps_from_candidates(rep(), tmp_path / "elsewhere")
