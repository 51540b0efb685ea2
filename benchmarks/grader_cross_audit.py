"""Cross-grader audit on a model's own completions (issue #31): pns_hub's grader vs lighteval's extractive match vs
math-verify used directly, on greedy completions of the embedded model for MATH-500, Minerva, OlympiadBench and the
testbed.

``python benchmarks/grader_cross_audit.py [--n=12] [--max-new-tokens=384] [--model=embedded:smollm2-135m-instruct]``
samples ``n`` problems per set with pns_hub's own sampler, writes the completions
(``benchmarks/results/grader_audit_completions.jsonl``: completion, gold, set, id) and the audit
(``grader_cross_audit_model.json``), and prints every disagreement. The completions have no ``expected`` verdict:
which grader is right on a disagreement is for a reader to judge from the listed answer and gold. Rerun the audit on
the committed completions alone with
``pns-hub verify --cross-audit benchmarks/results/grader_audit_completions.jsonl --gold-field gold``.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

try:
    from benchmarks import _common
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks import _common

SETS = ("math_500", "minerva_math", "olympiadbench", "testbed")
RESULTS = Path(__file__).resolve().parent / "results"


def problems(n: int, seed: int = 31) -> list[dict]:
    from pns_hub.data.problems import load_problems
    from pns_hub.data.testbed import load

    out = []
    for name in SETS:
        rows = load("testbed") if name == "testbed" else load_problems(name)
        rows = [r for r in rows if str(r["answer"]).strip()]
        out += [{**r, "set": name} for r in random.Random(seed).sample(rows, min(n, len(rows)))]
    return out


def completions(rows: list[dict], model_spec: str, max_new_tokens: int) -> list[dict]:
    from pns_hub import models
    from pns_hub.engines.generation import SamplingParams, build_prompt, generate

    models.configure_threads()
    model, tokenizer = models.load_model(model_spec), models.load_tokenizer(model_spec)
    params = SamplingParams(num_samples=1, max_new_tokens=max_new_tokens, temperature=0.0)
    outputs = generate(model, tokenizer, [build_prompt(r["problem"]) for r in rows], params, batch_size=64)
    return [{"id": r["id"], "set": r["set"], "gold": str(r["answer"]), "completion": out[0].text}
            for r, out in zip(rows, outputs)]


def main() -> None:
    _common.env_setup()
    from pns_hub.grading.cross_audit import cross_audit, report

    n, max_new = int(_common.option("n", "12")), int(_common.option("max-new-tokens", "384"))
    model_spec = _common.option("model", "embedded:smollm2-135m-instruct")
    rows = completions(problems(n), model_spec, max_new)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "grader_audit_completions.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    result = cross_audit(rows, num_workers=2)
    meta = {"model": model_spec, "n_per_set": n, "max_new_tokens": max_new, "decoding": "greedy",
            "machine": _common.machine_info(), "command": " ".join(sys.argv)}
    (RESULTS / "grader_cross_audit_model.json").write_text(json.dumps({**meta, **result}, indent=1,
                                                                      ensure_ascii=False) + "\n", encoding="utf-8")
    print(report(result, f"{model_spec}, {n} problems per set"))


if __name__ == "__main__":
    main()
