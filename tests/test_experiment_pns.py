"""``pns-hub experiment pns --budget tiny``: the demo's whole chain on the tiny random model, fast.

Every trainer (SFT, RewardTrainer, GRPO, DPO), the verifier, the scorers, synthesis and the statistics are the real
ones. Only our batched sampler is scripted: a random 2-layer model never writes a boxed answer, so without it there
would be no verified-correct or verified-wrong sample, no RM pair and no negative, and the chain would stop at the RM.
The script answers right on the first sample of a problem and wrong (gold + j) on the others, by problem text.
"""

import json

import pytest

from pns_hub.engines import generation
from pns_hub.engines.generation import Completion


def _scripted(problems_by_text):
    def generate(model, tokenizer, prompts, params=None, batch_size=32, progress=True, desc="generate"):
        params = params or generation.SamplingParams()
        out = []
        for prompt in prompts:
            text = prompt[-1]["content"] if isinstance(prompt, list) else prompt
            answer = next((a for p, a in problems_by_text.items() if p in text), "7")
            number = int(answer) if answer.lstrip("-").isdigit() else 7
            out.append([Completion(f"We add the numbers step by step. The result is \\boxed{{{number + j}}}.", 20,
                                   False) for j in range(params.num_samples)])
        return out

    return generate


@pytest.fixture
def scripted_sampler(monkeypatch):
    from pns_hub.data.problems import load_problems

    # gsm8k/0 (answer 18) scripted right, gsm8k/1 (answer 3) not: "7" is wrong, so every model scores 1 of 2 there
    rows = load_problems("testbed_train")[:200] + load_problems("testbed")[:50] + load_problems("gsm8k", limit=1)
    monkeypatch.setattr(generation, "generate", _scripted({r["problem"]: r["answer"] for r in rows}))


@pytest.mark.slow
def test_experiment_pns_tiny(tiny_causal_lm_path, tmp_path, scripted_sampler):
    from pns_hub.cli import main

    out = tmp_path / "exp"
    assert main(["experiment", "pns", "--budget", "tiny", "--output-dir", str(out), "--model", tiny_causal_lm_path,
                 "--benchmark-problems", "2"]) == 0
    result = json.loads((out / "experiment_pns.json").read_text())
    # one DPO model per source and seed, every one evaluated on the same test problems
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["evals"]) == {"base"} | {f"{s}@seed{k}" for s in
                                                ("pns", "rejection_sampling", "prompted_wrong", "perturbed")
                                                for k in (0, 1)}
    assert all(e["n"] == 6 and e["low"] <= e["value"] <= e["high"] for e in summary["evals"].values())
    assert set(result["table"]) == {"base", "pns", "rejection_sampling", "prompted_wrong", "perturbed"}
    assert {"pns_minus_rejection_sampling", "pns_minus_base"} <= set(result["differences"])
    # the scripted sampler answers every model alike, so the verdict here says nothing about labels or signs: those
    # are checked on hand-made results where the winner is known (test_pns_report_on_hand_made_results_knows_who_won,
    # tests/test_replicates.py); this test checks that the chain runs and reports every part
    (claim, verdict), = result["verdicts"].items()
    assert verdict in ("supported", "not supported", "not resolvable at this scale")
    assert result["figure1"]["groups"]["steps"]["correct"]["n"] >= 1 and "reward_curve" in result
    # the fair protocol: same pairs for every source, RM interval reported, both selection rules in the table
    assert summary["fair_selection"]["pairs_per_source"] >= 1
    assert summary["rm_heldout"]["pairwise_accuracy_low"] is not None
    assert "random of k" in summary["plausibility"] and "most plausible of k" in summary["plausibility"]
    for ext in ("md", "png"):
        assert (out / f"experiment_pns.{ext}").stat().st_size > 0
    # the md carries what the verdict rests on: RM accuracy with both intervals, generator, plausibility
    clustered = summary["rm_heldout"]["problem_bootstrap_ci"]
    assert 0.0 <= clustered["low"] <= summary["rm_heldout"]["pairwise_accuracy"] <= clustered["high"] <= 1.0
    md = (out / "experiment_pns.md").read_text()
    assert f"resampling its {clustered['problems']} problems" in md and "most plausible of k" in md
    assert "Generator before vs after GRPO" in md
    # the seven benchmarks: every model, the first 2 problems of each, per benchmark and pooled, paired PNS - RS
    bench = result["benchmarks"]
    assert set(bench["by_benchmark"]) == set(summary["evals"])
    for per in bench["by_benchmark"].values():
        assert len(per) == 7 and all(e["n"] == 2 for e in per.values())
        assert per["gsm8k"]["value"] == 0.5
    assert bench["table"]["base"]["n"] == 14 and "pns_minus_rejection_sampling" in bench["differences"]
    assert all(e["n"] == 14 and e["low"] <= e["value"] <= e["high"] for e in bench["pooled"].values())
    assert "## The seven benchmarks" in md and "seven benchmarks, first 2 each, pooled" in md


def test_retrained_dpo_models_are_reevaluated_not_served_stale_scores(tmp_path, monkeypatch):
    """A retrained DPO model keeps its folder path, so an evaluation keyed on the path alone would serve the old
    model's scores; the key includes the DPO stage's key. Stand-in stages, the real stage runner and keys."""
    from dataclasses import replace
    from pathlib import Path

    from pns_hub.experiments import demo
    from pns_hub.experiments import demo_stages as st
    calls = []

    def made(folder, name):
        calls.append(name)
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for marker in ("config.json", "README.md"):
            (folder / marker).write_text("{}")
        return {"folder": str(folder)}

    def fake_eval(model, problems, max_tokens, seed):
        calls.append(f"eval {Path(model).name}")
        per = {f"p{i}": i % 2 for i in range(6)}
        return {"per_problem": per, "accuracy": {"value": 0.5, "low": 0.2, "high": 0.8, "n": 6}, "truncated": 0}

    monkeypatch.setattr(st, "stage_reward_model", lambda b, s, folder, *a: {**made(folder, "rm"), "metrics": {}})
    monkeypatch.setattr(demo, "_generator", lambda cfg, b, folder, *a: made(folder, "generator"))
    monkeypatch.setattr(st, "stage_negatives", lambda b, s, folder, *a: {
        **made(folder, "negatives"), "generator": {}, "generator_md": "", "table_md": "", "selection": {}})
    monkeypatch.setattr(st, "stage_dpo", lambda b, s, out, *a: made(out, f"dpo {Path(out).name}"))
    monkeypatch.setattr(st, "stage_eval", fake_eval)
    monkeypatch.setattr(st, "record", lambda *a, **k: None)
    monkeypatch.setattr(demo, "_leaderboard", lambda folder, *a: {**made(folder, "board"), "markdown": "", "png": ""})
    monkeypatch.setattr(demo, "final_table", lambda summary: "")
    cfg = demo.DemoConfig(output_dir=str(tmp_path), warmup_model=str(tmp_path / "warm"))
    budget = demo.Budget.preset("tiny")

    def run(b):
        calls.clear()
        demo.run_demo(cfg, b)
        return sorted(c for c in calls if c.startswith("eval"))

    evaluations = run(budget)
    assert len(evaluations) == 1 + len(budget.dpo_sources) * len(budget.dpo_seeds)
    assert run(budget) == []  # nothing changed: every stage reused
    # a DPO setting changed: every DPO model is retrained in the same folder and re-evaluated; the base is not
    assert run(replace(budget, dpo_learning_rate=2 * budget.dpo_learning_rate)) == \
        sorted(e for e in evaluations if "dpo" in e)


@pytest.mark.parametrize("pns_right, rs_right, expected", [(60, 10, "supported"), (10, 60, "not supported"),
                                                           (30, 30, "not resolvable at this scale")])
def test_pns_report_on_hand_made_results_knows_who_won(pns_right, rs_right, expected):
    """The single-run report on per-problem results whose answer is known: PNS right on ``pns_right`` of 200 problems
    (both seeds), RS on ``rs_right``, the base on none. Labels and signs: pns_minus_rejection_sampling is PNS - RS."""
    from pns_hub.experiments.pns import CLAIM, pns_report

    ids = [f"p{i}" for i in range(200)]

    def model(right, start=0):
        return {"per_problem": {p: int(start <= k < start + right) for k, p in enumerate(ids)}}

    evals = {"base": model(0), "pns@seed0": model(pns_right), "pns@seed1": model(pns_right, start=5),
             "rejection_sampling@seed0": model(rs_right, start=100), "rejection_sampling@seed1": model(rs_right, 100)}
    report = pns_report(evals, seed=0)
    d = report["differences"]["pns_minus_rejection_sampling"]
    assert d["value"] == pytest.approx((pns_right - rs_right) / 200)
    assert report["table"]["pns"]["value"] == pytest.approx(pns_right / 200)
    assert report["differences"]["rejection_sampling_minus_base"]["value"] == pytest.approx(rs_right / 200)
    assert report["verdicts"][CLAIM] == expected
    assert report["flips_vs_base"]["pns@seed1"] == {"gained": pns_right, "lost": 0, "total": pns_right}


@pytest.mark.slow
def test_experiment_pns_replicates_tiny(tiny_causal_lm_path, tmp_path, scripted_sampler):
    """``--replicates 2 --all-sources-in 1`` end to end on the tiny model: the real stages (placebo synthesis, DPO on
    every arm, evaluation), every replicate's file, the pooled report with the placebo line, and a resume that
    reruns nothing."""
    from pns_hub.cli import main

    out = tmp_path / "reps"
    argv = ["experiment", "pns", "--budget", "tiny", "--replicates", "2", "--all-sources-in", "1", "--output-dir",
            str(out), "--model", tiny_causal_lm_path]
    assert main(argv) == 0
    result = json.loads((out / "experiment_pns_replicates.json").read_text())
    assert result["replicates"] == 2 and result["arms_in_replicates"] == {
        "perturbed": 1, "pns": 2, "prompted_wrong": 1, "rejection_sampling": 2, "rejection_sampling_placebo": 2}
    assert result["pooled"]["pns_minus_rejection_sampling"]["n_replicates"] == 2
    assert "placebo" in " ".join(result["verdicts"])
    for r in range(2):
        rep = json.loads((out / "replicates" / f"r{r}.json").read_text())
        assert rep["seed"] == r and set(rep["figure1"]["groups"]["steps"]) >= {"correct", "pns", "rejection_sampling",
                                                                                "rejection_sampling_placebo"}
        assert (out / "replicates" / f"r{r}" / "negatives-placebo" / "README.md").exists()
    assert main(argv) == 0
    again = json.loads((out / "experiment_pns_replicates.json").read_text())
    assert set(again["reused_stages"]) == set(again["stage_seconds"])
    assert len(again["generator_pooled"]["pns_minus_rs_steps"]["per_replicate"]) == 2

    # the oracle ablation: the generator alone (through="negatives"), sharing this run's RM and base evaluation
    from dataclasses import asdict

    from pns_hub.experiments.demo import Budget

    recipe = tmp_path / "oracle.json"
    recipe.write_text(json.dumps({"seed": 0, "replicates": 2, "through": "negatives",
                                  "budget": {**asdict(Budget.preset("tiny")), "gen_reward": "oracle"}}))
    ablation = tmp_path / "oracle"
    assert main(["experiment", "pns", "--recipe", str(recipe), "--output-dir", str(ablation), "--model",
                 tiny_causal_lm_path, "--share-stages-from", str(out)]) == 0
    oracle = json.loads((ablation / "experiment_pns_replicates.json").read_text())
    assert set(oracle["shared_from"]) == {"warmup", "reward_model", "eval_base"}  # no --warmup-model here
    assert not any("dpo" in stage for stage in oracle["stage_seconds"])
    assert oracle["budget"]["gen_reward"] == "oracle" and oracle["through"] == "negatives"
    assert "What the generator learned" in (ablation / "experiment_pns_replicates.md").read_text()
    recipe.write_text(json.dumps({"seed": 0, "replicates": 2, "through": "negatives",
                                  "budget": {**asdict(Budget.preset("tiny")), "rm_problems": 7}}))
    with pytest.raises(ValueError, match="budget.rm_problems"):
        main(["experiment", "pns", "--recipe", str(recipe), "--output-dir", str(tmp_path / "other"), "--model",
              tiny_causal_lm_path, "--share-stages-from", str(out)])
