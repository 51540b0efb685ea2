"""Benchmarks and training problems in one normalised schema.

Every loader returns rows ``{"id", "problem", "answer", "solution", "source"}`` so that generation, verification,
synthesis and evaluation never need to know where a problem came from. The canonical Hub dataset is used when it is
reachable (and ``PNS_HUB_DATA=hub``), otherwise the JSONL copy shipped in the package: the project must run offline.

Bad input is never silently dropped: a malformed row raises :class:`DataError` naming file, line and field, or, with
``on_error="collect"``, is returned in a rejected-rows list.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable, Iterable


logger = logging.getLogger(__name__)

SCHEMA = ("id", "problem", "answer", "solution", "source")


class DataError(ValueError):
    """A problem file or row that cannot be used. The message names file, line and field."""

    def __init__(self, path: str | os.PathLike, line: int | None, field: str | None, message: str):
        self.path, self.line, self.field = str(path), line, field
        where = f"{path}" + (f", line {line}" if line is not None else "") + (f", field '{field}'" if field else "")
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class BenchmarkSpec:
    """Where a benchmark lives on the Hub and in the package, and how its gold answer is read."""

    name: str
    file: str
    hub_id: str
    hub_config: str | None
    hub_split: str
    problem_field: str
    gold: Callable[[dict], str]
    license: str


def _gsm8k_gold(row: dict) -> str:
    # GSM8K writes the final answer after '####'; thousands separators are not part of the number.
    answer = _require_str(row, "answer")
    if "####" not in answer:
        raise KeyError("answer has no '####' marker")
    return answer.split("####")[-1].strip().replace(",", "")


def _amc_gold(row: dict) -> str:
    # AMC23 stores floats (27.0); integral values must compare as integers.
    value = row.get("answer")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"answer must be a number or string, got {type(value).__name__}")
    if isinstance(value, str):
        value = float(value)
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _minerva_gold(row: dict) -> str:
    # Minerva Math has no answer column: the gold is the last \boxed{...} of the reference solution.
    from pns_hub.grading.answers import extract_boxed  # the grader's rule for "the boxed answer" (see test_architecture)

    boxed = extract_boxed(_require_str(row, "solution"))
    if boxed is None:
        raise KeyError("solution has no \\boxed{} answer")
    return boxed


def _olympiad_gold(row: dict) -> str:
    # OlympiadBench stores a list of LaTeX answers, often wrapped in $...$; several answers form one tuple/set.
    answers = row.get("final_answer")
    if isinstance(answers, str):
        answers = [answers]
    if not isinstance(answers, list) or not answers or not all(isinstance(a, str) for a in answers):
        raise TypeError("final_answer must be a non-empty list of strings")
    cleaned = [a.strip().strip("$").strip() for a in answers]
    return ", ".join(cleaned)


def _plain_gold(field: str) -> Callable[[dict], str]:
    def gold(row: dict) -> str:
        value = row.get(field)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        return _require_str(row, field).strip()

    return gold


def _require_str(row: dict, field: str) -> str:
    if field not in row or row[field] is None:
        raise KeyError(f"missing '{field}'")
    if not isinstance(row[field], str):
        raise TypeError(f"'{field}' must be a string, got {type(row[field]).__name__}")
    if not row[field].strip():
        raise KeyError(f"'{field}' is empty")
    return row[field]


BENCHMARKS: dict[str, BenchmarkSpec] = {
    "gsm8k": BenchmarkSpec("gsm8k", "gsm8k_test.jsonl", "openai/gsm8k", "main", "test", "question", _gsm8k_gold, "MIT"),
    "math_500": BenchmarkSpec(
        "math_500", "math500.jsonl", "HuggingFaceH4/MATH-500", None, "test", "problem", _plain_gold("answer"), "MIT"
    ),
    "aime24": BenchmarkSpec(
        "aime24", "aime24.jsonl", "HuggingFaceH4/aime_2024", None, "train", "problem", _plain_gold("answer"), "MAA, public"
    ),
    "aime25": BenchmarkSpec(
        "aime25", "aime25.jsonl", "yentinglin/aime_2025", None, "train", "problem", _plain_gold("answer"), "MAA, public"
    ),
    "amc23": BenchmarkSpec("amc23", "amc23.jsonl", "math-ai/amc23", None, "test", "problem", _amc_gold, "MAA, public"),
    "minerva_math": BenchmarkSpec(
        "minerva_math", "minerva_math.jsonl", "math-ai/minervamath", None, "test", "problem", _minerva_gold,
        "CC BY-NC-SA 4.0",
    ),
    "olympiadbench": BenchmarkSpec(
        "olympiadbench", "olympiadbench.jsonl", "Hothan/OlympiadBench", "OE_TO_maths_en_COMP", "train", "question",
        _olympiad_gold, "Apache-2.0",
    ),
}
TRAIN_SETS: dict[str, BenchmarkSpec] = {
    "gsm8k_train": BenchmarkSpec(
        "gsm8k_train", "gsm8k_train.jsonl", "openai/gsm8k", "main", "train", "question", _gsm8k_gold, "MIT"
    ),
}
ALL_SETS = {**BENCHMARKS, **TRAIN_SETS}
BENCHMARK_NAMES = tuple(BENCHMARKS)
# The in-regime testbed (pns_hub.data.testbed) is generated, not read from a file: test split, training split, and the
# held-out templates (out-of-template split). "testbed" is the eighth evaluation task next to the seven benchmarks.
TESTBED_SETS = ("testbed", "testbed_train", "testbed_ood")
EVAL_NAMES = (*BENCHMARK_NAMES, "testbed")


def bundled_path(filename: str) -> Path:
    """Path of a JSONL file shipped inside the package (works from a wheel or a checkout)."""
    return Path(str(resources.files("pns_hub") / "resources" / "math" / filename))


def _solution_text(spec: BenchmarkSpec, row: dict) -> str | None:
    solution = row.get("solution")
    if spec.name.startswith("gsm8k"):
        solution = row.get("answer")
        if isinstance(solution, str):
            # GSM8K's calculator annotations (<<3*4=12>>) are not prose a model should imitate.
            solution = re.sub(r"<<[^>]*>>", "", solution)
            solution = solution.split("####")[0].strip() + f"\n\nThe final answer is $\\boxed{{{_gsm8k_gold(row)}}}$."
    if isinstance(solution, list):
        solution = "\n".join(s for s in solution if isinstance(s, str))
    return solution if isinstance(solution, str) and solution.strip() else None


def _message(err: Exception) -> str:
    """An exception's own text: ``str(KeyError(m))`` is ``repr(m)``, and stripping its quotes cut real ones too."""
    return str(err.args[0]) if err.args else type(err).__name__


def normalise_row(spec: BenchmarkSpec, row: dict, index: int, path: str, line: int | None) -> dict:
    """Turn one raw row into the shared schema, or raise :class:`DataError` naming the offending field."""
    if not isinstance(row, dict):
        raise DataError(path, line, None, f"row must be a JSON object, got {type(row).__name__}")
    field = spec.problem_field
    try:
        problem = _require_str(row, field) if field in row or "problem" not in row else _require_str(row, "problem")
    except (KeyError, TypeError) as err:
        raise DataError(path, line, field, _message(err)) from None
    try:
        answer = spec.gold(row)
    except (KeyError, TypeError, ValueError) as err:
        raise DataError(path, line, "answer", _message(err)) from None
    raw_id = row.get("id", row.get("unique_id", row.get("idx")))
    row_id = f"{spec.name}/{raw_id if raw_id is not None else index}"
    return {"id": row_id, "problem": problem, "answer": answer, "solution": _solution_text(spec, row), "source": spec.name}


def read_jsonl(path: str | os.PathLike) -> Iterable[tuple[int, dict]]:
    """Yield ``(line_number, object)``; invalid JSON raises :class:`DataError` with the line number.

    ``utf-8-sig`` drops the byte-order mark Windows editors write (with plain ``utf-8`` it stays in line 1 and makes
    it "invalid JSON"); CRLF line ends are handled by text mode.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(path, None, None, "file not found")
    with path.open("rb") as handle:  # bytes, decoded line by line: a non-UTF-8 byte is named with its line
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as err:
                raise DataError(path, number, None, f"not UTF-8 (byte {raw[err.start]:#04x} at column "
                                f"{err.start + 1}); save the file as UTF-8") from None
            if not text.strip():
                continue
            try:
                yield number, json.loads(text)
            except json.JSONDecodeError as err:
                raise DataError(path, number, None, f"invalid JSON ({err.msg} at column {err.colno})") from None


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> None:
    """One JSON object per line, UTF-8 as is (what :func:`read_jsonl` reads back)."""
    with Path(path).open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def load_jsonl_problems(
    path: str | os.PathLike, spec: BenchmarkSpec | str | None = None, on_error: str = "raise"
) -> tuple[list[dict], list[dict]]:
    """Load problems from a JSONL file.

    Args:
        path: the file.
        spec: which benchmark's field conventions apply; ``None`` means the shared schema (``problem``, ``answer``).
        on_error: ``"raise"`` stops at the first bad row; ``"collect"`` returns it in the rejected list instead.

    Returns:
        ``(rows, rejected)`` where each rejected entry is ``{"path", "line", "field", "error"}``.
    """
    if on_error not in ("raise", "collect"):
        raise ValueError("on_error must be 'raise' or 'collect'")
    if spec is None:
        spec = BenchmarkSpec(Path(path).stem, str(path), "", None, "", "problem", _plain_gold("answer"), "unknown")
    elif isinstance(spec, str):
        spec = ALL_SETS[spec]
    rows, rejected = [], []
    for index, (line, raw) in enumerate(read_jsonl(path)):
        try:
            rows.append(normalise_row(spec, raw, index, str(path), line))
        except DataError as err:
            if on_error == "raise":
                raise
            rejected.append({"path": err.path, "line": err.line, "field": err.field, "error": str(err)})
    seen: dict[str, int] = {}
    for row in rows:
        if row["id"] in seen:
            seen[row["id"]] += 1
            row["id"] = f"{row['id']}#{seen[row['id']]}"
        else:
            seen[row["id"]] = 0
    return rows, rejected


def _from_hub(spec: BenchmarkSpec) -> list[dict]:
    from datasets import load_dataset

    dataset = load_dataset(spec.hub_id, spec.hub_config, split=spec.hub_split)
    return [normalise_row(spec, dict(row), i, spec.hub_id, i + 1) for i, row in enumerate(dataset)]


def check_limit(limit, name: str = "limit") -> None:
    """A problem limit is a positive count or ``None`` (all): ``rows[:-1]`` would silently drop the last problem and
    ``0`` would silently mean "all"."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"{name} must be a positive number of problems or None (all), got {limit!r}")


def load_problems(name: str, limit: int | None = None, source: str | None = None) -> list[dict]:
    """Load a benchmark (``gsm8k``, ``math_500``, ...), training set (``gsm8k_train``) or testbed set (``testbed``,
    ``testbed_train``, ``testbed_ood``: see :mod:`pns_hub.data.testbed`) in the shared schema.

    ``source`` is ``"bundled"`` (default offline), ``"hub"`` (canonical Hub id) or ``"auto"`` (Hub, falling back to
    the bundled copy). The default comes from ``PNS_HUB_DATA`` and is ``bundled`` so runs never wait on a network.
    A path to a JSONL file is accepted too.
    """
    check_limit(limit)
    source = source or os.environ.get("PNS_HUB_DATA", "bundled")
    if name in TESTBED_SETS:  # generated from a fixed seed: the same rows offline and online
        from pns_hub.data import testbed
        rows = testbed.load(name)
        return rows[:limit] if limit else rows
    if name not in ALL_SETS:
        if Path(name).suffix == ".jsonl":
            rows, _ = load_jsonl_problems(name)
            return rows[:limit] if limit else rows
        raise KeyError(f"unknown dataset '{name}'; known: {', '.join([*ALL_SETS, *TESTBED_SETS])} (or a path to a .jsonl file)")
    spec = ALL_SETS[name]
    rows = None
    if source in ("hub", "auto"):
        try:
            rows = _from_hub(spec)
        except Exception as err:  # offline, gated, renamed: fall back rather than fail a long run
            if source == "hub":
                raise
            logger.warning("could not load %s from the Hub (%s); using the bundled copy", spec.hub_id, err)
    if rows is None:
        rows, _ = load_jsonl_problems(bundled_path(spec.file), spec)
    return rows[:limit] if limit else rows


def split_problems(rows: list[dict], holdout: int, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """Deterministic train/held-out split, so every stage of a run sees the same held-out problems."""
    import random

    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    held = set(order[:holdout])
    return [r for i, r in enumerate(rows) if i not in held], [r for i, r in enumerate(rows) if i in held]
