"""Paired comparisons of two methods over seeds: the per-seed differences of their test mAP and a
percentile-bootstrap interval of the mean difference.

Seeds pair runs that share everything but the method (the rare task, the kept background, the
initialisation's seed), so the difference of a pair cancels most of what a seed changes; the interval of
the mean difference is far narrower than the two methods' spreads suggest.
"""

from __future__ import annotations

import dataclasses

import numpy as np

BOOTSTRAP_RESAMPLES = 10_000
# Pairs an interval needs before it is read as a verdict: a bootstrap interval from fewer values lies
# within their range and covers the true mean difference less often than its level says.
MIN_PAIRS = 5


def paired_differences(ours: dict[int, float], theirs: dict[int, float]) -> np.ndarray:
    """d_s = ours[s] - theirs[s] for the seeds both have, in seed order: float64 [pairs]."""
    return np.array([ours[s] - theirs[s] for s in sorted(set(ours) & set(theirs))])


def direction(low: float, high: float, pairs: int) -> int | None:
    """What an interval (low, high) of a mean difference over `pairs` pairs says: +1 above 0, -1 below,
    0 holding 0; None with fewer than MIN_PAIRS pairs (too few for a verdict)."""
    if pairs < MIN_PAIRS:
        return None
    return 1 if low > 0 else -1 if high < 0 else 0


def bootstrap_interval(values: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES, level: float = 0.95,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values` [n] (resampling the n values; seeded, so a
    report is reproducible)."""
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (resamples, len(values)))].mean(axis=1)
    tail = (1 - level) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


@dataclasses.dataclass(frozen=True)
class Paired:
    """The paired differences of two methods: the seeds both have, the difference per seed, their
    mean, its 95% interval, and how many pairs the first method is ahead in."""

    seeds: tuple[int, ...]
    differences: tuple[float, ...]
    mean: float
    low: float
    high: float
    ahead: int

    @classmethod
    def of(cls, ours: dict[int, float], theirs: dict[int, float]) -> "Paired | None":
        """The comparison over the seeds both have ({seed: test mAP} each); None without a common seed."""
        seeds = tuple(sorted(set(ours) & set(theirs)))
        if not seeds:
            return None
        d = paired_differences(ours, theirs)
        low, high = bootstrap_interval(d)
        return cls(seeds, tuple(float(v) for v in d), float(d.mean()), low, high, int((d > 0).sum()))

    def describe(self) -> str:
        """"+0.012 (-0.003, +0.030), ahead 2/3" for a table cell."""
        return f"{self.mean:+.3f} ({self.low:+.3f}, {self.high:+.3f}), ahead {self.ahead}/{len(self.differences)}"
