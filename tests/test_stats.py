"""Interval code against hand-computed cases."""

import math

import pytest

from pns_hub import stats
from pns_hub.eval.passk import passk_curve_intervals, passk_interval
from pns_hub.stats import accuracy, bootstrap_mean, pair_by_id, paired_bootstrap, wilson_interval


def test_wilson_hand_computed():
    # 8 of 12 (the RM's held-out pairs in issue #17), z = 1.959964:
    # denom = 1 + z^2/12 = 1.3201216; centre = (2/3 + z^2/24) / denom = 0.8267275 / 1.3201216 = 0.6262512;
    # half = z * sqrt(0.0185185 + z^2/576 = 0.0066692) / denom = 1.959964 * 0.1587063 / 1.3201216 = 0.2356288
    # -> [0.3906224, 0.8618800]
    low, high = wilson_interval(8, 12)
    assert low == pytest.approx(0.3906224, abs=1e-6) and high == pytest.approx(0.8618800, abs=1e-6)
    # 0 of 10: lower bound 0, upper bound z^2 / (n + z^2) = 3.841459 / 13.841459 = 0.277532
    assert wilson_interval(0, 10) == (0.0, pytest.approx(0.277532, abs=1e-5))
    assert wilson_interval(10, 10) == (pytest.approx(1 - 0.277532, abs=1e-5), 1.0)
    # 99% is wider than 95%
    assert wilson_interval(8, 12, 0.99)[0] < low
    with pytest.raises(ValueError):
        wilson_interval(3, 2)
    with pytest.raises(ValueError):
        wilson_interval(0, 0)


def test_accuracy_picks_wilson_for_binary_and_bootstrap_for_means():
    est = accuracy([1] * 8 + [0] * 4)
    assert est.method == "wilson" and est.n == 12 and est.value == pytest.approx(2 / 3)
    assert (est.low, est.high) == pytest.approx(wilson_interval(8, 12))
    assert est.format() == "66.7% [39.1, 86.2] (n=12)"
    mixed = accuracy([0.25, 0.5, 0.75, 1.0] * 25)
    assert mixed.method == "bootstrap" and mixed.value == pytest.approx(0.625)
    # normal approximation: sd of {0.25, 0.5, 0.75, 1} = 0.279508, se = 0.0279508, half-width 0.054782
    assert mixed.low == pytest.approx(0.625 - 0.054782, abs=0.006)
    assert mixed.high == pytest.approx(0.625 + 0.054782, abs=0.006)
    with pytest.raises(ValueError, match="non-empty"):
        accuracy([])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        accuracy([0.5, 1.5])


def test_paired_bootstrap_hand_computed():
    # 400 problems: A right & B wrong on 30, B right & A wrong on 10, both right on 180, both wrong on 180.
    # delta = 20/400 = 0.05; var(d) = 40/400 - 0.0025 = 0.0975; se = sqrt(0.0975/400) = 0.015612; 1.96 se = 0.030600
    a = [1] * 30 + [0] * 10 + [1] * 180 + [0] * 180
    b = [0] * 30 + [1] * 10 + [1] * 180 + [0] * 180
    diff = paired_bootstrap(a, b)
    assert diff.value == pytest.approx(0.05) and diff.n == 400
    assert diff.low == pytest.approx(0.05 - 0.0306, abs=0.005) and diff.high == pytest.approx(0.05 + 0.0306, abs=0.005)
    assert diff.p_value < 0.01
    assert diff.format().startswith("+5.0 pts [")
    # pairing matters: the unpaired intervals of a (0.525) and b (0.475) overlap; the paired one excludes 0
    assert accuracy(a).low < accuracy(b).high and diff.low > 0
    # identical models: no difference, p = 1; reversed: the negated interval
    same = paired_bootstrap(a, a)
    assert (same.value, same.low, same.high, same.p_value) == (0.0, 0.0, 0.0, 1.0)
    back = paired_bootstrap(b, a)
    assert back.value == pytest.approx(-0.05) and back.high == pytest.approx(-diff.low, abs=1e-9)
    with pytest.raises(ValueError, match="pair them by problem id"):
        paired_bootstrap([1, 0], [1])


def test_bootstrap_is_seeded_and_exact_on_constants():
    values = [0, 1, 1, 0, 1] * 20
    assert bootstrap_mean(values, seed=3) == bootstrap_mean(values, seed=3)
    constant = bootstrap_mean([0.5] * 30)
    assert (constant.low, constant.value, constant.high) == (0.5, 0.5, 0.5)


def test_clustered_share_resamples_clusters_not_pairs():
    # hand case: two problems of two pairs, one won twice, one lost twice -> 2 of 4; a resample of two problems
    # is both-won (1.0), both-lost (0.0) or one of each (0.5), so the 95% interval is [0, 1]
    e = stats.clustered_share([2, 0], [2, 2])
    assert (e.value, e.low, e.high, e.n, e.method) == (0.5, 0.0, 1.0, 4, "cluster bootstrap")
    # clusters of one pair each: exactly the bootstrap over pairs (same seed, same draws)
    wins = [1] * 30 + [0] * 20
    single, plain = stats.clustered_share(wins, [1] * 50), stats.bootstrap_mean(wins)
    assert (single.value, single.low, single.high) == (plain.value, plain.low, plain.high)
    # 50 problems x 4 pairs that all go the same way: 50 independent outcomes, not 200, so the interval is about
    # as wide as Wilson's on 50 and far wider than Wilson's on 200 pairs
    e = stats.clustered_share([4] * 25 + [0] * 25, [4] * 50)
    w200, w50 = stats.wilson_interval(100, 200), stats.wilson_interval(25, 50)
    assert e.high - e.low > 1.7 * (w200[1] - w200[0])
    assert abs((e.high - e.low) - (w50[1] - w50[0])) < 0.04
    with pytest.raises(ValueError, match="successes <= trials"):
        stats.clustered_share([3], [2])


def test_pair_by_id():
    ids, a, b = pair_by_id({"p1": 1, "p2": 0, "p3": 1}, {"p3": 0, "p2": 0, "p9": 1})
    assert ids == ["p2", "p3"] and a == [0, 1] and b == [0, 0]


def test_passk_intervals():
    # every problem 2 of 4 correct: pass@1 = 0.5, pass@2 = 1 - C(2,2)/C(4,2) = 5/6, pass@4 = 1, zero-width intervals
    curve = passk_curve_intervals([(4, 2)] * 10)
    assert list(curve) == [1, 2, 4]
    assert curve[2].value == pytest.approx(5 / 6) and (curve[2].low, curve[2].high) == pytest.approx((5 / 6, 5 / 6))
    assert curve[4].value == 1.0
    # half the problems always right, half never: pass@k = 0.5 for every k; interval ~ 0.5 +- 1.96 * 0.5 / sqrt(200)
    est = passk_interval([(8, 8)] * 100 + [(8, 0)] * 100, k=4)
    half = 1.959964 * 0.5 / math.sqrt(200)
    assert est.value == 0.5 and est.low == pytest.approx(0.5 - half, abs=0.01) and est.high == pytest.approx(0.5 + half,
                                                                                                            abs=0.01)
    assert est.method == "bootstrap pass@4" and est.n == 200


def test_replicate_bootstrap_counts_run_to_run_spread():
    """Two replicates that disagree completely (every problem +1 in one run, -1 in the other): a problems-only
    bootstrap of the pooled scores says [0, 0]; the two-level one must say [-1, +1] (replicate counts 0/1/2 of the
    first run with chances 1/4, 1/2, 1/4, worked by hand)."""
    from pns_hub.stats import replicate_paired_bootstrap

    a = [[1.0] * 20, [0.0] * 20]
    b = [[0.0] * 20, [1.0] * 20]
    d = replicate_paired_bootstrap(a, b, seed=1)
    assert d.mean == 0.0 and d.per_replicate == (1.0, -1.0) and d.n_replicates == 2 and d.n_problems == 20
    assert (d.low, d.high) == (-1.0, 1.0)
    flat = paired_bootstrap([v for r in a for v in r], [v for r in b for v in r], seed=1)
    assert flat.high - flat.low < 0.7  # the one-level interval is much narrower: the reason for the function


def test_replicate_bootstrap_matches_the_exact_resampling_distribution():
    """R = P = 2, diff = [[1, 0], [0, 0]]: the statistic is w_r * w_p / 4 with w_r, w_p independent counts in {0,1,2}
    (chances 1/4, 1/2, 1/4), so its mean is 1/4 and its variance 1.5^2/16 - 1/16 = 0.078125 (by hand)."""
    import numpy as np

    from pns_hub import stats

    calls = {}
    real = stats._percentiles

    def keep(boot, confidence):
        calls["boot"] = boot
        return real(boot, confidence)

    stats._percentiles = keep
    try:
        d = stats.replicate_paired_bootstrap([[1, 0], [0, 0]], [[0, 0], [0, 0]], n_resamples=40_000, seed=3)
    finally:
        stats._percentiles = real
    boot = calls["boot"]
    assert d.value == 0.25 and abs(boot.mean() - 0.25) < 0.01 and abs(np.var(boot) - 0.078125) < 0.004
    assert set(np.unique(boot)) <= {0.0, 0.25, 0.5, 1.0}


def test_replicate_bootstrap_refuses_ragged_or_mismatched_replicates():
    from pns_hub.stats import replicate_paired_bootstrap

    with pytest.raises(ValueError, match="same shape"):
        replicate_paired_bootstrap([[1, 0], [0, 0]], [[0, 0]])
    one = replicate_paired_bootstrap([[1, 0, 1, 1]], [[0, 0, 1, 0]])
    assert one.n_replicates == 1 and "one replicate" in one.method and one.value == 0.5


def test_quarter_means_take_quarters_of_steps_and_claim_nothing_from_too_little():
    assert stats.quarter_means([0.2, 0.4, 0.5, 0.5, 0.6, 0.6, 0.7, 0.9]) == pytest.approx((0.3, 0.8))
    # quarters are of steps: a value logged only in the first two of 8 steps has no last-quarter mean
    assert stats.quarter_means([0.1, 0.3] + [None] * 6) is None
    assert stats.quarter_means([0.1, None, None, None, None, None, 0.4, None]) == pytest.approx((0.1, 0.4))
    assert stats.quarter_means([0.1, 0.9, 0.5]) is None and stats.quarter_means([]) is None
