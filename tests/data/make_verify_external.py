"""Write ``verify_external.jsonl``: grader cases carried over from other harnesses' public tests (issue #31).

Each row is ``{completion, gold, expected, category, source}`` and, where this grader's verdict differs from the
source's on purpose, ``note`` (the source's verdict and why ours differs). Two parts:

* **Harness suites** (categories ``math_verify_suite`` and ``lighteval_suite``): the ``(gold, pred, expected)``
  tables of huggingface/Math-Verify's tests and of lighteval's extractive-match tests, read as Python literals from a
  checkout (``--from-tests DIR...``; nothing is imported or run) and turned into boxed cases: the gold is the last
  ``\\boxed{}`` of the gold text (or the text without ``$``), the completion is the prediction if it has a box, else
  ``The answer is $\\boxed{pred}$.`` when the prediction is a bare answer. Cases run with non-default options
  (precision, ``strict=False``, set-relation comparison), expression-only extraction from free text, free-text
  predictions and prose golds are left out (counted on stdout). Without ``--from-tests`` the committed rows of these
  categories are kept as they are.
* **Hand-carried facts** (hendrycks MATH ``is_equiv`` tests, Qwen2.5-Math ``grader.py`` tests, PRM800K ``grader.py``,
  simple-evals' equality examples, and the classes of issue #31): the tables below, facts only.

Run ``python tests/data/make_verify_external.py [--from-tests MATH_VERIFY_TESTS_DIR LIGHTEVAL_TESTS_DIR]``.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

C, W, U = "correct", "wrong", "unparseable"
TARGET = Path(__file__).with_name("verify_external.jsonl")
SUITES = {"math_verify_suite": "huggingface/Math-Verify@5d148cfaaf99214c2e4ffb4bc497ab042c592a7a:tests",
          "lighteval_suite": "huggingface/lighteval@3fd15266bc8448b797e61462d293aa3fd40b3580:tests/unit/metrics"}
# Source verdicts this grader does not share, with the reason (the row carries ours).
ADJUDICATED = {
    ("1 - \\frac{1}{\\mathrm{e}}", "1 + \\frac{1}{\\mathrm{e}}"):
        "the source records math-verify accepting it (a known miss); 1 + 1/e is not 1 - 1/e",
}

HENDRYCKS = "hendrycks/math@5f3bf91d:modeling/math_equivalence_test.py"
QWEN = "QwenLM/Qwen2.5-Math@29a82a88:evaluation/grader.py (TestMathEquality, _test_math_equal)"
PRM = "openai/prm800k@00811d6d:prm800k/grading/grader.py"
SIMPLE = "openai/simple-evals@01ac108d:common.py (EQUALITY_TEMPLATE examples)"
ISSUE = "issue #31"
UNORDERED = "the source compares strings in order; here an answer list without brackets is an unordered set"
FACTS = [  # (gold, answer inside \boxed{}, expected, source, note)
    (r"\tfrac{1}{2} + \frac1{72}", r"\frac{1}{2} + 2/3", W, HENDRYCKS, ""),
    ("10, 4, -2", "4, 10, -2", C, HENDRYCKS, UNORDERED), ("10, 4, 2", "4, 12, 2", W, HENDRYCKS, ""),
    (r"\tfrac{1}{2} +\! \frac1{72}", r"\dfrac{1}{2} +\frac{1}{72}", C, HENDRYCKS, ""),
    (r"10\text{ units}", "10", C, HENDRYCKS, ""), (r"10\text{ units}", "100", W, HENDRYCKS, ""),
    ("10", r"\$10", C, HENDRYCKS, ""), (r"\left(x-2\right)\left(x+2\right)", "(x-2)(x+2)", C, HENDRYCKS, ""),
    ("0.1, 4, 2", "4, .1, 2", C, HENDRYCKS, UNORDERED), ("0.1", ".1", C, HENDRYCKS, ""),
    (r"10\%", "10", C, HENDRYCKS, ""), (r"10\sqrt{3} + \sqrt4", r"10\sqrt3 + \sqrt{4}", C, HENDRYCKS, ""),
    (r"\frac34i", r"\frac{3}{4}i", C, HENDRYCKS, ""), (r"\tfrac83", r"\frac{8}{3}", C, HENDRYCKS, ""),
    ("5x - 7y + 11z + 4 = 0", "x + y - z + 2 = 0", W, HENDRYCKS, ""), ("1/2", r"\frac{1}{2}", C, HENDRYCKS, ""),
    ("10", "10", C, QWEN, ""), ("20", "10", W, QWEN, ""), ("0.1", r"10\%", C, QWEN, ""), ("0.2", r"10\%", W, QWEN, ""),
    ("[1, 2, 3]", "[1, 2, 3]", C, QWEN, ""), ("[1, 2, 4]", "[1, 2, 3]", W, QWEN, ""),
    ("(1, 2, 3)", "(1, 2, 3)", C, QWEN, ""),
    (r"\begin{pmatrix}1&2\\3&4\end{pmatrix}", r"\begin{pmatrix}1&2\\3&4\end{pmatrix}", C, QWEN, ""),
    (r"\begin{pmatrix}1&2\\3&5\end{pmatrix}", r"\begin{pmatrix}1&2\\3&4\end{pmatrix}", W, QWEN, ""),
    ("x = y", "x = y", C, QWEN, ""), ("x = z", "x = y", W, QWEN, ""), ("10", "x = 10", C, QWEN, ""),
    ("x = 10", "10", C, QWEN, ""), (r"\frac{1}{12}", "0.0833333333333333", C, QWEN, ""),
    (r"(1,\frac{9}{2})", "(1,4.5)", C, QWEN, ""), (r"\frac{x+2}{7}", r"\frac{x}{7}+\frac{2}{7}", C, QWEN, ""),
    (r"\tan^2(y)+1", r"\sec^2(y)", C, QWEN, ""), ("34x+45y-20z+100=0", "-34x-45y+20z-100=0", C, QWEN, ""),
    ("(a+5)(b+2)", "(+5)(b+2)", W, QWEN, ""), ("2", r"\frac{1+\sqrt{5}}{2}", W, QWEN, ""),
    (r"1\sqrt{19}", "1", W, QWEN, ""), ("x+2n+1", "x+1", W, QWEN, ""),
    (r"\frac{31}{4}", "7 3/4", C, PRM, ""), (r"\frac{31}{4}", "73/4", W, PRM, ""),
    ("5000000", "5 million", C, PRM, ""),
    ("1/2", "2/4", C, PRM, "PRM800K asks for reduced fractions; this grader compares values"),
    ("(1, 2)", "(1,2)", C, PRM, ""), ("(1, 2)", "(2, 1)", W, PRM, ""), ("1,000", "1000", C, PRM, ""),
    ("2x+3", "3+2x", C, SIMPLE, ""), ("3/2", "1.5", C, SIMPLE, ""), ("x^2+2x+1", "y^2+2y+1", W, SIMPLE, ""),
    ("x^2+2x+1", "(x+1)^2", C, SIMPLE, ""),
    ("3245/5", "649", C, SIMPLE, "simple-evals' judge is told not to simplify; the values are equal"),
    ("2/(-3)", "-2/3", C, SIMPLE, ""), ("72 degrees", "72", C, SIMPLE, ""), ("64", "64 square feet", C, SIMPLE, ""),
]
ISSUE_CASES = [  # (gold, answer inside \boxed{}, expected): every class of issue #31
    (r"\begin{pmatrix} -2 \\ -14 \\ -7 \end{pmatrix}", r"\begin{pmatrix} -14 \\ -2 \\ -7 \end{pmatrix}", W),
    (r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}", r"\begin{pmatrix} 1 & 3 \\ 2 & 4 \end{pmatrix}", W),
    (r"\begin{pmatrix} -2 \\ -14 \\ -7 \end{pmatrix}", r"\begin{pmatrix}-2\\-14\\-7\end{pmatrix}", C),
    (r"\frac{-1}{1997}", r"\frac{-1}{1998}", W), (r"\frac{1}{6084}", r"\frac{1}{6085}", W),
    (".0000672", ".0000673", W),
    ("11111111100", "11111111101", W),
    (r"\frac{1}{3} E_{1}+\frac{2}{3} E_{2}", r"\frac{1}{3} E_{2}+\frac{2}{3} E_{2}", W),
    (r"\frac{1}{3} E_{1}+\frac{2}{3} E_{2}", r"\frac{2}{3} E_{2}+\frac{1}{3} E_{1}", C),
    (r"I \frac{d \omega}{d t}+2 B \omega=T", r"-I \frac{d \omega}{d t}+2 B \omega=T", W),
    (r"m \frac{d v}{d t}+b v=f", r"-m \frac{d v}{d t}+b v=f", W),
    (r"\frac{d x}{d t}=k x-a", r"-\frac{d x}{d t}=k x-a", W),
    (r"\hbar \omega(v+1 / 2)-\frac{E_{0}^{2} e^{2}}{2 m \omega^{2}}",
     r"\hbar \omega(v+1 / 2)-\frac{E_{0}^{3} e^{2}}{2 m \omega^{2}}", W),
    ("52_8", "52_9", W), ("4210_{5}", "4210_{6}", W), ("52_8", "52_8", C),
    (r"F_n = \sum_{k=0}^{n-1} F_k F_{n-k-1}", r"F_n = \sum_{k=0}^{n-2} F_k F_{n-k-2}", W),
    (r"\frac{44}{9}", r"4 \frac{4}{9}", W), (r"4 \frac{4}{9}", "44/9", W), (r"\frac{40}{9}", "4 4/9", C),
    (r"\frac{40}{9}", r"4\frac{4}{9}", C), ("5", "5ab", W), ("2", "2xy", W), ("5", "5cm", C),
    ("1, 2, 3", r"1, 2, 3, \ldots", W), ("1, 2, 3", "1, 2, 3, ...", W), (r"1, 2, 3, \ldots", r"1, 2, 3, \dots", C),
    ("5", "N/A", U), ("2.5", r"2.5 \mathrm{~m} / \mathrm{s}", C), ("9.8", r"9.8 \, \text{m/s}^2", C),
    ("[-2, 7]", r"-2 \le x \le 7", C), ("(5, \\infty)", "x > 5", C), ("[-2, 7]", r"-2 < x \le 7", W),
    ("0.6", r"60\%", C), ("0.6", "60", W), ("60", r"60\%", C),
    (r"\{1\pm\sqrt{5},-2\}", r"\{-2, 1\pm\sqrt{5}\}", C), (r"\frac{639}{40}", r"15\frac{39}{40}, \frac{639}{40}", C),
]
ISSUE_COMPLETIONS = [  # whole completions: extraction classes
    (r"The answer is \boxed{1", "1", U),
    (r"We get \boxed{3}, then \boxed{4}. Final Answer: The final answer is 5. I hope it is correct.", "5", C),
    (r"We get \boxed{3}, then \boxed{4}. Final Answer: The final answer is 5. I hope it is correct.", "4", W),
    (r"So \boxed{12}. The answer is correct.", "12", C),
]


def _boxed_groups(text: str) -> list[str]:
    out, i = [], text.find("\\boxed")
    while i >= 0:
        j, depth = text.find("{", i), 0
        for k in range(j, len(text)):
            depth += (text[k] == "{") - (text[k] == "}")
            if depth == 0:
                out.append(text[j + 1:k])
                break
        i = text.find("\\boxed", i + 1)
    return out


def _strip_delimiters(text: str) -> str:
    text = text.strip()
    for a, b in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if text.startswith(a) and text.endswith(b) and len(text) >= len(a) + len(b):
            return text[len(a):len(text) - len(b)].strip()
    return text


def _words(text: str) -> int:
    return len(re.findall(r"(?<![\\a-zA-Z])[a-zA-Z]{3,}", re.sub(r"\\text\{[^}]*\}", "", text)))


def _table_rows(path: Path):
    """``(test name, parameters, compare_strings keyword arguments)`` of every parametrize table in a test file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for fn in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
        call = {}
        for node in ast.walk(fn):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "compare_strings":
                call.update({k.arg: ast.literal_eval(k.value) for k in node.keywords
                             if isinstance(k.value, (ast.Constant, ast.List))})
        for dec in fn.decorator_list:
            if not (isinstance(dec, ast.Call) and ast.unparse(dec.func).endswith("parametrize")):
                continue
            try:
                names = [n.strip() for n in ast.literal_eval(dec.args[0]).split(",")]
                rows = ast.literal_eval(dec.args[1])
            except (ValueError, SyntaxError, AttributeError):
                continue  # a table with computed values (f-strings, enums): not a literal fact
            for row in rows:
                yield fn.name, dict(zip(names, row if isinstance(row, tuple) else (row,))), call


def _suite_case(params: dict, call: dict) -> tuple[dict | None, str]:
    """One table row as a boxed case, or ``None`` and why it does not apply to a boxed completion."""
    if "gold" not in params or "pred" not in params or params.get("match_type") or params.get("language"):
        return None, "not a math gold/prediction row"
    types = call.get("match_types", ["latex", "expr"])
    if "NativeLetters" in types:
        return None, "not a math gold/prediction row"
    if call.get("precision", 6) != 6 or params.get("precision", 6) != 6:
        return None, "precision other than 6"
    if call.get("strict") is False or params.get("strict") is False or params.get("allow_set_relation_comp"):
        return None, "non-default verify option"
    if types == ["expr"]:
        return None, "expression-only extraction from free text"
    gold_text, pred = (params["gold"].replace("\\\\boxed", "\\boxed"), params["pred"].replace("\\\\boxed", "\\boxed"))
    boxes = _boxed_groups(gold_text)
    if len(boxes) > 1 and re.search(r"[a-zA-Z]", re.sub(r"\\boxed\{[^{}]*\}", "", gold_text)):
        return None, "prose gold"
    gold = ", ".join(boxes) if boxes else _strip_delimiters(gold_text)
    if _words(gold) >= 3 or "$" in gold:
        return None, "prose gold"
    if "\\boxed" not in pred:
        bare = _strip_delimiters(pred)
        if "$" in bare or "\n" in bare or _words(bare) >= 3:
            return None, "free-text prediction"
        pred = f"The answer is $\\boxed{{{bare}}}$."
    expected = C if params.get("expected", params.get("result")) else W
    return {"completion": pred, "gold": gold, "expected": expected}, ""


def suite_rows(category: str, folder: Path) -> list[dict]:
    rows, skipped, seen = [], {}, set()
    for path in sorted(folder.glob("test_*.py")):
        for name, params, call in _table_rows(path):
            case, why = _suite_case(params, call)
            key = case and (case["completion"], case["gold"])
            if case is None or key in seen:
                skipped[why or "duplicate"] = skipped.get(why or "duplicate", 0) + 1
                continue
            seen.add(key)
            note = ADJUDICATED.get((case["gold"], _boxed_groups(case["completion"])[-1]), "")
            if note:
                note, case["expected"] = f"source: {case['expected']}; {note}", W
            rows.append({**case, "category": category, "source": f"{SUITES[category]}/{path.name}::{name}",
                         **({"note": note} if note else {})})
    print(f"{category}: {len(rows)} cases; left out {skipped}")
    return rows


def build(folders: list[Path] | None) -> list[dict]:
    old = [json.loads(line) for line in TARGET.read_text(encoding="utf-8").splitlines()] if TARGET.exists() else []
    rows = []
    if folders:
        rows += suite_rows("math_verify_suite", folders[0])
        known = {(r["completion"], r["gold"]) for r in rows}
        rows += [r for r in suite_rows("lighteval_suite", folders[1]) if (r["completion"], r["gold"]) not in known]
    else:
        rows += [r for r in old if r["category"] in SUITES]
    names = {HENDRYCKS: "hendrycks_math", QWEN: "qwen25_math", PRM: "prm800k", SIMPLE: "simple_evals"}
    rows += [{"completion": f"The answer is $\\boxed{{{a}}}$.", "gold": g, "expected": e, "category": names[s],
              "source": s, **({"note": n} if n else {})} for g, a, e, s, n in FACTS]
    rows += [{"completion": f"The answer is $\\boxed{{{a}}}$.", "gold": g, "expected": e, "category": "issue31",
              "source": ISSUE} for g, a, e in ISSUE_CASES]
    rows += [{"completion": c, "gold": g, "expected": e, "category": "issue31", "source": ISSUE}
             for c, g, e in ISSUE_COMPLETIONS]
    return rows


if __name__ == "__main__":
    args = sys.argv[1:]
    folders = [Path(p) for p in args[1:3]] if args[:1] == ["--from-tests"] else None
    rows = build(folders)
    TARGET.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"wrote {len(rows)} cases to {TARGET}")
