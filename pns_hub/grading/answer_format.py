"""What a well-formed PNS completion looks like: one final ``\\boxed{}`` answer after some reasoning, not truncated,
not degenerate. Shared by the format reward (:mod:`pns_hub.rewards.functions`) and by synthesis's format filter, so a negative
the generator was paid for and a negative the dataset keeps pass the same check.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from typing import Any

from pns_hub.engines import generation

from pns_hub.grading import verify
MIN_REASONING_CHARS = 40  # "reasoning before the answer": a bare \boxed{} with a few words is not a solution
MAX_TAIL_CHARS = 200  # the boxed answer must be *final*: little may follow it
REPEAT_NGRAM = 4
MAX_REPEAT_FRACTION = 0.5  # share of duplicated word 4-grams beyond which a text is degenerate
MAX_LINE_REPEATS = 3  # the same non-trivial line more than this many times is a loop


def completion_text(completion: Any) -> str:
    """TRL passes plain strings (standard data) or ``[{"role": "assistant", "content": ...}]`` (conversational)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content") or "")
    if isinstance(completion, dict):
        return str(completion.get("content") or "")
    raise TypeError(f"cannot read a completion of type {type(completion).__name__}")


_TEMPLATE_HEAD = generation.PROMPT_TEMPLATE.format(problem="\0").split("\0")[0]


def problem_text(prompt: Any) -> str:
    """Recover the problem from a prompt built by :func:`generation.build_prompt` (fallback when no column)."""
    text = completion_text(prompt) if not isinstance(prompt, list) else next(
        (m.get("content", "") for m in reversed(prompt) if m.get("role") == "user"), "")
    return text[len(_TEMPLATE_HEAD):] if text.startswith(_TEMPLATE_HEAD) else text


def repetition_fraction(text: str, n: int = REPEAT_NGRAM) -> float:
    """Share of word n-grams that repeat an earlier one (0 = all distinct, -> 1 = one phrase looped).

    The count is TRL's repetition penalty (``trl.rewards.get_repetition_penalty_reward``: ``1 - unique/total``
    n-grams, times ``max_penalty``), run with ``max_penalty=-1`` and negated. TRL applies it to token ids; we give
    it words, because this check also runs in synthesis where no tokenizer is loaded, and a word threshold
    (``MAX_REPEAT_FRACTION``) means the same thing for every model. Texts under 8 n-grams count as not repetitive.
    """
    words = text.split()
    if len(words) - n + 1 < 8:
        return 0.0
    return abs(_trl_repetition_penalty(n)([words])[0])


@functools.lru_cache(maxsize=None)
def _trl_repetition_penalty(n: int):
    """TRL's penalty for word n-grams, built once (importing ``trl.rewards`` costs ~0.7 s, so not at import)."""
    from trl.rewards import get_repetition_penalty_reward

    return get_repetition_penalty_reward(ngram_size=n, max_penalty=-1.0)


def _end_of_last_box(text: str) -> int:
    """Index just after the closing brace of the last closed ``\\boxed{...}`` (nested braces counted).

    The "answer is final" check measures what follows *this* brace. Searching for the answer's text instead
    (``rfind(answer)``) finds the digits wherever they last occur, so a box followed by 300 characters that happen
    to end with the same number looked final.
    """
    for match in reversed(list(re.finditer(r"\\(?:boxed|fbox)\s*\{", text))):
        depth, i = 1, match.end()
        while i < len(text) and depth:
            if text[i] == "\\":
                i += 1
            elif text[i] in "{}":
                depth += 1 if text[i] == "{" else -1
            i += 1
        if depth == 0:
            return i
    braceless = list(re.finditer(r"\\boxed\s+[^\s$]+", text))
    return braceless[-1].end() if braceless else len(text)


def format_problems(text: str, truncated: bool = False) -> list[str]:
    """Every reason a completion fails the PNS format (empty list = well formed)."""
    reasons = []
    if truncated:
        reasons.append("truncated")
    n_boxed = verify.count_boxed(text)
    if n_boxed != 1:
        reasons.append(f"{n_boxed} \\boxed{{}} answers (need exactly one)")
    answer = verify.extract_boxed(text)
    if n_boxed >= 1 and not answer:
        reasons.append("empty or unclosed \\boxed{}")
    if n_boxed >= 1:
        start = text.rfind("\\boxed")
        if len(text[:start].strip()) < MIN_REASONING_CHARS:
            reasons.append("no reasoning before the answer")
        if answer:
            tail = text[_end_of_last_box(text):]
            if len(tail.strip()) > MAX_TAIL_CHARS:
                reasons.append("answer is not final (text continues after it)")
    if repetition_fraction(text) > MAX_REPEAT_FRACTION:
        reasons.append("degenerate repetition")
    lines = Counter(line.strip() for line in text.splitlines() if len(line.strip()) >= 8)
    if lines and max(lines.values()) > MAX_LINE_REPEATS:
        reasons.append("a line repeats in a loop")
    return reasons


def format_ok(text: str, truncated: bool = False) -> bool:
    """One final ``\\boxed{}`` answer after some reasoning, not truncated, not degenerate (reused by synthesis)."""
    return not format_problems(text, truncated)
