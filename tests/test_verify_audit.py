"""A negatives dataset built through synthesis holds no restatement of the gold and no non-answer as ``rejected``;
``pns-hub verify --audit`` lists the rows of a dataset whose label the current grader no longer confirms."""

import json

import pytest

from pns_hub.engines import generation

from pns_hub.synthesis import baselines as negatives

from pns_hub.synthesis import run as synthesize

from pns_hub.grading import verify
PROBLEMS = [{"id": f"p{i}", "problem": f"Tom has {i + 2} apples and buys {i + 3} more. How many apples now?",
             "answer": str(2 * i + 5),
             "solution": f"Tom has {i + 2} + {i + 3} = {2 * i + 5} apples.\n#### {2 * i + 5}"}
            for i in range(3)]
REASONING = "We count the apples step by step: first the ones he has, then the ones he buys, and add them. "


def fake_completions(gold: str) -> list[str]:
    """What a reverse-RL generator or a prompted model writes: restatements of the right answer (units, a full stop,
    \\text{}, a currency sign), non-answers, and real wrong answers (only these may become ``rejected``)."""
    g = int(gold)
    answers = [f"{g} apples", f"{g}.", f"\\text{{{g} apples}}", f"\\${g}", "wrong", "correct", "\\text{incorrect}", "",
               str(g + 1), f"{g - 2} apples"]
    return [f"{REASONING}The final answer is $\\boxed{{{a}}}$." for a in answers]


class FakeSamplers:
    """Stands in for synthesis' model samplers: same interface, fixed completions, no model loaded."""

    def __init__(self, config):
        self.config = config

    def sample(self, spec, revision, kind, problems):
        return [[generation.Completion(text, 30, False) for text in fake_completions(p["answer"])] for p in problems]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("audit")
    path = folder / "problems.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in PROBLEMS))
    config = synthesize.SynthesisConfig(output_dir=str(folder / "negatives"), dataset=str(path), limit=None,
                                        generator="fake/generator", policy="fake/policy",
                                        instruct_model="fake/instruct",
                                        num_samples=len(fake_completions("5")), chosen_from_policy=False,
                                        rejected_choice="all", verify_workers=0, progress=False)
    mp = pytest.MonkeyPatch()
    mp.setattr(synthesize, "Samplers", FakeSamplers)
    try:
        return synthesize.synthesize_dataset(config)
    finally:
        mp.undo()


def _rows(folder, name):
    from datasets import load_dataset

    return load_dataset(str(folder), name, split="train").to_list()


def test_no_rejected_row_is_a_restatement_or_a_non_answer(built):
    pns = _rows(built, negatives.PNS)
    assert pns, "the real wrong answers must still become rows"
    for name in negatives.SOURCES:
        for row in _rows(built, name):
            gold = row["gold_answer"]
            result = verify.verify_one(row["rejected"][0]["content"], gold)
            assert result.is_valid_negative, (name, row["rejected_answer"], result)
            kept = row["rejected_answer"]
            assert kept not in fake_completions(gold)[:8] and kept not in {f"{gold} apples", f"{gold}.", "wrong", ""}
            assert verify.verify_one(row["chosen"][0]["content"], gold).is_correct
    # rejected_choice="all": exactly the two real wrong answers per problem, none of the 8 restatements/non-answers
    assert sorted(r["rejected_answer"] for r in pns if r["problem_id"].endswith("p0")) == ["3 apples", "6"]


def test_audit_lists_rows_whose_label_changed(built, tmp_path, capsys):
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    from pns_hub.cli import main

    assert main(["verify", "--audit", str(built), "--num-workers", "0"]) == 0
    assert "0 labels changed" in capsys.readouterr().out
    # Build a dataset as the old grader did: a restated right answer as rejected, a non-answer as chosen.
    old = tmp_path / "old"
    shutil.copytree(built, old)
    target = next((old / "data" / negatives.PNS).glob("*.parquet"))
    table = pq.read_table(target).to_pylist()
    gold = table[0]["gold_answer"]
    table[0]["rejected"] = [{"role": "assistant", "content": f"{REASONING}So $\\boxed{{{gold} apples}}$."}]
    table[1]["chosen"] = [{"role": "assistant", "content": f"{REASONING}$\\boxed{{correct}}$"}]
    pq.write_table(pa.Table.from_pylist(table, schema=pq.read_schema(target)), target)
    report = tmp_path / "changes.jsonl"
    assert main(["verify", "--audit", str(old), "--num-workers", "0", "--output", str(report)]) == 1
    out = capsys.readouterr().out
    assert "2 labels changed" in out
    changes = [json.loads(line) for line in report.read_text().splitlines()]
    # rows counted from 1 (the file's first row is row 1, as in the errors that name a row)
    assert [(c["row"], c["side"], c["verdict"]) for c in changes] == [(1, "rejected", "correct"),
                                                                      (2, "chosen", "unparseable")]
    assert f"{changes[0]['file']} row 1 (" in out


def test_audit_of_a_folder_without_data_is_a_clear_error(tmp_path, capsys):
    from pns_hub.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["verify", "--audit", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "not a Hub-layout dataset folder" in capsys.readouterr().err
