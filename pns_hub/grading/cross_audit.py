"""The same completions through three graders: ``pns_hub`` (this grader), lighteval's extractive match and
math-verify used directly; every disagreement listed (issue #31).

``pns-hub verify --cross-audit FILE.jsonl [--output OUT.jsonl]``: a user checks the grader on their own outputs. Each
row needs a completion and a gold (``--completion-field`` / ``--gold-field``); a row with an ``expected`` verdict
(``correct`` / ``wrong`` / ``unparseable``) also says who was right, and each grader's agreement with it is counted.

How the other two are called: math-verify 0.5.2 ``parse`` on the completion and on ``$gold$`` with its default LaTeX
and expression extraction, then ``verify``; lighteval's ``MultilingualExtractiveMatchMetric`` (English, LaTeX and
expression targets on both sides, precision 6) on ``$gold$``, the extractive match lighteval's math tasks use. Both
say only correct or not, so the comparison is on "called correct".
"""

from __future__ import annotations

from collections import Counter

from pns_hub.grading.verify import CORRECT, verify_batch

GRADERS = ("pns_hub", "lighteval", "math_verify")


def _math_verify(completions, golds) -> list[bool | None]:
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

    config = [LatexExtractionConfig(), ExprExtractionConfig()]
    out: list[bool | None] = []
    for completion, gold in zip(completions, golds):
        try:
            out.append(bool(verify(parse(f"${gold}$", config, parsing_timeout=5), parse(completion, config,
                                                                                          parsing_timeout=5))))
        except Exception:  # noqa: BLE001 - a grader that raises has no verdict on this row
            out.append(None)
    return out


def _lighteval(completions, golds) -> list[bool | None]:
    from lighteval.metrics.dynamic_metrics import MultilingualExtractiveMatchMetric
    from lighteval.metrics.utils.extractive_match_utils import ExprExtractionConfig, LatexExtractionConfig
    from lighteval.models.model_output import ModelResponse
    from lighteval.tasks.requests import Doc
    from lighteval.utils.language import Language

    targets = (LatexExtractionConfig(), ExprExtractionConfig())
    metric = MultilingualExtractiveMatchMetric(language=Language.ENGLISH, gold_extraction_target=targets,
                                               pred_extraction_target=targets, precision=6)
    out: list[bool | None] = []
    for completion, gold in zip(completions, golds):
        try:
            doc = Doc(query="", choices=[f"${gold}$"], gold_index=0)
            out.append(metric.compute(model_response=ModelResponse(text=[completion]), doc=doc) == 1)
        except Exception:  # noqa: BLE001
            out.append(None)
    return out


def cross_audit(rows: list[dict], completion_field: str = "completion", gold_field: str = "gold",
                num_workers: int | None = None) -> dict:
    """Verdicts of the three graders on ``rows``: agreement with ``expected`` where given, and the disagreements."""
    completions, golds = [r[completion_field] for r in rows], [str(r[gold_field]) for r in rows]
    ours = verify_batch(completions, golds, num_workers=num_workers)
    called = {"pns_hub": [r.verdict == CORRECT for r in ours], "lighteval": _lighteval(completions, golds),
              "math_verify": _math_verify(completions, golds)}
    agreement, disagreements = Counter(), []
    has_expected = [r.get("expected") in ("correct", "wrong", "unparseable") for r in rows]
    for i, row in enumerate(rows):
        calls = {g: called[g][i] for g in GRADERS}
        truth = row["expected"] == CORRECT if has_expected[i] else None
        for g in GRADERS:
            agreement[g] += truth is not None and calls[g] == truth
        if len(set(calls.values())) > 1:
            disagreements.append({"row": i, "completion": completions[i], "gold": golds[i], **calls,
                                  "pns_hub_verdict": ours[i].verdict, "pns_hub_reason": ours[i].reason,
                                  "expected": row.get("expected"), "source": row.get("source", row.get("category")),
                                  "right": [g for g in GRADERS if truth is not None and calls[g] == truth]})
    n_expected = sum(has_expected)
    false_positives = {g: sum(1 for i, r in enumerate(rows) if has_expected[i] and called[g][i]
                              and r["expected"] != CORRECT) for g in GRADERS}
    return {"rows": len(rows), "with_expected": n_expected, "agreement": {g: agreement[g] for g in GRADERS},
            "false_positives": false_positives,
            "called_correct": {g: sum(bool(c) for c in called[g]) for g in GRADERS},
            "no_verdict": {g: sum(c is None for c in called[g]) for g in GRADERS}, "disagreements": disagreements}


def report(result: dict, name: str = "") -> str:
    """The figures and every disagreement, as text."""
    n = result["with_expected"]
    lines = [f"cross-grader audit {name}: {result['rows']} rows, {n} with an expected verdict, "
             f"{len(result['disagreements'])} disagreements"]
    for g in GRADERS:
        share = f"{result['agreement'][g] / n:.1%}" if n else "-"
        lines.append(f"  {g:12s} agrees with expected {result['agreement'][g]}/{n} ({share}), false positives "
                     f"{result['false_positives'][g]}, called correct {result['called_correct'][g]}, "
                     f"no verdict {result['no_verdict'][g]}")
    for d in result["disagreements"]:
        calls = " ".join(f"{g}={'C' if d[g] else '-' if d[g] is None else 'x'}" for g in GRADERS)
        right = f" right: {','.join(d['right']) or 'none'}" if d["expected"] else ""
        lines.append(f"  [{d['row']}] {calls}{right} | gold {d['gold'][:40]!r} | {d['completion'][-70:]!r}")
    return "\n".join(lines) + "\n"
