"""``pns-hub verify --cross-audit``: the same completions through this grader, lighteval and math-verify."""

import json

import pytest

from pns_hub.grading import cli, cross_audit

ROWS = [
    {"completion": r"So \boxed{5}.", "gold": "5", "expected": "correct"},
    {"completion": r"So \boxed{\frac{1}{3} E_{2}+\frac{2}{3} E_{2}}.", "gold": r"\frac{1}{3} E_{1}+\frac{2}{3} E_{2}",
     "expected": "wrong"},
    {"completion": r"So \boxed{-2 \le x \le 7}.", "gold": "[-2, 7]", "expected": "correct"},
    {"completion": r"So \boxed{6}.", "gold": "5"},
]


def test_disagreements_say_who_matched_the_expected_verdict(monkeypatch):
    monkeypatch.setattr(cross_audit, "_lighteval", lambda c, g: [True, True, False, False])
    monkeypatch.setattr(cross_audit, "_math_verify", lambda c, g: [True, True, None, True])
    result = cross_audit.cross_audit(ROWS, num_workers=0)
    assert result["with_expected"] == 3
    assert result["agreement"] == {"pns_hub": 3, "lighteval": 1, "math_verify": 1}
    assert result["false_positives"] == {"pns_hub": 0, "lighteval": 1, "math_verify": 1}
    rows = {d["row"]: d for d in result["disagreements"]}
    assert sorted(rows) == [1, 2, 3]
    assert rows[1]["right"] == ["pns_hub"] and rows[3]["right"] == [] and rows[3]["expected"] is None
    text = cross_audit.report(result)
    assert "[1] pns_hub=x lighteval=C math_verify=C right: pns_hub" in text


def test_command_writes_the_disagreements(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cross_audit, "_lighteval", lambda c, g: [r.get("expected") == "correct" for r in ROWS])
    monkeypatch.setattr(cross_audit, "_math_verify", lambda c, g: [True] * len(ROWS))
    path, out = tmp_path / "c.jsonl", tmp_path / "audit.json"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    assert cli.cli_main([f"--cross-audit={path}", "--gold-field=gold", "--num-workers=0", f"--output={out}"]) == 0
    written = json.loads(out.read_text())
    assert written["rows"] == 4 and [d["row"] for d in written["disagreements"]] == [1, 3]
    assert "2 disagreements" in capsys.readouterr().out


@pytest.mark.slow
def test_real_graders_on_an_issue_case():
    """math-verify 0.5.2 used directly, and lighteval's match built on it, call 52_9 correct for 52_8 (issue #31)."""
    rows = ROWS[:1] + [{"completion": r"So \boxed{52_9}.", "gold": "52_8", "expected": "wrong"}]
    result = cross_audit.cross_audit(rows, num_workers=0)
    assert result["false_positives"] == {"pns_hub": 0, "lighteval": 1, "math_verify": 1}
    assert [d["row"] for d in result["disagreements"]] == [1] and result["disagreements"][0]["right"] == ["pns_hub"]
