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


def test_arms_run_in_fewer_replicates_pool_over_those_and_say_so():
    reps = _replicates(pns_gain=20, rs_gain=5)
    reps[0]["prompted_wrong"] = _arm(8, 2)
    report = rr.replicate_report(BASE, reps, seed=0, n_resamples=2000)
    assert report["arms_in_replicates"]["prompted_wrong"] == 1
    assert report["pooled"]["prompted_wrong_minus_rejection_sampling"]["n_replicates"] == 1
    md = rr.markdown(report)
    assert "| pns - rejection_sampling |" in md and "### Replicate 4" in md and "30 / 2" not in md
    bad = [dict(r) for r in reps]
    bad[2]["pns"] = {k: v for k, v in bad[2]["pns"].items() if k != "p000"}
    with pytest.raises(ValueError, match="replicate 2, arm 'pns'"):
        rr.replicate_report(BASE, bad, seed=0, n_resamples=2000)
