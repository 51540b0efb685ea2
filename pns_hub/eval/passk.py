"""pass@k with the unbiased estimator, the k = 1, 2, 4, ..., n curve, and its plot.

Why the estimator and not "did any of the first k samples pass": with n >= k samples per problem of which c are
correct, ``1 - C(n-c, k) / C(n, k)`` is the unbiased estimate of the chance that k fresh samples contain a correct
one (Chen et al. 2021, arXiv:2107.03374). It uses all n samples for every k, so the curve is smooth and a single run
with n = 256 gives pass@1 ... pass@256. The product form below avoids the huge binomials of n = 256.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from pns_hub.stats import CONFIDENCE, N_BOOT, Estimate, bootstrap_mean


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one problem with ``n`` samples of which ``c`` are correct (``1 <= k <= n``)."""
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got k={k}, n={n}")
    if n - c < k:  # every draw of k samples contains a correct one
        return 1.0
    # 1 - prod_{i=n-c+1}^{n} (1 - k/i)  ==  1 - C(n-c, k) / C(n, k)
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


def curve_ks(n: int) -> list[int]:
    """k values of the curve: powers of two up to ``n``, and ``n`` itself when it is not one."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    ks = [2 ** i for i in range(int(math.log2(n)) + 1)]
    if ks[-1] != n:
        ks.append(n)
    return ks


def pass_at_k_curve(counts: Iterable[tuple[int, int]], ks: Sequence[int] | None = None) -> dict[int, float]:
    """Mean pass@k over problems given ``(n, c)`` per problem; ``ks`` defaults to :func:`curve_ks` of the smallest n."""
    counts = list(counts)
    if not counts:
        raise ValueError("no problems to compute pass@k over")
    ks = list(ks) if ks is not None else curve_ks(min(n for n, _ in counts))
    return {k: sum(pass_at_k(n, c, k) for n, c in counts) / len(counts) for k in ks}


def passk_interval(counts: Sequence[tuple[int, int]], k: int, confidence: float = CONFIDENCE, n_boot: int = N_BOOT,
                   seed: int = 0) -> Estimate:
    """Mean unbiased pass@k over problems (``(n, c)`` per problem) with a bootstrap-over-problems interval."""
    if not counts:
        raise ValueError("passk_interval: no problems")
    per_problem = [pass_at_k(n, c, k) for n, c in counts]
    estimate = bootstrap_mean(per_problem, confidence, n_boot, seed)
    return Estimate(estimate.value, estimate.low, estimate.high, estimate.n, f"bootstrap pass@{k}", confidence)


def passk_curve_intervals(counts: Sequence[tuple[int, int]], ks: Sequence[int] | None = None,
                          confidence: float = CONFIDENCE, n_boot: int = N_BOOT, seed: int = 0) -> dict[int, Estimate]:
    """:func:`passk_interval` for each k (default: 1, 2, 4, ..., smallest n), one seed so the curve is coherent."""
    ks = list(ks) if ks is not None else curve_ks(min(n for n, _ in counts))
    return {k: passk_interval(counts, k, confidence, n_boot, seed) for k in ks}


def plot_curves(curves: Mapping[str, Mapping[int, float]], path: str | Path, title: str = "pass@k") -> Path:
    """Write a PNG of one or more pass@k curves (x: k on a log2 axis, y: pass@k in %)."""
    import matplotlib

    matplotlib.use("Agg")  # headless: CI and servers have no display
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for label, curve in curves.items():
        points = sorted((int(k), float(v)) for k, v in curve.items())  # JSON turns int keys into strings
        ax.plot([k for k, _ in points], [100 * v for _, v in points], marker="o", label=label)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("k (samples)")
    ax.set_ylabel("pass@k (%)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
