"""Extract a completion's final answer and decide correct / wrong against a gold answer with math-verify.

Why this module is more than a call to ``math_verify.verify``:

* **Nothing may hang a run.** sympy can take minutes on ``\\boxed{10^{10^{10^{10}}}}`` and some of that time is spent
  in C where a signal-based timeout never fires. Batches therefore run in a small pool of worker processes watched by
  the parent: a check past its deadline gets its worker killed and replaced, and is reported ``unverifiable``.
* **Results are structured** (extracted answer, verdict, reason) because later steps store them in datasets.
* **Order is kept**: results come back in input order whatever the number of workers.
* **One reading of an answer** for reward, synthesis, ``pns-hub verify`` and evaluation: extraction, the
  restatement layer (units, ``\\text{}``, punctuation, currency, ``x =`` ... set aside) and the strict numeric check
  live in :mod:`pns_hub.grading.answers`; math-verify 0.5.2 decides what they leave open.

Verdicts: ``correct``, ``wrong``, ``unparseable`` (no final answer found, a non-answer such as ``\\boxed{wrong}`` or
an empty box, or nothing math-verify could read) and ``unverifiable`` (timed out or too large to check). Only
``wrong`` (:attr:`VerifyResult.is_valid_negative`) counts as a verified negative; only ``correct`` as solved.
"""

from __future__ import annotations

import collections
import logging
import multiprocessing as mp
import os
import re
import time
from dataclasses import asdict, dataclass
from typing import Sequence

from pns_hub.grading import answers as forms
from pns_hub.grading import compare
from pns_hub.grading.answers import count_boxed, extract_answer, extract_boxed  # noqa: F401 - public API
from pns_hub.grading.compare import reading  # noqa: F401 - public API


logger = logging.getLogger(__name__)

CORRECT, WRONG, UNPARSEABLE, UNVERIFIABLE = "correct", "wrong", "unparseable", "unverifiable"
VERDICTS = (CORRECT, WRONG, UNPARSEABLE, UNVERIFIABLE)
MAX_ANSWER_CHARS = 500  # longer "answers" are garbage; parsing them is the usual way a grader stalls
DEFAULT_TIMEOUT = 5.0


@dataclass
class VerifyResult:
    """The outcome of one check: what was extracted, the verdict, and why."""

    extracted: str | None
    verdict: str
    reason: str

    @property
    def is_correct(self) -> bool:
        return self.verdict == CORRECT

    @property
    def is_wrong(self) -> bool:
        return self.verdict == WRONG

    @property
    def is_valid_negative(self) -> bool:
        """A certified wrong answer: it parses as mathematics (never a word, empty or unreadable) and differs from
        the gold. The only results that earn the accuracy-inversion reward or become a ``rejected`` row."""
        return self.verdict == WRONG and self.extracted is not None

    def to_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------------------------------------------
# One check (runs in the caller or in a worker)
# --------------------------------------------------------------------------------------------------------------
# Inputs whose evaluation runs in C (GMP, mpmath), where no signal-based timeout can stop it: power towers, exponents
# of 7+ digits (9^{9999999999} took 22 s in-process before this guard), factorials of 6+ digit numbers.
_TOO_LARGE = re.compile(
    r"\^\s*\{[^{}]*\^|\^\s*\{[^{}]*\}\s*\^|\^\s*\d+\s*\^|\^\s*\{?\s*\(?\s*\d+\s*\^"  # towers
    r"|\^\s*\{?\s*\(?\s*\d{7,}"  # exponents of 7+ digits
    r"|\d{6,}\s*\)?\s*!|\^\s*\{?\s*\d+\s*\}?\s*\)\s*!"  # factorials of 6+ digit numbers or of powers
)
_PARSED_GOLDS: dict[str, list] = {}  # gold answers repeat across a batch (k samples per problem): parse each once
_MAX_CACHED_GOLDS = 4096


def _parse(answer: str, timeout: int | None):
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse

    # Wrapping in \boxed{} makes math-verify read the whole answer as one expression (sets, intervals, x=3).
    return parse(
        "\\boxed{" + answer + "}",
        extraction_config=[LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig()],
        parsing_timeout=timeout,
    )


def _parse_gold(gold: str, timeout: int | None):
    parsed = _PARSED_GOLDS.get(gold)
    if parsed is None:
        parsed = _parse(gold, timeout)
        if parsed:  # a failed (or timed-out) parse is not cached: it may succeed with more time
            if len(_PARSED_GOLDS) >= _MAX_CACHED_GOLDS:
                _PARSED_GOLDS.clear()
            _PARSED_GOLDS[gold] = parsed
    return parsed


def _soft_timeout_ok() -> bool:
    # math-verify's own timeout uses SIGALRM, which only works in a process's main thread.
    import threading

    return threading.current_thread() is threading.main_thread()


def answers_equal(gold: str, answer: str, timeout: float = DEFAULT_TIMEOUT) -> bool | None:
    """math-verify equivalence of two bare answers, as given (no restatement layer); ``None`` if either fails."""
    from math_verify import verify

    t = max(1, int(timeout)) if _soft_timeout_ok() else None
    parsed_gold, parsed_answer = _parse_gold(gold, t), _parse(answer, t)
    if not parsed_gold or not parsed_answer:
        return None
    return bool(verify(parsed_gold, parsed_answer, timeout_seconds=t))


def _timed_equal(gold: str, answer: str, timeout: float):
    """``answers_equal`` plus the wall and CPU seconds it took (an exception is returned, not raised)."""
    wall, cpu = time.monotonic(), time.process_time()
    try:
        equal = answers_equal(gold, answer, timeout)
    except Exception as err:  # noqa: BLE001
        equal = err
    return equal, time.monotonic() - wall, time.process_time() - cpu


def verify_one(completion: str, gold: str, timeout: float = DEFAULT_TIMEOUT) -> VerifyResult:
    """Check one completion in this process.

    In-process guarantee: in the main thread every math-verify call is bounded by its SIGALRM timeout (``timeout``
    seconds for parsing and again for comparing, once retried with 3x when the machine was too loaded to compute),
    and answers known to run in C, where no signal can stop them, are refused before parsing. Only the pool's hard
    timeout (:func:`verify_batch` with workers) bounds a check absolutely.
    """
    if not isinstance(gold, str) or not gold.strip():
        return VerifyResult(None, UNVERIFIABLE, "empty gold answer")
    answer, how = forms.extract_answer(completion)
    if answer is None:
        return VerifyResult(None, UNPARSEABLE, "no final answer found")
    if len(answer) > MAX_ANSWER_CHARS:
        return VerifyResult(answer[:MAX_ANSWER_CHARS], UNVERIFIABLE, f"answer longer than {MAX_ANSWER_CHARS} chars")
    if _TOO_LARGE.search(answer):
        return VerifyResult(answer, UNVERIFIABLE, "power tower or huge exponent / factorial: too large to evaluate")
    gold_n, answer_n = compare.reading(gold, answer)
    reason = forms.non_answer_reason(answer_n, gold_n)
    if reason:
        return VerifyResult(answer, UNPARSEABLE, reason)
    cheap = compare.cheap_verdict(gold_n, answer_n)
    if cheap is not None:
        return VerifyResult(answer, CORRECT if cheap[0] else WRONG, f"{how} answer: {cheap[1]}")
    return _math_verify_verdict(gold_n, answer_n, answer, how, timeout)


def _proportional_equations(gold: str, answer: str, timeout: float) -> bool:
    """Two equations whose sides' differences are a nonzero constant apart: the same solution set
    (``y = -x/2 + 3/4`` and ``2x + 4y - 3 = 0``), which math-verify 0.5.2 calls different."""
    if gold.count("=") != 1 or answer.count("=") != 1 or not _soft_timeout_ok():
        return False
    import sympy

    try:
        parsed = [_parse(text, max(1, int(timeout))) for text in (gold, answer)]
        sides = [p[0] for p in parsed if p and isinstance(p[0], sympy.Eq)]
        if len(sides) != 2:
            return False
        from math_verify.utils import timeout as limit

        difference = [side.lhs - side.rhs for side in sides]
        ratio = limit(max(1, int(timeout)))(sympy.simplify)(difference[0] / difference[1])
        return bool(ratio.is_number and ratio != 0 and ratio.is_finite)
    except Exception:  # noqa: BLE001 - sympy's errors and math-verify's timeout mean "not shown equal"
        return False


def _math_verify_verdict(gold: str, answer: str, extracted: str, how: str, timeout: float) -> VerifyResult:
    gold, answer = compare.for_math_verify(gold), compare.for_math_verify(answer)
    equal, wall, cpu = _timed_equal(gold, answer, timeout)
    if isinstance(equal, Exception):  # math-verify raises TimeoutError and sympy errors; none may stop a batch
        return VerifyResult(extracted, UNVERIFIABLE, f"{type(equal).__name__}: {str(equal)[:120]}")
    if wall >= 0.9 * max(1, int(timeout)) and cpu < 0.5 * wall:
        # The budget ran out while the process was waiting for a core (a loaded machine), not computing: one retry
        # with a longer budget, so load never turns a cheap check into "unverifiable".
        equal, wall, cpu = _timed_equal(gold, answer, 3 * timeout)
        timeout = 3 * timeout
        if isinstance(equal, Exception):
            return VerifyResult(extracted, UNVERIFIABLE, f"{type(equal).__name__}: {str(equal)[:120]}")
    if wall >= 0.9 * max(1, int(timeout)):
        # math-verify swallows its own timeout and answers False: that is "could not decide", not "wrong".
        return VerifyResult(extracted, UNVERIFIABLE, f"timed out after {timeout:.0f}s")
    if equal is None:
        return VerifyResult(extracted, UNPARSEABLE, f"could not parse the {how} answer")
    if not equal and _proportional_equations(gold, answer, timeout):
        return VerifyResult(extracted, CORRECT, f"{how} answer: the same equation as gold, times a constant")
    return VerifyResult(extracted, CORRECT if equal else WRONG,
                        f"{how} answer {'matches' if equal else 'differs from'} gold (math-verify)")


# --------------------------------------------------------------------------------------------------------------
# Batches: a watchdog pool of worker processes
# --------------------------------------------------------------------------------------------------------------
def _worker(conn, timeout: float) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when workers stop
    while True:
        try:
            item = conn.recv()
        except EOFError:
            return
        if item is None:
            return
        index, completion, gold = item
        try:
            result = verify_one(completion, gold, timeout)
        except BaseException as err:  # noqa: BLE001 - report, never die silently
            result = VerifyResult(None, UNVERIFIABLE, f"worker error {type(err).__name__}")
        conn.send((index, result))


class _Slot:
    """One watched worker process with up to ``depth`` checks in flight (the head one is the running one)."""

    def __init__(self, ctx, timeout: float):
        self.ctx, self.timeout = ctx, timeout
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker, args=(child, timeout), daemon=True)
        self.process.start()
        child.close()
        self.tasks: collections.deque[int] = collections.deque()
        self.started = 0.0

    @property
    def task(self) -> int | None:
        return self.tasks[0] if self.tasks else None

    def kill(self) -> None:
        self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()


def _context():
    # fork: workers start in milliseconds and, unlike spawn/forkserver, never re-import an unguarded __main__
    # (recipe scripts, notebooks). Workers only run sympy, never torch, so inherited torch threads are harmless.
    method = os.environ.get("PNS_HUB_MP_START", "fork")
    return mp.get_context(method if method in mp.get_all_start_methods() else "spawn")


def default_workers() -> int:
    return max(1, (os.cpu_count() or 1))


def verify_batch(
    completions: Sequence[str],
    golds: Sequence[str],
    num_workers: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    hard_timeout: float | None = None,
    progress: bool = False,
) -> list[VerifyResult]:
    """Verify many completions, in input order.

    Args:
        completions / golds: equal-length sequences.
        num_workers: ``0`` checks sequentially in this process (lowest overhead; bounded by the soft timeout and
            size guards of :func:`verify_one`, no hard deadline; called outside the main thread, where the soft
            timeout cannot work, it uses one watched worker instead); ``None`` uses every core; ``n >= 1`` uses
            ``n`` watched worker processes.
        timeout: soft per-check budget (math-verify's own timeout inside a worker).
        hard_timeout: wall-clock deadline after which a worker is killed and the check reported ``unverifiable``
            (default ``4 * timeout + 1`` seconds: room for one load retry).
    """
    if len(completions) != len(golds):
        raise ValueError(f"{len(completions)} completions but {len(golds)} golds")
    n = len(completions)
    if n == 0:
        return []
    workers = default_workers() if num_workers is None else num_workers
    if workers <= 0 and not _soft_timeout_ok():
        workers = 1  # outside the main thread math-verify has no timeout at all: only a watched worker bounds a check
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, desc="verify", unit="check")
    if workers <= 0:
        results = []
        for completion, gold in zip(completions, golds):
            results.append(verify_one(completion, gold, timeout))
            if bar:
                bar.update()
        if bar:
            bar.close()
        return results
    return _run_pool(completions, golds, min(workers, n), timeout, hard_timeout or 4 * timeout + 1, bar)


PIPELINE_DEPTH = 2  # checks queued per worker: the next one is already in its pipe when one finishes


def _prewarm() -> None:
    """Import math-verify (and sympy) in the parent before forking, so workers inherit it instead of each paying
    ~1 s of imports: on a short batch that start-up cost was most of the pool's time."""
    if _context().get_start_method() == "fork":
        try:
            import math_verify  # noqa: F401
            import sympy  # noqa: F401
        except ImportError:
            pass


def _run_pool(completions, golds, workers, timeout, hard_timeout, bar) -> list[VerifyResult]:
    """Feed checks to watched workers, ``PIPELINE_DEPTH`` at a time each, and collect them in input order.

    The deadline applies to the check at the head of a worker's queue, timed from when its predecessor's result
    arrived (i.e. from when the worker could start it). A worker past its deadline is killed and replaced; its
    queued-but-unstarted checks go back to the front of the queue, so every check still runs exactly once.
    """
    from multiprocessing.connection import wait

    _prewarm()
    ctx = _context()
    slots = [_Slot(ctx, timeout) for _ in range(workers)]
    results: list[VerifyResult | None] = [None] * len(completions)
    pending: collections.deque[int] = collections.deque(range(len(completions)))
    remaining = len(completions)

    def feed(slot: _Slot) -> None:
        while pending and len(slot.tasks) < PIPELINE_DEPTH:
            index = pending.popleft()
            if not slot.tasks:
                slot.started = time.monotonic()
            slot.tasks.append(index)
            slot.conn.send((index, completions[index], golds[index]))

    def replace(slot: _Slot) -> _Slot:
        slot.kill()
        pending.extendleft(reversed(list(slot.tasks)[1:]))  # unstarted checks run again elsewhere
        fresh = _Slot(ctx, timeout)
        slots[slots.index(slot)] = fresh
        return fresh

    try:
        for slot in slots:
            feed(slot)
        while remaining:
            busy = [s for s in slots if s.tasks]
            ready = wait([s.conn for s in busy], timeout=0.2)
            for slot in busy:
                if slot.conn in ready:
                    try:
                        index, result = slot.conn.recv()
                        slot.tasks.popleft()
                        slot.started = time.monotonic()
                    except (EOFError, OSError):  # the worker died (e.g. out of memory): replace it
                        index, result = slot.task, VerifyResult(None, UNVERIFIABLE, "worker crashed")
                        slot = replace(slot)
                elif time.monotonic() - slot.started > hard_timeout:
                    index = slot.task
                    answer, _ = extract_answer(completions[index])
                    result = VerifyResult(answer and answer[:MAX_ANSWER_CHARS], UNVERIFIABLE,
                                          f"timed out after {hard_timeout:.0f}s")
                    slot = replace(slot)
                else:
                    continue
                results[index] = result
                remaining -= 1
                if bar:
                    bar.update()
                feed(slot)
            for slot in slots:  # a replaced worker's returned checks may now wait on idle workers
                if not slot.tasks:
                    feed(slot)
    finally:
        for slot in slots:
            try:
                slot.conn.send(None)
            except (BrokenPipeError, OSError):
                pass
            slot.process.join(timeout=1)
            if slot.process.is_alive():
                slot.kill()
        if bar:
            bar.close()
    return results  # type: ignore[return-value]


def accuracy(results: Sequence[VerifyResult]) -> float:
    return sum(r.is_correct for r in results) / len(results) if results else 0.0
