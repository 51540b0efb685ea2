"""The fair protocol for negatives: every source is picked by the same rule from its k candidates, on the same problems,
against the same chosen response, and the plausibility table shows PNS vs the baselines under *both* rules.

Why (issue #17): PNS used to take the most plausible of 4 format-filtered candidates by a score that contains the RM,
rejection sampling a random unfiltered one, so "PNS negatives are more plausible" held by construction. Here synthesis
runs with ``rejected_choice="all"`` (every valid, well-formed, distinct candidate of every source is a row, each
scored with the same composite plausibility), and :func:`fair_select` then picks one negative per (problem, source)
by one rule for all sources. A problem where any source has no valid negative is dropped from *every* source (counted
in the report), so each source trains DPO on the same problems with the same chosen side and the same number of pairs.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from pathlib import Path
from typing import Mapping, Sequence

from pns_hub.synthesis import baselines as negatives
RULES = ("random", "most_plausible")
RULE_NAMES = {"random": "random of k", "most_plausible": "most plausible of k"}


def _by_problem(rows_by_source: Mapping[str, Sequence[dict]]) -> dict[str, dict[str, list[dict]]]:
    grouped: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for source, rows in rows_by_source.items():
        for row in rows:
            grouped[row["problem_id"]][source].append(row)
    return grouped


def _pick(cands: list[dict], rule: str, seed: int, source: str, problem_id: str) -> dict:
    if rule == "random":
        return random.Random(negatives.stable_seed(seed, "fair", source, problem_id)).choice(cands)
    if any(c.get("plausibility") is None for c in cands):
        raise ValueError(f"problem {problem_id!r}, source {source!r}: a candidate has no plausibility score "
                         "(synthesis ran without RM and judge); 'most_plausible' needs one")
    return max(cands, key=lambda c: (c["plausibility"], -int(c.get("candidate_index") or 0)))


def fair_select(rows_by_source: Mapping[str, Sequence[dict]], rule: str, seed: int = 0) -> tuple[dict, dict]:
    """One negative per (problem, source) by ``rule`` for every source, on the problems every source covers.

    Returns ``(rows per source, report)``; the report counts problems kept, dropped and, per source, how many
    problems it lacked a negative for. Raises if a problem's chosen side differs between sources (synthesis picks it
    once per problem; a difference means the rows were not made by one synthesis run).
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    sources = list(rows_by_source)
    grouped = _by_problem(rows_by_source)
    selected: dict[str, list[dict]] = {s: [] for s in sources}
    lacking = {s: 0 for s in sources}
    kept = 0
    for pid in sorted(grouped):
        per = grouped[pid]
        missing = [s for s in sources if not per.get(s)]
        for s in missing:
            lacking[s] += 1
        if missing:
            continue
        chosen = {r["chosen"][0]["content"] for s in sources for r in per[s]}
        if len(chosen) != 1:
            raise ValueError(f"problem {pid!r}: the sources have {len(chosen)} different chosen responses; the fair "
                             "protocol needs one chosen response per problem for every source")
        kept += 1
        for s in sources:
            row = dict(_pick(per[s], rule, seed, s, pid))
            row["selection"] = f"{rule} of {len(per[s])}"
            selected[s].append(row)
    report = {"rule": rule, "problems_with_candidates": len(grouped), "problems_kept": kept,
              "problems_dropped": len(grouped) - kept, "problems_lacking_a_negative_by_source": lacking,
              "pairs_per_source": kept}
    return selected, report


def _mean_ci(values: list[float], seed: int) -> dict | None:
    from pns_hub import stats
    return stats.bootstrap_mean(values, seed=seed).to_dict() if values else None


def plausibility_table(rows_by_source: Mapping[str, Sequence[dict]], seed: int = 0) -> dict:
    """Per rule and source: mean squashed RM, judge and composite plausibility of the picked negatives (bootstrap
    95% intervals over problems, n = problems), and PNS minus rejection sampling paired by problem."""
    from pns_hub import stats
    table: dict = {}
    for rule in RULES:
        selected, report = fair_select(rows_by_source, rule, seed)
        entry = {"report": report, "sources": {}, "pns_minus_rejection_sampling": {}}
        for source, rows in selected.items():
            entry["sources"][source] = {
                col: _mean_ci([float(r[col]) for r in rows if r.get(col) is not None], seed)
                for col in ("rm_rejected_squashed", "judge_rejected", "plausibility")}
        pns, rs = selected.get(negatives.PNS), selected.get(negatives.REJECTION_SAMPLING)
        if pns and rs:
            for col in ("rm_rejected_squashed", "judge_rejected", "plausibility"):
                a, b = [r.get(col) for r in pns], [r.get(col) for r in rs]  # same problem order (sorted ids)
                if all(v is not None for v in a + b):
                    entry["pns_minus_rejection_sampling"][col] = stats.paired_bootstrap(a, b, seed=seed).to_dict()
        table[rule] = entry
    return table


def _fmt(e: dict | None) -> str:
    return "n/a" if not e else f"{e['value']:.3f} [{e['low']:.3f}, {e['high']:.3f}]"


def markdown_table(table: Mapping[str, dict]) -> str:
    """The card's and the demo's fair-protocol table: one line per (rule, source), then PNS - RS per rule."""
    lines = ["| selection | source | pairs | RM score of negative (sigmoid) | judge score | composite plausibility |",
             "|---|---|---:|---:|---:|---:|"]
    for rule, entry in table.items():
        for source, cols in entry["sources"].items():
            lines.append(f"| {RULE_NAMES[rule]} | {source} | {entry['report']['pairs_per_source']} | "
                         f"{_fmt(cols['rm_rejected_squashed'])} | {_fmt(cols['judge_rejected'])} | "
                         f"{_fmt(cols['plausibility'])} |")
    for rule, entry in table.items():
        diffs = entry["pns_minus_rejection_sampling"]
        if diffs:
            lines.append(f"| {RULE_NAMES[rule]} | **pns - rejection_sampling** (paired) | "
                         f"{entry['report']['pairs_per_source']} | {_fmt(diffs.get('rm_rejected_squashed'))} | "
                         f"{_fmt(diffs.get('judge_rejected'))} | {_fmt(diffs.get('plausibility'))} |")
    report = next(iter(table.values()))["report"]
    lines += ["", f"Same problems, same chosen response and same number of pairs for every source: "
                  f"{report['problems_kept']} of {report['problems_with_candidates']} problems kept; dropped because a "
                  f"source had no valid negative: {report['problems_lacking_a_negative_by_source']}. 95% bootstrap "
                  "intervals over problems."]
    return "\n".join(lines) + "\n"


def sample_stats(folder: str | Path) -> dict[str, list[dict]]:
    """Per-sample (format, verdict) records that synthesis kept in its shard files, by role (``pns``, ``policy``)."""
    from pns_hub.synthesis import store as shard_store
    out: dict[str, list[dict]] = defaultdict(list)
    for path in sorted((Path(folder) / shard_store.WORK_DIR / "shards").glob("shard-*.json")):
        for role, items in json.loads(path.read_text()).get("sample_stats", {}).items():
            out[role] += items
    return dict(out)


# The generator report's rows: label, sample_stats role, the source whose candidates are that model's wrong answers
GENERATOR_ROWS = (("before GRPO (warm-up policy)", "policy", negatives.REJECTION_SAMPLING),
                  ("after GRPO (generator)", negatives.PNS, negatives.PNS))


def generator_report(samples: Mapping[str, list[dict]], rows_by_source: Mapping[str, Sequence[dict]],
                     seed: int = 0) -> dict:
    """Before (the warm-up policy) vs after GRPO (the generator), sampled alike on the synthesis problems, which
    neither the RM nor the generator trained on: format rate, wrong rate among well-formed answers (Wilson), and the
    RM / judge score of its valid wrong answers (bootstrap). The policy is the generator's GRPO starting point, so
    its samples are the "before"."""
    from pns_hub import stats
    def rate(k: int, n: int) -> dict | None:
        if not n:
            return None
        low, high = stats.wilson_interval(k, n)
        return {"value": k / n, "low": low, "high": high, "n": n}

    out = {}
    for label, role, source in GENERATOR_ROWS:
        items = samples.get(role, [])
        formed = [s for s in items if s["format_ok"]]
        rows = rows_by_source.get(source, [])
        out[label] = {
            "format_rate": rate(len(formed), len(items)),
            "wrong_rate_among_well_formed": rate(sum(s["verdict"] == "wrong" for s in formed), len(formed)),
            "rm_score_of_wrong": _mean_ci([float(r["rm_rejected_squashed"]) for r in rows
                                           if r.get("rm_rejected_squashed") is not None], seed),
            "judge_score_of_wrong": _mean_ci([float(r["judge_rejected"]) for r in rows
                                              if r.get("judge_rejected") is not None], seed),
            "steps_of_wrong": steps_of_wrong(rows, seed),
        }
    return out


def steps_of_wrong(rows: Sequence[dict], seed: int = 0) -> dict | None:
    """Step-checker plausibility (:mod:`pns_hub.grading.steps`) of every valid wrong answer in ``rows``, mean with a
    bootstrap interval: the model-free "before vs after" beside the RM's, over the same answers (#33 item 3), so a
    generator that only learned to please the RM shows as an RM gain without a step gain."""
    from pns_hub.grading.steps import plausibility_scores

    return _mean_ci(plausibility_scores([message_text(r["rejected"]) for r in rows], [r["problem"] for r in rows]),
                    seed)


def message_text(messages) -> str:
    """A pair side's text: the one message's content of a conversational row, or the plain string itself."""
    return messages[0]["content"] if isinstance(messages, list) else str(messages)


def generator_markdown(report: Mapping[str, dict]) -> str:
    lines = ["| model | format rate | wrong among well-formed | RM score of wrong (sigmoid) | judge score of wrong | "
             "step-checker plausibility of wrong |", "|---|---:|---:|---:|---:|---:|"]
    for label, r in report.items():
        cells = [r["format_rate"], r["wrong_rate_among_well_formed"], r["rm_score_of_wrong"],
                 r["judge_score_of_wrong"], r.get("steps_of_wrong")]
        lines.append(f"| {label} | " + " | ".join(f"{_fmt(c)} (n={c['n']})" if c else "n/a" for c in cells) + " |")
    return "\n".join(lines) + "\n"
