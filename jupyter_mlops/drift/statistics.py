"""Drift statistics between a reference and a live window, both as counts in the same bins.

Every statistic is registered by name in ``STATISTICS`` with the kinds of field it applies
to; each returns a score where larger means more different, and the p-value tests (KS,
chi-square) also their p-value. The definitions follow the usual ones so the numbers read
the same as elsewhere:

- ``psi``: population stability index, sum of (q - p) ln(q / p), empty bins smoothed;
- ``ks``: the largest gap between the two cumulative distributions at the bin edges;
- ``wasserstein``: earth mover's distance between the binned distributions (each bin's
  mass at its middle, the outer bins bounded by the reference's min and max), divided by
  the reference's standard deviation as Evidently's ``wasserstein`` normalizes it;
- ``chisquare``: Pearson's statistic of the window's counts against the reference's shares;
- ``jensenshannon``: the Jensen–Shannon distance (square root of the divergence, natural
  log), as ``scipy.spatial.distance.jensenshannon`` gives it and Evidently uses it;
- ``tvd``: total variation distance, half the L1 distance of the shares;
- ``hellinger``: sqrt(1 - sum sqrt(p q)).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .reference import NumericReference, Reference
from .special import chi2_sf, ks_two_sample_p

SMOOTHING = 1e-4  # share given to an empty bin in PSI, as most PSI implementations do


@dataclass(frozen=True)
class Score:
    """A statistic's value on one window, and its p-value when it is a test."""

    value: float
    p_value: float | None = None


@dataclass(frozen=True)
class Statistic:
    name: str
    kinds: frozenset[str]
    compute: Callable[[Reference, Sequence[int]], Score]
    is_test: bool = False


def shares(counts: Sequence[int]) -> list[float]:
    total = sum(counts)
    return [c / total for c in counts] if total else [0.0] * len(counts)


def _psi(reference: Reference, counts: Sequence[int]) -> Score:
    p = [max(s, SMOOTHING) for s in shares(reference.counts)]
    q = [max(s, SMOOTHING) for s in shares(counts)]
    return Score(math.fsum((b - a) * math.log(b / a) for a, b in zip(p, q, strict=True)))


def _cumulative_gap(reference: Reference, counts: Sequence[int]) -> list[float]:
    gaps, left, right = [], 0.0, 0.0
    for a, b in zip(shares(reference.counts), shares(counts), strict=True):
        left += a
        right += b
        gaps.append(abs(left - right))
    return gaps


def _ks(reference: Reference, counts: Sequence[int]) -> Score:
    statistic = max(_cumulative_gap(reference, counts), default=0.0)
    return Score(statistic, ks_two_sample_p(statistic, reference.rows, sum(counts)))


def bin_middles(reference: NumericReference) -> list[float]:
    """Where each bin's mass sits: the middle of its bounds (the outer ones end at min/max)."""
    bounds = [reference.minimum, *reference.edges, reference.maximum]
    return [(bounds[i] + bounds[i + 1]) / 2 for i in range(len(bounds) - 1)]


def _wasserstein(reference: Reference, counts: Sequence[int]) -> Score:
    assert isinstance(reference, NumericReference)
    middles = bin_middles(reference)
    # W1 between two distributions on the same points: the gap of their cumulative
    # distributions times the distance to the next point, summed.
    gaps = _cumulative_gap(reference, counts)
    distance = math.fsum(gaps[i] * (middles[i + 1] - middles[i]) for i in range(len(gaps) - 1))
    scale = reference.std if reference.std > 0 else 1.0
    return Score(distance / scale)


def _chisquare(reference: Reference, counts: Sequence[int]) -> Score:
    total = sum(counts)
    expected = [s * total for s in shares(reference.counts)]
    statistic = 0.0
    dof = -1
    for seen, wanted in zip(counts, expected, strict=True):
        if wanted > 0:
            statistic += (seen - wanted) ** 2 / wanted
            dof += 1
        elif seen > 0:
            statistic = math.inf  # a value the reference never had
    if dof < 1 or total == 0:
        return Score(0.0, 1.0)
    return Score(statistic, 0.0 if math.isinf(statistic) else chi2_sf(statistic, dof))


def _jensenshannon(reference: Reference, counts: Sequence[int]) -> Score:
    p, q = shares(reference.counts), shares(counts)
    m = [(a + b) / 2 for a, b in zip(p, q, strict=True)]

    def kl(x: list[float]) -> float:
        return math.fsum(a * math.log(a / c) for a, c in zip(x, m, strict=True) if a > 0)

    return Score(math.sqrt(max(0.0, (kl(p) + kl(q)) / 2)))


def _tvd(reference: Reference, counts: Sequence[int]) -> Score:
    p, q = shares(reference.counts), shares(counts)
    return Score(math.fsum(abs(a - b) for a, b in zip(p, q, strict=True)) / 2)


def _hellinger(reference: Reference, counts: Sequence[int]) -> Score:
    p, q = shares(reference.counts), shares(counts)
    overlap = math.fsum(math.sqrt(a * b) for a, b in zip(p, q, strict=True))
    return Score(math.sqrt(max(0.0, 1 - overlap)))


BOTH = frozenset({"numeric", "categorical"})
NUMERIC = frozenset({"numeric"})
CATEGORICAL = frozenset({"categorical"})

STATISTICS: dict[str, Statistic] = {
    s.name: s
    for s in (
        Statistic("psi", BOTH, _psi),
        Statistic("ks", NUMERIC, _ks, is_test=True),
        Statistic("wasserstein", NUMERIC, _wasserstein),
        Statistic("chisquare", CATEGORICAL, _chisquare, is_test=True),
        Statistic("jensenshannon", BOTH, _jensenshannon),
        Statistic("tvd", BOTH, _tvd),
        Statistic("hellinger", BOTH, _hellinger),
    )
}


def score(name: str, reference: Reference, counts: Sequence[int]) -> Score:
    """The statistic ``name`` of a window; a statistic that does not fit the field is refused."""
    from .reference import DriftError

    statistic = STATISTICS.get(name)
    if statistic is None:
        raise DriftError(
            f"unknown drift statistic {name!r}", hint=f"one of {', '.join(sorted(STATISTICS))}"
        )
    if reference.kind not in statistic.kinds:
        raise DriftError(
            f"field {reference.field!r} is {reference.kind}: {name} applies to "
            f"{' and '.join(sorted(statistic.kinds))} fields"
        )
    return statistic.compute(reference, counts)
