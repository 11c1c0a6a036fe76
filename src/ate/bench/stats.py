"""Success-rate statistics."""

from __future__ import annotations

from scipy.stats import binomtest


def success_interval(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """Clopper-Pearson (exact) confidence interval of a success rate, as fractions."""
    if trials == 0:
        return float("nan"), float("nan")
    ci = binomtest(successes, trials).proportion_ci(confidence_level=level, method="exact")
    return float(ci.low), float(ci.high)
