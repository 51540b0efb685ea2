"""Figure 1 at testbed scale (pns_hub.experiments.figure1): group means with intervals and the paper's ordering, on
hand-made fair-protocol rows whose ordering is known."""

import pytest

from pns_hub.experiments import figure1
from pns_hub.experiments.report import CONTRADICTED, SUPPORTED, UNRESOLVED

PROBLEM = "Sam has 12 apples. Sam buys 7 more. How many apples does Sam have now?"
RIGHT = "After buying: 12 + 7 = 19 apples.\n\\boxed{19}"
SLIP = "After buying: 12 + 7 = 18 apples.\n\\boxed{18}"  # step checker: (0 + 1 + 1) / 3
BARE = "Sam has a lot of apples, so \\boxed{5}"  # no step: 0


def _row(pid, source, rm, judge, text, chosen_rm=3.0):
    return {"problem_id": pid, "problem": PROBLEM, "negative_source": source,
            "chosen": [{"role": "assistant", "content": RIGHT}], "rejected": [{"role": "assistant", "content": text}],
            "rm_chosen": chosen_rm, "rm_rejected": rm, "judge_chosen": 0.6, "judge_rejected": judge}


def _rows(pns_rm, rs_rm, pns_text=SLIP, rs_text=BARE, n=30):
    """PNS and RS negatives of n problems; a small per-problem wobble so the intervals have width."""
    return {"pns": [_row(f"p{i}", "pns", pns_rm + 0.01 * (i % 3), 0.55, pns_text) for i in range(n)],
            "rejection_sampling": [_row(f"p{i}", "rejection_sampling", rs_rm + 0.01 * (i % 5), 0.50, rs_text)
                                   for i in range(n)]}


def test_the_papers_ordering_is_supported_where_it_holds():
    # the paper's numbers: correct +3.21 (here 3.0), PNS +3.34, RS -3.13
    fig = figure1.figure1(_rows(pns_rm=3.34, rs_rm=-3.13), seed=0)
    groups = fig["groups"]
    assert set(groups["rm"]) == {"correct", "pns", "rejection_sampling"}
    assert groups["rm"]["correct"]["value"] == pytest.approx(3.0) and groups["rm"]["correct"]["n"] == 30
    assert groups["rm"]["pns"]["value"] == pytest.approx(3.35, abs=0.01)
    assert groups["steps"]["correct"]["value"] == 1.0
    assert groups["steps"]["pns"]["value"] == pytest.approx(2 / 3) and groups["steps"]["rejection_sampling"]["value"] == 0
    for measure in ("rm", "steps"):
        assert set(fig["ordering"][measure]["verdicts"].values()) == {SUPPORTED}, measure
    assert fig["ordering"]["rm"]["pns_minus_rs"]["value"] > 6
    assert fig["step_details"]["rejection_sampling"]["no_steps"] == 30
    assert fig["step_details"]["pns"]["first_wrong_step"] == 1.0
    md = figure1.markdown(fig)
    assert "| correct (chosen side) | 30 |" in md and f"**{SUPPORTED}**" in md


def test_swapped_sources_contradict_the_ordering():
    fig = figure1.figure1(_rows(pns_rm=-3.13, rs_rm=3.34, pns_text=BARE, rs_text=SLIP), seed=0)
    for measure in ("rm", "steps"):
        assert set(fig["ordering"][measure]["verdicts"].values()) == {CONTRADICTED}, measure
    assert fig["ordering"]["rm"]["pns_minus_rs"]["high"] < 0


def test_pns_above_rs_but_far_below_correct_is_not_closer_to_correct():
    fig = figure1.figure1(_rows(pns_rm=-2.0, rs_rm=-3.13), seed=0)
    verdicts = fig["ordering"]["rm"]["verdicts"]
    assert verdicts[figure1.CLAIMS["pns_above_rs"]] == SUPPORTED
    assert verdicts[figure1.CLAIMS["pns_closer_to_correct"]] == CONTRADICTED
    # equal sources: nothing to resolve
    tie = figure1.figure1(_rows(pns_rm=0.0, rs_rm=0.0, rs_text=SLIP), seed=0)
    assert tie["ordering"]["steps"]["verdicts"][figure1.CLAIMS["pns_above_rs"]] == UNRESOLVED


def test_a_disabled_scorer_is_left_out_not_scored_zero(tmp_path):
    rows = _rows(pns_rm=1.0, rs_rm=0.0)
    for r in rows["pns"] + rows["rejection_sampling"]:
        r["judge_rejected"] = r["judge_chosen"] = None
    fig = figure1.figure1(rows, seed=0)
    assert all(v is None for v in fig["groups"]["judge"].values()) and fig["ordering"]["judge"] == {}
    paths = figure1.write(fig, tmp_path, "test")
    assert all((tmp_path / f"figure1.{ext}").stat().st_size > 0 for ext in ("json", "md", "png")), paths


def test_figure1_pooled_over_replicates_keeps_the_layout_signs_and_verdicts():
    """Pooled Figure 1: group means and ordering differences as t intervals over replicates, drawn by the same
    markdown; PNS above RS in every replicate is supported, a margin that changes sign is not resolvable."""
    from pns_hub.experiments import figure1 as f1

    def fig(pns, rs, margin):
        e = lambda v: {"value": v, "low": v - 0.01, "high": v + 0.01, "n": 50}  # noqa: E731
        return {"groups": {"steps": {"correct": e(1.0), "pns": e(pns), "rejection_sampling": e(rs)}},
                "ordering": {"steps": {"pns_minus_rs": e(pns - rs), "closer_margin": e(margin)}}}

    pooled = f1.pool([fig(0.8, 0.6, 0.1), fig(0.78, 0.6, -0.1), fig(0.82, 0.6, 0.05)])
    assert pooled["groups"]["steps"]["pns"]["value"] == pytest.approx(0.8)
    assert pooled["groups"]["steps"]["pns"]["n"] == 3  # replicates, not problems
    above = pooled["ordering"]["steps"]["pns_minus_rs"]
    assert above["value"] == pytest.approx(0.2) and above["low"] > 0
    verdicts = pooled["ordering"]["steps"]["verdicts"]
    assert verdicts[f1.CLAIMS["pns_above_rs"]] == "supported"
    assert verdicts[f1.CLAIMS["pns_closer_to_correct"]] == "not resolvable at this scale"
    swapped = f1.pool([fig(0.6, 0.8, -0.3), fig(0.6, 0.78, -0.2), fig(0.6, 0.82, -0.4)])
    assert swapped["ordering"]["steps"]["verdicts"][f1.CLAIMS["pns_above_rs"]] == "not supported"
    assert "**supported**" in f1.markdown(pooled)
    assert "t interval over replicates" in f1.markdown(pooled)  # the pooled ordering says how it was pooled


def test_figure1_pooled_over_one_replicate_prints_values_without_made_up_intervals():
    from pns_hub.experiments import figure1 as f1

    e = {"value": 0.8, "low": 0.7, "high": 0.9, "n": 50}
    one = f1.pool([{"groups": {m: {"pns": e} for m in f1.MEASURES}, "ordering": {"steps": {"pns_minus_rs": e, "closer_margin": e}}}])
    md = f1.markdown(one)
    assert "0.800 (one replicate)" in md and "[0.800, 0.800]" not in md
    assert one["ordering"] == {} and "not tested: pooling over replicates needs at least 2" in md
