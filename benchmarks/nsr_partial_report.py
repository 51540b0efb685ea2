"""Partial ``experiment nsr`` report from finished stage markers (base, PSR, NSR): the curves and the two claims that
need only them, for a run whose W-REINFORCE/GRPO evaluations had not finished. Usage: python benchmarks/nsr_partial_report.py DIR"""
import json
from pathlib import Path
from pns_hub import stats
from pns_hub.eval.passk import curve_ks, pass_at_k, plot_curves
from pns_hub.experiments import verdict, SUPPORTED, CONTRADICTED, UNRESOLVED
from pns_hub.hardware import device_name

import sys
st = Path(sys.argv[1] if len(sys.argv) > 1 else 'outputs/experiment/nsr') / 'stages'
evals = {m: json.loads((st / f'eval_{m}.json').read_text()) for m in ('base', 'psr', 'nsr', 'w_reinforce', 'grpo')
         if (st / f'eval_{m}.json').exists()}
evals = {m: e['result'] for m, e in evals.items()}
seconds = {m: round(json.loads((st / f'eval_{m}.json').read_text())['seconds']) for m in evals}
n = min(c[0] for e in evals.values() for c in e['counts'])
ks = curve_ks(n)
curves = {m: {k: e.to_dict() for k, e in stats.passk_curve_intervals(ev['counts'], ks, seed=0).items()} for m, ev in evals.items()}
pp = lambda m, k: [pass_at_k(nn, c, k) for nn, c in evals[m]['counts']]
diff = lambda a, b, k: stats.paired_bootstrap(pp(a, k), pp(b, k), seed=0)
nsr_n, psr_n, psr_1 = diff('nsr', 'base', n), diff('psr', 'base', n), diff('psr', 'base', 1)
keeps = CONTRADICTED if nsr_n.high < 0 else SUPPORTED if nsr_n.low >= 0 else UNRESOLVED
verdicts = {'NSR keeps or raises pass@k at the largest k': keeps, 'PSR lowers pass@k at the largest k': verdict(psr_n, -1),
            'W-REINFORCE best over the whole curve': 'not measured (its evaluation had not finished)'}
fmt = lambda e: f"{100*e['value']:.1f} [{100*e['low']:.1f}, {100*e['high']:.1f}]"
fd = lambda d: f"{100*d.value:+.1f} [{100*d.low:+.1f}, {100*d.high:+.1f}]"
out = Path(__file__).resolve().parent / 'results'
lines = ['# pns-hub experiment nsr (partial: base, PSR, NSR evaluated; W-REINFORCE and GRPO trained, not yet evaluated)', '',
         'command: `PNS_HUB_THREADS=1 pns-hub experiment nsr --budget full --warmup_model /work/cache/warmup-testbed '
         '--output_dir /work/exp/nsr --eval_samples 16` (evaluation resumed at 2 threads for NSR), then '
         '`python benchmarks/nsr_partial_report.py /work/exp/nsr` over its stage markers', '',
         f'| method | pass@1 (%) | pass@{n} (%) | problems |', '|---|---|---|---|']
lines += [f"| {m} | {fmt(c[1])} | {fmt(c[n])} | {c[1]['n']} |" for m, c in curves.items()]
lines += ['', f'Paired (points): NSR - base at k={n} {fd(nsr_n)}; PSR - base at k={n} {fd(psr_n)}; PSR - base at k=1 {fd(psr_1)}', '',
          '## Verdicts', ''] + [f'- {c}: **{v}**' for c, v in verdicts.items()]
(out / 'experiment_nsr-partial-epyc.md').write_text('\n'.join(lines) + '\n')
(out / 'experiment_nsr-partial-epyc.json').write_text(json.dumps({
    'ks': ks, 'curves': curves, 'evals': evals, 'eval_seconds': seconds, 'cpu': device_name(),
    'differences': {'nsr_minus_base_at_n': nsr_n.to_dict(), 'psr_minus_base_at_n': psr_n.to_dict(), 'psr_minus_base_at_1': psr_1.to_dict()},
    'verdicts': verdicts}, indent=2, default=str))
plot_curves({m: {k: e['value'] for k, e in c.items()} for m, c in curves.items()}, out / 'experiment_nsr-partial-epyc.png',
            title=f'pass@k, 100 held-out testbed problems, n={n} ({device_name()})')
print('\n'.join(lines)); print(seconds)
