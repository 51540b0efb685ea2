"""Partial ``experiment nsr`` report from finished stage markers, for a run whose W-REINFORCE/GRPO evaluations have
not finished: :func:`pns_hub.experiment_report.nsr_report` over the models evaluated so far (the W-REINFORCE claim is then
"not measured"). Usage: ``python scripts/nsr_partial_report.py DIR`` (the experiment's --output_dir)."""
import json
import sys
from pathlib import Path

from pns_hub.eval.passk import plot_curves
from pns_hub.experiment_report import fmt, nsr_report
from pns_hub.hardware import device_name


def main(argv: list[str]) -> None:
    stages = Path(argv[0] if argv else "outputs/experiment") / "stages"
    markers = {m: json.loads(p.read_text()) for m in ("base", "psr", "nsr", "w_reinforce", "grpo")
               if (p := stages / f"eval_{m}.json").exists()}
    if not markers:
        raise SystemExit(f"{stages}: no eval_*.json stage markers yet (run `pns-hub experiment nsr` first)")
    evals = {m: marker["result"] for m, marker in markers.items()}
    report = nsr_report(evals, seed=0)
    curves, n, d = report["curves"], report["ks"][-1], report["differences"]

    out = Path(__file__).resolve().parent.parent / "benchmarks" / "results"
    lines = ["# pns-hub experiment nsr (partial: base, PSR, NSR evaluated; W-REINFORCE and GRPO trained, not yet evaluated)",
             "", "command: `PNS_HUB_THREADS=1 pns-hub experiment nsr --budget full --warmup_model /work/cache/warmup-testbed "
             "--output_dir /work/exp/nsr --eval_samples 16` (evaluation resumed at 2 threads for NSR), then "
             "`python scripts/nsr_partial_report.py /work/exp/nsr` over its stage markers", "",
             f"| method | pass@1 (%) | pass@{n} (%) | problems |", "|---|---|---|---|"]
    lines += [f"| {m} | {fmt(c[1])} | {fmt(c[n])} | {c[1]['n']} |" for m, c in curves.items()]
    lines += ["", f"Paired (points): NSR - base at k={n} {fmt(d['nsr_minus_base_at_n'], True)}; PSR - base at k={n} "
              f"{fmt(d['psr_minus_base_at_n'], True)}; PSR - base at k=1 {fmt(d['psr_minus_base_at_1'], True)}", "",
              "## Verdicts", ""] + [f"- {claim}: **{v}**" for claim, v in report["verdicts"].items()]
    (out / "experiment_nsr-partial-epyc.md").write_text("\n".join(lines) + "\n")
    (out / "experiment_nsr-partial-epyc.json").write_text(json.dumps({
        **report, "evals": evals, "eval_seconds": {m: round(mk["seconds"]) for m, mk in markers.items()},
        "cpu": device_name()}, indent=2, default=str))
    plot_curves({m: {k: e["value"] for k, e in c.items()} for m, c in curves.items()},
                out / "experiment_nsr-partial-epyc.png", title=f"pass@k, 100 held-out testbed problems, n={n} ({device_name()})")
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1:])
