"""The fair protocol for negatives gives every source the same budget, rule, chosen side and problems (issue #17)."""

import pytest

from pns_hub.synthesis import fair as fair_negatives
from pns_hub.synthesis.config import SynthesisConfig
from pns_hub.synthesis.selection import select_negatives

SOURCES = ("pns", "rejection_sampling", "prompted_wrong", "perturbed")


def _row(pid, source, index, plaus, chosen="gold text"):
    return {"problem_id": pid, "problem": f"problem {pid}", "negative_source": source, "candidate_index": index,
            "plausibility": plaus,
            "rm_rejected_squashed": plaus, "judge_rejected": 0.5, "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": f"{source}-{pid}-{index}"}]}


def _candidates():
    rows = {s: [] for s in SOURCES}
    for p in ("a", "b", "c"):
        for s in SOURCES:
            if p == "c" and s == "prompted_wrong":
                continue  # one source lacks a negative on c: c must go from every source
            rows[s] += [_row(p, s, j, plaus=0.1 * j + (0.05 if s == "pns" else 0.0)) for j in range(4)]
    return rows


@pytest.mark.parametrize("rule", fair_negatives.RULES)
def test_every_source_gets_the_same_problems_chosen_and_pair_count(rule):
    selected, report = fair_negatives.fair_select(_candidates(), rule, seed=3)
    assert report["problems_kept"] == 2 and report["problems_dropped"] == 1
    assert report["problems_lacking_a_negative_by_source"] == {"pns": 0, "rejection_sampling": 0,
                                                                "prompted_wrong": 1, "perturbed": 0}
    assert {s: [r["problem_id"] for r in rows] for s, rows in selected.items()} == {s: ["a", "b"] for s in SOURCES}
    for i in range(2):
        assert len({selected[s][i]["chosen"][0]["content"] for s in SOURCES}) == 1
    assert all(r["selection"] == f"{rule} of 4" for rows in selected.values() for r in rows)


def test_most_plausible_picks_the_top_candidate_for_every_source_not_only_pns():
    selected, _ = fair_negatives.fair_select(_candidates(), "most_plausible")
    assert all(r["candidate_index"] == 3 for rows in selected.values() for r in rows)


def test_random_pick_is_seeded_and_ignores_plausibility():
    picks = [tuple(r["candidate_index"] for rows in fair_negatives.fair_select(_candidates(), "random", seed=s)[0]
                   .values() for r in rows) for s in range(6)]
    assert picks[0] == tuple(r["candidate_index"] for rows in fair_negatives.fair_select(
        _candidates(), "random", seed=0)[0].values() for r in rows)
    assert len(set(picks)) > 1 and any(i != 3 for p in picks for i in p)


def test_different_chosen_sides_are_refused():
    rows = _candidates()
    rows["perturbed"][0] = _row("a", "perturbed", 0, 0.1, chosen="another solution")
    with pytest.raises(ValueError, match="different chosen responses"):
        fair_negatives.fair_select(rows, "random")


def test_table_reports_both_rules_and_the_paired_pns_difference():
    table = fair_negatives.plausibility_table(_candidates())
    assert set(table) == {"random", "most_plausible"}
    diff = table["most_plausible"]["pns_minus_rejection_sampling"]["plausibility"]
    assert diff["n"] == 2 and diff["value"] == pytest.approx(0.05)
    text = fair_negatives.markdown_table(table)
    assert "random of k" in text and "most plausible of k" in text and "2 of 3 problems kept" in text


def test_synthesis_selection_rule_is_the_same_for_every_source():
    """The synthesis-time pick (pns-hub synthesize) follows rejected_choice for baselines too, not random."""
    config = SynthesisConfig(rejected_choice="most_plausible")
    cands = [{"index": j, "plaus": 0.1 * j, "rm": 0.0, "judge": 0.0} for j in range(4)]
    for source in SOURCES:
        (pick, how), = select_negatives(source, cands, config, "p1")
        assert pick["index"] == 3 and how == "most_plausible:composite", source
    assert set(SynthesisConfig().format_filter) == {"pns", "rejection_sampling", "prompted_wrong"}


def test_generator_report_counts_wrong_among_well_formed():
    samples = {"policy": [{"format_ok": True, "verdict": "wrong"}, {"format_ok": True, "verdict": "correct"},
                          {"format_ok": False, "verdict": "unparseable"}],
               "pns": [{"format_ok": True, "verdict": "wrong"}] * 4}
    report = fair_negatives.generator_report(samples, _candidates())
    before, after = report["before GRPO (warm-up policy)"], report["after GRPO (generator)"]
    assert before["format_rate"]["n"] == 3 and before["format_rate"]["value"] == pytest.approx(2 / 3)
    assert before["wrong_rate_among_well_formed"]["value"] == pytest.approx(0.5)
    assert after["wrong_rate_among_well_formed"]["value"] == 1.0 and after["rm_score_of_wrong"]["n"] == 12
    assert after["steps_of_wrong"]["n"] == 12 and before["steps_of_wrong"]["n"] == 12
    assert "n=3" in fair_negatives.generator_markdown(report) and "step-checker" in fair_negatives.generator_markdown(
        report)


def test_steps_of_wrong_scores_each_answer_against_its_own_problem():
    """Hand-checked: a right chain scores 1; one slip carried through scores (1/2 + 1 + 1) / 3; the same slip's
    numbers against another problem are no longer grounded. Each answer is read against its own row's problem."""
    problem = "Maria has 12 apples. She buys 7 more, then gets 5 as a gift. How many apples does she have?"
    right = "12 + 7 = 19 apples.\n19 + 5 = 24 apples.\n\nThe final answer is $\\boxed{24}$."
    slip = "12 + 7 = 18 apples.\n18 + 5 = 23 apples.\n\nThe final answer is $\\boxed{23}$."
    rows = [{"problem": problem, "rejected": [{"role": "assistant", "content": text}]} for text in (right, slip)]
    e = fair_negatives.steps_of_wrong(rows)
    assert e["n"] == 2 and e["value"] == pytest.approx((1 + (0.5 + 1 + 1) / 3) / 2)
    other = [{**rows[1], "problem": "Tom has 40 marbles and loses 3. How many are left?"}]
    assert fair_negatives.steps_of_wrong(other)["value"] < fair_negatives.steps_of_wrong(rows[1:])["value"]


def test_every_synthesis_recipe_filters_all_its_sampled_sources_alike():
    """A recipe that format-filters PNS but not the baselines would hand PNS an unfair edge in the DPO comparison."""
    from pathlib import Path

    import yaml

    from pns_hub.synthesis.baselines import PERTURBED

    recipes = sorted((Path(__file__).resolve().parent.parent / "recipes").glob("*/synthesize/*.yaml"))
    assert recipes
    for path in recipes:
        raw = yaml.safe_load(path.read_text())
        config = SynthesisConfig(**{k: raw[k] for k in ("sources", "format_filter") if k in raw})
        sampled = [s for s in config.sources if s != PERTURBED]
        assert set(sampled) <= set(config.format_filter), f"{path}: format_filter {config.format_filter}"
        assert set(SynthesisConfig().format_filter) <= set(config.format_filter), path
