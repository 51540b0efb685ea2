"""How the grader reads an answer: extraction of the final answer, the restatement layer, and non-answers.

:mod:`pns_hub.grading.verify` decides correct / wrong with math-verify; this module holds the pure-string parts around
it, so every caller (GRPO reward, synthesis, ``pns-hub verify``, the lighteval tasks) reads answers the same way.

* **Extraction** (:func:`extract_answer`): the last ``\\boxed{}`` wins; boxes right before it that are joined only by
  ``,`` / ``and`` / ``or`` / ``\\quad`` form one answer set (``\\boxed{(2, 2)} and \\boxed{(6, 2)}``). Without a box,
  the *last* answer phrase by position ("#### x", "The final answer is x", "Final answer: x", the Minerva "Final
  Answer: The final answer is x. I hope it is correct."), read up to the end of its sentence, so ``7.78`` stays whole.
  A mathematical "Final Answer: x" written after the last box states the final answer; a ``\\boxed{`` that never
  closes (a cut-off completion) is no answer at all.
* **Restatement layer** (:func:`normalize`): a right answer is right however it is dressed. Units and other trailing
  words, ``\\text{}``, trailing punctuation, currency, thousands separators, ``x =`` / ``x \\in``, degree and percent
  signs are set aside (on both sides), ``and`` between items becomes a comma, ``a \\pm b`` becomes ``a - b, a + b``.
  A unit is a word of 3+ letters after a space or a known unit symbol (``5 cm``, ``2.5 m / s``): ``5ab`` keeps its
  letters. A matrix row separator ``\\\\`` and an ellipsis (an endless list) are part of the answer, never dressing.
* **Non-answers** (:func:`non_answer_reason`): a word (``wrong``, ``correct``), ``N/A``, an empty box or text with no
  mathematics is not an answer: never "wrong", so never a negative and never an accuracy-inversion reward.
* **Comparison** lives in :mod:`pns_hub.grading.compare` (the strict numeric check and the structural checks where
  math-verify 0.5.2 is the weak part); what neither settles, math-verify decides.
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


def _unclosed_box(text: str) -> bool:
    """True when the last ``\\boxed{`` never closes: the answer was cut off (``\\boxed{1`` is not the answer 1)."""
    opened = list(_BOXED.finditer(text))
    return bool(opened) and _closing(text, opened[-1].end()) is None and not any(
        s <= opened[-1].start() < e for _, s, e in boxed_spans(text))


def _late_phrase(text: str, after: int) -> str | None:
    """A "Final Answer: 5" phrase written after the last box: it states the final answer (issue #31).

    Only a mathematical value counts (a digit or a command, at most two words), so "the answer is above" or "the
    answer is correct" after a box leaves the box in charge.
    """
    matches = list(_PHRASES.finditer(text, after))
    if not matches:
        return None
    value = _phrase_value(text, matches[-1].end()).strip().rstrip(".").strip()
    if re.search(r"\d|\\[a-zA-Z]", value) and len(re.findall(r"[a-zA-Z]{3,}", _unwrap(value, _TEXT_CMD))) <= 2:
        return value
    return None


def extract_answer(text: str) -> tuple[str | None, str]:
    """Final answer of a completion and how it was found: ``boxed``, ``phrase`` or ``none`` (module docstring)."""
    if not isinstance(text, str) or not text.strip() or _unclosed_box(text):
        return None, "none"
    spans = boxed_spans(text)
    if spans:
        late = _late_phrase(text, spans[-1][2] + 1)
        if late is not None:
            return late, "phrase"
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
_SPACING = re.compile(r"(?<!\\)(?:\\(?:left|right|displaystyle|!|,|;|:|quad|qquad)(?![a-zA-Z])|\\ )")
_DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|\\circ|°|\\degree")
# Trailing words after a number: units ("clips", "cm^2", "km/h", "square feet", "dollars", "percent").
_FUNCTION_WORDS = {"sin", "cos", "tan", "cot", "sec", "csc", "log", "ln", "exp", "and", "or", "pi", "mod", "i"}
# Unit symbols that may follow a number glued ("5cm") or stand alone; any other run of letters must be a word of 3+
# letters after a space ("72 clips"): "5ab" and "2 xy" are products, not units (issue #31).
_SYMBOLS = ("cm|mm|km|nm|um|ms|min|hr|hrs|kg|mg|ml|mL|kJ|kW|Pa|kPa|Hz|kHz|eV|keV|MeV|GeV|mol|ft|in|yd|mi|lb|lbs|oz|sec"
            "|m|s|h|g|l|L|K|J|N|W|V|A|C|T")
_UNIT_TOKEN = rf"(?:(?:{_SYMBOLS})(?![a-zA-Z])|[a-zA-Z]{{3,}})(?:\s*\^\s*\{{?-?[1-3]\}}?|[²³])?"
_UNIT_TAIL = re.compile(rf"(?:\s+|(?<=\d)(?=(?:{_SYMBOLS.split('|m|')[0]})(?![a-zA-Z])))"
                        rf"{_UNIT_TOKEN}(?:\s*(?:/|\\cdot|\*|\s)\s*{_UNIT_TOKEN})*$")
_LHS = re.compile(r"^\s*(?:[a-zA-Z](?:_\{?[a-zA-Z0-9]+\}?)?|[a-zA-Z]\([a-z]\))\s*(?:=|\\in\b)\s*(?=\S)")
_THOUSANDS = re.compile(r"(?<![\d.])\d{1,3}(?:,\d{3})+(?![\d,])")
_SCALE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*(thousand|million|billion)\b", re.IGNORECASE)


def _scaled(number: str, word: str) -> str:
    """``5 million`` -> ``5000000`` (PRM800K's grader reads these words as powers of ten too)."""
    value = Fraction(number) * 10 ** {"thousand": 3, "million": 6, "billion": 9}[word.lower()]
    return str(value.numerator) if value.denominator == 1 else number + " " + word


_ELLIPSIS = re.compile(r"\\[lc]?dots(?![a-zA-Z])|…|\.{3,}")
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


def _balanced(text: str) -> bool:
    """No bracket or brace opened in ``text`` is left open."""
    depth = 0
    for ch in text:
        depth += (ch in "([{") - (ch in ")]}")
        if depth < 0:
            return False
    return depth == 0


def _expand_pm(item: str) -> str:
    """``a \\pm b`` -> ``a - b, a + b`` (one top-level ``\\pm`` only; anything fancier is left to math-verify)."""
    parts = re.split(r"\\(?:pm|mp)(?![a-zA-Z])", item)
    if len(parts) != 2 or re.search(r"(?<![\^{(_])[+-]", parts[1].strip()) or not _balanced(parts[0]):
        return item  # inside a set or tuple ("\\{1 \\pm \\sqrt{5}, -2\\}") the whole is math-verify's
    head, tail = parts[0].strip(), parts[1].strip()
    return f"{head}-{tail}, {head}+{tail}" if head else f"-{tail}, {tail}"


def _strip_words(item: str, numeric_gold: bool) -> str:
    """Drop a trailing unit from an item that has a number in front of it (``72 clips``, ``2.5 m / s``).

    A lone one-letter unit (``5 m``) is dropped only against a plain-number gold: elsewhere it may be a variable.
    """
    match = _UNIT_TAIL.search(item)
    if not match:
        return item
    core, tail = item[:match.start()].strip(), item[match.start():]
    words = re.findall(r"[a-zA-Z]+", tail)
    if not core or not re.search(r"\d", core) or any(w.lower() in _FUNCTION_WORDS for w in words):
        return item
    if len(words) == 1 and len(words[0]) == 1 and not numeric_gold and not re.search(r"[/^²³]", tail):
        return item
    return core


def normalize(answer: str, numeric_gold: bool = False) -> str:
    """The answer with its dressing set aside (module docstring); the same reading is applied to the gold."""
    text = answer.strip()
    text = re.sub(r"\\boxed\s*\{", r"\\text{", text)  # a box inside the answer is only a wrapper
    text = re.sub(r'\\?"', " ", text.replace("\\$", " ").replace("$", " "))  # quotes and $ are never the value
    if text.strip().startswith("{") and _closing(text.strip(), 1) == len(text.strip()) - 1:
        text = text.strip()[1:-1]  # "{35 cm, 4}": plain braces only group
    text = re.sub(r",\s*\\!\s*", ",", text).replace("{,}", ",")
    if numeric_gold or re.fullmatch(r"\s*\d{1,3}(?:,\d{3})+(?:\.\d+)?\s*", text):
        text = _THOUSANDS.sub(lambda m: m.group(0).replace(",", ""), text)  # 1,000 against a single-number gold
    text = _unwrap(text, _TEXT_CMD)
    text = _SPACING.sub(" ", text).replace("~", " ")
    text = _SCALE.sub(lambda m: _scaled(m.group(1), m.group(2)), text)
    text = re.sub(r"\\[dtc]frac", r"\\frac", text)
    text = _DEGREES.sub(" ", text)
    text = re.sub(r"\\?%|\b(?:percent|percentage|pct)\b", " ", text)
    text = re.sub(r"[€£¥]|\b(?:USD|EUR|Rs\.?)(?=\s*\d)", " ", text)
    text = re.sub(r"^\s*(?:the\s+)?(?:final\s+)?answer\s*(?:is\b|:)\s*", "", text, flags=re.IGNORECASE)
    text = re.sub(r"^\s*(?:about|approximately|approx\.?|around|roughly)\s+", "", text, flags=re.IGNORECASE)
    text = re.sub(r"(?:\s*,)?\s+(?:and|or)\s+", ", ", text)
    text = _ELLIPSIS.sub(r" \\ldots ", text)
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
    if _outside_braces("=", g) or _outside_braces("=", a):  # "\\sum_{k=0}" is no equation (issue #31)
        return gold, answer
    return g, a


def _outside_braces(char: str, text: str) -> bool:
    depth = 0
    for ch in text:
        depth += (ch == "{") - (ch == "}")
        if ch == char and depth == 0:
            return True
    return False


def _is_words(text: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z][A-Za-z' -]*[A-Za-z]", text))


def non_answer_reason(answer: str, gold: str) -> str | None:
    """Why a normalized answer is not a mathematical answer (``None`` when it is one)."""
    if not answer.strip():
        return "empty answer"
    if re.fullmatch(r"n\s*/\s*a|n\.\s*a|not\s+applicable", answer.strip(), re.IGNORECASE):
        return f"not an answer: '{answer}'"
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
