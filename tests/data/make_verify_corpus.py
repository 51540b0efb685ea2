"""Write ``verify_corpus.jsonl``: (completion, gold, expected verdict, category) cases for the grader's tests.

Expected verdicts are fixed by construction or by hand, never by running the grader: a gold restated with a unit is
``correct``; a gold with one digit changed is ``wrong``; a word in a box is ``unparseable`` (a non-answer). The
``math_verify_suite`` cases carry over facts from math-verify's public test suite (tests/test_all.py,
test_numina_cases.py, test_open_thoughts.py, test_yujianll.py of huggingface/Math-Verify) that apply to a boxed
completion; the test code that reads them is ours. Run ``python tests/data/make_verify_corpus.py`` to rewrite.
"""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
C, W, U, V = "correct", "wrong", "unparseable", "unverifiable"

ISSUE = [  # the cases named in issue #13
    (r"So Natalia sold \boxed{72 clips}.", "72", C), (r"The total is \boxed{72.}", "72", C),
    (r"\boxed{\text{72 clips}}", "72", C), (r"He pays \boxed{18 dollars}.", "18", C),
    ("The final answer is 7.78.", "7.78", C), ("Final answer: 3.5", "3.5", C),
    ("Final Answer: The final answer is 8.64. I hope it is correct.", "8.64", C),
    ("The answer is 4. Let me recheck. The final answer is 5.", "5", C),
    ("The answer is 4. Let me recheck. The final answer is 5.", "4", W),
    (r"\boxed{(2, 2)} and \boxed{(6, 2)}", "(2, 2), (6, 2)", C),
    (r"\boxed{(2, 2)} and \boxed{(6, 2)}", "(6, 2)", W),
    (r"\boxed{n=1, 2, 3}", "n=2, 3, 4", W), (r"\boxed{D = (0, 1.5)}", "D = (0, 1)", W),
    (r"\boxed{21, 36, and 82}", "19, 46, and 82", W), (r"\boxed{12:00}", "1:00", W),
    (r"\boxed{wrong}", "72", U), (r"\boxed{correct}", "72", U), (r"\boxed{incorrect}", "72", U), (r"\boxed", "72", U),
    (r"\boxed{73 clips}", "72", W), (r"\boxed{7.2}", "72", W),
]

UNITS = ["clips", "dollars", "cm", "meters", "km/h", "square feet", "cm^2", "minutes", "hours", "apples", "cents",
         "pounds", "miles", "students", "pages", "inches^2", "m/s", "liters", "years old", "points"]


def restatements(rng: random.Random) -> list[tuple]:
    """A gold number dressed in every way the issue lists: all correct."""
    out = []
    golds = ["72", "18", "1200", "3.5", "45", "7", "250", "12", "0.75", "96", "5000", "64", "30", "1500", "8"]
    for k, gold in enumerate(golds):
        unit = UNITS[k % len(UNITS)]
        big = f"{int(gold):,}" if gold.isdigit() else gold
        out += [
            (f"So the answer is \\boxed{{{gold} {unit}}}.", gold, C),
            (f"\\boxed{{{gold}\\text{{ {unit}}}}}", gold, C),
            (f"\\boxed{{\\${big}}}", gold, C),
            (f"\\boxed{{{gold}.}}", gold, C),
            (f"\\boxed{{x = {gold}}}", gold, C),
            (f"\\boxed{{{gold}\\%}}", gold, C),
        ]
        if gold.isdigit() and int(gold) >= 1000:
            out.append((f"\\boxed{{{big}}}", gold, C))
    out += [(r"\boxed{28 percent}", "28", C), (r"\boxed{\$18.00}", "18", C), (r"\boxed{1,000,000}", "1000000", C),
            (r"\boxed{30^\circ}", "30", C), (r"\boxed{30 degrees}", "30^\circ", C),
            (r"\boxed{5.4}", r"5.4 \text{ cents}", C),
            (r"\boxed{864}", r"864 \mbox{ inches}^2", C), (r"\boxed{\frac{270}{7}}", r"\frac{270}7\text{ degrees}", C),
            (r"\boxed{[-2,7]}", r"x \in [-2,7]", C), (r"\boxed{x \in [-2, 7]}", "[-2,7]", C),
            (r"\boxed{\text{Answer: }45}", "45", C), (r"\boxed{about 45}", "45", C), (r"\boxed{€45}", "45", C),
            (r"\boxed{\textbf{12}}", "12", C), (r"\boxed{k = \frac{1}{3}}", r"\frac{1}{3}", C)]
    return out


def near_misses(rng: random.Random) -> list[tuple]:
    """Wrong answers that look like the gold: a digit off, a decimal point moved, a unit on a wrong number."""
    out = []
    for k, gold in enumerate(["72", "18", "1200", "45", "250", "96", "64", "30", "1500", "13", "100", "2024"]):
        value = int(gold)
        unit = UNITS[k % len(UNITS)]
        out += [
            (f"\\boxed{{{value + 1} {unit}}}", gold, W),
            (f"\\boxed{{{value / 10:g}}}", gold, W),
            (f"\\boxed{{{value * 10}}}", gold, W),
            (f"\\boxed{{-{gold}}}", gold, W),
        ]
    out += [(r"\boxed{\frac{3}{4}}", r"\frac{4}{3}", W), (r"\boxed{(1,2]}", "[1,2]", W), (r"\boxed{1, 3}", "1, 2", W),
            (r"\boxed{x = 4}", "3", W), (r"\boxed{2\sqrt{3}}", r"3\sqrt{2}", W), (r"\boxed{\pi}", r"2\pi", W),
            (r"\boxed{12:30}", "12:00", W), (r"\boxed{\pm 2021}", "2021", W), (r"\boxed{(0, 1)}", "(1, 0)", W),
            (r"\boxed{32, 349}", "32349", W)]
    return out


NON_ANSWERS = [
    (r"\boxed{wrong}", "5", U), (r"\boxed{\text{wrong}}", "5", U), (r"\boxed{Correct}", "17", U),
    (r"\boxed{\text{incorrect}}", r"\frac{1}{2}", U), (r"\boxed{}", "5", U), (r"\boxed{ }", "5", U),
    (r"\boxed", "5", U),
    ("I don't know how to solve this.", "5", U), ("", "5", U), (r"\boxed{answer}", "3", U), (r"\boxed{right}", "3", U),
    (r"\boxed{\text{no idea}}", "42", U), (r"\boxed{unknown}", "42", U), ("Let me think step by step.", "42", U),
    (r"\boxed{\textbf{wrong}}", "x+1", U), (r"The answer is \boxed{.}", "7", U), (r"\boxed{\text{see above}}", "9", U),
    (r"\boxed{error}", "9", U), (r"\boxed{\text{cannot be determined}}", "12", U), ("#### ", "3", U),
]

EXTRACTION = [
    (r"First \boxed{1}, then corrected: \boxed{\frac{a^{2}}{b_{1}}} done", r"\frac{a^2}{b_1}", C),
    (r"\boxed{5} and the rest of the text says 6 in the end", "5", C),
    ("blah\n#### 1,234", "1234", C), ("So the final answer is 42.", "42", C), ("The answer is $3.14$.", "3.14", C),
    ("Answer: 12", "12", C), (r"The final answer is $\frac{1}{2}$.", "0.5", C),
    ("Final Answer: The final answer is $28 \\%$. I hope it is correct.", "28", C),
    ("Final Answer: The final answer is (-6, 10). I hope it is correct.", "(-6, 10)", C),
    (r"\boxed{1}, \boxed{2}, \boxed{3}", "1, 2, 3", C), (r"\boxed{1} and \boxed{2} and \boxed{3}", "1, 2, 3", C),
    (r"\boxed{1} no no no no no \boxed{2}", "1, 2", W), (r"\boxed{1} no no no no no \boxed{2}", "2", C),
    (r"$\boxed{k = 45}$ \quad \text{and} \quad $\boxed{n = 2}$", "45, 2", C),
    (r"\( y_1 = \boxed{4} \) and \( y_2 = \boxed{9} \)", "4, 9", C),
    ("The answer is 7.5 meters. Done.", "7.5", C), ("The final answer is 1,000.", "1000", C),
    ("So the answer is 5.\nActually no, the answer is 6.", "6", C),
    ("So the answer is 5.\nActually no, the answer is 6.", "5", W),
    (r"\boxed{\boxed{8}}", "8", C), (r"\fbox{9}", "9", C),
]


def math_verify_suite() -> list[tuple]:
    """Facts from huggingface/Math-Verify's tests that apply to a boxed completion (gold, boxed prediction).

    One deliberate difference: math-verify reads ``\\text{13}`` as a symbol, so ``13`` is wrong against it; our
    restatement layer sets ``\\text{}`` aside (issue #13), so here it is correct.
    """
    facts = [  # (gold, prediction inside \boxed{}, expected)
        ("-5", "-5", C), ("7425000", "7,425,000", C), ("1000", "1000.0", C), ("1000.0", "1,000.0", C),
        ("1000.99", "1,000.99", C), ("1000.99", "\\$1,000.99", C), ("0.4", ".4", C), ("10/9", r"\frac{10}{9}", C),
        ("-10/9", r"-\frac{10}{9}", C), ("[0,1)", "[0,1)", C), ("[0,9)", "[0,1)", W), ("(0,9)", "[0,9)", W),
        ("1", "-[0,1)", W), ("1/3", r"\frac13", C), ("1", r"\frac3{3}", C), (r"\sqrt{3}", r"\sqrt3", C),
        ("1/3", r"\cfrac{1}{3}", C), ("1/3", r"\dfrac{1}{3}", C), ("1/3", r"\tfrac{1}{3}", C),
        ("1/3", r"\left( \frac{1}{3} \right)", C), ("1/3", r"\frac{1}{3} \text{meters}", C),
        ("1/3", r"\frac{1}{3} \textbf{meters}", C), ("1/3", r"k = \frac{1}{3}", C), (r"28\%", "28 percent", C),
        (r"28\%", "28 pct", C), (r"28\%", "28 percentage", C), (r"28\%", "28", C), ("0.28", "28", W),
        ("28/100", "28", W), ("28", "28/100", W), (r"\frac{28}{100}", "28", W), ("2-2p", "2-2p", C),
        (r"(3, \frac{\pi}{2})", r"\left( 3, \frac{\pi}{2} \right)", C), (r"\frac{14}{3}", r"\frac{14}{3}", C),
        (r"\text{Evelyn}", r"\text{Evelyn}", C), (r"90^\circ", r"90^\circ", C), (r"3\sqrt{13}", r"3\sqrt{13}", C),
        (r"15\mbox{ cm}^2", "15", C), ("-2,1", "-2,1", C), (r"204_5", r"204_5", C), ("(6,31,-1)", "(6,31,-1)", C),
        (r"1 \pm \sqrt{19}", r"1 \pm \sqrt{19}", C), (r"3 \pm 2 \sqrt{2}", r"3 \pm 2 \sqrt{2}", C),
        (r"\{1\pm\sqrt{5},-2\}", r"\{1\pm\sqrt{5},-2\}", C), (r"2 \sin b \cos a", r"2 \sin b \cos a", C),
        ("125 miles", r"125\textnormal{ miles}", C),
        (r"[-1, -\frac{1}{2}) \cup (-\frac{1}{2}, 0) \cup (0, 1) \cup (1, \infty)",
         r"[-1, -\tfrac12) \cup (-\tfrac12, 0) \cup (0, 1) \cup (1, \infty)", C),
        (r"\sqrt{2}+\sqrt{5}", r"\sqrt 2+\sqrt 5", C), (r"\frac{9}{4}\pi", r"\frac94\pi", C),
        (r"\{-1\} \cup [0,7)", r"\{-1\} \cup [0,7)", C), ("x >= 5", r"x \geq 5", C), ("x < 3", r"x \lt 3", C),
        ("x > 5", "x < 5", W), (r"x \geq 5", r"x \leq 5", W), ("x = 11", "x = 5+5+1 = 7 =11", C),
        ("11", "x=11", C), ("k=1", "1", C), ("1", "k=1", C), ("2x + z = 1", "1", W), ("a^2 + b = 0", "0", W),
        (r"\begin{pmatrix}1 & 2 \\ 3 & 4\end{pmatrix}", r"\begin{pmatrix}1 & 2 \\ 3 & 5\end{pmatrix}", W),
        (r"\begin{pmatrix}1 & 0 \\ 0 & 1\end{pmatrix}", r"\begin{pmatrix}1 & 0 \\ 0 & 1\end{pmatrix}", C),
        (r"\frac{1}{12}", "0.0833333333333333", C), (r"(1,\frac{9}{2})", "(1,4.5)", C),
        (r"\frac{x+2}{7}", r"\frac{x}{7}+\frac{2}{7}", C), ("(a+5)(b+2)", "(+5)(b+2)", W),
        ("2", r"\frac{1+\sqrt{5}}{2}", W), ("4", r"\frac{34}{16}+\frac{\sqrt{1358}}{16}", W), (r"1\sqrt{19}", "1", W),
        ("x+2n+1", "x+1", W), ("[-4,0]", "[-4, 0]", C), ("11111111100", r"11,\! 111,\! 111,\! 100", C),
        ("32349", r"32,\! 349", C), ("32349", "32, 349", W), (r"(2, 12) \cup (12, 102)", r"(2,12) \cup (12,102)", C),
        (r"\text{E}", "E", C), ("d", r"\text{E}", W), ("4", r"4\sqrt{2}", W),
        ("(p,q)=(3,2)", "(3,2)", C), ("(p,q,r)=(3,2,7)", "(3,2,7)", C), ("V_{1}:V_{2}=11:21", "11:21", C),
        (r"\text{odd}", "odd", C), (r"\text{e}", "e", C), (r"\text{Even}", "Even", C), ("1, 2, 3", "1,2,3", C),
        ("x = -5, p = \\frac{14}{3}", r"-5, \frac{14}{3}", C), ("a=4, -8, -10", "-10,-8,4", C),
        (r"6 \text{ and } 8", "6,8", C), ("0.06 \\text{ yuan}", "0.06 \\text{ yuan}", C), ("667", "667", C),
        ("(2, 2), (1, 3), (3, 3)", "(2, 2), (1, 3), (3, 3)", C), ("(1, +\\infty)", "(1, +\\infty)", C),
        ("k \\ge 2", "k \\ge 2", C), ("f(y) = y", "f(y) = y", C),
        ("n=1, 2, 3", "n=1, 2, 3", C), ("n=2, 3, 4", "n=1, 2, 3", W), ("D = (0, 1)", "D = (0, 1)", C),
        ("D = (0, 1)", "D = (0, 1.5)", W), ("19, 46, and 82", "19, 46, \\text{ and } 82", C),
        ("19, 46, and 82", "21, 36, and 82", W), (r"1 - \frac{1}{\mathrm{e}}", r"1 - \frac{1}{\mathrm{e}}", C),
        (r"\pm 2021", "2021", W), (r"\pm 2021", "-2021, 2021", C), ("12:00", "1:00", W), ("12:00", "12:00", C),
        ("(3,1)", r"\{1,3\}", W), ("7:32", "7:32", C), ("0", "0", C),
        ("1000.99", "1,000.99€", C), ("1000", "1 000", C), (r"-2 \le x \le 7", r"x \in [-2,7]", C),
        ("x < 1", "-x > -1", C), ("x <= 1", "-x >= -1", C), ("x < 1", "x > -1", W), ("0<f(x)<1", "(0,1)", C),
        ("-793 < a < 10", "(-793, 10)", C), ("2x+4y-3=0", r"y=-\frac{1}{2}x+\frac{3}{4}", C),
        ("x^2/4 + y^2/3 = 1", "x^2/16 + y^2/12 = 1/4", C), (r"\tan^2(y)+1", r"\sec^2(y)", C),
        ("34x+45y-20z+100=0", "-34x-45y+20z-100=0", C), ("f(x)", "f(y)", W), ("S_{MBCN}:S=7:32", "7:32", C),
        ("AB=4,CD=5", "4, 5", C), (r"\frac{NO}{BO}=\frac{1}{\sqrt{6}}", r"\frac{1}{\sqrt{6}}", C), ("|AB|=1", "1", C),
        ("A:B=1", "1", C), ("f(x)=1", "1", C), ("1 and 2 and 3", "1,2,3", C), ("21,16 or 11", "21,16,11", C),
        ("(11,7)or(7,11)", r"(7,11),\ (11,7)", C), ("p=5,q=2;p=7,q=2", "(5,2),(7,2)", C), (r"\frac{1}{3}", "0.333", W),
        (r"1\leq|z|\leq \frac{3}{2}", r"z \in \left[-\frac{3}{2}, -1\right] \cup \left[1, \frac{3}{2}\right]", C),
        (r"\text{13}", "13", C), ("(1,3)", r"\{1,3\}", C), ("a_3 = 2, a_{37} = 19", r"a_{37} = 19, \quad a_3 = 2", C),
    ]
    out = [(f"The answer is $\\boxed{{{pred}}}$.", gold, exp) for gold, pred, exp in facts]
    out += [  # whole-completion facts
        (r"so the sum is located between $\boxed{12\text{ and }13}$.", "12, 13", C),
        (r"Therefore, the polar coordinates are $\boxed{\left( 3, \frac{\pi}{2} \right)}.$", r"(3, \frac{\pi}{2})", C),
        (r"$\boxed{(7,11),\ (11,7)}$", "(11,7), (7,11)", C), (r"$\boxed{\{-12, -11, -10, -8, -7, -6\}}$",
                                                                "-12;-11;-10;-8;-7;-6", C),
        (r"\boxed{(3, 3)} \quad \text{and} \quad \boxed{(1, 1)}", "(3, 3), (1, 1)", C),
        (r"\boxed{(98, 2)} \quad \text{and} \quad \boxed{(99, 503)}", "(98, 2), (99, 503)", C),
        ("\\boxed{004}.\n\n**Final Answer**\n\\boxed{004}", "004", C),
        (r"could answer therefore\boxed{840}.,but let me put this after explain. **Final Answer** \boxed{840}",
         "840", C),
        (r"is $\boxed{14{,}916}$ is our answer", "14916", C), (r"$\boxed{\text{(C)}}.$", r"\text{C}", C),
    ]
    return out


def _perturb(gold: str, rng: random.Random) -> str | None:
    digits = [m.start() for m in re.finditer(r"\d", gold)]
    if not digits:
        return None
    i = rng.choice(digits)
    return gold[:i] + str((int(gold[i]) + rng.randint(1, 8)) % 10) + gold[i + 1:]


def bundled_latex(rng: random.Random) -> list[tuple]:
    """LaTeX golds of MATH-500 / OlympiadBench / Minerva: the gold boxed (correct), one digit changed (wrong)."""
    sys.path.insert(0, str(ROOT))
    from pns_hub.data import problems as data
    out = []
    for bench, category in (("math_500", "latex_math500"), ("olympiadbench", "latex_olympiadbench"),
                            ("minerva_math", "latex_minerva")):
        rows = [r for r in data.load_problems(bench) if len(r["answer"]) < 120]
        latex = [r for r in rows if "\\" in r["answer"] or "^" in r["answer"]]
        for row in rng.sample(latex, 14):
            gold = row["answer"]
            out.append((f"Therefore the answer is $\\boxed{{{gold}}}$.", gold, C, category))
            if "\\frac" in gold:
                out.append((f"Thus \\boxed{{{gold.replace(chr(92) + 'frac', chr(92) + 'dfrac')}}}", gold, C, category))
            wrong = _perturb(gold, rng)
            if wrong and "_" not in gold:  # a digit in a subscript names a symbol; keep wrongs unambiguous
                out.append((f"Therefore the answer is $\\boxed{{{wrong}}}$.", gold, W, category))
        if bench == "olympiadbench":  # several answers: every one boxed (any order) is right, the first alone is not
            from pns_hub.grading.answers import split_items

            raw = [json.loads(line) for line in data.bundled_path("olympiadbench.jsonl").read_text().splitlines()]
            multi = [split_items(r["final_answer"][0].replace("$", "")) for r in raw
                     if r["is_multiple_answer"] and len(r["final_answer"][0]) < 120]
            multi = [parts for parts in multi if len(parts) > 1]
            for parts in rng.sample(multi, min(15, len(multi))):
                boxed = " and ".join(f"\\boxed{{{p}}}" for p in reversed(parts))
                out.append((f"The solutions are {boxed}.", ", ".join(parts), C, "multi_answer"))
                out.append((f"The solution is \\boxed{{{parts[0]}}}.", ", ".join(parts), W, "multi_answer"))
    return out


MULTI = [
    (r"\boxed{2, 3, 5, 7, 13}", "2, 3, 5, 7, 13", C), (r"\boxed{13, 7, 5, 3, 2}", "2, 3, 5, 7, 13", C),
    (r"\boxed{2, 3, 5, 7}", "2, 3, 5, 7, 13", W), (r"\boxed{2, 3, 5, 7, 11}", "2, 3, 5, 7, 13", W),
    (r"\boxed{x = 2 \text{ or } x = 3}", "2, 3", C), (r"\boxed{x=2, x=3}", "3, 2", C), (r"\boxed{1, 2}", "2, 1", C),
    (r"\boxed{(1,2), (3,4)}", "(3,4), (1,2)", C), (r"\boxed{(1,2), (4,3)}", "(3,4), (1,2)", W),
    (r"\boxed{-1} and \boxed{-20}", "-1, -20", C), (r"\boxed{-1} and \boxed{-21}", "-1, -20", W),
]

PATHOLOGICAL = [
    (r"\boxed{10^{10^{10^{10}}}}", "5", V), (r"\boxed{9^{9999999999}}", "5", V), (r"\boxed{(10^{7})!}", "5", V),
    ("\\boxed{" + "9" * 600 + "}", "9", V),
]


def build() -> list[dict]:
    rng = random.Random(13)
    groups = {"issue": ISSUE, "restatement": restatements(rng), "near_miss": near_misses(rng),
              "non_answer": NON_ANSWERS, "extraction": EXTRACTION, "multi_answer": MULTI,
              "math_verify_suite": math_verify_suite(), "pathological": PATHOLOGICAL}
    rows = [{"completion": c, "gold": g, "expected": e, "category": cat} for cat, cases in groups.items()
            for c, g, e in cases]
    rows += [{"completion": c, "gold": g, "expected": e, "category": cat} for c, g, e, cat in bundled_latex(rng)]
    return rows


if __name__ == "__main__":
    target = Path(__file__).with_name("verify_corpus.jsonl")
    rows = build()
    target.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"wrote {len(rows)} cases to {target}")
