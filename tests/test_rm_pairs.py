"""The RM's pairs are format-filtered as synthesis filters its candidates (issue #33): an ill-formed sample is no side
of a pair. The real verifier and pairing; only the policy's samples are scripted."""

import pytest

from pns_hub.engines.generation import Completion, SamplingParams

REASONING = "Sam starts with 12 apples and buys 7 more, so 12 + 7 = {v} apples in all.\n\n"


def _samples(monkeypatch, completions):
    from pns_hub.engines import backends

    monkeypatch.setattr(backends, "generate_from_folder", lambda spec, prompts, params, **kw: [completions] * len(prompts))


@pytest.mark.parametrize("format_filter, expected_wrong", [(True, {"18"}), (False, {"18", "20", "21"})])
def test_ill_formed_samples_are_no_side_of_a_pair(monkeypatch, format_filter, expected_wrong):
    from pns_hub.rewards.reward_model import sample_preference_pairs

    _samples(monkeypatch, [
        Completion(REASONING.format(v=19) + "The final answer is $\\boxed{19}$.", 30, False),  # right, well formed
        Completion(REASONING.format(v=18) + "The final answer is $\\boxed{18}$.", 30, False),  # wrong, well formed
        Completion(REASONING.format(v=20) + "The final answer is $\\boxed{20}$.", 192, True),  # wrong, truncated
        Completion("So \\boxed{21}", 5, False),  # wrong, no reasoning before the answer
    ])
    rows = [{"id": "t/0", "problem": "Sam has 12 apples. Sam buys 7 more. How many?", "answer": "19",
             "solution": "12 + 7 = 19\n\\boxed{19}"}]
    pairs, stats = sample_preference_pairs("unused", rows, SamplingParams(num_samples=4), max_pairs_per_problem=3,
                                           verify_workers=0, format_filter=format_filter)
    assert {p["rejected"][0]["content"].rsplit("{", 1)[1][:2] for p in pairs} == expected_wrong
    assert all("boxed{19}" in p["chosen"][0]["content"] for p in pairs)
    assert stats["samples_not_well_formed"] == (2 if format_filter else 0)


def test_the_learning_curve_table():
    from pns_hub.experiments.rm_curve import markdown

    md = markdown([{"train_pairs": 60, "accuracy": 0.55, "low": 0.45, "high": 0.65, "heldout_pairs": 100}])
    assert "| 60 | 55.0% [45.0, 65.0] | 100 |" in md
