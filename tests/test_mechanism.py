"""The demo's mechanism line (issue #33, item 8): which effects' intervals exclude zero, signs kept, or why none."""

from pns_hub.experiments import mechanism


def _summary(steps=(0.10, 0.04, 0.16), rm=(0.2, -0.1, 0.5), acc=(0.60, 0.45, 0.73), pairs=40):
    diff = lambda v, lo, hi: {"value": v, "low": lo, "high": hi, "n": 30}  # noqa: E731
    return {"figure1": {"ordering": {"steps": {"pns_minus_rs": diff(*steps)}, "rm": {"pns_minus_rs": diff(*rm)}}},
            "rm_heldout": {"pairwise_accuracy": acc[0], "pairwise_accuracy_low": acc[1],
                           "pairwise_accuracy_high": acc[2], "num_pairs": pairs}}


def test_only_the_effect_whose_interval_excludes_zero_is_named():
    found = mechanism.effects(_summary())
    assert [e["excludes_zero"] for e in found] == [True, False, False]
    line = mechanism.summary_line(found)
    assert "step checker" in line and "+0.100 [+0.040, +0.160]" in line
    assert "RM score" not in line and "above chance" not in line


def test_a_loss_is_named_with_its_sign_and_the_rm_is_measured_against_chance():
    found = mechanism.effects(_summary(steps=(-0.1, -0.16, -0.04), acc=(0.70, 0.62, 0.77)))
    line = mechanism.summary_line(found)
    assert "-0.100 [-0.160, -0.040]" in line
    assert "+0.200 [+0.120, +0.270] (n=40 pairs)" in line  # 0.70 - 0.50, not 0.70


def test_when_nothing_excludes_zero_the_line_says_why_at_this_size():
    line = mechanism.summary_line(mechanism.effects(_summary(steps=(0.05, -0.02, 0.12), pairs=8)))
    assert "no effect's 95% interval excludes zero at this size" in line
    assert "n=8 pairs" in line and "n=30 problems" in line


def test_an_unmeasured_effect_is_left_out_not_zeroed():
    found = mechanism.effects({"figure1": None, "rm_heldout": {"pairwise_accuracy": None}})
    assert found == []
    assert "nothing measured" in mechanism.summary_line(found)
