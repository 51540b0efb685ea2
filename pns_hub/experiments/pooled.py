"""Pooled verdicts of ``pns-hub experiment nsr|glow --seeds ...``: the papers' own contrasts, over seeds and problems.

Why pooled and not per run: one training seed of a 135M model moves pass@k by a few points either way (the single-seed
NSR run: NSR - PSR at k=32 +6 [-3, +15]), so a claim about an arm is a claim about its distribution over training
seeds. Every contrast here is :func:`pns_hub.stats.replicate_paired_bootstrap` over the replicates (seeds) and the
held-out problems (the same problems in every replicate), decided by the fixed rule
:func:`pns_hub.experiments.report.verdict`. Each replicate also trains a *placebo* arm (PSR, or SFT on correct samples,
with another training seed); its difference to the real arm is the noise floor: an interval that excludes zero there
says the other intervals are too narrow, and the report says so.

NSR (arXiv 2506.01347): "NSR keeps pass@k across k where PSR lowers it at large k", and "W-REINFORCE is best
overall". The contrasts: NSR - PSR at the largest k and averaged over the curve's ks; W-REINFORCE - PSR and
W-REINFORCE - GRPO averaged over the curve. GLOW (arXiv 2601.04992): "GLOW beats SFT on positives out of domain": GLOW
- SFT-on-correct accuracy on the held-out templates, at equal epochs.
"""

from __future__ import annotations

from pns_hub.experiments.report import UNRESOLVED, verdict

NSR_CLAIMS = {  # claim -> (arm a, arm b, where): the verdict is on a - b > 0
    "NSR above PSR at the largest k": ("nsr", "psr", "largest_k"),
    "NSR above PSR over the pass@k curve (mean over k)": ("nsr", "psr", "curve"),
    "W-REINFORCE above PSR over the pass@k curve": ("w_reinforce", "psr", "curve"),
    "W-REINFORCE above GRPO over the pass@k curve": ("w_reinforce", "grpo", "curve"),
}
NSR_CONTEXT = {  # differences reported beside the claims (no verdict): what each arm did to the base
    "psr_minus_base_at_1": ("psr", "base", "k1"), "psr_minus_base_at_largest_k": ("psr", "base", "largest_k"),
    "nsr_minus_base_at_largest_k": ("nsr", "base", "largest_k"),
    "w_reinforce_minus_nsr_curve": ("w_reinforce", "nsr", "curve"),
}
GLOW_CLAIM = "GLOW above SFT on correct samples on the held-out templates (equal epochs)"
PLACEBO = {"nsr": ("psr", "psr_placebo"), "glow": ("sft_correct", "sft_correct_placebo")}


def _check_same_problems(replicates: list[dict], models: list[str], split: str | None = None) -> None:
    """Pairing is by position: every replicate and model must list the same problem ids in the same order."""
    def ids(rep, m):
        ev = rep["evals"][m] if split is None else rep["evals"][m][split]
        return ev.get("ids")

    first = ids(replicates[0], models[0])
    for r, rep in enumerate(replicates):
        for m in models:
            if m not in rep["evals"]:
                raise KeyError(f"replicate {r} (seed {rep.get('seed')}) has no evaluation of {m!r}")
            if ids(rep, m) != first:
                raise ValueError(f"replicate {r} (seed {rep.get('seed')}): {m!r} was evaluated on other problems "
                                 f"than {models[0]!r} of replicate 0; pooled pairs need the same problems")


def pooled_estimate(per_replicate: list[list[float]], seed: int = 0, n_resamples: int = 10_000) -> dict:
    """Mean of per-replicate, per-problem scores with the replicate-and-problem bootstrap interval (the difference to
    an all-zero arm: the same resampling as every contrast, so estimates and differences are on one footing)."""
    from pns_hub import stats

    d = stats.replicate_paired_bootstrap(per_replicate, [[0.0] * len(row) for row in per_replicate], seed=seed,
                                         n_resamples=n_resamples)
    return _as_dict(d)


def _as_dict(d) -> dict:
    """The bootstrap result in the report's ``value/low/high/n`` vocabulary (``fmt``), keeping the per-seed means."""
    return {"value": d.mean, "low": d.low, "high": d.high, "n": d.n_problems, "n_replicates": d.n_replicates,
            "per_replicate": list(d.per_replicate), "p_value": d.p_value, "method": d.method}


def nsr_pooled(replicates: list[dict], seed: int = 0, n_resamples: int = 10_000) -> dict:
    """Pooled pass@k curves per arm, the claims' verdicts, the placebo and the context differences."""
    from pns_hub import stats
    from pns_hub.eval.passk import curve_ks, pass_at_k

    models = [m for m in replicates[0]["evals"] if all(m in rep["evals"] for rep in replicates)]
    _check_same_problems(replicates, models)
    n = min(c[0] for rep in replicates for ev in rep["evals"].values() for c in ev["counts"])
    ks = curve_ks(n)

    def at(m, k):  # [replicate][problem] pass@k estimates
        return [[pass_at_k(nn, c, k) for nn, c in rep["evals"][m]["counts"]] for rep in replicates]

    def over_curve(m):  # per problem, the mean over the curve's ks
        rows = [at(m, k) for k in ks]
        return [[sum(r[i][p] for r in rows) / len(ks) for p in range(len(rows[0][i]))] for i in range(len(replicates))]

    where = {"k1": lambda m: at(m, 1), "largest_k": lambda m: at(m, n), "curve": over_curve}

    def boot(a, b):
        return stats.replicate_paired_bootstrap(a, b, seed=seed, n_resamples=n_resamples)

    def diff(a, b, w):
        return _as_dict(boot(where[w](a), where[w](b)))

    curves = {m: {k: pooled_estimate(at(m, k), seed, n_resamples) for k in ks} for m in models}
    differences, verdicts = {}, {}
    for claim, (a, b, w) in NSR_CLAIMS.items():
        if a in models and b in models:
            differences[claim] = d = diff(a, b, w)
            verdicts[claim] = verdict_of(d)
        else:
            verdicts[claim] = f"not measured ({a if a not in models else b} has no evaluation in every replicate)"
    context = {name: diff(a, b, w) for name, (a, b, w) in NSR_CONTEXT.items() if a in models and b in models}
    def by_k(a, b):  # the paired difference at every k: a curve claim read beside its noise floor
        return {k: _as_dict(boot(at(a, k), at(b, k))) for k in ks} if a in models and b in models else {}

    nsr_minus_psr_curve = by_k("nsr", "psr")
    return {"ks": ks, "n_samples": n, "replicates": len(replicates), "seeds": [r.get("seed") for r in replicates],
            "curves": curves, "nsr_minus_psr_by_k": nsr_minus_psr_curve,
            "placebo_by_k": by_k(*PLACEBO["nsr"]), "differences": differences,
            "context": context, "placebo": _placebo("nsr", models, lambda a, b: {
                "largest_k": diff(a, b, "largest_k"), "curve": diff(a, b, "curve")}),
            "verdicts": verdicts}


def verdict_of(d: dict, claimed_sign: int = +1) -> str:
    """The fixed rule on a pooled difference's dict (its ``low``, ``high``)."""
    from types import SimpleNamespace

    return verdict(SimpleNamespace(low=d["low"], high=d["high"]), claimed_sign)


def _placebo(which: str, models: list[str], contrast) -> dict | None:
    """The arm against itself with another training seed: the noise floor every other interval must clear."""
    a, b = PLACEBO[which]
    if a not in models or b not in models:
        return None
    result = {"arms": [a, b], **contrast(a, b)}
    inside = all(d["low"] <= 0 <= d["high"] for k, d in result.items() if k != "arms")
    result["contains_zero"] = inside
    return result


def glow_pooled(replicates: list[dict], seed: int = 0, n_resamples: int = 10_000) -> dict:
    """Pooled accuracy per arm in-template and on held-out templates, GLOW - SFT-correct on held-out (the verdict),
    the other arms' differences, the placebo, and the equal-epoch budget per arm."""
    from pns_hub import stats

    models = [m for m in replicates[0]["evals"] if all(m in rep["evals"] for rep in replicates)]
    for split in ("test", "ood"):
        _check_same_problems(replicates, models, split)

    def scores(m, split):
        return [[c / nn for nn, c in rep["evals"][m][split]["counts"]] for rep in replicates]

    def boot(a, b):
        return stats.replicate_paired_bootstrap(a, b, seed=seed, n_resamples=n_resamples)

    def diff(a, b, split="ood"):
        return _as_dict(boot(scores(a, split), scores(b, split)))

    table = {m: {s: pooled_estimate(scores(m, s), seed, n_resamples) for s in ("test", "ood")} for m in models}
    differences = {f"{a}_minus_{b}_{s}": diff(a, b, s) for a, b in (
        ("glow", "sft_correct"), ("glow", "sft_all"), ("sft_all", "sft_correct"), ("glow", "base"),
        ("sft_correct", "base")) if a in models and b in models for s in ("ood", "test")}
    main = differences.get("glow_minus_sft_correct_ood")
    return {"replicates": len(replicates), "seeds": [r.get("seed") for r in replicates], "table": table,
            "differences": differences, "claim_differences": {GLOW_CLAIM: main} if main else {},
            "placebo": _placebo("glow", models, lambda a, b: {"ood": diff(a, b, "ood"), "test": diff(a, b, "test")}),
            "budget_by_arm": {m: replicates[0].get("arms", {}).get(m) for m in models if m != "base"},
            "weights": weight_distribution([w for rep in replicates for w in rep.get("weights", [])],
                                           replicates[0].get("glow_setting", {}).get("min_weight", 0.5)),
            "verdicts": {GLOW_CLAIM: verdict_of(main) if main else UNRESOLVED}}


def weight_distribution(weights: list[dict], floor: float) -> dict:
    """Per epoch (after the first) and label: how many weights, their quantiles, and the share above the floor.

    Why the share above the floor: at the authors' beta 20 every weight sat at the floor 0.5 (the rule saturated), and
    then GLOW is "SFT with the later epochs halved"; this number shows whether the weighting acted at all."""
    import numpy as np

    groups: dict[str, list[float]] = {}
    for w in weights:
        groups.setdefault(f"epoch {w['epoch'] + 1}", []).append(w["weight"])
        groups.setdefault(f"epoch {w['epoch'] + 1} {w['label']}", []).append(w["weight"])
    out = {}
    for name, values in sorted(groups.items()):
        a = np.asarray(values, dtype=float)
        q = np.quantile(a, [0.0, 0.1, 0.5, 0.9, 1.0])
        out[name] = {"n": int(a.size), "mean": float(a.mean()), "min": float(q[0]), "p10": float(q[1]),
                     "median": float(q[2]), "p90": float(q[3]), "max": float(q[4]),
                     "share_above_floor": float((a > floor + 1e-6).mean())}
    return out
