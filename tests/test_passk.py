"""pass@k: the unbiased estimator against hand-computed values, the k curve, and the plot."""

from math import comb

import pytest

from pns_hub.eval.passk import curve_ks, pass_at_k, pass_at_k_curve, plot_curves


def test_pass_at_k_hand_computed():
    # n=4 samples, c=1 correct: pass@1 = 1/4; pass@2 = 1 - C(3,2)/C(4,2) = 1 - 3/6 = 1/2; pass@4 = 1.
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25)
    assert pass_at_k(4, 1, 2) == pytest.approx(0.5)
    assert pass_at_k(4, 1, 4) == pytest.approx(1.0)
    # n=5, c=2, k=2: 1 - C(3,2)/C(5,2) = 1 - 3/10 = 0.7
    assert pass_at_k(5, 2, 2) == pytest.approx(0.7)
    assert pass_at_k(10, 0, 5) == 0.0
    assert pass_at_k(3, 3, 1) == 1.0


def test_pass_at_k_matches_binomial_form_at_256():
    for c in (0, 1, 7, 100, 255):
        for k in (1, 2, 16, 128, 256):
            exact = 1 - comb(256 - c, k) / comb(256, k)
            assert pass_at_k(256, c, k) == pytest.approx(exact, abs=1e-12)


def test_curve_and_errors(tmp_path):
    assert curve_ks(1) == [1]
    assert curve_ks(256) == [1, 2, 4, 8, 16, 32, 64, 128, 256]
    assert curve_ks(6) == [1, 2, 4, 6]
    curve = pass_at_k_curve([(4, 1), (4, 0)])  # mean over two problems
    assert curve == {1: pytest.approx(0.125), 2: pytest.approx(0.25), 4: pytest.approx(0.5)}
    with pytest.raises(ValueError):
        pass_at_k(4, 5, 1)
    with pytest.raises(ValueError):
        pass_at_k(4, 1, 8)
    png = plot_curves({"gsm8k": curve, "json-keys": {"1": 0.1, "2": 0.2}}, tmp_path / "c.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
