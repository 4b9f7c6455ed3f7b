"""The few distribution functions drift tests need, in plain Python.

The core depends on no numerical library (numpy and scipy come with the examples extra
only), and a drift check runs in the server and in ``jupyter mlops drift`` on a laptop with
nothing else installed. These are the textbook series and continued fractions, accurate to
~1e-10, which is far below what a p-value threshold can tell apart; tests/test_drift.py
compares them with scipy where scipy is installed.
"""

from __future__ import annotations

import math

_EPS = 1e-14
_TINY = 1e-300
_MAX_TERMS = 500


def regularized_gamma_q(a: float, x: float) -> float:
    """Q(a, x) = Γ(a, x) / Γ(a), the upper regularized incomplete gamma function."""
    if a <= 0:
        raise ValueError(f"the shape of a gamma distribution is positive, not {a}")
    if x <= 0:
        return 1.0
    if x < a + 1:
        return 1.0 - _lower_series(a, x)
    return _upper_fraction(a, x)


def _lower_series(a: float, x: float) -> float:
    """P(a, x) by its power series, which converges fast for x < a + 1."""
    term = total = 1.0 / a
    n = a
    for _ in range(_MAX_TERMS):
        n += 1
        term *= x / n
        total += term
        if abs(term) < abs(total) * _EPS:
            break
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _upper_fraction(a: float, x: float) -> float:
    """Q(a, x) by Lentz's continued fraction, which converges fast for x >= a + 1."""
    b = x + 1 - a
    c = 1 / _TINY
    d = 1 / b
    h = d
    for i in range(1, _MAX_TERMS):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = _TINY if abs(d) < _TINY else d
        c = b + an / c
        c = _TINY if abs(c) < _TINY else c
        d = 1 / d
        step = d * c
        h *= step
        if abs(step - 1) < _EPS:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


def chi2_sf(statistic: float, dof: int) -> float:
    """P(X >= statistic) for X chi-square distributed with ``dof`` degrees of freedom."""
    if dof < 1:
        raise ValueError(f"a chi-square test has 1 or more degrees of freedom, not {dof}")
    return regularized_gamma_q(dof / 2, statistic / 2)


def kolmogorov_sf(lam: float) -> float:
    """P(K > lam) for Kolmogorov's limiting distribution of sqrt(n) * D."""
    if lam <= 0:
        return 1.0
    if lam < 0.3:  # the alternating series converges slowly here, and the answer is 1
        return 1.0
    total = 0.0
    for j in range(1, 101):
        term = math.exp(-2 * j * j * lam * lam)
        total += term if j % 2 else -term
        if term < 1e-16:
            break
    return min(1.0, max(0.0, 2 * total))


def ks_two_sample_p(statistic: float, n: int, m: int) -> float:
    """The asymptotic p-value of a two-sample Kolmogorov–Smirnov statistic D.

    Stephens' correction ``(en + 0.12 + 0.11 / en)`` keeps it close to the exact value for
    samples of a few dozen rows, which is what small monitoring windows have.
    """
    if n < 1 or m < 1:
        return 1.0
    en = math.sqrt(n * m / (n + m))
    return kolmogorov_sf((en + 0.12 + 0.11 / en) * statistic)


def gamma_quantile(q: float, shape: float, scale: float) -> float:
    """The ``q`` quantile of a gamma distribution, by bisection on its survival function.

    Drift thresholds come from a gamma fitted to a statistic's null distribution; bisection
    is slow by numerical standards (~60 steps) and instant by a monitor's.
    """
    if not 0 < q < 1:
        raise ValueError(f"a quantile is strictly within 0..1, not {q}")
    if shape <= 0 or scale <= 0:
        raise ValueError("a gamma distribution's shape and scale are positive")
    target = 1 - q  # the survival probability left above the quantile
    low, high = 0.0, max(1.0, shape * 2)
    while regularized_gamma_q(shape, high) > target:
        high *= 2
    for _ in range(200):
        middle = (low + high) / 2
        if regularized_gamma_q(shape, middle) > target:
            low = middle
        else:
            high = middle
        if high - low <= 1e-12 * max(1.0, high):
            break
    return (low + high) / 2 * scale
