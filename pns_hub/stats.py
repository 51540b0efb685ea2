"""Confidence intervals for everything pns-hub reports: an accuracy, a difference between two models, a pass@k curve.

Why each method:
- **Wilson score interval** for an accuracy of n problems with one 0/1 outcome each: unlike the textbook
  p +- 1.96 sqrt(p(1-p)/n) it stays inside [0, 1] and does not collapse to zero width at 0/n or n/n, which is
  exactly where small models on hard benchmarks live (0 of 3 is "somewhere in [0, 56%]", not "0%").
- **Bootstrap over problems** when a problem's score is not 0/1 (the mean of n samples, pass@k): problems are the
  unit that was sampled, so they are what gets resampled.
- **Paired bootstrap** for model A minus model B on the *same* problems: resampling problems keeps each problem's
  pair together, so the large problem-to-problem variance cancels and only the disagreement is measured. Comparing
  two separate intervals instead would be far too conservative (and wrong where they overlap).

Everything is deterministic given ``seed`` (numpy's PCG64), and vectorised in chunks so 10 000 resamples of 1 000
problems take well under a second.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Iterable, Mapping, Sequence

import numpy as np


CONFIDENCE = 0.95
N_BOOT = 10_000
_CHUNK = 1_000  # resamples per vectorised block: bounds memory at CHUNK x problems


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its interval: ``value`` in [``low``, ``high``] at ``confidence``, from ``n`` problems."""

    value: float
    low: float
    high: float
    n: int
    method: str
    confidence: float = CONFIDENCE

    def to_dict(self) -> dict:
        return asdict(self)

    def format(self, percent: bool = True, digits: int = 1) -> str:
        """``41.5% [36.8, 46.3] (n=400)``: the form every printed accuracy takes."""
        scale, unit = (100.0, "%") if percent else (1.0, "")
        return (f"{scale * self.value:.{digits}f}{unit} [{scale * self.low:.{digits}f}, {scale * self.high:.{digits}f}]"
                f" (n={self.n})")


@dataclass(frozen=True)
class Difference(Estimate):
    """A paired difference ``a - b`` with its bootstrap interval and a two-sided bootstrap p-value for "no difference"."""

    p_value: float = 1.0

    def format(self, percent: bool = True, digits: int = 1) -> str:
        scale, unit = (100.0, " pts") if percent else (1.0, "")
        return (f"{scale * self.value:+.{digits}f}{unit} [{scale * self.low:+.{digits}f}, {scale * self.high:+.{digits}f}]"
                f" (n={self.n} paired, p={self.p_value:.3g})")


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion ``successes / n``."""
    if n < 1 or not 0 <= successes <= n:
        raise ValueError(f"need n >= 1 and 0 <= successes <= n, got successes={successes}, n={n}")
    z = _z(confidence)
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # at 0/n and n/n the bound is exactly 0 or 1 (rounding would otherwise leave 1e-17)
    return (0.0 if successes == 0 else max(0.0, centre - half)), (1.0 if successes == n else min(1.0, centre + half))


def _as_array(values: Iterable[float], name: str) -> np.ndarray:
    array = np.asarray(list(values), dtype=float)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name}: need a non-empty sequence of per-problem scores")
    if np.isnan(array).any():
        raise ValueError(f"{name}: contains NaN")
    return array


def _resamples(size: int, n_boot: int, seed: int):
    """``(start, indices)`` blocks of ``n_boot`` resamples (with replacement) of ``size`` items, ``_CHUNK`` rows at a
    time: the one resampling loop, so every bootstrap here draws the same indices for the same seed."""
    if n_boot < 100:
        raise ValueError(f"n_boot must be >= 100 for a 95% interval, got {n_boot}")
    rng = np.random.default_rng(seed)
    for start in range(0, n_boot, _CHUNK):
        yield start, rng.integers(0, size, size=(min(_CHUNK, n_boot - start), size))


def _bootstrap_means(values: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Means of ``n_boot`` resamples (with replacement) of ``values``."""
    out = np.empty(n_boot)
    for start, idx in _resamples(values.size, n_boot, seed):
        out[start:start + len(idx)] = values[idx].mean(axis=1)
    return out


def _percentiles(boot: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(boot, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_mean(values: Sequence[float], confidence: float = CONFIDENCE, n_boot: int = N_BOOT,
                   seed: int = 0) -> Estimate:
    """Mean of per-problem scores with a percentile bootstrap interval over problems."""
    array = _as_array(values, "bootstrap_mean")
    _z(confidence)
    low, high = _percentiles(_bootstrap_means(array, n_boot, seed), confidence)
    return Estimate(float(array.mean()), low, high, int(array.size), "bootstrap", confidence)


def clustered_share(successes: Sequence[int], trials: Sequence[int], confidence: float = CONFIDENCE,
                    n_boot: int = N_BOOT, seed: int = 0) -> Estimate:
    """``sum(successes) / sum(trials)`` with a percentile bootstrap that resamples *clusters* (e.g. problems, each
    with several pairs). Why: pairs from one problem share a chosen side and a question, so they are not independent
    and a Wilson interval over pairs would be too narrow; the problem is the unit that was sampled."""
    wins, counts = _as_array(successes, "clustered_share successes"), _as_array(trials, "clustered_share trials")
    if wins.size != counts.size:
        raise ValueError(f"clustered_share: {wins.size} success counts but {counts.size} trial counts")
    if (counts <= 0).any() or (wins < 0).any() or (wins > counts).any():
        raise ValueError("clustered_share: every cluster needs 0 <= successes <= trials and trials >= 1")
    _z(confidence)
    boot = np.empty(n_boot)
    for start, idx in _resamples(wins.size, n_boot, seed):
        boot[start:start + len(idx)] = wins[idx].sum(axis=1) / counts[idx].sum(axis=1)
    low, high = _percentiles(boot, confidence)
    return Estimate(float(wins.sum() / counts.sum()), low, high, int(counts.sum()), "cluster bootstrap", confidence)


def accuracy(values: Sequence[float], confidence: float = CONFIDENCE, n_boot: int = N_BOOT, seed: int = 0) -> Estimate:
    """Accuracy over problems: Wilson when every score is 0/1, else (means of several samples) bootstrap."""
    array = _as_array(values, "accuracy")
    if np.isin(array, (0.0, 1.0)).all():
        successes = int(array.sum())
        low, high = wilson_interval(successes, int(array.size), confidence)
        return Estimate(successes / array.size, low, high, int(array.size), "wilson", confidence)
    if ((array < 0) | (array > 1)).any():
        raise ValueError("accuracy: per-problem scores must lie in [0, 1]")
    return bootstrap_mean(array, confidence, n_boot, seed)


def paired_bootstrap(a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE, n_boot: int = N_BOOT,
                     seed: int = 0) -> Difference:
    """``mean(a) - mean(b)`` over the same problems (``a[i]`` and ``b[i]`` are scores of problem i), resampling problems.

    The p-value is the two-sided bootstrap one: twice the share of resampled differences on the far side of zero
    (capped at 1); identical scores give a zero-width interval and p = 1.
    """
    a, b = _as_array(a, "paired_bootstrap a"), _as_array(b, "paired_bootstrap b")
    if a.size != b.size:
        raise ValueError(f"paired_bootstrap: a has {a.size} problems, b has {b.size}; pair them by problem id first")
    _z(confidence)
    diff = a - b
    boot = _bootstrap_means(diff, n_boot, seed)
    low, high = _percentiles(boot, confidence)
    delta = float(diff.mean())
    if np.all(diff == 0):
        p_value = 1.0
    else:
        p_value = min(1.0, 2 * min(float((boot <= 0).mean()), float((boot >= 0).mean())))
    return Difference(delta, low, high, int(diff.size), "paired bootstrap", confidence, p_value)


def pair_by_id(a: dict[str, float], b: dict[str, float]) -> tuple[list[str], list[float], list[float]]:
    """The problems both ``{id: score}`` maps scored, in a fixed order, with both models' scores."""
    ids = sorted(set(a) & set(b))
    return ids, [a[i] for i in ids], [b[i] for i in ids]


@dataclass(frozen=True)
class ReplicateDifference(Difference):
    """A paired difference pooled over independent replicates: ``value`` is the mean of ``a - b`` over replicates and
    problems, ``n`` the problems, ``per_replicate`` each replicate's own mean difference (report every run)."""

    n_replicates: int = 1
    per_replicate: tuple[float, ...] = ()

    @property
    def mean(self) -> float:
        return self.value

    @property
    def n_problems(self) -> int:
        return self.n

    def format(self, percent: bool = True, digits: int = 1) -> str:
        return super().format(percent, digits).replace(" paired,", f" paired x {self.n_replicates} replicates,")


def replicate_paired_bootstrap(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]], *,
                               n_resamples: int = N_BOOT, confidence: float = CONFIDENCE,
                               seed: int = 0) -> ReplicateDifference:
    """``a - b`` pooled over replicates: ``a[r][p]``, ``b[r][p]`` are replicate r's scores of problem p (same problems,
    same order, in every replicate).

    Why two levels: a replicate re-draws everything random (training, sampling, selection), so run-to-run spread is
    part of the uncertainty; resampling problems alone (one run's interval) ignores it, and four single runs of the
    PNS experiment gave intervals that contradicted each other. Each resample draws replicates with replacement and,
    once for all of them, problems with replacement (the test problems are shared, so they vary together). With one
    replicate this is :func:`paired_bootstrap`'s interval, and the method says so.
    """
    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    if x.ndim != 2 or x.shape != y.shape or 0 in x.shape:
        raise ValueError(f"replicate_paired_bootstrap: a and b must be replicates x problems of the same shape, "
                         f"got {x.shape} and {y.shape}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("replicate_paired_bootstrap: scores must be finite")
    _z(confidence)
    diff = x - y
    n_rep, n_prob = diff.shape
    rng = np.random.default_rng(seed)
    boot = np.empty(n_resamples)
    for start in range(0, n_resamples, _CHUNK):
        size = min(_CHUNK, n_resamples - start)
        # counts of each replicate / problem in the resample; the pooled mean is w_r^T diff w_p / (R P)
        w_rep = rng.multinomial(n_rep, np.full(n_rep, 1.0 / n_rep), size=size) if n_rep > 1 else np.ones((size, 1))
        w_prob = rng.multinomial(n_prob, np.full(n_prob, 1.0 / n_prob), size=size)
        boot[start:start + size] = ((w_rep @ diff) * w_prob).sum(axis=1) / (n_rep * n_prob)
    low, high = _percentiles(boot, confidence)
    p_value = 1.0 if np.all(diff == 0) else min(1.0, 2 * min(float((boot <= 0).mean()), float((boot >= 0).mean())))
    method = "replicate x problem bootstrap" if n_rep > 1 else "paired bootstrap (one replicate: problems only)"
    return ReplicateDifference(float(diff.mean()), low, high, n_prob, method, confidence, p_value, n_rep,
                               tuple(float(v) for v in diff.mean(axis=1)))


def replicate_mean_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Estimate:
    """Mean over independent replicates with a Student-t interval on their spread (n - 1 degrees of freedom).

    Why t and not a bootstrap: with 3-5 replicates a percentile bootstrap of their mean is too narrow (it can only
    reshuffle the few values seen), while the t interval widens for small n as it should. Used where each replicate
    contributes one number measured on its own problems (e.g. its negatives' plausibility gain, whose fair selection
    keeps different problems in each replicate), so the replicate x problem bootstrap cannot pair them."""
    from scipy import stats as scipy_stats

    x = _as_array(values, "values")
    if x.size < 2:
        raise ValueError(f"replicate_mean_interval needs at least 2 replicates, got {x.size}")
    mean, sem = float(x.mean()), float(x.std(ddof=1) / np.sqrt(x.size))
    half = float(scipy_stats.t.ppf(0.5 + confidence / 2, x.size - 1)) * sem
    return Estimate(mean, mean - half, mean + half, int(x.size), "t over replicates", confidence)


ONE_REPLICATE = "one replicate"  # the method of a pooled value with no interval (see pooled_over_replicates)


def single_replicate(estimate: Mapping) -> bool:
    """Whether a pooled value came from one replicate and so has no interval: the one test every table uses."""
    return estimate.get("method") == ONE_REPLICATE


def pooled_over_replicates(values: Sequence[float]) -> dict:
    """:func:`replicate_mean_interval` as a dict, or, for a single replicate, its value with no interval (``low`` =
    ``high`` = value, ``n`` = 1, method "one replicate") rather than a made-up one: the one shape every pooled table
    (Figure 1 pooled, the generator's gains) reads, so a single replicate reads the same everywhere."""
    if len(values) >= 2:
        return replicate_mean_interval(values).to_dict()
    if not values:
        raise ValueError("pooled_over_replicates needs at least 1 replicate, got none")
    v = float(values[0])
    return {"value": v, "low": v, "high": v, "n": 1, "method": ONE_REPLICATE}


def quarter_means(values: Sequence[float | None]) -> tuple[float, float] | None:
    """Mean of the first and of the last quarter of a training curve (one entry per logged step; ``None`` where the
    step did not log the value): did a logged quantity move over training, without a noisy single-step endpoint.
    Quarters are of steps, not of present values, so a component logged only early is not credited with a late
    mean. None under 4 steps (a quarter would be under one step) or where a quarter logged nothing: training logs
    carry no interval, so nothing is claimed from too little."""
    q = len(values) // 4
    if q == 0:
        return None
    first = [v for v in values[:q] if v is not None]
    last = [v for v in values[-q:] if v is not None]
    if not first or not last:
        return None
    return sum(first) / len(first), sum(last) / len(last)
