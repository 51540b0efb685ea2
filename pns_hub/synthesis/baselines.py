"""Baseline negative sources, next to PNS, so a user can compare them on equal terms (pns.md sections 5 and 9.6).

All four sources end up as the same preference-pair schema (see :mod:`pns_hub.synthesis.run`); this module holds what
is specific to each baseline:

* ``rejection_sampling`` (RS): the policy's own verified-wrong samples, one picked at random. Figure 1 of the paper
  uses these as the *implausible* contrast.
* ``prompted_wrong``: an instruct model is *asked* to write a subtly wrong solution (:func:`build_wrong_prompt`); its
  output is still verified wrong - a model asked to err often does not.
* ``perturbed``: the gold solution with one number corrupted and the error carried through the later arithmetic,
  so the final answer changes (:func:`perturb_solution`); deterministic given a seed and the problem id.
"""

from __future__ import annotations

import hashlib
import random
import re

# one bounded evaluator for "a op b = c" arithmetic: the step checker's
from pns_hub.grading.steps import MAX_ARITH_CHARS, MAX_ARITH_EXPONENT, MAX_ARITH_MAGNITUDE  # noqa: F401
from pns_hub.grading.steps import eval_arith as _eval_arith


PNS, REJECTION_SAMPLING, PROMPTED_WRONG, PERTURBED = "pns", "rejection_sampling", "prompted_wrong", "perturbed"
SOURCES = (PNS, REJECTION_SAMPLING, PROMPTED_WRONG, PERTURBED)
SOURCE_DESCRIPTIONS = {
    PNS: "samples of the PNS generator (trained by reverse RL to be wrong but plausible); verified wrong, well formed, "
         "the most plausible one (RM / judge / composite) kept",
    REJECTION_SAMPLING: "the policy's own verified-wrong samples, one picked at random",
    PROMPTED_WRONG: "an instruct model prompted to write a subtly wrong solution; kept only when verified wrong",
    PERTURBED: "the gold solution with one number corrupted and the error propagated; verified wrong",
}

WRONG_PROMPT_TEMPLATE = (
    "Write a solution to the following math problem that reads like a careful, confident step-by-step solution but "
    "contains one subtle mistake (for example a small arithmetic slip or a misread quantity), so that the final "
    "answer is wrong. Do not mention or hint at the mistake. Give the final answer in \\boxed{{}}.\n\n{problem}"
)


def build_wrong_prompt(problem: str) -> list[dict]:
    """The ``prompted_wrong`` instruction (chat messages). The dataset row still carries the *normal* prompt."""
    return [{"role": "user", "content": WRONG_PROMPT_TEMPLATE.format(problem=problem)}]


def stable_seed(*parts) -> int:
    """A 31-bit seed from any parts (problem id, purpose, base seed): the same on every rank, run and Python."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).hexdigest()
    return int(digest[:8], 16) & 0x7FFFFFFF


# --------------------------------------------------------------------------------------------------------------
# Perturbation of a correct solution
# --------------------------------------------------------------------------------------------------------------
_NUMBER = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)(?![\w.]*\d)")
# "expr = result", where expr is plain arithmetic (GSM8K style: "48/2 = 24", "$12 x 5 = $60").
_EQUATION = re.compile(r"((?:\$?\d+(?:\.\d+)?\s*[-+*/x×÷]\s*)+\$?\d+(?:\.\d+)?)\s*=\s*\$?(\d+(?:\.\d+)?)")


def _fmt(value: float) -> str:
    if abs(value - round(value)) < 1e-9:
        return str(int(round(value)))
    return f"{value:.4f}".rstrip("0").rstrip(".")


def _new_value(old: float, rng: random.Random) -> float:
    """A plausible slip: off by a small amount, never equal to the old value, never negative when it was not."""
    if abs(old - round(old)) < 1e-9:
        candidates = [d for d in (-3, -2, -1, 1, 2, 3, 10, -10) if old + d >= 0 and d != 0]
        return old + rng.choice(candidates)
    return round(old * rng.choice((0.5, 2.0, 1.1, 0.9)), 4)


def _replace_final_answer(text: str, gold: str, new: str) -> str:
    """Swap the boxed final answer (and the ``#### x`` marker) for ``new``."""
    text = re.sub(r"\\boxed\{" + re.escape(gold) + r"\}", lambda _: "\\boxed{" + new + "}", text)
    return re.sub(r"####\s*" + re.escape(gold), lambda _: "#### " + new, text)


def perturb_solution(solution: str, gold: str, seed: int) -> tuple[str, str] | None:
    """Corrupt one intermediate result of ``solution`` and carry the error to the final answer.

    Returns ``(perturbed_text, description)`` or ``None`` when the solution has no number to corrupt. The steps:
    pick (seeded) one ``a op b = c`` result, replace ``c`` by a near miss, then re-evaluate every later equation
    whose operands used a changed value; if the final answer was one of those values it changes with them, else
    the final step itself is the slip (its result and the boxed answer are changed). The caller still verifies
    the result is *wrong*: a perturbation is only a candidate.
    """
    rng = random.Random(seed)
    gold_value = _eval_arith(gold.replace(",", "")) if gold else None
    equations = list(_EQUATION.finditer(solution))
    if equations:
        pick = rng.randrange(len(equations))
        text, changed, offset = solution, {}, 0
        for k, match in enumerate(equations):
            if k < pick:
                continue
            expr, result = match.group(1), match.group(2)
            new_expr = expr
            for old, new in changed.items():
                new_expr = re.sub(r"(?<![\d.])" + re.escape(old) + r"(?![\d.])", new, new_expr)
            if k == pick:
                new_result = _fmt(_new_value(float(result), rng))
            elif new_expr != expr:
                value = _eval_arith(new_expr)
                if value is None:
                    continue
                new_result = _fmt(value)
            else:
                continue
            if new_result == result and new_expr == expr:
                continue
            changed[result] = new_result
            start, end = match.start() + offset, match.end() + offset
            segment = text[start:end]
            segment = segment.replace(expr, new_expr, 1)
            head, _, tail = segment.rpartition(result)
            segment = head + new_result + tail
            text = text[:start] + segment + text[end:]
            offset += len(segment) - (end - start)
        if gold_value is not None:
            key = _fmt(gold_value)
            if key in changed:
                text = _replace_final_answer(text, gold, changed[key])
                return text, f"step {pick + 1}: result changed, error carried to the final answer ({gold} -> {changed[key]})"
    # No equation, or the error did not reach the answer: the slip is in the final answer itself.
    match = list(_NUMBER.finditer(gold or ""))
    if not match:
        return None
    m = match[rng.randrange(len(match))]
    new_num = _fmt(_new_value(float(m.group(1)), rng))
    new_gold = gold[:m.start()] + new_num + gold[m.end():]
    text = solution
    # make the last written occurrence of the old answer in the prose agree with the slipped one
    body_hits = [h for h in re.finditer(r"(?<![\d.])" + re.escape(gold) + r"(?![\d.])", text)]
    boxed_at = text.rfind("\\boxed{")
    prose = [h for h in body_hits if boxed_at < 0 or h.start() < boxed_at]
    if prose:
        h = prose[-1]
        text = text[:h.start()] + new_gold + text[h.end():]
    text = _replace_final_answer(text, gold, new_gold)
    if "\\boxed{" not in text:
        text = text.rstrip() + f"\n\nThe final answer is $\\boxed{{{new_gold}}}$."
    return text, f"final step: answer changed ({gold} -> {new_gold})"
