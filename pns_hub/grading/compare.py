"""How two read answers compare where math-verify 0.5.2 alone gets it wrong, and the cheap exact checks (issue #31).

:mod:`pns_hub.grading.answers` reads an answer (extraction, restatement layer); this module compares two readings:

* **Strict numeric check** (:func:`numeric_verdict`): plain numbers, lists, tuples, intervals and times compare
  exactly here: whole numbers exactly, other numbers within a relative 1e-6 (math-verify's 6-decimal absolute
  rounding called ``-1/1998`` equal to ``-1/1997``); ``4 4/9`` is the mixed number 40/9, never 44/9.
* **Structural checks** math-verify 0.5.2 misses: numerals in a base (``52_8`` vs ``52_9``), an endless list
  (``1, 2, 3, \\ldots``) against a finite one, a one-variable inequality against an interval, a percentage against
  a plain-number gold (``60\\%`` for ``0.6``), and symbols it misreads (:func:`for_math_verify`).
"""

from __future__ import annotations

import re
from fractions import Fraction

from pns_hub.grading.answers import _balanced, normalize, split_items, strip_lhs, words_equal


_LE, _GE = r"(?:<=|≤|\\leq?(?:slant)?(?![a-zA-Z]))", r"(?:>=|≥|\\geq?(?:slant)?(?![a-zA-Z]))"
_LT, _GT = r"(?:<|\\lt(?![a-zA-Z]))", r"(?:>|\\gt(?![a-zA-Z]))"
_BOUND, _VAR = r"([^<>=≤≥\\]*(?:\\(?!l[et]|g[et])[^<>=≤≥\\]*)*?)", r"\s*([a-zA-Z](?:\([a-z]\))?)\s*"


def _relation(op: str) -> tuple[str, bool]:
    """``(direction, inclusive)`` of an order relation: ``"<"`` or ``">"``."""
    for pattern, result in ((_LE, ("<", True)), (_GE, (">", True)), (_LT, ("<", False)), (_GT, (">", False))):
        if re.fullmatch(pattern, op.strip()):
            return result
    raise ValueError(op)


def as_interval(item: str) -> str | None:
    """``-2 \\le x \\le 7`` -> ``[-2, 7]``, ``x > 5`` -> ``(5, \\infty)``: a one-variable inequality as an interval.

    Used only against an interval on the other side (issue #31: ``-2 \\le x \\le 7`` for gold ``[-2, 7]``).
    """
    ops = rf"({_LE}|{_GE}|{_LT}|{_GT})"
    chained = re.fullmatch(rf"{_BOUND}{ops}{_VAR}{ops}{_BOUND}", item.strip())
    if chained and chained.group(1).strip() and chained.group(5).strip():
        (d1, in1), (d2, in2) = _relation(chained.group(2)), _relation(chained.group(4))
        low, high = chained.group(1).strip(), chained.group(5).strip()
        if d1 != d2:
            return None
        if d1 == ">":
            low, high, in1, in2 = high, low, in2, in1
        return f"{'[' if in1 else '('}{low}, {high}{']' if in2 else ')'}"
    single = re.fullmatch(rf"{_VAR}{ops}{_BOUND}", item.strip())
    if single and single.group(3).strip():
        direction, inclusive = _relation(single.group(2))
        bound = single.group(3).strip()
        if direction == "<":
            return f"(-\\infty, {bound}{']' if inclusive else ')'}"
        return f"{'[' if inclusive else '('}{bound}, \\infty)"
    return None


def _is_interval(text: str) -> bool:
    text = text.strip()
    return len(text) > 2 and text[0] in "([" and text[-1] in ")]" and len(split_items(text[1:-1])) == 2


def align_intervals(gold: str, answer: str) -> tuple[str, str]:
    """An inequality on one side and an interval on the other: the inequality read as its interval."""
    if _is_interval(gold) and not _is_interval(answer):
        return gold, as_interval(answer) or answer
    if _is_interval(answer) and not _is_interval(gold):
        return as_interval(gold) or gold, answer
    return gold, answer


_BASE = re.compile(r"(\d+)\s*_\s*\{?\s*(\d+)\s*\}?")


def base_verdict(gold: str, answer: str) -> bool | None:
    """``52_8`` against ``52_9``: numerals in a base compare digit for digit and base for base (math-verify 0.5.2
    reads the base as a subscript it may drop); ``None`` unless both are numerals with a base."""
    g, a = _BASE.fullmatch(gold.strip()), _BASE.fullmatch(answer.strip())
    if not g or not a:
        return None
    return g.group(1).lstrip("0") == a.group(1).lstrip("0") and int(g.group(2)) == int(a.group(2))


def has_ellipsis(text: str) -> bool:
    return "\\ldots" in text


_PERCENT = re.compile(r"\\?%|\b(?:percent|percentage|pct)\b")


def percent_reading(raw_answer: str, answer: str, raw_gold: str, gold: str) -> str:
    """``60\\%`` against gold ``0.6``: a percentage of a plain-number gold read as its fraction when that is the gold.

    ``60\\%`` stays correct against gold ``60`` (the restatement layer sets ``%`` aside); ``60`` alone is still
    wrong against ``0.6``.
    """
    if not _PERCENT.search(raw_answer) or _PERCENT.search(raw_gold):
        return answer
    value, target = _number(answer), _number(gold)
    if value is not None and target is not None and _close(value / 100, target):
        return gold
    return answer


def for_math_verify(text: str) -> str:
    """Symbols math-verify 0.5.2 misreads, renamed to ones it reads as plain symbols (issue #31).

    ``E_{1}`` parses as a number there (``\\frac{1}{3} E_{1}+\\frac{2}{3} E_{2}`` became 2/3),
    ``\\frac{d \\omega}{d t}`` as a derivative that vanishes (so its sign never mattered) and a bare ``I`` as the
    imaginary unit. The same renaming is applied to gold and answer, so only their comparison changes.
    """
    text = re.sub(r"(?<![\\a-zA-Z])E(?=\s*_)", r"\\mathcal{E}", text)
    text = re.sub(r"(?<![\\a-zA-Z{])I(?![a-zA-Z])", r"\\mathcal{I}", text)

    def derivative(match: re.Match) -> str:
        return "\\mathcal{D}_{" + re.sub(r"[^a-zA-Z0-9]", "", match.group(1) + match.group(2)) + "}"

    return re.sub(r"\\frac\s*\{\s*d\s*([^{}]*)\}\s*\{\s*d\s*([^{}]*)\}", derivative, text)


def is_numeric(text: str) -> bool:
    return _number(text) is not None


# --------------------------------------------------------------------------------------------------------------
# Strict numeric check
# --------------------------------------------------------------------------------------------------------------
_NUM = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_FRAC = re.compile(r"(-?)\\frac\s*\{\s*(-?[\d.]+)\s*\}\s*\{\s*(-?[\d.]+)\s*\}")
_MIXED = re.compile(r"(-?)(\d+)(?:\s+(\d+)/(\d+)|\s*\\frac\s*\{\s*(\d+)\s*\}\s*\{\s*(\d+)\s*\})")
_TIME = re.compile(r"(\d{1,2}):(\d{2})(?:\s*([ap])\.?\s*m\.?)?", re.IGNORECASE)


def _number(text: str) -> Fraction | None:
    """An exact value for ``12``, ``-0.5``, ``3/4``, ``\\frac{3}{4}``; ``None`` for anything else."""
    text = re.sub(r"(?<=[-+])\s+|\s*/\s*", lambda m: m.group(0).strip(), text.strip())
    mixed = _MIXED.fullmatch(text)
    if mixed:  # 4 4/9, 4\frac{4}{9}: a whole part and a proper fraction (PRM800K and math-verify read it so too)
        whole = int(mixed.group(2))
        num, den = int(mixed.group(3) or mixed.group(5)), int(mixed.group(4) or mixed.group(6))
        if 0 < num < den:
            value = whole + Fraction(num, den)
            return -value if mixed.group(1) else value
    if re.fullmatch(r"-?\d{1,3}(?: \d{3})+(?:\.\d+)?", text):
        text = text.replace(" ", "")  # digit groups: 1 000 000
    if re.search(r"\d\s+\d", text):
        return None  # two numbers side by side are not one number
    text = text.replace(" ", "")
    try:
        if _NUM.fullmatch(text):
            return Fraction(text)
        match = re.fullmatch(r"(-?(?:\d+(?:\.\d*)?|\.\d+))/(\d+(?:\.\d*)?)", text)
        if match:
            return Fraction(match.group(1)) / Fraction(match.group(2))
        match = _FRAC.fullmatch(text)
        if match:
            value = Fraction(match.group(2)) / Fraction(match.group(3))
            return -value if match.group(1) else value
    except (ValueError, ZeroDivisionError):
        return None
    return None


RELATIVE_TOLERANCE = Fraction(1, 10**6)


def _close(a: Fraction, b: Fraction) -> bool:
    """Equal within a relative 1e-6 (issue #31: a 6-decimal absolute rounding called -1/1998 equal to -1/1997)."""
    if a.denominator == 1 and b.denominator == 1:
        return a == b  # two whole numbers: 11111111101 is not 11111111100, however close
    return abs(a - b) <= RELATIVE_TOLERANCE * max(abs(a), abs(b))


def _shape(item: str):
    """A comparable shape of an item made only of numbers: a number, a time, or a bracketed tuple of numbers."""
    time = _TIME.fullmatch(item.strip())
    if time:
        return ("time", int(time.group(1)), int(time.group(2)), (time.group(3) or "").lower())
    value = _number(item)
    if value is not None:
        return ("num", value)
    item = item.strip()
    if len(item) >= 2 and item[0] in "([" and item[-1] in ")]":
        inner = split_items(item[1:-1])
        values = [_number(i) for i in inner]
        if len(inner) >= 2 and all(v is not None for v in values):
            return ("tuple", item[0] + item[-1], tuple(values))
    return None


def _shapes_equal(a, b) -> bool:
    if a[0] != b[0]:
        return False
    if a[0] == "num":
        return _close(a[1], b[1])
    if a[0] == "time":
        return a == b
    return a[1] == b[1] and len(a[2]) == len(b[2]) and all(_close(x, y) for x, y in zip(a[2], b[2]))


def numeric_verdict(gold: str, answer: str) -> bool | None:
    """Exact verdict when both answers are made only of plain numbers / times / number tuples, else ``None``.

    Items of a top-level list match as a multiset (``1, 2`` = ``2, 1``); tuples and intervals keep order and
    bracket kind. This decides ``12:00`` vs ``1:00``, ``n=1, 2, 3`` vs ``n=2, 3, 4`` and ``(0, 1.5)`` vs ``(0, 1)``.
    """
    g_items, a_items = split_items(gold), split_items(answer)
    if not g_items or not a_items or len(g_items) > 64 or len(a_items) > 64:
        return None
    g_shapes, a_shapes = [_shape(i) for i in g_items], [_shape(i) for i in a_items]
    if any(s is None for s in g_shapes) or any(s is None for s in a_shapes):
        return None
    if {s[0] for s in g_shapes} != {s[0] for s in a_shapes}:
        return None  # "(5, 2), (7, 2)" against "p=5, q=2; p=7, q=2": grouping differs, math-verify's reading decides
    if len(_distinct(g_shapes)) == len(g_shapes):  # "15 39/40 or 639/40" names one value twice: one answer; a gold
        a_shapes = _distinct(a_shapes)  # with a repeated value ("-2, -2": a = -2, b = -2) keeps every item
    if len(g_shapes) != len(a_shapes):
        return False
    left = list(a_shapes)
    for g in g_shapes:
        hit = next((k for k, a in enumerate(left) if _shapes_equal(g, a)), None)
        if hit is None:
            return False
        left.pop(hit)
    return True


def _distinct(shapes: list) -> list:
    out: list = []
    for shape in shapes:
        if not any(_shapes_equal(shape, seen) for seen in out):
            out.append(shape)
    return out


# --------------------------------------------------------------------------------------------------------------
# Both readings, and the verdicts that need no sympy
# --------------------------------------------------------------------------------------------------------------
def reading(gold: str, answer: str) -> tuple[str, str]:
    """Gold and answer as the grader compares them: dressing set aside on both sides (:mod:`answers`), a percentage
    or an inequality read against the gold's form."""
    gold_n = normalize(gold)
    answer_n = normalize(answer, numeric_gold=is_numeric(gold_n))
    answer_n = percent_reading(answer, answer_n, gold, gold_n)
    return align_intervals(*strip_lhs(gold_n, answer_n))


def _squeezed(text: str) -> str:
    """The text without spacing, except a space between two digits or letters (``4 4/9`` is not ``44/9``)."""
    return re.sub(r"\s+", lambda m: " " if 0 < m.start() and m.end() < len(text) and text[m.start() - 1].isalnum()
                  and text[m.end()].isalnum() else "", text)


def cheap_verdict(gold: str, answer: str) -> tuple[bool, str] | None:
    """Verdicts that need no sympy: same text, word answers, plain numbers / tuples / times (the strict check)."""
    if _squeezed(gold) == _squeezed(answer):
        return True, "same answer as gold"
    if has_ellipsis(gold) != has_ellipsis(answer):
        return False, "one side is an endless list (an ellipsis), the other is not"
    same = base_verdict(gold, answer)
    if same is not None:
        return same, "numerals in a base " + ("match" if same else "differ from") + " gold"
    same = words_equal(gold, answer)
    if same is not None:
        return same, "word answer " + ("matches" if same else "differs from") + " gold"
    same = numeric_verdict(gold, answer)
    if same is not None:
        return same, "numbers " + ("match" if same else "differ from") + " gold"
    return None
