"""The leaderboard chart a reader can read: one colour per method, the legend beside the bars (not over them), no
bar for a score that does not exist, and an average only over the benchmarks every run has, with its interval."""

import pytest

from pns_hub.eval import leaderboard
from pns_hub.eval.results import ResultRecord, intervals_from_counts


METHODS = ["base", "pns-dpo", "rs-dpo", "glow", "nsr", "w-reinforce"]


def _record(method: str, k: int, ood: bool) -> ResultRecord:
    """A run on gsm8k and the testbed (40 problems each); GLOW runs also on the out-of-template split."""
    per = {bench: {f"{bench}/{i}": int((i * 7 + k + j) % 5 < 2) for i in range(40)}
           for j, bench in enumerate(["gsm8k", "testbed"] + (["testbed_ood"] if ood else []))}
    scores = {b: sum(c.values()) / len(c) for b, c in per.items()}
    return ResultRecord(model=f"org/{method}-{k}", method=method, scores=scores, per_problem=per,
                        intervals=intervals_from_counts(per, 1))


@pytest.fixture
def df():
    records = [_record(m, k, m == "glow") for m in METHODS for k in range(3)]  # 18 runs, 6 methods
    return leaderboard.to_dataframe(records)


def test_average_is_over_the_benchmarks_every_run_has(df):
    assert df.attrs["average_over"] == ["gsm8k", "testbed"]
    glow = df[df["method"] == "glow"].iloc[0]
    assert glow["average"] == pytest.approx((glow["gsm8k"] + glow["testbed"]) / 2, abs=0.01)


def test_no_bar_for_a_missing_score_and_the_average_has_an_interval(df):
    groups, bars = leaderboard.chart_bars(df)
    assert groups == ["gsm8k", "testbed", "testbed_ood", "average"]
    ood = [b for b in bars if b["group"] == "testbed_ood"]
    assert len(ood) == 3 and {b["method"] for b in ood} == {"glow"}  # no zero-height bars for the 15 others
    for bar in (b for b in bars if b["group"] == "average"):
        assert bar["low"] < bar["value"] < bar["high"]  # an interval, of nonzero width


def test_one_colour_per_method_and_the_legend_outside_the_axes(df):
    import matplotlib.pyplot as plt

    fig = leaderboard.draw(df)
    ax = fig.axes[0]
    colours = {}
    for patch in ax.patches:
        colours.setdefault(patch.get_facecolor(), 0)
    assert len(colours) == len(METHODS)  # 18 runs, 6 colours
    assert [t.get_text() for t in ax.get_legend().get_texts()] == METHODS
    fig.canvas.draw()
    legend_box, axes_box = ax.get_legend().get_window_extent(), ax.get_window_extent()
    assert legend_box.x0 >= axes_box.x1  # beside the bars, never over them
    plt.close(fig)


def test_png_is_written(df, tmp_path):
    path = leaderboard.plot(df, tmp_path / "chart.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
