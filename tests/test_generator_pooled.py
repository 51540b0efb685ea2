"""The generator's effects pooled over replicates, the t interval behind them, and the sharing of stages between a
run and its generator ablation (issue #33, items 3 and 6)."""

import json

import pytest

from pns_hub import stats
from pns_hub.experiments import generator_pooled as gp
from pns_hub.experiments.stages import StageRunner


def test_replicate_mean_interval_hand_computed():
    # mean 2, sd 1, sem 1/sqrt(3); t(0.975, df 2) = 4.302653: half width 2.484138
    e = stats.replicate_mean_interval([1.0, 2.0, 3.0])
    assert (e.value, e.n, e.method) == (2.0, 3, "t over replicates")
    assert e.low == pytest.approx(2 - 2.484138, abs=1e-5) and e.high == pytest.approx(2 + 2.484138, abs=1e-5)
    with pytest.raises(ValueError, match="at least 2 replicates"):
        stats.replicate_mean_interval([0.5])


def _rep(steps, rm, curve):
    diff = lambda v: {"pns_minus_rs": {"value": v, "low": v - 0.1, "high": v + 0.1, "n": 40}}  # noqa: E731
    return {"figure1": {"ordering": {"steps": diff(steps), "rm": diff(rm), "judge": {}}},
            "reward_curve": [{"step": i + 1, "reward": r} for i, r in enumerate(curve)]}


def test_pooled_gains_keep_their_sign_and_labels():
    reps = [_rep(0.10, -0.2, [0.1, 0.1, 0.3, 0.5]), _rep(0.12, 0.3, [0.2, 0.2, 0.2, 0.6]),
            _rep(0.08, -0.1, [0.0, 0.2, 0.2, 0.4])]
    out = gp.pooled(reps)
    assert out["pns_minus_rs_steps"]["per_replicate"] == [0.10, 0.12, 0.08]
    assert out["pns_minus_rs_steps"]["value"] == pytest.approx(0.10)
    assert out["pns_minus_rs_steps"]["verdict"] == "supported"
    assert out["pns_minus_rs_rm"]["verdict"] == "not resolvable at this scale"
    assert out["reward_rise"]["per_replicate"] == pytest.approx([0.4, 0.4, 0.4])  # last quarter - first quarter
    assert "pns_minus_rs_judge" not in out  # not measured: left out, not zeroed
    worse = gp.pooled([_rep(-0.10, 0, [0.5] * 4), _rep(-0.12, 0, [0.5] * 4), _rep(-0.08, 0, [0.5] * 4)])
    assert worse["pns_minus_rs_steps"]["verdict"] == "not supported"  # the fixed rule's "contradicted"
    table = gp.markdown(out)
    assert "| negatives' step-checker plausibility, PNS - RS | +0.100 [" in table and "+0.120" in table


def test_one_replicate_keeps_its_value_without_an_interval_or_verdict():
    # The same shape Figure 1's pool gives a single replicate (one helper behind both tables).
    out = gp.pooled([_rep(0.10, -0.2, [0.1, 0.1, 0.3, 0.5])])
    e = out["pns_minus_rs_steps"]
    assert (e["value"], e["low"], e["high"], e["n"]) == (0.10, 0.10, 0.10, 1) and "verdict" not in e
    assert "| negatives' step-checker plausibility, PNS - RS | n/a (one replicate) | n/a | +0.100 |" in gp.markdown(out)
    with pytest.raises(ValueError, match="at least 1 replicate"):
        stats.pooled_over_replicates([])


def test_reward_rise_needs_four_steps():
    assert gp.reward_rise([{"step": 1, "reward": 0.1}, {"step": 2, "reward": 0.9}]) is None


def test_a_flat_reward_curve_is_a_replicate_with_rise_zero_not_a_missing_one():
    reps = [_rep(0.1, 0.0, [0.5] * 4), _rep(0.1, 0.0, [0.2, 0.2, 0.4, 0.4])]
    assert gp.pooled(reps)["reward_rise"]["per_replicate"] == pytest.approx([0.0, 0.2])


def _stage(root, budget, result):
    runner = StageRunner(root)
    return runner.run("reward_model", {"model": "m", "budget": budget}, lambda: result, [])


def test_a_run_adopts_another_runs_stage_only_when_only_ignored_fields_differ(tmp_path):
    source, budget = tmp_path / "composite", {"rm_problems": 10, "gen_reward": "composite"}
    _stage(source, budget, {"folder": str(source / "hub" / "rm"), "metrics": {"acc": 0.7}})

    def adopt(b):
        runner = StageRunner(tmp_path / "oracle", adopt_from=source, adoptable=frozenset({"reward_model"}),
                             adopt_ignoring=frozenset({"gen_reward"}))
        never = lambda: pytest.fail("an adopted stage must not run")  # noqa: E731
        return runner, runner.run("reward_model", {"model": "m", "budget": b}, never, [])

    runner, result = adopt({**budget, "gen_reward": "oracle"})
    assert result == {"folder": str(source / "hub" / "rm"), "metrics": {"acc": 0.7}}  # the source run's folder
    assert runner.adopted == {"reward_model": str(source)} and runner.reused == ["reward_model"]
    assert runner.keys["reward_model"] == json.loads((source / "stages" / "reward_model.json").read_text())["key"]
    with pytest.raises(ValueError, match=r"budget\.rm_problems differ"):
        adopt({"rm_problems": 12, "gen_reward": "oracle"})
    with pytest.raises(FileNotFoundError, match="has not finished"):
        StageRunner(tmp_path / "x", adopt_from=tmp_path / "nowhere", adoptable=frozenset({"reward_model"})).run(
            "reward_model", {"budget": budget}, dict, [])


def test_before_after_gains_are_generator_minus_warm_up_per_replicate():
    """The unselected before/after: each replicate's generator row minus its warm-up row, by the step checker and the
    RM; a replicate without the step column is left out of that series, not counted as 0."""
    def rep(before_steps, after_steps, before_rm, after_rm):
        def row(steps, rm):
            return {"rm_score_of_wrong": {"value": rm}} | ({"steps_of_wrong": {"value": steps}} if steps else {})

        return {"figure1": {}, "generator_report": {"before GRPO (warm-up policy)": row(before_steps, before_rm),
                                                    "after GRPO (generator)": row(after_steps, after_rm)}}

    out = gp.pooled([rep(0.75, 0.70, 0.40, 0.50), rep(0.76, 0.60, 0.41, 0.46), rep(None, None, 0.40, 0.47)])
    assert out["wrong_steps_gain"]["per_replicate"] == pytest.approx([-0.05, -0.16])
    assert out["wrong_rm_gain"]["per_replicate"] == pytest.approx([0.10, 0.05, 0.07])
    assert "generator - warm-up policy" in gp.markdown(out)


def test_curve_quarters_name_which_component_moved():
    """8 logged steps, quarters of 2: reward and every pns/* component as first-quarter and last-quarter means, by
    hand; a component logged in only some steps uses the steps that have it; under 4 steps nothing is claimed."""
    curve = [{"step": i + 1, "reward": r, "pns/wrong": w, "pns/steps": s, "entropy": 9.0}
             for i, (r, w, s) in enumerate(zip([0.2, 0.4, 0.5, 0.5, 0.6, 0.6, 0.7, 0.9],
                                               [0.5, 0.7, 0.8, 0.8, 0.9, 0.9, 1.0, 1.0],
                                               [0.8, 0.8, 0.7, 0.7, 0.7, 0.6, 0.5, 0.3]))]
    curve[0]["pns/rm"] = 0.1  # logged once: first quarter only -> no last-quarter mean, left out
    q = gp.curve_quarters(curve)
    assert list(q) == ["reward", "pns/steps", "pns/wrong"]  # reward first, then the components; not entropy
    assert q["reward"] == pytest.approx((0.3, 0.8))
    assert q["pns/wrong"] == pytest.approx((0.6, 1.0))
    assert q["pns/steps"] == pytest.approx((0.8, 0.4))  # the component that fell while the reward rose
    line = gp.curve_line(curve)
    assert "reward 0.300 -> 0.800" in line and "steps 0.800 -> 0.400" in line and "of 8 logged steps" in line
    assert gp.curve_quarters(curve[:3]) == {} and "fewer than 4" in gp.curve_line(curve[:3])


def test_a_generator_ablation_report_has_each_replicates_generator_table_and_figure1():
    """The ablation (no DPO) writes a section per replicate: its curve line (reward curves keyed by int in memory
    and by str after a JSON round trip), its before/after table and its Figure 1 ordering."""
    e = lambda v, n: {"value": v, "low": v - 0.01, "high": v + 0.01, "n": n}  # noqa: E731
    row = lambda wrong, steps: {"format_rate": e(1.0, 8), "wrong_rate_among_well_formed": e(wrong, 8),  # noqa: E731
                                "rm_score_of_wrong": e(0.4, 5), "judge_score_of_wrong": e(0.5, 5),
                                "steps_of_wrong": e(steps, 5)}
    gen = {"before GRPO (warm-up policy)": row(0.6, 0.75), "after GRPO (generator)": row(0.9, 0.65)}
    from pns_hub.experiments import figure1

    fig = {"measures": dict(figure1.MEASURES), "ordering": {},
           "groups": {m: {"correct": e(0.99, 4), "pns": e(0.65, 4)} for m in figure1.MEASURES}}
    curve = [{"step": i + 1, "reward": 0.1 * i} for i in range(4)]
    result = {"per_replicate": [{"replicate": 3, "seed": 7, "generator_report": gen, "figure1": fig}],
              "reward_curves": {3: curve}}
    text = gp.replicate_sections(result)
    assert "### Replicate 3, seed 7" in text and "reward 0.000 -> 0.300" in text
    assert "| after GRPO (generator) | 1.000 [0.990, 1.010] (n=8) | 0.900 [0.890, 0.910] (n=8)" in text
    assert "0.650 [0.640, 0.660]" in text  # the replicate's own Figure 1 row
    roundtrip = json.loads(json.dumps(result))
    assert gp.replicate_sections(roundtrip) == text
    no_curve = {**result, "reward_curves": {}}  # the ablation says so; the DPO replicate report leaves the line out
    assert "GRPO reward curve: fewer than 4 logged steps." in gp.replicate_sections(no_curve)
    assert not any("reward curve" in line for line in gp.generator_lines(no_curve, result["per_replicate"][0]))
