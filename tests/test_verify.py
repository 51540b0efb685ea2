import time

import pytest

from pns_hub.grading.verify import (
    CORRECT, UNPARSEABLE, UNVERIFIABLE, WRONG, extract_answer, extract_boxed, verify_batch, verify_one,
)


EQUIVALENT = [
    ("0.5", r"\frac{1}{2}"), (r"\dfrac{3}{4}", "3/4"), ("84", "84.0"), (r"\$18", "18"), ("1,000", "1000"),
    ("3", "x=3"), ("(1,2]", "(1, 2]"), (r"[-2, 5)", "[-2,5)"), (r"\{1,2\}", r"\{2,1\}"), ("1, 2", "2, 1"),
    ("x=2, x=3", "3, 2"), (r"30^\circ", "30"), (r"\sqrt{2}/2", r"\frac{\sqrt{2}}{2}"), ("18", r"\$18.00"),
]
NEAR_MISSES = [("3/4", "4/3"), ("1000", "100"), ("1, 2", "1, 3"), ("(1,2]", "[1,2]"), ("-3", "3")]


@pytest.mark.parametrize("gold,answer", EQUIVALENT)
def test_equivalences_accepted(gold, answer):
    result = verify_one(f"Some reasoning. The answer is $\\boxed{{{answer}}}$.", gold)
    assert result.verdict == CORRECT, result


@pytest.mark.parametrize("gold,answer", NEAR_MISSES)
def test_near_misses_rejected(gold, answer):
    assert verify_one(f"\\boxed{{{answer}}}", gold).verdict == WRONG


def test_extract_last_boxed_with_nested_braces():
    text = r"First \boxed{1}, then corrected: \boxed{\frac{a^{2}}{b_{1}}} done"
    assert extract_boxed(text) == r"\frac{a^{2}}{b_{1}}"
    assert extract_boxed(r"\boxed{unclosed") is None
    assert extract_answer("blah\n#### 1,234") == ("1,234", "phrase")
    assert extract_answer("So the final answer is 42.") == ("42", "phrase")
    assert extract_answer("no answer here")[0] is None


def test_unparseable_and_empty():
    assert verify_one("I don't know", "3").verdict == UNPARSEABLE
    assert verify_one("", "3").verdict == UNPARSEABLE
    assert verify_one(r"\boxed{3}", "").verdict == UNVERIFIABLE


def test_pathological_answers_return_quickly():
    start = time.monotonic()
    tower = verify_one(r"\boxed{10^{10^{10^{10}}}}", "5")
    garbage = verify_one("\\boxed{" + "(x+" * 17000 + "}", "5")
    assert tower.verdict == UNVERIFIABLE and garbage.verdict == UNVERIFIABLE
    assert time.monotonic() - start < 5


def test_batch_keeps_order_and_survives_pathological_inputs():
    items = [
        (r"\boxed{\frac{1}{2}}", "0.5", CORRECT), (r"\boxed{10^{10^{10^{10}}}}", "1", UNVERIFIABLE),
        ("x" * 50_000, "1", UNPARSEABLE), (r"\boxed{7}", "8", WRONG), ("#### 12", "12", CORRECT),
        ("\\boxed{" + "9" * 60_000 + "}", "9", UNVERIFIABLE),
    ] * 3
    completions, golds, expected = zip(*items)
    for workers in (0, 2):
        results = verify_batch(list(completions), list(golds), num_workers=workers, timeout=3)
        assert [r.verdict for r in results] == list(expected), workers


def test_hard_timeout_kills_a_stuck_worker(monkeypatch):
    """A check that ignores its soft timeout (stuck in C) is killed by the watchdog and reported, not waited on."""
    import pns_hub.grading.verify as verify

    def stuck(completion, gold, timeout):
        if completion == "hang":
            time.sleep(60)
        return verify.VerifyResult("1", CORRECT, "ok")

    monkeypatch.setattr(verify, "verify_one", stuck)  # workers are forked, so they inherit the patch
    start = time.monotonic()
    results = verify.verify_batch(["a", "hang", "b", "c"], ["1"] * 4, num_workers=2, timeout=1, hard_timeout=2)
    assert [r.verdict for r in results] == [CORRECT, UNVERIFIABLE, CORRECT, CORRECT]
    assert "timed out" in results[1].reason
    assert time.monotonic() - start < 15


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError):
        verify_batch(["a"], ["1", "2"])


def test_verify_cli(tmp_path, capsys):
    import json

    from pns_hub.cli import main

    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"completion": r"\boxed{18}", "answer": "18"}) + "\n"
                    + json.dumps({"completion": r"\boxed{3}", "answer": 4}) + "\n")
    assert main(["verify", str(path), "--num-workers", "0", "--output", str(tmp_path / "out.jsonl")]) == 0
    assert "accuracy: 0.5000 (1/2)" in capsys.readouterr().out
    assert [json.loads(l)["verdict"] for l in open(tmp_path / "out.jsonl")] == ["correct", "wrong"]
    path.write_text(json.dumps({"completion": r"\boxed{18}"}) + "\n")
    with pytest.raises(SystemExit):
        main(["verify", str(path)])
    assert "line 1, field 'answer'" in capsys.readouterr().err


PATHOLOGICAL_IN_PROCESS = [
    r"\boxed{10^{10^{10^{10}}}}", r"\boxed{9^{9999999999}}", r"\boxed{(10^{7})!}", r"\boxed{2^3^4^5}",
    "\\boxed{" + "(x+" * 17000 + "}", "\\boxed{" + "9" * 600 + "}",
]


def _check_in_child(queue):
    start = time.monotonic()
    verdicts = [verify_one(text, "5").verdict for text in PATHOLOGICAL_IN_PROCESS]
    queue.put((verdicts, time.monotonic() - start))


def test_in_process_checks_refuse_what_no_timeout_can_stop():
    """The in-process guarantee (GRPO reward, generator evaluation verify with num_workers=0): answers whose
    evaluation runs in C, where math-verify's SIGALRM timeout cannot fire, are refused before parsing. Run in a
    child process so that a regression fails here instead of hanging the suite (9^{9999999999} took 22 s before)."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_check_in_child, args=(queue,), daemon=True)
    child.start()
    child.join(timeout=30)
    if child.is_alive():
        child.kill()
        pytest.fail("in-process verification of pathological answers did not return within 30 s")
    verdicts, seconds = queue.get(timeout=5)
    assert verdicts == [UNVERIFIABLE] * len(PATHOLOGICAL_IN_PROCESS)
    assert seconds < 3, seconds


def test_in_process_batch_outside_the_main_thread_uses_a_watched_worker(monkeypatch):
    """Outside the main thread math-verify has no timeout: num_workers=0 then runs the check in one watched worker,
    so the hard timeout still applies (before, the check below slept its 60 s in the caller's thread)."""
    import threading

    import pns_hub.grading.verify as verify

    def stuck(completion, gold, timeout):
        time.sleep(60)

    monkeypatch.setattr(verify, "verify_one", stuck)
    out = []
    start = time.monotonic()
    thread = threading.Thread(target=lambda: out.extend(
        verify.verify_batch(["hang"], ["1"], num_workers=0, timeout=1, hard_timeout=2)), daemon=True)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive() and time.monotonic() - start < 30
    assert [r.verdict for r in out] == [UNVERIFIABLE]
