"""``pns-hub experiment nsr|glow`` end to end at ``--budget tiny`` on the tiny random model: the chain runs over
seeds, every figure carries n and an interval, and the verdicts use the fixed vocabulary. (Whether the claims hold is
for the full-size runs; a random model's numbers mean nothing.)"""

import json

import pytest


VERDICTS = {"supported", "not supported", "not resolvable at this scale"}


def _check_estimate(e, n):
    assert e["n"] == n and e["low"] <= e["value"] <= e["high"], e


def _check_outputs(result, which):
    from pathlib import Path

    md = Path(result["outputs"]["md"]).read_text()
    assert Path(result["outputs"]["png"]).stat().st_size > 0 and Path(result["outputs"]["json"]).exists()
    assert f"pns-hub experiment {which}" in md and "## Verdicts" in md
    assert result["verdicts"] and set(result["verdicts"].values()) <= VERDICTS
    for claim in result["verdicts"]:
        assert claim in md
    from pns_hub.eval.results import load_results

    records, problems = load_results(Path(result["outputs"]["results"][0]).parent)  # the leaderboard's rows
    arms = len(result["curves"] if which == "nsr" else result["table"]) - 1
    assert not problems and {r.model for r in records} >= {"testbed-warmup", "testbed-warmup+glow@seed1"
                                                           if which == "glow" else "testbed-warmup+nsr@seed1"}
    assert len(records) == 1 + arms * len(result["seeds"])  # the shared base once, every arm of every seed


@pytest.mark.slow  # warm-up + 2 seeds x 5 (nsr) or 4 (glow) training runs + evaluations: minutes on the 2-core CPU
def test_experiment_nsr_tiny(tiny_causal_lm_path, tmp_path):
    from pns_hub.experiments.nsr_glow import NSR_ARMS, ExperimentConfig, run_experiment

    cfg = ExperimentConfig(output_dir=str(tmp_path), model=tiny_causal_lm_path, budget="tiny", seeds=[0, 1])
    result = run_experiment("nsr", cfg)
    assert set(result["curves"]) == {"base", *NSR_ARMS, "psr_placebo"} and result["seeds"] == [0, 1]
    assert result["ks"] == [1, 2, 4]  # n = 4 samples per problem at the tiny budget
    for curve in result["curves"].values():
        assert sorted(curve) == [1, 2, 4]
        for estimate in curve.values():
            _check_estimate(estimate, 4)
            assert estimate["n_replicates"] == 2
    assert result["learning_rate"] == 1e-6  # the paper's, by default
    for seed in (0, 1):  # one JSON per seed, each with every arm's evaluation and reward curve
        rep = json.loads((tmp_path / "replicates" / f"nsr-seed{seed}.json").read_text())
        assert rep["seed"] == seed and set(rep["evals"]) == {"base", *NSR_ARMS, "psr_placebo"}
        for arm in rep["arms"].values():  # tiny: 2 optimizer steps from one rollout batch, logged once or twice
            assert 1 <= len(arm["reward_curve"]) <= 2 and all(0 <= p["reward"] <= 1 for p in arm["reward_curve"])
        assert rep["arms"]["psr_placebo"]["train_seed"] == seed + 1000 and rep["arms"]["psr"]["train_seed"] == seed
    _check_outputs(result, "nsr")
    assert set(result["verdicts"].values()) == {"not resolvable at this scale"}  # a random model solves nothing
    assert "| w_reinforce |" in (tmp_path / "experiment_nsr.md").read_text()
    # a smaller evaluation of the same run re-evaluates every model and retrains none
    again = run_experiment("nsr", ExperimentConfig(output_dir=str(tmp_path), model=tiny_causal_lm_path,
                                                   budget="tiny", seeds=[0, 1], eval_samples=2, eval_problems=3))
    assert again["ks"] == [1, 2] and again["curves"]["nsr"][1]["n"] == 3
    assert {f"train_{arm}@s{s}" for arm in NSR_ARMS for s in (0, 1)} <= set(again["reused_stages"])
    assert not any(stage.startswith("eval_") for stage in again["reused_stages"])


@pytest.mark.slow
def test_experiment_glow_tiny(tiny_causal_lm_path, tmp_path):
    from pns_hub.experiments.nsr_glow import GLOW_ARMS, ExperimentConfig, run_experiment

    result = run_experiment("glow", ExperimentConfig(output_dir=str(tmp_path), model=tiny_causal_lm_path,
                                                     budget="tiny", seeds=[0, 1]))
    assert set(result["table"]) == {"base", *GLOW_ARMS, "sft_correct_placebo"}
    rep = json.loads((tmp_path / "replicates" / "glow-seed1.json").read_text())
    assert rep["trajectories"]["dataset_name"] == "testbed_train[400:404]"  # what was sampled, for its card
    assert rep["trajectories"]["sampling"]["seed"] == 1  # each replicate draws its own trajectories
    for row in result["table"].values():
        _check_estimate(row["test"], 4)
        _check_estimate(row["ood"], 4)
    # equal epochs: every arm trained the budget's epochs over its own rows
    arms = rep["arms"]
    assert {a["epochs"] for a in arms.values()} == {2} and arms["glow"]["rows"] == arms["sft_all"]["rows"]
    assert arms["sft_correct"]["steps"] == 2 * -(-arms["sft_correct"]["rows"] // 4)
    assert arms["glow"]["steps"] == 2 * -(-arms["glow"]["rows"] // 4) and arms["glow"]["tokens"] > 0
    # GLOW trained past its first epoch, so weights were recorded, per label, and summarised per epoch
    assert rep["weights"] and "epoch 2" in result["weights"] and result["glow_setting"]["beta"] == 1.0
    assert {w["label"] for w in rep["weights"]} <= {"positive", "negative", "unknown"}
    _check_outputs(result, "glow")


def _evals(**counts):
    return {m: {"counts": [list(x) for x in c]} for m, c in counts.items()}


def test_nsr_verdicts_follow_the_fixed_rule():
    """Hand-made (n, c) per problem: the verdicts come out of the paired intervals, in both directions."""
    from pns_hub.experiments.report import CONTRADICTED, SUPPORTED, UNRESOLVED, nsr_report

    base = [(4, 1)] * 20 + [(4, 0)] * 20  # pass@4 = 50%
    wide = [(4, 1)] * 36 + [(4, 0)] * 4  # 1 of 4 right on 36 problems: pass@1 22.5%, pass@4 90%
    narrow = [(4, 4)] * 10 + [(4, 0)] * 30  # all right on 10 problems: pass@1 25%, pass@4 25%
    report = nsr_report(_evals(base=base, nsr=wide, psr=narrow, w_reinforce=wide, grpo=base), seed=0)
    assert report["ks"] == [1, 2, 4]
    v = report["verdicts"]
    assert v["NSR keeps or raises pass@k at the largest k"] == SUPPORTED
    assert v["PSR lowers pass@k at the largest k"] == SUPPORTED
    assert v["W-REINFORCE best over the whole curve"] == UNRESOLVED  # ties NSR exactly
    swapped = nsr_report(_evals(base=base, nsr=narrow, psr=wide, w_reinforce=narrow, grpo=wide), seed=0)["verdicts"]
    assert swapped["NSR keeps or raises pass@k at the largest k"] == CONTRADICTED
    assert swapped["PSR lowers pass@k at the largest k"] == CONTRADICTED
    assert swapped["W-REINFORCE best over the whole curve"] == CONTRADICTED
    e = report["curves"]["nsr"][4]
    assert e["value"] == pytest.approx(0.9) and e["low"] < 0.9 < e["high"] and e["n"] == 40
    zeros = [(4, 0)] * 40  # nobody solves anything: no verdict can be drawn
    assert set(nsr_report(_evals(base=zeros, nsr=zeros, psr=zeros, w_reinforce=zeros, grpo=zeros),
                          seed=0)["verdicts"].values()) == {UNRESOLVED}


def test_verdict_rule():
    from pns_hub.experiments.report import CONTRADICTED, SUPPORTED, UNRESOLVED, verdict
    from pns_hub.stats import Difference

    def d(low, high):
        return Difference((low + high) / 2, low, high, 10, "paired bootstrap")

    assert [verdict(d(0.01, 0.2), +1), verdict(d(-0.2, -0.01), +1), verdict(d(-0.1, 0.1), +1)] == \
        [SUPPORTED, CONTRADICTED, UNRESOLVED]
    assert [verdict(d(-0.2, -0.01), -1), verdict(d(0.01, 0.2), -1), verdict(d(0.0, 0.0), -1)] == \
        [SUPPORTED, CONTRADICTED, UNRESOLVED]


def test_stage_keys_retrain_on_budget_counts_and_seeds_train_only_themselves(tmp_path, monkeypatch):
    """Cached stages are reused only while what they depend on is unchanged: editing a budget's training counts
    retrains every arm of every seed (not reuse arms trained at the old size) and re-evaluates them (a retrained arm
    keeps its folder path, so a key on the path alone would serve the old model's scores); an evaluation override
    re-evaluates only; a seed added later trains and evaluates only itself."""
    from pathlib import Path

    from pns_hub.experiments import arms, nsr_glow, testbed_stages
    from pns_hub.experiments.nsr_glow import ExperimentConfig, run_experiment

    calls = []

    def fake_train(cfg, budget, base, arm, seed, rows, folder, stage_key=""):
        assert len(stage_key) > 8  # the stage's settings hash: what guards its checkpoints
        calls.append(f"train_{arm}@{seed}")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.json").write_text("{}")  # the stage's declared output
        return {"folder": str(folder), "steps": budget.train_steps, "train_seed": seed,
                "reward_curve": [{"step": 1, "reward": 0.5}]}

    def fake_counts(model, problems, n, max_tokens, seed):
        calls.append(f"eval {Path(model).parent.name}/{Path(model).name}")
        counts = [[n, (i + seed) % (n + 1)] for i, _ in enumerate(problems)]
        return {"ids": [p["id"] for p in problems], "counts": counts}

    monkeypatch.setattr(arms, "train_rl_arm", fake_train)
    monkeypatch.setattr(testbed_stages, "sample_counts", fake_counts)
    picks = []  # each stage that runs picks its threads from the load of the moment, not the job's start
    monkeypatch.setattr(testbed_stages.models, "configure_threads", lambda: picks.append(1) or 1)

    def run(seeds=(0, 1), **overrides):
        calls.clear()
        run_experiment("nsr", ExperimentConfig(output_dir=str(tmp_path), warmup_model=str(tmp_path / "base"),
                                               budget="tiny", seeds=list(seeds), **overrides))
        return sorted(calls)

    everything = run()
    per_seed = 2 * (len(nsr_glow.NSR_ARMS) + 1)  # train + eval of each arm and the placebo
    assert len(everything) == 2 * per_seed + 1  # + the shared base's one evaluation
    assert len(picks) == len(everything) + 2  # + warm-up + the run's own pick
    assert run() == []  # nothing changed: all reused
    retrained = run(train_steps=3)
    assert retrained == sorted(c for c in everything if not c.endswith("/base"))  # the base did not change
    assert run(train_steps=3, eval_samples=2) == sorted(c for c in everything if c.startswith("eval"))
    added = run(seeds=(0, 1, 5), train_steps=3, eval_samples=2)
    assert len(added) == per_seed and all(c.endswith("@5") or "seed5/" in c for c in added)
    assert (tmp_path / "replicates" / "nsr-seed5.json").exists()
    # an interim report (--finished_only) over a run whose seed 6 has not started trains and evaluates nothing
    assert run(seeds=(0, 1, 5, 6), train_steps=3, eval_samples=2, finished_only=True) == []
    assert "Interim: 3 of 4 planned seeds" in (tmp_path / "experiment_nsr.md").read_text()


def test_a_config_field_not_sorted_into_the_train_key_or_out_of_it_is_refused():
    """A new ExperimentConfig field must say whether trained arms depend on it: left unsorted it would enter every
    arm's stage key and retrain finished arms (a reporting flag once did). A subclass with one extra field stands in
    for the next edit."""
    from dataclasses import dataclass

    from pns_hub.experiments.testbed_stages import BUDGETS, ExperimentConfig, train_settings

    train_settings(ExperimentConfig(), BUDGETS["tiny"], "glow", 0)  # every current field is sorted

    @dataclass
    class Edited(ExperimentConfig):
        report_style: str = "short"

    with pytest.raises(TypeError, match=r"\['report_style'\] are in neither TRAIN_KEY_FIELDS"):
        train_settings(Edited(), BUDGETS["tiny"], "glow", 0)


def test_more_samples_draw_only_the_new_chunks_with_new_seeds(tmp_path, monkeypatch):
    """Raising n from 16 to 40 samples per problem reuses the first chunk and draws 16 + 8 new samples, each chunk with
    its own seed (same seed = the same draws counted twice), and the per-problem counts add up."""
    import json

    from pns_hub.experiments import testbed_stages as experiments
    from pns_hub.experiments.stages import StageRunner

    draws = []

    def fake_counts(model, problems, n, max_tokens, seed):
        draws.append((n, seed))
        counts = [[n, (seed + i) % (n + 1)] for i, _ in enumerate(problems)]
        return {"ids": [p["id"] for p in problems], "counts": counts}

    monkeypatch.setattr(experiments, "sample_counts", fake_counts)
    problems = [{"id": f"p{i}"} for i in range(5)]
    settings = {"model": "m", "seed": 3}

    def run(n):
        draws.clear()
        return experiments.evaluate(StageRunner(tmp_path), "eval_m", settings, "m", problems, n, 8, 3)

    first = run(16)
    assert draws == [(16, 3)]
    more = run(40)
    stride = experiments.CHUNK_SEED_STRIDE
    assert draws == [(16, 3 + stride), (8, 3 + 2 * stride)]
    assert more["counts"] == [[40, c0 + (3 + stride + i) % 17 + (3 + 2 * stride + i) % 9]
                              for i, (_, c0) in enumerate(first["counts"])]
    assert run(40)["counts"] == more["counts"] and draws == []  # all cached
    # a chunk whose marker holds other problems (a hand-edited cache) is refused, not silently added
    marker = tmp_path / "stages" / "eval_m_c1.json"
    saved = json.loads(marker.read_text())
    saved["result"]["ids"] = saved["result"]["ids"][::-1]
    marker.write_text(json.dumps(saved))
    with pytest.raises(ValueError, match="eval_m_c1 evaluated other problems"):
        run(40)


def test_experiment_results_are_leaderboard_records_with_paired_counts(tmp_path):
    """Each evaluated model becomes a results record the leaderboard reads: pass@1 from the per-problem counts, its
    bootstrap interval, the pass@k curve, and per-problem counts keyed by problem id (what paired differences need)."""
    from pns_hub.experiments.report import nsr_report, result_records
    from pns_hub.eval.leaderboard import paired_deltas
    from pns_hub.eval.results import ResultRecord, load_results, write_record

    ids = [f"testbed/{i}" for i in range(40)]
    evals = {m: {"ids": ids, **e} for m, e in _evals(
        base=[(4, 1)] * 20 + [(4, 0)] * 20, nsr=[(4, 1)] * 36 + [(4, 0)] * 4, psr=[(4, 4)] * 10 + [(4, 0)] * 30,
        w_reinforce=[(4, 2)] * 40, grpo=[(4, 0)] * 40).items()}
    result = {"evals": evals, **nsr_report(evals, seed=0)}
    for record in result_records("nsr", result):
        write_record(record, tmp_path / f"{record.method}.json")
    records, problems = load_results(tmp_path)
    assert not problems and len(records) == 5
    by = {r.method: r for r in records}
    assert by["psr"].scores["testbed"] == pytest.approx(0.25) and by["w-reinforce"].scores["testbed"] == 0.5
    assert by["nsr"].passk["testbed"]["4"] == pytest.approx(0.9) and by["psr"].base == "testbed-warmup"
    assert by["nsr"].per_problem["testbed"]["testbed/0"] == 1 and by["nsr"].intervals["testbed"]["n"] == 40
    grpo = by["grpo"].intervals["testbed"]
    assert by["grpo"].scores["testbed"] == 0.0 == grpo["low"] < grpo["high"]  # no zero-width interval at 0
    deltas = {r["method"]: r for r in paired_deltas(records)}
    assert set(deltas) == {"psr", "nsr", "w-reinforce", "grpo"} and {r["vs"] for r in deltas.values()} == \
        {"testbed-warmup"}
    assert deltas["psr"]["n"] == 40 and deltas["psr"]["delta"] == pytest.approx(12.5)  # 25% - 12.5%, paired
    # a newer evaluation of the same base with other sampling (another experiment) is not what NSR's arms pair with
    other = ResultRecord(model="testbed-warmup", method="base", scores={"testbed": 1.0}, num_samples=2,
                         per_problem={"testbed": {pid: 2 for pid in ids}}, date="2999-01-01")
    assert {r["delta"] for r in paired_deltas([*records, other]) if r["method"] == "psr"} == {12.5}


def test_engine_agreement_pairs_each_engines_samples_clustered_by_problem():
    """Chunks drawn by two engines are compared per problem (averaged over the models that evaluated it, so a
    problem is one resampling unit); one engine alone gives no comparison."""
    from pns_hub.experiments.report import engine_agreement

    def ev(ids, compact, openvino):
        return {"ids": ids, "chunks": [{"backend": "compact", "counts": compact},
                                       {"backend": "openvino", "counts": openvino}]}

    report = engine_agreement([ev(["p1", "p2"], [[16, 8], [16, 0]], [[16, 12], [16, 0]]),
                               ev(["p1"], [[16, 16]], [[16, 4]])], seed=0)
    assert report["engines"] == ["compact", "openvino"] and report["problems"] == 2 and report["evaluations"] == 3
    # p1: compact (0.5 + 1) / 2, openvino (0.75 + 0.25) / 2; p2: 0 and 0
    assert report["accuracy"]["compact"]["value"] == pytest.approx((0.75 + 0) / 2)
    assert report["accuracy"]["openvino"]["value"] == pytest.approx((0.5 + 0) / 2)
    assert report["compact_minus_openvino"]["value"] == pytest.approx((0.25 + 0) / 2)
    one = {"ids": ["p1"], "chunks": [{"backend": "compact", "counts": [[16, 3]]},
                                     {"backend": "compact", "counts": [[16, 5]]}]}
    assert engine_agreement([one], seed=0) is None


@pytest.mark.parametrize("which", ["nsr", "glow"])
def test_the_committed_experiment_recipes_parse_with_three_seeds_or_more(which):
    """recipes/experiments/<which>.yaml is what the replicated run uses: it parses into ExperimentConfig (a typo'd key
    would fail here, not hours into the run), with >= 3 seeds, the placebo, and the stated learning rates (GLOW the authors'; NSR 10x the paper's, a deviation
    the recipe states)."""
    from pathlib import Path

    from trl import TrlParser

    from pns_hub.experiments.nsr_glow import ExperimentConfig, _budget

    recipe = Path(__file__).resolve().parent.parent / "recipes" / "experiments" / f"{which}.yaml"
    (cfg,) = TrlParser((ExperimentConfig,)).parse_args_and_config(args=["--config", str(recipe)])
    assert len(cfg.seeds) >= 3 and cfg.placebo and cfg.lr(which) == {"nsr": 1e-5, "glow": 1e-5}[which]
    budget = _budget(which, cfg)
    if which == "nsr":
        assert budget.eval_samples >= 32 and budget.train_steps == cfg.train_steps
        assert budget.prompts_per_step * budget.train_steps <= 2 * budget.train_problems  # <= 2 passes over the set
    else:
        assert budget.glow_epochs == cfg.glow_epochs >= 2 and (cfg.glow_alpha, cfg.glow_beta) == (2.0, 1.0)


def test_config_refuses_repeated_seeds_and_placebo_collisions():
    from pns_hub.experiments.nsr_glow import ExperimentConfig

    with pytest.raises(ValueError, match="distinct"):
        ExperimentConfig(seeds=[0, 0, 1])
    with pytest.raises(ValueError, match="placebo seed"):
        ExperimentConfig(seeds=[0, 1000])
    assert ExperimentConfig(seeds=[0, 1000], placebo=False).seeds == [0, 1000]


@pytest.mark.parametrize("arm", ["nsr", "grpo"])
def test_an_rl_arm_interrupted_after_a_checkpoint_resumes_to_the_same_weights(tiny_causal_lm_path, tmp_path,
                                                                              monkeypatch, arm):
    """A session that ends mid-stage must not change the result: train 4 steps straight, and 4 steps "killed" right
    after the step-2 checkpoint then run again; the weights agree exactly. Checkpoints left by other settings (another
    stage key) are deleted, not resumed."""
    import torch
    from safetensors.torch import load_file
    from transformers import TrainerCallback

    from pns_hub.experiments import arms
    from pns_hub.experiments.nsr_glow import ExperimentConfig
    from pns_hub.experiments.testbed_stages import BUDGETS

    monkeypatch.setattr(arms, "RL_CHECKPOINT_ROLLOUTS", 1)  # tiny: a rollout batch is 2 steps
    budget = BUDGETS["tiny"].__class__(**{**BUDGETS["tiny"].__dict__, "train_steps": 4})
    cfg = ExperimentConfig(output_dir=str(tmp_path), warmup_model=tiny_causal_lm_path, budget="tiny", seeds=[0])
    # 4 steps x 2 prompts: one pass over 8 prompts, as the full budget's 48 x 2 over 96 (see the multi-pass case below)
    rows = [{"problem": f"What is {k} + {k}?", "answer": str(2 * k)} for k in range(1, 9)]

    class Killed(Exception):
        pass

    class KillAfterCheckpoint(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            if state.global_step == 2:
                raise Killed

    def train(folder, key, callbacks=()):
        return arms.train_rl_arm(cfg, budget, tiny_causal_lm_path, arm, 0, rows, tmp_path / folder, stage_key=key,
                                 callbacks=callbacks)

    straight = train("straight", "k1")
    with pytest.raises(Killed):
        train("resumed", "k1", [KillAfterCheckpoint()])
    assert (tmp_path / "resumed" / "work" / "checkpoint-2").is_dir()
    class Steps(TrainerCallback):
        seen = []

        def on_step_end(self, args, state, control, **kwargs):
            self.seen.append(state.global_step)

    resumed = train("resumed", "k1", [Steps()])
    assert Steps.seen == [3, 4]  # it resumed: steps 1-2 were not trained again (a rerun would match the weights too)
    assert straight["steps"] == resumed["steps"] == 4
    assert resumed["reward_curve"] == straight["reward_curve"]  # the checkpoint's log history carries the curve
    a, b = (load_file(str(tmp_path / f / "model.safetensors")) for f in ("straight", "resumed"))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not (tmp_path / "resumed" / "work").exists()  # checkpoints removed once the stage is done

    with pytest.raises(Killed):
        train("other", "k1", [KillAfterCheckpoint()])
    resumed_other = []
    monkeypatch.setattr(arms.logger, "info", lambda msg, *a: resumed_other.append(msg % a))
    train("other", "k2")  # another stage key: starts over
    assert not any("resuming" in m for m in resumed_other)

    rows = rows[:4]  # two passes: Trainer would resume the second pass in the first pass's order, so no checkpoint
    train("passes", "k1")
    assert any("more than one pass" in m for m in resumed_other) and not (tmp_path / "passes" / "work").exists()


def test_a_resumable_stage_refuses_an_empty_stage_key(tmp_path):
    """Checkpoints are matched to their stage by the settings hash; an empty key would let any keyless caller resume
    another run's checkpoints, so it is refused, naming the folder."""
    from pns_hub.experiments.testbed_stages import resumable

    with pytest.raises(ValueError, match="stage_key"):
        resumable(tmp_path / "work", "", every=2)
    saving, last = resumable(tmp_path / "work", "k1", every=2)
    assert saving["save_steps"] == 2 and last is None and (tmp_path / "work" / "stage_key").read_text() == "k1"
