"""``pns-hub experiment nsr|glow`` end to end at ``--budget tiny`` on the tiny random model: the chain runs, every
figure carries n and an interval, and the verdicts use the fixed vocabulary. (Whether the claims hold is for the
full-size runs; a random model's numbers mean nothing.)"""

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


@pytest.mark.slow  # warm-up + 4 (nsr) or 3 (glow) training runs + evaluations: ~1-2 min on the loaded 2-core CPU
def test_experiment_nsr_tiny(tiny_causal_lm_path, tmp_path):
    from pns_hub.experiments import NSR_ARMS, ExperimentConfig, run_experiment

    result = run_experiment("nsr", ExperimentConfig(output_dir=str(tmp_path), model=tiny_causal_lm_path,
                                                    budget="tiny"))
    assert set(result["curves"]) == {"base", *NSR_ARMS}
    assert result["ks"] == [1, 2, 4]  # n = 4 samples per problem at the tiny budget
    for curve in result["curves"].values():
        assert sorted(curve) == [1, 2, 4]
        for estimate in curve.values():
            _check_estimate(estimate, 4)
    for method, ev in result["evals"].items():
        assert len(ev["counts"]) == 4 and all(n == 4 and 0 <= c <= 4 for n, c in ev["counts"]), method
    _check_outputs(result, "nsr")
    assert "| w_reinforce |" in (tmp_path / "experiment_nsr.md").read_text()


@pytest.mark.slow
def test_experiment_glow_tiny(tiny_causal_lm_path, tmp_path):
    from pns_hub.experiments import GLOW_ARMS, ExperimentConfig, run_experiment

    result = run_experiment("glow", ExperimentConfig(output_dir=str(tmp_path), model=tiny_causal_lm_path,
                                                     budget="tiny"))
    assert set(result["table"]) == {"base", *GLOW_ARMS}
    for row in result["table"].values():
        _check_estimate(row["test"], 4)
        _check_estimate(row["ood"], 4)
    # GLOW trained past its first epoch, so weights were recorded, per label
    assert result["weights"] and result["weights_by_label"]
    assert {w["label"] for w in result["weights"]} <= {"positive", "negative", "unknown"}
    _check_outputs(result, "glow")
