"""The in-regime testbed: procedurally generated arithmetic word problems with step-by-step gold solutions.

Why it exists: the seven benchmarks are out of reach of a 135M model (1 of 100 GSM8K test problems after warm-up),
so nothing learned from negatives is observable on them. These problems are, after a short SFT, solved about half of
the time: samples are sometimes right and sometimes wrong, the regime where PNS, NSR and GLOW can act.

Design:
- 11 templates (stories), each a function ``(rng, steps, digits) -> Draft``; ``steps`` (1-3) is how many arithmetic
  steps the question needs, ``digits`` (1-3) the size of the operands. Every answer is a positive integer.
- 8 templates are *in-template* (``train`` / ``test``), 3 are *held out* (``ood``): never in train or test, they are
  the out-of-template split GLOW's out-of-domain claim is measured on.
- A problem's split is a hash of its key ``(template, steps, numbers)``, not of its position, so train and test are
  disjoint by construction (same numbers in the same template => same split), whatever the sizes and seeds.
- Everything is deterministic from ``seed``: ``random.Random`` seeded with a string is stable across processes and
  Python versions (it hashes the string with SHA-512, not with the salted ``hash()``).

Rows follow the ``pns_hub.data.problems`` schema (``id``, ``problem``, ``answer``, ``solution``, ``source``); the id carries
template and steps (``testbed/<split>/<template>/s<steps>/<key hash>``) so per-template accuracy needs no extra column.
"""

from __future__ import annotations

import functools
import hashlib
import random
from dataclasses import dataclass
from typing import Callable


SOURCE = "testbed"
IN_TEMPLATES = ("add", "sub", "mul", "div", "rate", "percent", "shopping", "age")
HELDOUT_TEMPLATES = ("savings", "area", "recipe")
SPLITS = ("train", "test", "ood")
TEST_PERCENT = 20  # share of in-template keys that belong to the test split
# Default sizes of the loadable sets (pns_hub.data.problems names testbed_train / testbed / testbed_ood).
DEFAULT_SIZES = {"train": 4000, "test": 1000, "ood": 600}
DEFAULT_STEPS = (1, 2, 3)
DEFAULT_DIGITS = (1, 2)
DEFAULT_SEED = 0

NAMES = ("Sam", "Maria", "Omar", "Lena", "Kofi", "Aiko", "Ravi", "Elena", "Tom", "Nadia", "Diego", "Grace")
ITEMS = ("apples", "marbles", "stickers", "pencils", "cards", "shells", "books", "stamps", "coins", "beads")
VEHICLES = ("train", "bus", "car", "truck", "cyclist")
GOODS = (("notebooks", "backpack"), ("pens", "lamp"), ("mugs", "teapot"), ("shirts", "hat"), ("toys", "puzzle"))


@dataclass(frozen=True)
class Draft:
    """One generated problem before it gets an id: the numbers that define it, its text, solution steps and answer."""

    numbers: tuple[int, ...]
    problem: str
    steps: tuple[str, ...]
    answer: int


def _num(rng: random.Random, digits: int) -> int:
    """An operand of ``digits`` digits (1 -> 2..9, 2 -> 10..99, 3 -> 100..999)."""
    return rng.randint(2 if digits == 1 else 10 ** (digits - 1), 10 ** digits - 1)


def _small(rng: random.Random, digits: int) -> int:
    """A multiplier or divisor: small whatever ``digits`` is, so products stay in the range the model can handle."""
    return rng.randint(2, 9 if digits == 1 else 12)


# --------------------------------------------------------------------------------------------------------------
# In-template stories
# --------------------------------------------------------------------------------------------------------------
def _add(rng, steps, digits) -> Draft:
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    a = _num(rng, digits)
    events = [("buys {x} more", "buying"), ("gets {x} more from a friend", "the gift"), ("finds {x} more", "finding")]
    text, lines, total, nums = [f"{name} has {a} {item}."], [f"{name} starts with {a} {item}."], a, [a]
    for i in range(steps):
        x = _num(rng, digits)
        verb, noun = events[i]
        text.append(("Then " if i else "") + f"{name} {verb.format(x=x)}.")
        lines.append(f"After {noun}: {total} + {x} = {total + x} {item}.")
        total, nums = total + x, nums + [x]
    text.append(f"How many {item} does {name} have now?")
    return Draft(tuple(nums), " ".join(text), tuple(lines), total)


def _sub(rng, steps, digits) -> Draft:
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    takes = [_num(rng, digits) for _ in range(steps)]
    a = sum(takes) + _num(rng, digits)
    events = [("gives {x} to a friend", "giving"), ("loses {x}", "losing"), ("uses {x} for a project", "using")]
    text, lines, total = [f"{name} has {a} {item}."], [f"{name} starts with {a} {item}."], a
    for i, x in enumerate(takes):
        verb, noun = events[i]
        text.append(("Then " if i else "") + f"{name} {verb.format(x=x)}.")
        lines.append(f"After {noun}: {total} - {x} = {total - x} {item}.")
        total -= x
    text.append(f"How many {item} does {name} have left?")
    return Draft((a, *takes), " ".join(text), tuple(lines), total)


def _mul(rng, steps, digits) -> Draft:
    item = rng.choice(ITEMS)
    boxes, each = _small(rng, digits), _num(rng, digits)
    total = boxes * each
    text = [f"A shop has {boxes} boxes of {item} with {each} {item} in each box."]
    lines = [f"The boxes hold {boxes} * {each} = {total} {item}."]
    nums = [boxes, each]
    if steps >= 2:
        loose = _num(rng, digits)
        text.append(f"It also has {loose} loose {item}.")
        lines.append(f"With the loose ones: {total} + {loose} = {total + loose} {item}.")
        total, nums = total + loose, nums + [loose]
    if steps >= 3:
        sold = rng.randint(1, total - 1)
        text.append(f"Then the shop sells {sold} {item}.")
        lines.append(f"After selling: {total} - {sold} = {total - sold} {item}.")
        total, nums = total - sold, nums + [sold]
    text.append(f"How many {item} does the shop have{' now' if steps >= 3 else ''}?" if steps > 1
                else f"How many {item} are in the boxes?")
    return Draft(tuple(nums), " ".join(text), tuple(lines), total)


def _div(rng, steps, digits) -> Draft:
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    friends, share = _small(rng, digits), _num(rng, digits)
    total = friends * share
    text = [f"{name} shares {total} {item} equally among {friends} friends."]
    lines = [f"Each friend gets {total} / {friends} = {share} {item}."]
    nums, each = [total, friends], share
    if steps >= 2:
        more = _num(rng, digits)
        text.append(f"Then each friend buys {more} more {item}.")
        lines.append(f"After buying: {each} + {more} = {each + more} {item} each.")
        each, nums = each + more, nums + [more]
    if steps >= 3:
        used = rng.randint(1, each - 1)
        text.append(f"Then each friend gives away {used} {item}.")
        lines.append(f"After giving away: {each} - {used} = {each - used} {item} each.")
        each, nums = each - used, nums + [used]
    text.append(f"How many {item} does each friend have{' now' if steps > 1 else ''}?")
    return Draft(tuple(nums), " ".join(text), tuple(lines), each)


def _rate(rng, steps, digits) -> Draft:
    vehicle = rng.choice(VEHICLES)
    speed, hours = _num(rng, digits), rng.randint(2, 6)
    total = speed * hours
    text = [f"A {vehicle} travels at {speed} kilometres per hour for {hours} hours."]
    lines = [f"First part: {speed} * {hours} = {total} km."]
    nums = [speed, hours]
    if steps >= 2:
        speed2, hours2 = _num(rng, digits), rng.randint(2, 6)
        text.append(f"Then it travels at {speed2} kilometres per hour for {hours2} more hours.")
        lines.append(f"Second part: {speed2} * {hours2} = {speed2 * hours2} km, so {total} + {speed2 * hours2} = "
                     f"{total + speed2 * hours2} km in all.")
        total, nums = total + speed2 * hours2, nums + [speed2, hours2]
    if steps >= 3:
        extra = _num(rng, digits)
        text.append(f"Finally it travels another {extra} kilometres.")
        lines.append(f"With the last part: {total} + {extra} = {total + extra} km.")
        total, nums = total + extra, nums + [extra]
    text.append(f"How many kilometres does the {vehicle} travel{' in total' if steps > 1 else ''}?")
    return Draft(tuple(nums), " ".join(text), tuple(lines), total)


def _percent(rng, steps, digits) -> Draft:
    name = rng.choice(NAMES)
    price = 20 * rng.randint(1, 5 if digits == 1 else 25 if digits == 2 else 50)  # 20 * k: every q% is whole
    pct = rng.choice((10, 20, 25, 50) if digits == 1 else (5, 10, 15, 20, 25, 30, 40, 50, 60, 75))
    off = price * pct // 100
    sale = price - off
    text = [f"A jacket costs ${price}. It is on sale for {pct}% off."]
    lines = [f"The discount is {pct}% of ${price} = {price} * {pct} / 100 = ${off}.",
             f"The sale price is {price} - {off} = ${sale}."]
    nums, total = [price, pct], sale
    if steps >= 2:
        count = rng.randint(2, 5)
        text.append(f"{name} buys {count} jackets at the sale price.")
        lines.append(f"{count} jackets cost {count} * {sale} = ${count * sale}.")
        total, nums = count * sale, nums + [count]
    if steps >= 3:
        bill = 100 * (total // 100 + rng.randint(1, 3))
        text.append(f"{name} pays with ${bill}.")
        lines.append(f"The change is {bill} - {total} = ${bill - total}.")
        total, nums = bill - total, nums + [bill]
    question = ("What is the sale price, in dollars?", f"How much does {name} pay, in dollars?",
                f"How much change does {name} get, in dollars?")[steps - 1]
    text.append(question)
    return Draft(tuple(nums), " ".join(text), tuple(lines), total)


def _shopping(rng, steps, digits) -> Draft:
    name = rng.choice(NAMES)
    goods, single = rng.choice(GOODS)
    count, price = _small(rng, digits), _num(rng, digits)
    total = count * price
    text = [f"{name} buys {count} {goods} for ${price} each."]
    lines = [f"The {goods} cost {count} * {price} = ${total}."]
    nums = [count, price]
    if steps >= 2:
        extra = _num(rng, digits)
        text.append(f"{name} also buys a {single} for ${extra}.")
        lines.append(f"With the {single}: {total} + {extra} = ${total + extra}.")
        total, nums = total + extra, nums + [extra]
    if steps >= 3:
        bill = 10 ** (len(str(total))) * rng.randint(1, 2)
        text.append(f"{name} pays with ${bill}.")
        lines.append(f"The change is {bill} - {total} = ${bill - total}.")
        total, nums = bill - total, nums + [bill]
    text.append(("How much does " + name + " spend, in dollars?") if steps < 3
                else f"How much change does {name} get, in dollars?")
    return Draft(tuple(nums), " ".join(text), tuple(lines), total)


def _age(rng, steps, digits) -> Draft:
    name, other = rng.sample(NAMES, 2)
    age = rng.randint(2, 9) if digits == 1 else rng.randint(10, 40)
    gap = rng.randint(2, 9) if digits == 1 else rng.randint(2, 30)
    text = [f"{name} is {age} years old. {other} is {gap} years older than {name}."]
    lines = [f"{other} is {age} + {gap} = {age + gap} years old."]
    nums, total, who = [age, gap], age + gap, other
    if steps >= 2:
        times = rng.randint(2, 3)
        text.append(f"Their grandfather is {times} times as old as {other}.")
        lines.append(f"The grandfather is {times} * {total} = {times * total} years old.")
        total, nums, who = times * total, nums + [times], "their grandfather"
    if steps >= 3:
        later = rng.randint(2, 15)
        lines.append(f"In {later} years he will be {total} + {later} = {total + later} years old.")
        text.append(f"How old will their grandfather be in {later} years?")
        return Draft(tuple(nums + [later]), " ".join(text), tuple(lines), total + later)
    text.append(f"How old is {who}?")
    return Draft(tuple(nums), " ".join(text), tuple(lines), total)


# --------------------------------------------------------------------------------------------------------------
# Held-out stories (the out-of-template split): same arithmetic, framings never seen in training
# --------------------------------------------------------------------------------------------------------------
def _savings(rng, steps, digits) -> Draft:
    name = rng.choice(NAMES)
    weekly, weeks = _num(rng, digits), rng.randint(2, 9)
    total = weekly * weeks
    text = [f"{name} saves ${weekly} every week for {weeks} weeks."]
    lines = [f"{name} saves {weekly} * {weeks} = ${total}."]
    nums = [weekly, weeks]
    if steps >= 2:
        envelopes = rng.randint(2, 5) if steps >= 3 else 1
        each = rng.randint(1, (total - 1) // envelopes)
        spent = total - envelopes * each
        text.append(f"Then {name} spends ${spent} on a bicycle.")
        lines.append(f"After the bicycle: {total} - {spent} = ${total - spent}.")
        total, nums = total - spent, nums + [spent]
        if steps >= 3:
            text.append(f"{name} puts the rest into {envelopes} envelopes equally.")
            lines.append(f"Each envelope gets {total} / {envelopes} = ${each}.")
            total, nums = each, nums + [envelopes]
    text.append(("How much does " + name + " save, in dollars?", f"How much money does {name} have left, in dollars?",
                 "How much money is in each envelope, in dollars?")[steps - 1])
    return Draft(tuple(nums), " ".join(text), tuple(lines), total)


def _area(rng, steps, digits) -> Draft:
    length, width = _num(rng, digits), _small(rng, digits)
    total = length * width
    text = [f"A rectangular garden is {length} metres long and {width} metres wide."]
    lines = [f"The area is {length} * {width} = {total} square metres."]
    nums = [length, width]
    if steps >= 2:
        cost = rng.randint(2, 9)
        text.append(f"Grass seed costs ${cost} per square metre.")
        lines.append(f"The seed costs {total} * {cost} = ${total * cost}.")
        total, nums = total * cost, nums + [cost]
    if steps >= 3:
        coupon = rng.randint(1, total - 1)
        text.append(f"A coupon takes ${coupon} off the price.")
        lines.append(f"With the coupon: {total} - {coupon} = ${total - coupon}.")
        total, nums = total - coupon, nums + [coupon]
    text.append(("What is the area of the garden, in square metres?", "How much does the seed cost, in dollars?",
                 "How much is paid for the seed, in dollars?")[steps - 1])
    return Draft(tuple(nums), " ".join(text), tuple(lines), total)


def _recipe(rng, steps, digits) -> Draft:
    name = rng.choice(NAMES)
    flour, batches = _num(rng, digits), _small(rng, digits)
    total = flour * batches
    text = [f"One batch of bread needs {flour} grams of flour. {name} bakes {batches} batches."]
    lines = [f"The flour needed is {flour} * {batches} = {total} grams."]
    nums = [flour, batches]
    if steps >= 2:
        sugar = _num(rng, digits)
        text.append(f"Each batch also needs {sugar} grams of sugar.")
        lines.append(f"The sugar needed is {sugar} * {batches} = {sugar * batches} grams, so flour and sugar together "
                     f"are {total} + {sugar * batches} = {total + sugar * batches} grams.")
        total, nums = total + sugar * batches, nums + [sugar]
    if steps >= 3:
        have = rng.randint(1, total - 1)
        text.append(f"{name} already has {have} grams of flour and sugar in the kitchen.")
        lines.append(f"Still to buy: {total} - {have} = {total - have} grams.")
        total, nums = total - have, nums + [have]
    text.append(("How many grams of flour does " + name + " need?", "How many grams of flour and sugar are needed?",
                 f"How many more grams of flour and sugar does {name} need to buy?")[steps - 1])
    return Draft(tuple(nums), " ".join(text), tuple(lines), total)


TEMPLATES: dict[str, Callable[[random.Random, int, int], Draft]] = {
    "add": _add, "sub": _sub, "mul": _mul, "div": _div, "rate": _rate, "percent": _percent,
    "shopping": _shopping, "age": _age, "savings": _savings, "area": _area, "recipe": _recipe,
}
assert set(TEMPLATES) == set(IN_TEMPLATES) | set(HELDOUT_TEMPLATES) and not set(IN_TEMPLATES) & set(HELDOUT_TEMPLATES)


# --------------------------------------------------------------------------------------------------------------
# Splits and rows
# --------------------------------------------------------------------------------------------------------------
def problem_key(template: str, steps: int, numbers: tuple[int, ...]) -> str:
    """The identity of a problem: what it asks, independent of names and items (which are surface only)."""
    return f"{template}|s{steps}|" + ",".join(map(str, numbers))


def split_of(template: str, key: str) -> str:
    """Which split a key belongs to: held-out templates -> ``ood``; else a stable hash picks ``test`` or ``train``."""
    if template in HELDOUT_TEMPLATES:
        return "ood"
    bucket = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 100
    return "test" if bucket < TEST_PERCENT else "train"


def solution_text(draft: Draft) -> str:
    """The gold solution: one line per step, then the answer in the form every pns_hub prompt asks for."""
    return "\n".join(draft.steps) + f"\n\nThe final answer is $\\boxed{{{draft.answer}}}$."


def generate(split: str, n: int, seed: int = DEFAULT_SEED, steps=DEFAULT_STEPS, digits=DEFAULT_DIGITS,
             templates: tuple[str, ...] | None = None) -> list[dict]:
    """``n`` distinct problems of ``split`` (``train``, ``test`` or ``ood``) in the ``pns_hub.data.problems`` schema.

    Template, steps and digits are drawn uniformly for each problem; a draw whose key belongs to another split, or
    repeats a key or a text already drawn, is skipped. ``templates`` narrows the templates (they must belong to the
    split). Raises ``ValueError`` when the space is too small for ``n`` distinct problems.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown testbed split {split!r}; known: {', '.join(SPLITS)}")
    allowed = HELDOUT_TEMPLATES if split == "ood" else IN_TEMPLATES
    templates = tuple(templates or allowed)
    if bad := [t for t in templates if t not in allowed]:
        raise ValueError(f"template(s) {bad} do not belong to split {split!r} (allowed: {', '.join(allowed)})")
    if not steps or any(s not in (1, 2, 3) for s in steps) or not digits or any(d not in (1, 2, 3) for d in digits):
        raise ValueError(f"steps must be drawn from 1-3 and digits from 1-3, got steps={steps}, digits={digits}")
    rng = random.Random(f"pns-hub-testbed/{split}/{seed}")
    rows, keys, texts = [], set(), set()
    for _ in range(50 * n + 1000):  # ~5 draws per row at a 20% test share; duplicates are rare
        if len(rows) == n:
            return rows
        template, s, d = rng.choice(templates), rng.choice(tuple(steps)), rng.choice(tuple(digits))
        draft = TEMPLATES[template](rng, s, d)
        key = problem_key(template, s, draft.numbers)
        if split_of(template, key) != split or key in keys or draft.problem in texts:
            continue
        keys.add(key)
        texts.add(draft.problem)
        digest = hashlib.sha256(key.encode()).hexdigest()[:10]
        rows.append({"id": f"{SOURCE}/{split}/{template}/s{s}/{digest}", "problem": draft.problem,
                     "answer": str(draft.answer), "solution": solution_text(draft), "source": SOURCE})
    raise ValueError(f"could not draw {n} distinct {split} problems from templates {templates} with steps={steps}, "
                     f"digits={digits}; got {len(rows)} (ask for fewer or widen steps/digits)")


def parse_id(row_id: str) -> dict:
    """``testbed/<split>/<template>/s<steps>/<hash>`` -> ``{"split", "template", "steps"}`` (for per-template tables)."""
    parts = row_id.split("/")
    if len(parts) != 5 or parts[0] != SOURCE or not parts[3].startswith("s"):
        raise ValueError(f"not a testbed id: {row_id!r}")
    return {"split": parts[1], "template": parts[2], "steps": int(parts[3][1:])}


# Names under which pns_hub.data.problems.load_problems serves the default sets.
DATASET_SPLITS = {"testbed": "test", "testbed_train": "train", "testbed_ood": "ood"}


@functools.lru_cache(maxsize=8)
def _default_rows(split: str) -> tuple[dict, ...]:
    return tuple(generate(split, DEFAULT_SIZES[split]))


def load(name: str) -> list[dict]:
    """A default set by its ``pns_hub.data.problems`` name (``testbed``, ``testbed_train``, ``testbed_ood``), fresh copies."""
    if name not in DATASET_SPLITS:
        raise KeyError(f"unknown testbed set {name!r}; known: {', '.join(DATASET_SPLITS)}")
    return [dict(r) for r in _default_rows(DATASET_SPLITS[name])]
