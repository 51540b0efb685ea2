"""Mutations of a gold answer: near misses that change its value and restatements that keep it (issue #31).

The grader's costliest error is a wrong answer called correct: in evaluation it scores a wrong answer, and in
synthesis it keeps a real negative out of the ``rejected`` side. Its corpus (tests/data) was written beside the code;
mutations of every bundled gold are material it was not tuned on. ``mutations(gold)`` returns both kinds:

* **Near misses** (``changes_value=True``): one digit changed, the sign flipped, two entries of an ordered tuple,
  interval or vector swapped, a matrix transposed, a subscript or an exponent changed, a denominator off by one, an
  element dropped or added. None of these may be called correct.
* **Restatements** (``changes_value=False``): spacing, ``\\dfrac``, a decimal for a fraction and back, a unit,
  ``\\text{}``, ``\\$``, thousands separators, ``x =``, a vector written without spaces, an unordered list reordered.

Where an edit of a value-changing kind leaves the value as it was, the mutation says so in ``why`` and counts as a
restatement: two items of an unordered answer set swapped, the sign of 0 flipped, a symmetric matrix transposed, a
subscript of a label the grader sets aside (``x_1 = 3``), a digit past the grader's 1e-6 relative tolerance.
Conventions are the grader's (docs/grader.md): a list without brackets is an unordered answer set, units are set aside.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from pns_hub.grading.answers import _closing, split_items
from pns_hub.grading.compare import _close, _number

NEAR_MISS_KINDS = ("digit", "sign", "swap", "transpose", "subscript", "exponent", "denominator", "drop", "add")
RESTATEMENT_KINDS = ("spacing", "dfrac", "decimal", "unit", "text", "dollar", "thousands", "lhs", "compact", "reorder")
_TEXT_GROUP = re.compile(r"\\(?:text|textbf|textit|textrm|mathrm|mathbf|mbox|operatorname)\s*\{")
_MATRIX = re.compile(r"\s*\\begin\{([pbvBV]?matrix|array)\}(\{[^{}]*\})?(.*?)\\end\{\1\}\s*", re.DOTALL)
_UNITS = (r"\text{ cm}", " dollars", r"\text{ units}", r" \mathrm{~m}")


@dataclass(frozen=True)
class Mutation:
    """One edit of a gold answer: what kind, the edited text, whether its value differs from the gold and, for an
    edit of a near-miss kind that keeps the value, why."""

    kind: str
    text: str
    changes_value: bool
    why: str = ""


# --------------------------------------------------------------------------------------------------------------
# Reading the gold's structure
# --------------------------------------------------------------------------------------------------------------
def _masked(gold: str) -> set[int]:
    """Positions inside ``\\text{}``-like groups (units, labels) and the exponent right after one: not the value."""
    masked: set[int] = set()
    for match in _TEXT_GROUP.finditer(gold):
        end = _closing(gold, match.end())
        if end is None:
            continue
        masked.update(range(match.start(), end + 1))
        power = re.match(r"\s*\^\s*\{?\s*-?\d+\s*\}?", gold[end + 1:])
        if power:
            masked.update(range(end + 1, end + 1 + power.end()))
    for match in re.finditer(r"\\(?:begin|end)\{[^}]*\}(?:\{[^}]*\})?", gold):
        masked.update(range(match.start(), match.end()))
    return masked | _labels(gold)


def _labels(gold: str) -> set[int]:
    """Positions of ``x_1 =`` labels in front of stated values: the grader sets them aside (``x_1 = 3``)."""
    out: set[int] = set()
    offset = 0
    for item in split_items(gold):
        start = gold.find(item, offset)
        offset = start + len(item)
        label = re.match(r"\s*[a-zA-Z]\s*_\s*\{?[0-9a-zA-Z]+\}?\s*=", item)
        if label and "=" not in item[label.end():]:
            out.update(range(start, start + label.end()))
    return out


def _matrix(gold: str) -> tuple[str, str, list[list[str]]] | None:
    """``(environment, column spec, rows of cells)`` of a gold that is one matrix or vector, else ``None``."""
    match = _MATRIX.fullmatch(gold)
    if not match:
        return None
    rows = [r.strip() for r in re.split(r"\\\\", match.group(3)) if r.strip()]
    return match.group(1), match.group(2) or "", [[c.strip() for c in r.split("&")] for r in rows]


def _write_matrix(env: str, spec: str, rows: list[list[str]], sep: str = " ") -> str:
    body = f"{sep}\\\\{sep}".join(f"{sep}&{sep}".join(r) for r in rows)
    return f"\\begin{{{env}}}{spec}{sep}{body}{sep}\\end{{{env}}}"


def _bracketed(item: str) -> tuple[str, list[str], str] | None:
    """``(open, entries, close)`` of an item that is one bracketed tuple / interval / set, else ``None``."""
    text = item.strip()
    pairs = (("\\left(", "\\right)"), ("\\left[", "\\right]"), ("\\{", "\\}"), ("\\left\\{", "\\right\\}"))
    for opening, closing in pairs:
        if text.startswith(opening) and text.endswith(closing):
            inner = text[len(opening):-len(closing)]
            return (opening, split_items(inner), closing) if _balanced(inner) else None
    if len(text) >= 2 and text[0] in "([" and text[-1] in ")]" and _balanced(text[1:-1]):
        return text[0], split_items(text[1:-1]), text[-1]
    return None


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += ch in "([{"
        depth -= ch in ")]}"
        if depth < 0:
            return False
    return depth == 0


def _join(opening: str, entries: list[str], closing: str) -> str:
    return f"{opening}{', '.join(entries)}{closing}"


def _is_zero(text: str) -> bool:
    value = _number(text)
    return value is not None and value == 0


def _negate(item: str) -> str:
    item = item.strip()
    return item[1:].strip() if item.startswith("-") else f"-{item}"


# --------------------------------------------------------------------------------------------------------------
# Near misses
# --------------------------------------------------------------------------------------------------------------
def _digit_mutations(gold: str, limit: int) -> list[Mutation]:
    masked = _masked(gold)
    positions = [i for i, ch in enumerate(gold) if ch.isdigit() and i not in masked]
    if not positions:
        return []
    picks = sorted({positions[0], positions[-1], positions[len(positions) // 2]})[:limit]
    out, value = [], _number(gold)
    for i in picks:
        text = gold[:i] + str((int(gold[i]) + 1) % 10) + gold[i + 1:]
        new = _number(text)
        if value is not None and new is not None and _close(new, value):
            out.append(Mutation("digit", text, False, "within the grader's relative tolerance of 1e-6"))
        else:
            out.append(Mutation("digit", text, True))
    return out


def _sign_mutation(gold: str) -> Mutation | None:
    matrix = _matrix(gold)
    if matrix:
        env, spec, rows = matrix
        for r, row in enumerate(rows):
            for c, cell in enumerate(row):
                if not _is_zero(cell) and cell:
                    flipped = [list(x) for x in rows]
                    flipped[r][c] = _negate(cell)
                    return Mutation("sign", _write_matrix(env, spec, flipped), True)
        return None
    items = split_items(gold)
    if len(items) != 1:  # a list: flip one item (an item that is 0 would keep the set)
        for k, item in enumerate(items):
            if not _is_zero(item) and not item.lstrip().startswith("\\pm") and "=" not in item:
                return Mutation("sign", ", ".join(items[:k] + [_negate(item)] + items[k + 1:]), True)
        return None
    bracket = _bracketed(gold)
    if bracket and len(bracket[1]) >= 2:
        opening, entries, closing = bracket
        for k, entry in enumerate(entries):
            if not _is_zero(entry) and "infty" not in entry:
                flipped = entries[:k] + [_negate(entry)] + entries[k + 1:]
                return Mutation("sign", _join(opening, flipped, closing), True)
        return None
    content = _TEXT_GROUP.sub("", gold)
    if gold.lstrip().startswith(("\\pm", "\\mp")) or not re.search(r"[\da-zA-Z]", content) or _TEXT_GROUP.match(gold):
        return None
    if _is_zero(gold):
        return Mutation("sign", _negate(gold), False, "-0 is 0")
    sides = gold.split("=")
    if len(sides) == 2 and (_is_zero(sides[1]) or _is_zero(sides[0])):
        return Mutation("sign", _negate(gold), True) if not _is_zero(sides[1]) else \
            Mutation("sign", "-(" + sides[0].strip() + ") = " + sides[1].strip(), False, "an equation = 0 times -1")
    return Mutation("sign", _negate(gold), True)


def _swap_mutations(gold: str) -> list[Mutation]:
    matrix = _matrix(gold)
    if matrix:
        env, spec, rows = matrix
        out = []
        if len(rows) >= 2 and rows[0] != rows[1]:  # two rows (entries of a column vector) swapped
            out.append(Mutation("swap", _write_matrix(env, spec, [rows[1], rows[0]] + rows[2:]), True))
        if len(rows[0]) >= 2 and rows[0][0] != rows[0][1]:
            first = [rows[0][1], rows[0][0]] + rows[0][2:]
            out.append(Mutation("swap", _write_matrix(env, spec, [first] + rows[1:]), True))
        return out
    items = split_items(gold)
    if len(items) >= 2:
        if items[0] == items[1]:
            return []
        swapped = ", ".join([items[1], items[0]] + items[2:])
        return [Mutation("swap", swapped, False, "an answer list without brackets is an unordered set")]
    bracket = _bracketed(gold)
    if bracket and len(bracket[1]) >= 2 and bracket[1][0] != bracket[1][1]:
        opening, entries, closing = bracket
        text = _join(opening, [entries[1], entries[0]] + entries[2:], closing)
        if "\\{" in opening:
            return [Mutation("swap", text, False, "a set is unordered")]
        return [Mutation("swap", text, True)]
    return []


def _transpose(gold: str) -> Mutation | None:
    matrix = _matrix(gold)
    if not matrix or len(matrix[2]) < 2 or len(matrix[2][0]) < 2 or len({len(r) for r in matrix[2]}) != 1:
        return None
    env, spec, rows = matrix
    columns = [list(c) for c in zip(*rows)]
    if columns == rows:
        return Mutation("transpose", _write_matrix(env, spec, columns), False, "a symmetric matrix")
    return Mutation("transpose", _write_matrix(env, spec, columns), True)


def _next_char(ch: str) -> str:
    if ch.isdigit():
        return str((int(ch) + 1) % 10)
    return "a" if ch == "z" else "A" if ch == "Z" else chr(ord(ch) + 1)


def _subscript_mutation(gold: str) -> Mutation | None:
    masked, labels = _masked(gold), _labels(gold)
    for match in re.finditer(r"_\s*\{?\s*([0-9a-zA-Z])", gold):
        text = gold[:match.start(1)] + _next_char(match.group(1)) + gold[match.end(1):]
        if match.start(1) in labels:
            return Mutation("subscript", text, False, "the label of a stated value (x_1 = ...) is set aside")
        if match.start(1) not in masked:
            return Mutation("subscript", text, True)
    return None


def _exponent_mutation(gold: str) -> Mutation | None:
    masked = _masked(gold)
    for match in re.finditer(r"\^\s*(\{\s*)?(-?\d+)", gold):
        if match.start(2) in masked or re.search(r"(?<![\d.])[01]\s*\}?\s*$", gold[:match.start()]):
            continue  # a unit's power, or a power of 0 or 1
        bumped = str(int(match.group(2)) + 1)
        if bumped == "0":
            bumped = "-2"
        return Mutation("exponent", gold[:match.start(2)] + bumped + gold[match.end(2):], True)
    return None


def _denominator_mutation(gold: str) -> Mutation | None:
    masked = _masked(gold)
    for match in re.finditer(r"\\[dt]?frac\s*\{", gold):
        num_end = _closing(gold, match.end())
        if num_end is None or match.start() in masked or _is_zero(gold[match.end():num_end]):
            continue
        den = re.match(r"\s*\{\s*(\d+)\s*\}", gold[num_end + 1:])
        if den:
            start, end = num_end + 1 + den.start(1), num_end + 1 + den.end(1)
            return Mutation("denominator", gold[:start] + str(int(den.group(1)) + 1) + gold[end:], True)
    match = re.search(r"(?<![\d.])(-?\d+)\s*/\s*(\d+)(?![\d.])", gold)
    if match and int(match.group(1)) != 0 and match.start(2) not in masked:
        bumped = str(int(match.group(2)) + 1)
        return Mutation("denominator", gold[:match.start(2)] + bumped + gold[match.end(2):], True)
    return None


def _fresh(entries: list[str]) -> str:
    """A small integer that is none of the entries."""
    taken = {_number(e) for e in entries}
    return next(str(k) for k in (0, 1, -1, 2, 3, 5, 7, 11) if Fraction(k) not in taken)


def _drop_add_mutations(gold: str) -> list[Mutation]:
    matrix = _matrix(gold)
    if matrix:
        env, spec, rows = matrix
        out = [Mutation("add", _write_matrix(env, spec, rows + [[_fresh([])] * len(rows[-1])]), True)]
        if len(rows) >= 2:
            out.append(Mutation("drop", _write_matrix(env, spec, rows[:-1]), True))
        return out
    items = split_items(gold)
    if len(items) >= 2:
        return [Mutation("drop", ", ".join(items[:-1]), True),  # a repeated item counts too: "-2, -2" is a = b = -2
                Mutation("add", ", ".join(items + [_fresh(items)]), True)]
    bracket = _bracketed(gold)
    if bracket and len(bracket[1]) >= 2:
        opening, entries, closing = bracket
        return [Mutation("drop", _join(opening, entries[:-1], closing), True),
                Mutation("add", _join(opening, entries + [_fresh(entries)], closing), True)]
    if re.search(r"[\da-zA-Z]", _TEXT_GROUP.sub("", gold)) and "=" not in gold:
        return [Mutation("add", f"{gold}, {_fresh([gold])}", True)]
    return []


def is_prose(gold: str) -> bool:
    """A gold written as sentences (``f(x)=ax+b$, where $b$ is an arbitrary integer``): an edit of its words is not
    an edit of its value, so it gets no mutations; the report counts such golds."""
    plain = _TEXT_GROUP.sub("", gold)
    return len(re.findall(r"(?<![\\a-zA-Z])[a-zA-Z]{3,}(?![a-zA-Z])", plain)) >= 3


def near_misses(gold: str, digits: int = 3) -> list[Mutation]:
    """Value-changing edits of ``gold`` (and the edits of those kinds that keep its value, marked with ``why``)."""
    if is_prose(gold):
        return []
    out = _digit_mutations(gold, digits)
    out += [m for m in (_sign_mutation(gold), _transpose(gold), _subscript_mutation(gold), _exponent_mutation(gold),
                        _denominator_mutation(gold)) if m is not None]
    out += _swap_mutations(gold) + _drop_add_mutations(gold)
    return [m for m in out if m.text.strip() != gold.strip()]


# --------------------------------------------------------------------------------------------------------------
# Restatements
# --------------------------------------------------------------------------------------------------------------
def _decimal(value: Fraction) -> str | None:
    """The exact decimal of a fraction whose denominator has only the factors 2 and 5, else ``None``."""
    den = value.denominator
    for p in (2, 5):
        while den % p == 0:
            den //= p
    if den != 1:
        return None
    text = f"{float(value):.12f}".rstrip("0").rstrip(".")
    return text if Fraction(text) == value else None


def _number_forms(gold: str, value: Fraction, seed: int) -> list[Mutation]:
    out = []
    if value.denominator == 1 and re.fullmatch(r"-?\d+", gold.strip()):
        out.append(Mutation("decimal", f"{value}.0", False))
        if abs(value) >= 1000:
            out.append(Mutation("thousands", f"{int(value):,}", False))
    elif "." in gold:
        sign = "-" if value < 0 else ""
        out.append(Mutation("decimal", f"{sign}\\frac{{{abs(value.numerator)}}}{{{value.denominator}}}", False))
    elif _decimal(value) is not None:
        out.append(Mutation("decimal", _decimal(value), False))
    plain = gold.strip()
    out += [Mutation("unit", f"{plain}{_UNITS[seed % len(_UNITS)]}", False),
            Mutation("dollar", f"\\${plain}", False), Mutation("lhs", f"x = {plain}", False)]
    if re.fullmatch(r"-?\d+(?:\.\d+)?", plain):
        out.append(Mutation("text", f"\\text{{{plain}}}", False))
    return out


def _spacing(gold: str) -> list[Mutation]:
    """Spaces taken out (never between two letters or digits, where they separate tokens) and put in."""
    tight = re.sub(r"\s+", lambda m: " " if 0 < m.start() and m.end() < len(gold) and gold[m.start() - 1].isalnum()
                   and gold[m.end()].isalnum() else "", gold)
    loose = re.sub(r"\s*,\s*", ", ", re.sub(r"(?<=[^\s{(^_])\s*([+=])\s*(?=[^\s}])", r" \1 ", gold))
    return [Mutation("spacing", t, False) for t in dict.fromkeys((tight, loose)) if t != gold]


def restatements(gold: str, seed: int = 0) -> list[Mutation]:
    """Value-preserving rewrites of ``gold`` that a reader (and the grader) must accept."""
    if is_prose(gold):
        return []
    out = _spacing(gold)
    if re.search(r"\\frac(?![a-zA-Z])", gold):
        out.append(Mutation("dfrac", re.sub(r"\\frac(?![a-zA-Z])", r"\\dfrac", gold), False))
    value = _number(gold)
    if value is not None:
        out += _number_forms(gold, value, seed)
    elif re.fullmatch(r"[A-Za-z][A-Za-z ]*", gold.strip()):
        out.append(Mutation("text", f"\\text{{{gold.strip()}}}", False))
    if _matrix(gold):
        out.append(Mutation("compact", re.sub(r"\s+", "", _write_matrix(*_matrix(gold))), False))
    items = split_items(gold)
    if len(items) >= 2 and _matrix(gold) is None and len(set(items)) == len(items):
        out.append(Mutation("reorder", ", ".join(reversed(items)), False))
    return [m for m in out if m.text.strip() != gold.strip()]


_GROUPED = re.compile(r"\s*(\\\$)?\s*(\d{1,3}(?:,\s*(?:\\!)?\s*\d{3})+(?:\.\d+)?)\s*")


def _grouped_number(gold: str, seed: int) -> list[Mutation]:
    """A number with thousands separators (``10,\\!080``): one value, never a list of two."""
    match = _GROUPED.fullmatch(gold)
    plain = re.sub(r"[^\d.]", "", match.group(2))
    out = [m for m in _digit_mutations(gold, 3)]
    out += [Mutation("sign", f"-{gold.strip()}", True), Mutation("add", f"{plain}, {_fresh([plain])}", True)]
    return out + [Mutation("thousands", plain, False)] + _number_forms(plain, Fraction(plain), seed)


def mutations(gold: str, seed: int = 0) -> list[Mutation]:
    """Near misses and restatements of one gold answer (module docstring)."""
    gold = re.sub(r"(?<!\\)\$", "", gold)  # OlympiadBench's "69$,$84": math delimiters are not part of the value
    if _GROUPED.fullmatch(gold):
        return [m for m in _grouped_number(gold, seed) if m.text.strip() != gold.strip()]
    return near_misses(gold) + restatements(gold, seed)
