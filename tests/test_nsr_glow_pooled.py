"""Pooled NSR / GLOW verdicts (``pns_hub.experiments.pooled``) on hand-made per-seed counts where the answer is known,
and GLOW's weight rule at the experiment's setting on a hand-made loss sequence."""

import pytest


IDS = [f"testbed/{i}" for i in range(40)]
WIDE = [(4, 1)] * 36 + [(4, 0)] * 4  # one of 4 right on 36 problems: pass@1 22.5%, pass@4 90%
NARROW = [(4, 4)] * 10 + [(4, 0)] * 30  # all right on 10 problems: pass@1 25%, pass@4 25%
FAST = 2000  # bootstrap resamples: the contrasts here are far from zero, so tests need no more


def _jitter(counts, r):
    """Replicate r's counts: the same arm with one problem moved, so replicates differ as seeds do."""
    counts = [list(c) for c in counts]
    n, c = counts[r]
    counts[r] = [n, min(n, c + 1) if r % 2 else max(0, c - 1)]
    return counts


def _replicates(seeds=(0, 1, 2), **arms):
    return [{"seed": s, "evals": {m: {"ids": IDS, "counts": _jitter(c, r)} for m, c in arms.items()}}
            for r, s in enumerate(seeds)]


def _nsr(**arms):
    from pns_hub.experiments.pooled import nsr_pooled

    return nsr_pooled(_replicates(**arms), n_resamples=FAST)


def test_nsr_pooled_verdicts_where_nsr_wins_and_where_it_loses():
    from pns_hub.experiments.pooled import NSR_CLAIMS
    from pns_hub.experiments.report import CONTRADICTED, SUPPORTED, UNRESOLVED

    claims = list(NSR_CLAIMS)
    wins = _nsr(base=NARROW, psr=NARROW, psr_placebo=NARROW, nsr=WIDE, w_reinforce=WIDE, grpo=WIDE)
    assert wins["ks"] == [1, 2, 4] and wins["replicates"] == 3 and wins["seeds"] == [0, 1, 2]
    v = wins["verdicts"]
    assert v[claims[0]] == SUPPORTED and v[claims[1]] == SUPPORTED and v[claims[2]] == SUPPORTED
    assert v[claims[3]] == UNRESOLVED  # W-REINFORCE and GRPO are the same arm here
    largest = wins["differences"][claims[0]]
    assert largest["value"] == pytest.approx(0.9 - 0.25, abs=0.02) and largest["n"] == 40
    assert largest["n_replicates"] == 3 and len(largest["per_replicate"]) == 3
    assert wins["nsr_minus_psr_by_k"][1]["value"] == pytest.approx(0.225 - 0.25, abs=0.02)  # PSR ahead at k=1
    # replicates 0 and 2 lost one solved problem to the jitter, replicate 1 gained a sample on a solved one
    assert wins["curves"]["nsr"][4]["value"] == pytest.approx((0.875 + 0.9 + 0.875) / 3)
    assert wins["placebo"]["contains_zero"] is True and wins["placebo"]["arms"] == ["psr", "psr_placebo"]
    loses = _nsr(base=NARROW, psr=WIDE, psr_placebo=WIDE, nsr=NARROW, w_reinforce=NARROW, grpo=WIDE)["verdicts"]
    assert [loses[c] for c in claims] == [CONTRADICTED] * 4
    # a placebo that differs from its arm (as if seeds alone moved pass@k this much) is flagged, not passed over
    noisy = _nsr(base=NARROW, psr=NARROW, psr_placebo=WIDE, nsr=WIDE, w_reinforce=WIDE, grpo=WIDE)
    assert noisy["placebo"]["contains_zero"] is False and noisy["placebo"]["largest_k"]["high"] < 0
    by_k = noisy["placebo_by_k"]  # PSR - PSR' at every k, signed: PSR' ahead at k = 4, PSR at k = 1
    assert by_k[4]["high"] < 0 and by_k[4]["value"] == pytest.approx(0.25 - 0.9, abs=0.02)
    assert by_k[1]["value"] == pytest.approx(0.25 - 0.225, abs=0.02)
    nothing = _nsr(**{m: [(4, 0)] * 40 for m in ("base", "psr", "nsr", "w_reinforce", "grpo")})
    assert set(nothing["verdicts"].values()) == {UNRESOLVED} and nothing["placebo"] is None


def test_nsr_pooled_refuses_replicates_on_other_problems():
    from pns_hub.experiments.pooled import nsr_pooled

    reps = _replicates(base=NARROW, psr=NARROW, nsr=WIDE)
    reps[2]["evals"]["nsr"]["ids"] = IDS[::-1]
    with pytest.raises(ValueError, match="replicate 2 .seed 2.: 'nsr' was evaluated on other problems"):
        nsr_pooled(reps, n_resamples=FAST)


def test_glow_pooled_verdict_and_weight_distribution():
    from pns_hub.experiments.pooled import GLOW_CLAIM, glow_pooled
    from pns_hub.experiments.report import CONTRADICTED, SUPPORTED

    good = [(4, 3)] * 30 + [(4, 1)] * 10
    poor = [(4, 1)] * 30 + [(4, 1)] * 10

    def reps(glow, sft):
        out = _replicates(base=poor, sft_correct=sft, sft_correct_placebo=sft, sft_all=poor, glow=glow)
        for r in out:
            r["evals"] = {m: {"test": e, "ood": e} for m, e in r["evals"].items()}
            r["weights"] = [{"epoch": 1, "label": "negative", "weight": 0.5},
                            {"epoch": 1, "label": "positive", "weight": 0.9}]
            r["glow_setting"] = {"min_weight": 0.5}
        return out

    result = glow_pooled(reps(good, poor), n_resamples=FAST)
    assert result["verdicts"][GLOW_CLAIM] == SUPPORTED
    assert result["differences"]["glow_minus_sft_correct_ood"]["value"] == pytest.approx(30 / 40 * 0.5)
    assert result["placebo"]["contains_zero"] is True
    w = result["weights"]
    assert w["epoch 2"]["n"] == 6 and w["epoch 2"]["share_above_floor"] == pytest.approx(0.5)
    assert w["epoch 2 negative"]["share_above_floor"] == 0.0 and w["epoch 2 positive"]["median"] == 0.9
    assert glow_pooled(reps(poor, good), n_resamples=FAST)["verdicts"][GLOW_CLAIM] == CONTRADICTED


def test_glow_weights_leave_the_floor_at_the_experiments_setting():
    """The single-seed run's gains (0.64-1.28 nats between epochs) put every weight on the floor at the authors'
    alpha 1 / beta 20; at the experiment's setting the same loss sequence spreads the weights, in GLOW's order
    (the smaller a sample's gain, the larger its weight), and a sample whose loss rose gets more than 1."""
    import torch

    from pns_hub.experiments.testbed_stages import GLOW_SETTING
    from pns_hub.trainers.glow import glow_weights, previous_losses

    epoch1 = {0: 2.10, 1: 1.90, 2: 1.60, 3: 2.40, 4: 1.20}  # sample -> loss when last trained (epoch 1)
    epoch2 = torch.tensor([0.82, 0.96, 0.96, 1.76, 1.30])  # gains 1.28, 0.94, 0.64, 0.64, -0.10
    prev, has = previous_losses(list(epoch1), epoch2, epoch1)
    assert has.all()
    authors = glow_weights(epoch2, prev, alpha=1.0, beta=20.0, min_weight=0.5, max_weight=5.0)
    assert authors[:4].tolist() == [0.5] * 4  # saturated: the single-seed run's situation
    w = glow_weights(epoch2, prev, alpha=GLOW_SETTING["alpha"], beta=GLOW_SETTING["beta"],
                     min_weight=GLOW_SETTING["min_weight"], max_weight=GLOW_SETTING["max_weight"])
    floor = GLOW_SETTING["min_weight"]
    assert (w > floor + 1e-6).float().mean() >= 0.6  # most samples off the floor
    assert w[1] > w[0] and w[2] > w[1] and w[4] > 1.0  # smaller gain, larger weight; a regression above 1


def test_pooled_markdown_states_verdicts_with_signed_differences_and_the_budget(tmp_path):
    """The pooled markdown a reader checks: each verdict beside its signed difference and per-seed values, the
    placebo line, the reward table (nsr) and the equal-epoch table with the weight distribution (glow)."""
    from pns_hub.experiments.pooled import GLOW_CLAIM, glow_pooled, nsr_pooled
    from pns_hub.experiments.pooled_report import write_pooled

    common = {"command": "pns-hub experiment x", "cpu": "test CPU", "wall_seconds": 1.0, "reused_stages": [],
              "replicate_files": ["r/nsr-seed0.json"], "learning_rate": 1e-6}
    reps = _replicates(base=NARROW, psr=NARROW, psr_placebo=NARROW, nsr=WIDE, w_reinforce=WIDE, grpo=WIDE)
    curve = {"psr": {"reward_curve": [{"step": s, "reward": r} for s, r in ((1, 0.2), (5, 0.2), (9, 0.6), (13, 0.6))]}}
    result = {**nsr_pooled(reps, n_resamples=FAST), **common, "arms_by_seed": {r["seed"]: curve for r in reps},
              "budget": {"train_steps": 48, "prompts_per_step": 2, "generations": 8, "steps_per_generation": 4,
                         "max_tokens": 128, "eval_problems": 40}}
    md = (tmp_path / "experiment_nsr.md").read_text() if write_pooled("nsr", result, tmp_path) else ""
    assert "- NSR above PSR at the largest k: **supported** (+6" in md  # 90% - 25%, jittered
    assert "Placebo (psr - psr_placebo" in md and "contain zero, as they should" in md
    assert "Placebo PSR - PSR' by k (pts, the noise floor of the line above): k=1 +0.0 [" in md
    assert "| psr | 0.200 | 0.600 | 4 |" in md and (tmp_path / "experiment_nsr.png").stat().st_size > 0
    good, poor = [(4, 3)] * 30 + [(4, 1)] * 10, [(4, 1)] * 40
    reps = _replicates(base=poor, sft_correct=good, sft_all=poor, glow=poor)
    for r in reps:
        r["evals"] = {m: {"test": e, "ood": e} for m, e in r["evals"].items()}
        r["weights"] = [{"epoch": 1, "label": "positive", "weight": 0.75}]
        r["arms"] = {"glow": {"rows": 120, "epochs": 3, "steps": 90, "tokens": 1000}}
    result = {**glow_pooled(reps, n_resamples=FAST), **common, "arms_by_seed": {r["seed"]: r["arms"] for r in reps},
              "budget": {"glow_epochs": 3, "eval_problems": 40, "glow_eval_samples": 4},
              "glow_setting": {"alpha": 2.0, "beta": 1.0, "min_weight": 0.5, "max_weight": 5.0}}
    write_pooled("glow", result, tmp_path)
    md = (tmp_path / "experiment_glow.md").read_text()
    assert f"- {GLOW_CLAIM}: **not supported** (-37.5 [" in md  # GLOW below SFT on correct here
    assert "| glow | 120 | 3 | 90 | 1000 |" in md and "| epoch 2 positive | 3 | 0.750 |" in md and "| 100.0% |" in md
    assert "Interim" not in md and md.startswith("# pns-hub experiment glow: pooled over 3 seeds (0, 1, 2)\n")
    write_pooled("glow", {**result, "seeds_planned": [0, 1, 2, 3], "interim": True}, tmp_path)
    assert "**Interim: 3 of 4 planned seeds finished** (0, 1, 2, 3 planned)" in (
        tmp_path / "experiment_glow.md").read_text()


def test_an_interim_report_takes_only_the_seeds_whose_replicate_finished(tmp_path):
    """--finished_only must not pick a half-run seed (its stages would start training beside the real run): only a
    seed whose replicate JSON is written counts, in --seeds order, and a seed outside --seeds never does."""
    from pns_hub.experiments.nsr_glow import finished_seeds

    (tmp_path / "replicates").mkdir()
    for name in ("glow-seed2.json", "glow-seed0.json", "glow-seed7.json", "nsr-seed1.json"):
        (tmp_path / "replicates" / name).write_text("{}")
    (tmp_path / "stages").mkdir()
    (tmp_path / "stages" / "train_glow@s1.json").write_text("{}")  # seed 1 half-run: a stage, no replicate
    assert finished_seeds("glow", [0, 1, 2], tmp_path) == [0, 2]
    assert finished_seeds("nsr", [0, 1, 2], tmp_path) == [1]


def test_training_reward_table_averages_seeds_and_keeps_an_arm_too_short_to_summarise():
    """Quarter means per seed, then the mean over seeds (by hand); an arm that logged under 4 steps keeps its row as
    n/a rather than vanishing from the table."""
    from pns_hub.experiments.pooled_report import reward_summary

    def arm(rewards):
        return {"reward_curve": [{"step": i + 1, "reward": r} for i, r in enumerate(rewards)]}

    arms_by_seed = {0: {"psr": arm([0.1, 0.2, 0.3, 0.5]), "nsr": arm([0.4, 0.4])},
                    1: {"psr": arm([0.3, 0.2, 0.3, 0.7]), "nsr": arm([0.4, 0.5])}}
    out = reward_summary(arms_by_seed)
    assert out["psr"] == pytest.approx((0.2, 0.6, 4))  # seed 0: 0.1 -> 0.5, seed 1: 0.3 -> 0.7
    assert out["nsr"] == (None, None, 2)


def _replicate_file(root, seed, r, cpu, steps):
    """A finished replicate's JSON as the run writes it: NSR wide (wins at the largest k), PSR narrow."""
    import json

    from pns_hub.experiments.report import nsr_report

    counts = {"base": WIDE, "psr": NARROW, "nsr": WIDE, "w_reinforce": WIDE, "grpo": NARROW, "psr_placebo": NARROW}
    evals = {m: {"ids": IDS, "counts": _jitter(c, r)} for m, c in counts.items()}
    rep = {"seed": seed, "models": {m: f"/{cpu}/{'warmup' if m == 'base' else m}" for m in counts}, "evals": evals,
           "arms": {m: {"steps": steps, "train_seed": seed, "reward_curve": []} for m in counts if m != "base"},
           "single_seed": nsr_report(evals, seed), "cpu": cpu}
    path = root / "replicates" / f"nsr-seed{seed}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rep))
    return path


def test_finished_replicates_pool_from_their_files_alone_across_machines(tmp_path, monkeypatch):
    """Seeds run on two machines pool from their JSONs: nothing is trained, sampled or warmed up (no model exists
    here), the report says which seed ran on which CPU, and each machine's base is a leaderboard row of its own. A
    JSON from other settings, or whose seed disagrees with its name, is refused naming the file and the field."""
    import json
    from pathlib import Path

    from pns_hub.experiments import arms, nsr_glow, testbed_stages
    from pns_hub.experiments.nsr_glow import ExperimentConfig, run_experiment

    def ran(*args, **kwargs):
        raise AssertionError("a --finished_only report ran a stage")

    for module, name in ((arms, "train_rl_arm"), (testbed_stages, "sample_counts"), (nsr_glow, "stage_warmup")):
        monkeypatch.setattr(module, name, ran)
    cfg = ExperimentConfig(output_dir=str(tmp_path), budget="tiny", seeds=[0, 1, 2], learning_rate=1e-5,
                           finished_only=True)
    steps = nsr_glow._budget("nsr", cfg).train_steps
    files = [_replicate_file(tmp_path, s, r, cpu, steps) for r, (s, cpu) in enumerate([(0, "Xeon"), (1, "Xeon"),
                                                                                       (2, "EPYC")])]
    result = run_experiment("nsr", cfg)
    assert result["seeds"] == [0, 1, 2] and not result["interim"]
    assert result["verdicts"]["NSR above PSR at the largest k"] == "supported"
    assert result["cpu"] == "seeds 0, 1: Xeon; seed 2: EPYC"
    md = (tmp_path / "experiment_nsr.md").read_text()
    assert "CPU: seeds 0, 1: Xeon; seed 2: EPYC; pooled from the finished replicates' files (nothing run)" in md
    assert sorted(Path(p).name for p in result["outputs"]["results"] if "base" in Path(p).name) == \
        ["nsr-base-seed2.json", "nsr-base.json"]
    # the leaderboard pairs each arm with the base it was trained from: seed 2's with the EPYC warm-up, not the Xeon's
    from pns_hub.eval.leaderboard import reference_for
    from pns_hub.eval.results import ResultRecord

    records = {Path(p).stem: ResultRecord.from_dict(json.loads(Path(p).read_text()), p)
               for p in result["outputs"]["results"]}
    assert records["nsr-base"].model != records["nsr-base-seed2"].model
    for name, base in (("nsr-psr-seed0", "nsr-base"), ("nsr-nsr-seed1", "nsr-base"), ("nsr-psr-seed2", "nsr-base-seed2"),
                       ("nsr-grpo-seed2", "nsr-base-seed2")):
        assert reference_for(records[name], list(records.values())) is records[base], name

    def refused(edit, match):
        rep = json.loads(files[2].read_text())
        edit(rep)
        files[2].write_text(json.dumps(rep))
        with pytest.raises(ValueError, match=match):
            run_experiment("nsr", cfg)
        _replicate_file(tmp_path, 2, 2, "EPYC", steps)

    refused(lambda r: r["arms"]["nsr"].update(steps=steps + 1), rf"nsr-seed2.json: arms.nsr.steps is {steps + 1}")
    refused(lambda r: r.update(learning_rate=1e-6), r"nsr-seed2.json: field 'learning_rate' is 1e-06")
    refused(lambda r: r.update(seed=5), r"nsr-seed2.json: field 'seed' is 5, the file name says 2")
    refused(lambda r: r.pop("cpu"), r"nsr-seed2.json: replicate lacks field\(s\) \['cpu'\]")
