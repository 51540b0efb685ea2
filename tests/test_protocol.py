"""The fair protocol's problem sets never overlap (issue #17: splits are disjoint)."""

from pathlib import Path

import pytest
import yaml

from pns_hub.experiments.protocol import DEFAULT_SIZES, ROLES, check_disjoint, fair_problem_sets


def test_default_sets_are_disjoint_and_sized():
    sets = fair_problem_sets()
    assert {r: len(sets[r]) for r in ROLES} == DEFAULT_SIZES and len(sets["test"]) == 500
    check_disjoint(sets.sets)  # fair_problem_sets checked already; checking again costs nothing
    ids = [r["id"] for rows in sets.sets.values() for r in rows]
    texts = [r["problem"] for rows in sets.sets.values() for r in rows]
    assert len(set(ids)) == len(ids) and len(set(texts)) == len(texts)
    assert all(r["id"].startswith("testbed/test/") for r in sets["test"])
    assert sets.summary()["offsets"]["reward_model"] == [400, 300]


def test_warmup_slice_is_what_the_warmup_recipe_trains_on():
    recipe = yaml.safe_load((Path(__file__).parent.parent / "recipes/smollm2-135m-instruct/sft_warmup_testbed.yaml")
                            .read_text())
    sets = fair_problem_sets()
    assert recipe["dataset_name"] == sets.train_name
    assert (recipe["dataset_offset"], recipe["dataset_limit"]) == sets.offsets["warmup"]


def test_overlap_is_caught_by_id_text_and_identity():
    sets = fair_problem_sets({"warmup": 20, "reward_model": 20, "generator": 20, "synthesis": 20}, test_size=20)
    shared = dict(sets["generator"][3])
    with pytest.raises(ValueError, match="'reward_model' and 'synthesis' share a problem"):
        check_disjoint({"reward_model": sets["reward_model"], "synthesis": sets["synthesis"] + [sets["reward_model"][0]]})
    renamed = dict(shared, id="elsewhere/1", source="elsewhere")  # same text under another id and source
    with pytest.raises(ValueError, match="same text"):
        check_disjoint({"generator": sets["generator"], "test": [renamed]})
    # same numbers and template, other names: the identity (key hash) still matches
    twin = dict(shared, problem=shared["problem"].replace(" ", "  ") + " (again)",
                id=shared["id"].replace("/train/", "/test/"))
    with pytest.raises(ValueError, match="same identity"):
        check_disjoint({"generator": sets["generator"], "test": [twin]})


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="unknown role"):
        fair_problem_sets({"judge": 10})
    with pytest.raises(ValueError, match="ask for"):
        fair_problem_sets({"warmup": 5000})
    with pytest.raises(ValueError, match="test_size"):
        fair_problem_sets(test_size=10_000)
