"""How the grader reads an answer: extraction of the final answer, the restatement layer, and the strict check.

:mod:`pns_hub.grading.verify` decides correct / wrong with math-verify; this module holds the pure-string parts around it,
so every caller (GRPO reward, synthesis, ``pns-hub verify``, the lighteval tasks) reads answers the same way.

* **Extraction** (:func:`extract_answer`): the last ``\\boxed{}`` wins; boxes right before it that are joined only by
  ``,`` / ``and`` / ``or`` / ``\\quad`` form one answer set (``\\boxed{(2, 2)} and \\boxed{(6, 2)}``). Without a box,
  the *last* answer phrase by position ("#### x", "The final answer is x", "Final answer: x", the Minerva "Final
  Answer: The final answer is x. I hope it is correct."), read up to the end of its sentence, so ``7.78`` stays whole.
* **Restatement layer** (:func:`normalize`): a right answer is right however it is dressed. Units and other trailing
  words, ``\\text{}``, trailing punctuation, currency, thousands separators, ``x =`` / ``x \\in``, degree and percent
  signs are set aside (on both sides), ``and`` between items becomes a comma, ``a \\pm b`` becomes ``a - b, a + b``.
* **Non-answers** (:func:`non_answer_reason`): a word (``wrong``, ``correct``), an empty box or text with no
  mathematics is not an answer: never "wrong", so never a negative and never an accuracy-inversion reward.
* **Strict check** (:func:`numeric_verdict`): math-verify 0.5.2 calls ``12:00`` = ``1:00`` and ``(0, 1.5)`` =
  ``(0, 1)`` inside equations. When both answers are made of plain numbers (lists, tuples, intervals, times), they
  are compared here exactly (to math-verify's 6-decimal rounding) and that decides; this is also the cheap path.
"""

from __future__ import annotations

import re
from fractions import Fraction

# --------------------------------------------------------------------------------------------------------------
# Extraction
# --------------------------------------------------------------------------------------------------------------
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")


def _closing(text: str, start: int) -> int | None:
    """Index of the ``}`` closing the brace group whose content starts at ``start`` (escapes skipped)."""
    depth, i = 1, start
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def boxed_spans(text: str) -> list[tuple[int, int, int]]:
    """``(command start, content start, content end)`` of every closed top-level ``\\boxed{}``, in text order."""
    spans: list[tuple[int, int, int]] = []
    for match in _BOXED.finditer(text or ""):
        if spans and match.start() < spans[-1][2]:
            continue  # a box nested in the previous one belongs to it
        end = _closing(text, match.end())
        if end is not None:
            spans.append((match.start(), match.end(), end))
    return spans


def extract_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (or ``\\fbox``), nested braces included; ``None`` if none closes."""
    if not isinstance(text, str):
        return None
    spans = boxed_spans(text)
    if spans:
        _, start, end = spans[-1]
        return text[start:end].strip()
    match = re.findall(r"\\boxed\s+([^\s${}]+)", text)  # "\boxed 5" without braces
    return match[-1].strip() if match else None


def count_boxed(text: str) -> int:
    return len(_BOXED.findall(text or ""))


_GAP_NOISE = re.compile(r"\\(?:quad|qquad|text|textbf|mathrm|mbox)\b|\\[,;:! ]|\\[()\[\]]|[\s${}~&]|\\\\")
_GAP_OK = re.compile(r"(?:[,;]|and|or|(?:[a-z](?:_[a-z0-9]+)?|\([a-z],[a-z]\))=)*", re.IGNORECASE)


def _joined_by_connector(gap: str) -> bool:
    """True when the text between two boxes is only ``,`` / ``and`` / ``or`` / spacing (or ``y_2 =``)."""
    return bool(_GAP_OK.fullmatch(_GAP_NOISE.sub("", gap)))


_PHRASES = re.compile(
    r"####|\bfinal\s+answer\s*(?:is\b\s*[:：]?|[:：])|\banswer\s+is\b\s*[:：]?|^[ \t]*answer\s*[:：]",
    re.IGNORECASE | re.MULTILINE,
)
_DELIMITED = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"), ('"', '"'))


def _phrase_value(text: str, start: int) -> str:
    """The answer written after a phrase: a ``$...$`` group whole, else the rest of the sentence.

    A sentence ends at ``.`` followed by a space or the end, never at a decimal point, so ``7.78.`` gives ``7.78``.
    """
    rest = text[start:].lstrip(" \t")
    for opening, closing in _DELIMITED:
        if rest.startswith(opening):
            end = rest.find(closing, len(opening))
            if end > 0:
                return rest[len(opening):end]
    line = rest.split("\n", 1)[0]
    return re.split(r"\.(?=\s|$)|。", line, maxsplit=1)[0]


def extract_answer(text: str) -> tuple[str | None, str]:
    """Final answer of a completion and how it was found: ``boxed``, ``phrase`` or ``none`` (module docstring)."""
    if not isinstance(text, str) or not text.strip():
        return None, "none"
    spans = boxed_spans(text)
    if spans:
        group = [spans[-1]]
        for span in reversed(spans[:-1]):
            if not _joined_by_connector(text[span[2] + 1:group[0][0]]):
                break
            group.insert(0, span)
        return ", ".join(text[s:e].strip() for _, s, e in group), "boxed"
    bare = extract_boxed(text)
    if bare is not None:
        return bare, "boxed"
    for match in reversed(list(_PHRASES.finditer(text))):
        value = _phrase_value(text, match.end())
        inner = list(_PHRASES.finditer(value))  # "Final Answer: The final answer is 8.64"
        if inner:
            value = _phrase_value(value, inner[-1].end())
        value = value.strip().rstrip(".").strip()
        if value:
            return value, "phrase"
    return None, "none"


# --------------------------------------------------------------------------------------------------------------
# Restatement layer
# --------------------------------------------------------------------------------------------------------------
_TEXT_CMD = re.compile(r"\\(?:text|textbf|textit|textrm|textnormal|mathrm|mathbf|mbox|hbox)\s*\{")
_SPACING = re.compile(r"\\(?:left|right|displaystyle|!|,|;|:|quad|qquad)(?![a-zA-Z])|\\ ")
_DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|\\circ|°|\\degree")
# Trailing words after a number: units ("clips", "cm^2", "km/h", "square feet", "dollars", "percent").
_FUNCTION_WORDS = {"sin", "cos", "tan", "cot", "sec", "csc", "log", "ln", "exp", "and", "or", "pi", "mod", "i"}
_UNIT_TAIL = re.compile(
    r"(?:\s*(?<![\\a-zA-Z])[a-zA-Z]{2,}(?:\s*\^\{?[23]\}?|[²³])?(?:\s*/\s*[a-zA-Z]+(?:\^\{?[23]\}?)?)?)+$"
)
_SINGLE_UNIT = re.compile(r"(?<=[\d}])\s+(?:m|g|s|h|l|L|K|J|N|W|V|A|C)(?:\^\{?[23]\}?|[²³])?$")
_LHS = re.compile(r"^\s*(?:[a-zA-Z](?:_\{?[a-zA-Z0-9]+\}?)?|[a-zA-Z]\([a-z]\))\s*(?:=|\\in\b)\s*(?=\S)")
_THOUSANDS = re.compile(r"(?<![\d.])\d{1,3}(?:,\d{3})+(?![\d,])")
_META_WORDS = {"wrong", "correct", "incorrect", "right", "answer", "unknown", "error", "idk"}


def _unwrap(text: str, command: re.Pattern) -> str:
    """Replace ``\\cmd{content}`` by `` content `` (nested braces respected)."""
    while True:
        match = command.search(text)
        if not match:
            return text
        end = _closing(text, match.end())
        if end is None:
            return text[:match.start()] + " " + text[match.end():]
        text = text[:match.start()] + " " + text[match.end():end] + " " + text[end + 1:]


def split_items(text: str) -> list[str]:
    """Top-level items of an answer: split at ``,`` / ``;`` outside brackets and braces."""
    items, depth, current = [], 0, []
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        if ch in ",;" and depth == 0:
            items.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    items.append("".join(current).strip())
    return [i for i in items if i]


def _expand_pm(item: str) -> str:
    """``a \\pm b`` -> ``a - b, a + b`` (one top-level ``\\pm`` only; anything fancier is left to math-verify)."""
    parts = re.split(r"\\(?:pm|mp)(?![a-zA-Z])", item)
    if len(parts) != 2 or re.search(r"(?<![\^{(_])[+-]", parts[1].strip()):
        return item
    head, tail = parts[0].strip(), parts[1].strip()
    return f"{head}-{tail}, {head}+{tail}" if head else f"-{tail}, {tail}"


def _strip_words(item: str, numeric_gold: bool) -> str:
    """Drop trailing unit words from an item that has a number in front of them."""
    core = _UNIT_TAIL.sub("", item).strip()
    tail = item[len(core):].split()
    if core and re.search(r"\d", core) and not any(w.lower().strip("^{}23²³/") in _FUNCTION_WORDS for w in tail):
        item = core
    if numeric_gold:
        item = _SINGLE_UNIT.sub("", item).strip()
    return item


def normalize(answer: str, numeric_gold: bool = False) -> str:
    """The answer with its dressing set aside (module docstring); the same reading is applied to the gold."""
    text = answer.strip()
    text = re.sub(r"\\boxed\s*\{", r"\\text{", text)  # a box inside the answer is only a wrapper
    text = text.replace("\\$", " ").replace("$", " ")
    text = re.sub(r",\s*\\!\s*", ",", text).replace("{,}", ",")
    if numeric_gold or re.fullmatch(r"\s*\d{1,3}(?:,\d{3})+(?:\.\d+)?\s*", text):
        text = _THOUSANDS.sub(lambda m: m.group(0).replace(",", ""), text)  # 1,000 against a single-number gold
    text = _unwrap(text, _TEXT_CMD)
    text = _SPACING.sub(" ", text).replace("~", " ")
    text = re.sub(r"\\[dtc]frac", r"\\frac", text)
    text = _DEGREES.sub(" ", text)
    text = re.sub(r"\\?%|\b(?:percent|percentage|pct)\b", " ", text)
    text = re.sub(r"[€£¥]|\b(?:USD|EUR|Rs\.?)(?=\s*\d)", " ", text)
    text = re.sub(r"^\s*(?:the\s+)?(?:final\s+)?answer\s*(?:is\b|:)\s*", "", text, flags=re.IGNORECASE)
    text = re.sub(r"^\s*(?:about|approximately|approx\.?|around|roughly)\s+", "", text, flags=re.IGNORECASE)
    text = re.sub(r"(?:\s*,)?\s+(?:and|or)\s+", ", ", text)
    text = re.sub(r"[\s.,;:!?]+$", "", text)
    text = re.sub(r"\s+", " ", text).strip()
    items = [_strip_words(_expand_pm(i), numeric_gold) for i in split_items(text)]
    items = [re.sub(r"^\(([A-Za-z])\)$", r"\1", i) for i in ", ".join(items).split(", ")]  # "(C)" -> "C"
    return ", ".join(i for i in items if i)


def strip_lhs(gold: str, answer: str) -> tuple[str, str]:
    """Set aside ``x =`` / ``x \\in`` in front of items, on both sides, when no other ``=`` remains afterwards.

    ``D = (0, 1)`` vs ``D = (0, 1.5)`` is then a plain interval comparison (math-verify 0.5.2 got that one wrong);
    a real equation (``2x + 4y = 3``) keeps its ``=`` and is left to math-verify.
    """
    def strip(text):
        return ", ".join(_LHS.sub("", i) for i in split_items(text))

    g, a = strip(gold), strip(answer)
    if "=" in g or "=" in a:
        return gold, answer
    return g, a


def is_numeric(text: str) -> bool:
    return _number(text) is not None


def _is_words(text: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z][A-Za-z' -]*[A-Za-z]", text))


def non_answer_reason(answer: str, gold: str) -> str | None:
    """Why a normalized answer is not a mathematical answer (``None`` when it is one)."""
    if not answer.strip():
        return "empty answer"
    if re.search(r"\d|\\[a-zA-Z]|[-+*/^_=<>()\[\]{}|,]", answer) or re.fullmatch(r"[A-Za-z]'*", answer):
        return None
    if _is_words(answer):
        if answer.lower() in _META_WORDS:
            return f"not an answer: the word '{answer}'"
        if _is_words(gold) and answer.lower() not in _META_WORDS:
            return None  # a word against a word gold ("east" vs "west") is a real answer
        return f"not a mathematical answer: '{answer[:40]}'"
    return None


def words_equal(gold: str, answer: str) -> bool | None:
    """Case-insensitive comparison of two word answers (``\\text{Even}`` = ``even``); ``None`` if not both words."""
    if _is_words(gold) and _is_words(answer) and (len(gold) > 1 or len(answer) > 1):
        return gold.lower().split() == answer.lower().split()
    return None


# --------------------------------------------------------------------------------------------------------------
# Strict numeric check
# --------------------------------------------------------------------------------------------------------------
_NUM = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_FRAC = re.compile(r"(-?)\\frac\s*\{\s*(-?[\d.]+)\s*\}\s*\{\s*(-?[\d.]+)\s*\}")
_TIME = re.compile(r"(\d{1,2}):(\d{2})(?:\s*([ap])\.?\s*m\.?)?", re.IGNORECASE)


def _number(text: str) -> Fraction | None:
    """An exact value for ``12``, ``-0.5``, ``3/4``, ``\\frac{3}{4}``; ``None`` for anything else."""
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


def _close(a: Fraction, b: Fraction) -> bool:
    """Equal to math-verify's default 6-decimal rounding (relative for large values)."""
    return abs(a - b) <= Fraction(5, 10**7) + abs(b) * Fraction(1, 10**9)


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
    if len(g_shapes) != len(a_shapes):
        return False
    left = list(a_shapes)
    for g in g_shapes:
        hit = next((k for k, a in enumerate(left) if _shapes_equal(g, a)), None)
        if hit is None:
            return False
        left.pop(hit)
    return True
