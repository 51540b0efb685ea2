"""The in-regime testbed: deterministic, splits disjoint, held-out templates held out, golds correct, a lighteval task."""

import re
from collections import Counter

import pytest

from pns_hub.data import testbed
from pns_hub.data.problems import EVAL_NAMES, load_problems
from pns_hub.data.testbed import HELDOUT_TEMPLATES, IN_TEMPLATES, generate, parse_id


def _identity(row):
    """(template, steps, key hash): what a problem asks, independent of names and items."""
    meta = parse_id(row["id"])
    return meta["template"], meta["steps"], row["id"].rsplit("/", 1)[1]


@pytest.fixture(scope="module")
def default_sets():
    return {name: load_problems(name) for name in ("testbed_train", "testbed", "testbed_ood")}


def test_deterministic_from_seed():
    assert generate("test", 50, seed=3) == generate("test", 50, seed=3)
    assert generate("train", 50, seed=3) != generate("train", 50, seed=4)
    assert load_problems("testbed", limit=5) == generate("test", 5)  # the loadable set is the seed-0 default


def test_schema_sizes_and_mix(default_sets):
    for name, rows in default_sets.items():
        split = testbed.DATASET_SPLITS[name]
        assert len(rows) == testbed.DEFAULT_SIZES[split]
        assert all(set(r) == {"id", "problem", "answer", "solution", "source"} and r["source"] == "testbed"
                   for r in rows)
        assert len({r["id"] for r in rows}) == len(rows) and len({r["problem"] for r in rows}) == len(rows)
        counts = Counter((parse_id(r["id"])["template"], parse_id(r["id"])["steps"]) for r in rows)
        templates = HELDOUT_TEMPLATES if split == "ood" else IN_TEMPLATES
        assert {t for t, _ in counts} == set(templates)  # every template and every step count is present
        assert {s for _, s in counts} == {1, 2, 3}


def test_splits_disjoint_by_text_and_by_numbers(default_sets):
    train, test, ood = default_sets["testbed_train"], default_sets["testbed"], default_sets["testbed_ood"]
    assert not {r["problem"] for r in train} & {r["problem"] for r in test}
    assert not {_identity(r) for r in train} & {_identity(r) for r in test}
    # by construction, not by luck of one seed: another seed's test split is still disjoint from this train split
    other_test = generate("test", 1000, seed=1)
    assert not {_identity(r) for r in train} & {_identity(r) for r in other_test}
    assert not {r["problem"] for r in train} & {r["problem"] for r in other_test}
    assert {r["problem"] for r in other_test} != {r["problem"] for r in test}


def test_heldout_templates_never_in_train_or_test(default_sets):
    for name in ("testbed_train", "testbed"):
        assert not {parse_id(r["id"])["template"] for r in default_sets[name]} & set(HELDOUT_TEMPLATES)
    assert {parse_id(r["id"])["template"] for r in default_sets["testbed_ood"]} == set(HELDOUT_TEMPLATES)
    with pytest.raises(ValueError, match="do not belong to split 'train'"):
        generate("train", 10, templates=("savings",))


_STEP = re.compile(r"(\d+) ([-+*/]) (\d+)(?: / 100)? = \$?(\d+)")


def test_gold_solutions_are_arithmetically_right(default_sets):
    ops = {"+": int.__add__, "-": int.__sub__, "*": int.__mul__, "/": int.__floordiv__}
    checked = 0
    for rows in default_sets.values():
        for row in rows:
            assert int(row["answer"]) > 0
            assert row["solution"].endswith(f"The final answer is $\\boxed{{{row['answer']}}}$.")
            for line in row["solution"].splitlines():
                for a, op, b, c in _STEP.findall(line):
                    if "/ 100" in line:
                        continue  # the percent line "p * q / 100 = d" is checked below
                    assert ops[op](int(a), int(b)) == int(c), (row["id"], line)
                    if op == "/":
                        assert int(a) % int(b) == 0, (row["id"], line)
                    checked += 1
            for p, q, d in re.findall(r"(\d+) \* (\d+) / 100 = \$(\d+)", row["solution"]):
                assert int(p) * int(q) == 100 * int(d), row["id"]
    assert checked > 10_000


def test_every_gold_verifies_against_itself(default_sets):
    """Through pns_hub.grading.verify (math-verify), one row per (split, template, steps) cell and then some."""
    from pns_hub.grading.verify import verify_one

    picked = {}
    for name, rows in default_sets.items():
        for row in rows:
            meta = parse_id(row["id"])
            picked.setdefault((name, meta["template"], meta["steps"]), []).append(row)
    sample = [r for cell in picked.values() for r in cell[:4]]
    assert len(picked) == 3 * (2 * len(IN_TEMPLATES) + len(HELDOUT_TEMPLATES))  # (train, test, ood) x steps 1-3
    assert all(verify_one(r["solution"], r["answer"]).is_correct for r in sample)
    assert not verify_one(sample[0]["solution"], str(int(sample[0]["answer"]) + 1)).is_correct


def test_generate_rejects_bad_arguments():
    with pytest.raises(ValueError, match="unknown testbed split"):
        generate("validation", 3)
    with pytest.raises(ValueError, match="steps must be"):
        generate("test", 3, steps=(4,))
    with pytest.raises(ValueError, match="could not draw"):
        generate("test", 100, steps=(1,), digits=(1,), templates=("add",))  # 64 keys in all
    with pytest.raises(ValueError, match="not a testbed id"):
        parse_id("gsm8k/12")


def test_lighteval_task_is_registered(tmp_path):
    from pns_hub.eval import tasks
    from pns_hub.eval.run import parse_benchmarks

    assert EVAL_NAMES[-1] == "testbed" and len(EVAL_NAMES) == 8
    assert [t.name for t in tasks.TASKS_TABLE] == [f"pns_{b}" for b in EVAL_NAMES]
    table = tasks.build_tasks(data_dir=tmp_path, benchmarks=["testbed"])
    assert table[0].name == "pns_testbed" and table[0].generation_size == tasks.GENERATION_SIZE_TESTBED
    assert (tmp_path / "testbed" / "test.jsonl").read_text().count("\n") == testbed.DEFAULT_SIZES["test"]
    assert parse_benchmarks(["testbed,gsm8k"]) == ["testbed", "gsm8k"] and "testbed" not in parse_benchmarks(["all"])


def test_warmup_sft_reads_the_training_split():
    from pns_hub.trainers.sft import warmup_dataset

    dataset = warmup_dataset("testbed_train", offset=0, limit=8)
    assert len(dataset) == 8 and "\\boxed" in dataset[0]["completion"][0]["content"]


def test_calibration_script_reports_n_and_interval(tiny_causal_lm_path, tmp_path, monkeypatch, capsys):
    """benchmarks/testbed_calibration.py end to end on a random tiny model: the JSON has the accuracy with its n and
    interval, the per-template cells, the per-problem outcomes, the command and the CPU."""
    import json

    from benchmarks import _common, testbed_calibration

    monkeypatch.setattr(testbed_calibration, "RESULTS_DIR", tmp_path)
    assert _common.RESULTS_DIR != tmp_path  # the committed results folder is left alone
    assert testbed_calibration.main([tiny_causal_lm_path, "--limit", "4", "--max-new-tokens", "4", "--tag", "t"]) == 0
    out = json.loads((tmp_path / "testbed_calibration-t.json").read_text())
    acc = out["accuracy"]
    assert acc["n"] == 4 and acc["method"] == "wilson" and acc["low"] <= acc["value"] <= acc["high"]
    assert len(out["per_problem"]) == 4 and sum(out["per_problem"].values()) == round(4 * acc["value"])
    assert sum(c["n"] for c in out["by_template"].values()) == 4 and out["machine"]["cpu"]
    assert "testbed_calibration" in out["command"] and "(n=4)" in capsys.readouterr().out
