"""The step checker: an objective plausibility measure for solutions made of ``a op b = c`` steps (issue #33).

Why: the RM and the judge are learned and weak at this size (the RM's held-out accuracy ~0.6), so "PNS negatives are
not more plausible than rejection sampling's" could mean the negatives are implausible or that the RM cannot tell.
Every testbed solution is a chain of arithmetic steps, so plausibility can be *measured* without a model: a wrong
solution that a reader would believe does its arithmetic right, works on the problem's numbers, errs late (if at
all) and ends on the number its last step computed. A solution with no arithmetic step at all gives a reader
nothing to check or believe, so it scores 0.

What is read (:func:`check_solution`):

* **steps**: every ``expr = c`` where ``expr`` is plain arithmetic on numbers (``+ - * / x × ÷ \\times \\cdot
  \\div``, ``$`` and thousands commas allowed), ``c`` a number; chained ``a + b = c`` inside prose counts.
* **step accuracy**: the share of steps whose ``c`` is ``expr`` at the precision ``c`` is written in.
* **grounded**: the share of operands that are numbers of the problem text, results of earlier steps, or 100 (the
  percent base): a step on numbers from nowhere is the "misread quantity" a reader would catch.
* **first wrong step**: 1-based position of the first step whose arithmetic is wrong (``None`` when none is).
* **answer follows**: the final answer (the last ``\\boxed{}``) equals the last step's result.

``plausibility`` = the mean of step accuracy, grounded share and answer-follows (0/1), in [0, 1]; 0 without steps.
The gold solutions of every testbed template score exactly 1 (``tests/test_steps.py`` checks all 4,000).
"""

from __future__ import annotations

import ast
import operator
import re
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Sequence


_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.Pow: operator.pow, ast.USub: operator.neg, ast.UAdd: operator.pos}
MAX_ARITH_CHARS = 200  # a solution's "a op b = c" is short; a long expression is not arithmetic we need
MAX_ARITH_MAGNITUDE = 1e15  # beyond any quantity in a school word problem; bounds every intermediate value
MAX_ARITH_EXPONENT = 16
PERCENT_BASE = 100.0  # "price * pct / 100": the one constant a grounded step may use that no problem states
_NUM = r"\d+(?:\.\d+)?"
# "expr = result": two or more numbers joined by operators, then "=", then a (possibly negative) number
STEP = re.compile(rf"(?<![\d.])((?:\$?{_NUM}\s*[-+*/]\s*)+\$?{_NUM})\s*=\s*\$?(-?\s*{_NUM})")
_OPERAND = re.compile(_NUM)
_LATEX_OPS = ((r"\times", "*"), (r"\cdot", "*"), (r"\div", "/"), ("×", "*"), ("÷", "/"), ("·", "*"), (r"\$", "$"),
              ("−", "-"))


def _arith_node(node: ast.AST) -> float:
    """Evaluate one node of a whitelisted arithmetic tree; ValueError for anything else or out of bounds.

    Bounds are checked *before* each power is computed (``9**9**9`` is rejected at ``9**387420489``), so no input
    can make a worker spin on a huge integer.
    """
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        value = node.value
    elif isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
        value = _OPS[type(node.op)](_arith_node(node.operand))
    elif isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        left, right = _arith_node(node.left), _arith_node(node.right)
        if isinstance(node.op, ast.Pow) and (abs(right) > MAX_ARITH_EXPONENT or right != int(right)):
            raise ValueError(f"exponent {right} out of bounds")
        value = _OPS[type(node.op)](left, right)
    else:
        raise ValueError(f"{type(node).__name__} is not plain arithmetic")
    if isinstance(value, complex) or abs(value) > MAX_ARITH_MAGNITUDE:
        raise ValueError("value out of bounds")
    return value


def eval_arith(expr: str) -> float | None:
    """Evaluate ``12 x 5 + 3`` style arithmetic with a bounded evaluator (never ``eval``).

    Only numbers, ``+ - * / **``, unary signs and parentheses, at most :data:`MAX_ARITH_CHARS` characters, every
    intermediate value within :data:`MAX_ARITH_MAGNITUDE`, exponents within :data:`MAX_ARITH_EXPONENT`: anything
    else is ``None``.
    """
    clean = expr.replace("$", "").replace("x", "*").replace("×", "*").replace("÷", "/")
    if len(clean) > MAX_ARITH_CHARS or not re.fullmatch(r"[\d.\s+\-*/()]+", clean):
        return None
    try:
        return float(_arith_node(ast.parse(clean, mode="eval").body))
    except (SyntaxError, ZeroDivisionError, OverflowError, ValueError, TypeError, RecursionError):
        return None


def normalize_arithmetic(text: str) -> str:
    """Operators as ``+ - * /`` (LaTeX, unicode and a spaced ``x`` between numbers), thousands commas dropped."""
    for old, new in _LATEX_OPS:
        text = text.replace(old, new)
    text = re.sub(r"(?<=\d)\s*x\s*(?=\$?\d)", " * ", text)
    return re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text)


@dataclass(frozen=True)
class Step:
    """One ``expr = claimed`` step as written, what ``expr`` evaluates to, and whether its operands are grounded."""

    expression: str
    claimed: float
    value: float | None
    correct: bool
    operands: int
    grounded_operands: int


@dataclass(frozen=True)
class StepCheck:
    """A solution's steps and the figures read from them (module docstring)."""

    steps: tuple[Step, ...]
    step_accuracy: float | None  # share of steps with right arithmetic; None without steps
    grounded: float | None  # share of operands from the problem, earlier results or 100; None without steps
    first_wrong_step: int | None  # 1-based; None when every step is right (or there is none)
    answer_follows: bool | None  # final answer == last step's result; None without a final answer or steps
    final_answer: float | None
    plausibility: float

    @property
    def num_steps(self) -> int:
        return len(self.steps)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["num_steps"] = self.num_steps
        return out


def _decimals(number: str) -> int:
    return len(number.partition(".")[2])


def _matches(value: float | None, claimed: str) -> bool:
    """``claimed`` is ``value`` written at its own precision (``33.33`` for 100/3 is right, ``33.4`` is not)."""
    if value is None:
        return False
    return abs(value - float(claimed)) <= 0.5 * 10 ** -_decimals(claimed) + 1e-9


def numbers_in(text: str) -> set[Fraction]:
    """Every number written in ``text`` (thousands commas dropped), as exact fractions for set membership."""
    return {Fraction(m) for m in _OPERAND.findall(normalize_arithmetic(text or ""))}


def read_steps(solution: str, problem: str = "") -> list[Step]:
    """Every ``expr = c`` step of ``solution`` in order; operands are grounded when they occur in ``problem``, are
    an earlier step's result, or are the percent base 100."""
    known = numbers_in(problem) | {Fraction(int(PERCENT_BASE))}
    steps = []
    for match in STEP.finditer(normalize_arithmetic(solution or "")):
        expr, claimed = match.group(1), match.group(2).replace(" ", "")
        value = eval_arith(expr)
        operands = [Fraction(o) for o in _OPERAND.findall(expr)]
        grounded = sum(o in known for o in operands)
        steps.append(Step(expr.strip(), float(claimed), value, _matches(value, claimed), len(operands), grounded))
        known.add(Fraction(claimed))
    return steps


def _final_answer(solution: str) -> float | None:
    from pns_hub.grading.answers import extract_boxed

    boxed = extract_boxed(solution or "")
    numbers = _OPERAND.findall(normalize_arithmetic(boxed)) if boxed else []
    if len(numbers) != 1:  # no number, or several ("3 and 4"): not one value a step could have produced
        return None
    sign = -1.0 if re.search(r"-\s*\$?" + re.escape(numbers[0]), normalize_arithmetic(boxed)) else 1.0
    return sign * float(numbers[0])


def check_solution(solution: str, problem: str = "") -> StepCheck:
    """The step checker's reading of one solution (module docstring); deterministic, no model."""
    steps = tuple(read_steps(solution, problem))
    final = _final_answer(solution)
    if not steps:
        return StepCheck((), None, None, None, None, final, 0.0)
    accuracy = sum(s.correct for s in steps) / len(steps)
    operands = sum(s.operands for s in steps)
    grounded = sum(s.grounded_operands for s in steps) / operands if operands else 0.0
    first_wrong = next((i + 1 for i, s in enumerate(steps) if not s.correct), None)
    follows = None if final is None else abs(final - steps[-1].claimed) < 1e-9
    plausibility = (accuracy + grounded + float(bool(follows))) / 3
    return StepCheck(steps, accuracy, grounded, first_wrong, follows, final, plausibility)


def plausibility_scores(solutions: Sequence[str], problems: Sequence[str]) -> list[float]:
    """:attr:`StepCheck.plausibility` of each solution against its problem (the oracle reward's and Figure 1's)."""
    if len(solutions) != len(problems):
        raise ValueError(f"{len(solutions)} solutions but {len(problems)} problems")
    return [check_solution(s, p).plausibility for s, p in zip(solutions, problems)]
