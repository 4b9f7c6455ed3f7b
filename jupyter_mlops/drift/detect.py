"""Which fields of a window drifted: the statistic for each field, its threshold, the verdict.

Three modes, one rule each:

- ``calibrated`` (the default) picks the statistic as Evidently does by default (reference
  of 1,000 rows or fewer: Kolmogorov–Smirnov for numbers, chi-square for categories; larger:
  normalized Wasserstein and Jensen–Shannon distance) but sets each threshold from the
  statistic's own null distribution at the live window's size: windows drawn from the
  reference itself (and, for a reference small enough to be noisy, a redrawn reference too,
  since the live data is compared with a sample, not with the truth) give the statistic's
  spread when nothing changed; a log-normal fitted to it gives the value a stable input
  exceeds in ``false_alarms`` of windows, shared between the fields. So a stable input raises about
  one false alarm in 100 windows however large the windows are (a fixed p < 0.05 per field
  raises one in most windows of a 20-field model, and a fixed KS test flags tiny shifts in
  large samples). Distances also keep Evidently's 0.1 as a floor, so a drift must matter as
  well as be real.
- ``evidently``: the same statistics with Evidently's fixed thresholds (p < 0.05; distance
  >= 0.1), for comparison.
- ``mlrun``: the mean of total variation and Hellinger distance, as MLRun computes drift;
  0.5 is "possible drift" and 0.7 is drift.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .reference import DriftError, NumericReference, Reference
from .statistics import score

MODES = ("calibrated", "evidently", "mlrun")
SMALL_REFERENCE = 1000  # Evidently: p-value tests up to this many reference rows
DISTANCE_THRESHOLD = 0.1  # Evidently's default for its distances
P_VALUE = 0.05
MLRUN_POSSIBLE, MLRUN_DETECTED = 0.5, 0.7
FALSE_ALARMS = 0.005  # calibrated: half the promised 1 in 100, a margin for the fitted tail
NULL_DRAWS = 400
NOISY_REFERENCE = 5000  # below this many rows, the calibration redraws the reference too


@dataclass(frozen=True)
class FieldDrift:
    """One field in one window: the statistic, its value and threshold, and the verdict."""

    field: str
    kind: str
    statistic: str
    value: float
    threshold: float
    drifted: bool
    rows: int
    p_value: float | None = None
    possible: bool = False  # mlrun's "possible drift" band

    def to_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "kind": self.kind,
            "statistic": self.statistic,
            "value": _finite(self.value),
            "threshold": _finite(self.threshold),
            "p_value": self.p_value,
            "drifted": self.drifted,
            "possible": self.possible,
            "rows": self.rows,
        }


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None  # JSON has no infinity


def default_statistic(reference: Reference) -> str:
    """Evidently's default choice for a field, by its kind and the reference's size."""
    small = reference.rows <= SMALL_REFERENCE
    if isinstance(reference, NumericReference):
        return "ks" if small else "wasserstein"
    return "chisquare" if small else "jensenshannon"


class Detector:
    """Checks windows against one deployment's references; calibrations are kept per size."""

    def __init__(
        self,
        references: Mapping[str, Reference],
        *,
        mode: str = "calibrated",
        false_alarms: float = FALSE_ALARMS,
        seed: int = 0,
    ) -> None:
        if mode not in MODES:
            raise DriftError(f"unknown drift mode {mode!r}", hint=f"one of {', '.join(MODES)}")
        if not 0 < false_alarms < 1:
            raise DriftError(f"false_alarms is a share within 0..1, not {false_alarms}")
        self.references = dict(references)
        self.mode = mode
        self.false_alarms = false_alarms
        self._seed = seed
        self._thresholds: dict[tuple[str, int], float] = {}

    def check(self, window: Mapping[str, Sequence[int]]) -> list[FieldDrift]:
        """Every field of ``window`` (name -> counts in the reference's bins) judged."""
        results = []
        for name, counts in window.items():
            reference = self.references.get(name)
            if reference is None:
                raise DriftError(f"field {name!r} has no reference")
            if len(counts) != reference.bins:
                raise DriftError(
                    f"field {name!r}: {len(counts)} bins counted, the reference has "
                    f"{reference.bins}"
                )
            results.append(self._judge(reference, counts))
        return results

    def _judge(self, reference: Reference, counts: Sequence[int]) -> FieldDrift:
        rows = sum(counts)
        if self.mode == "mlrun":
            tvd = score("tvd", reference, counts).value
            hellinger = score("hellinger", reference, counts).value
            value = (tvd + hellinger) / 2
            return FieldDrift(
                field=reference.field,
                kind=reference.kind,
                statistic="tvd_hellinger",
                value=value,
                threshold=MLRUN_DETECTED,
                drifted=rows > 0 and value >= MLRUN_DETECTED,
                possible=rows > 0 and value >= MLRUN_POSSIBLE,
                rows=rows,
            )
        name = default_statistic(reference)
        result = score(name, reference, counts)
        if self.mode == "evidently":
            if result.p_value is not None:
                threshold, drifted = P_VALUE, result.p_value < P_VALUE
            else:
                threshold, drifted = DISTANCE_THRESHOLD, result.value >= DISTANCE_THRESHOLD
        else:
            threshold = self.threshold(reference, name, rows)
            drifted = result.value > threshold
        return FieldDrift(
            field=reference.field,
            kind=reference.kind,
            statistic=name,
            value=result.value,
            threshold=threshold,
            drifted=rows > 0 and drifted,
            p_value=result.p_value,
            rows=rows,
        )

    def threshold(self, reference: Reference, statistic: str, rows: int) -> float:
        """The calibrated threshold of ``statistic`` on windows of ``rows`` requests."""
        if rows <= 0:
            return math.inf
        size = calibration_size(rows)
        key = (reference.field, size)
        if key not in self._thresholds:
            per_field = self.false_alarms / max(1, len(self.references))
            self._thresholds[key] = calibrate(
                reference, statistic, size, per_field, random.Random(self._seed)
            )
        return self._thresholds[key]


def calibration_size(rows: int) -> int:
    """``rows`` rounded down to two significant digits: windows of 200 to 209 requests share
    one calibration. Rounding down errs safe: a smaller window's statistic spreads wider,
    so its threshold is a little higher."""
    if rows < 100:
        return rows
    step = int(10 ** (len(str(rows)) - 2))
    return rows - rows % step


def calibrate(
    reference: Reference,
    statistic: str,
    rows: int,
    false_alarm: float,
    rng: random.Random,
    *,
    draws: int = NULL_DRAWS,
) -> float:
    """The value ``statistic`` exceeds with probability ``false_alarm`` when nothing changed.

    The null distribution is simulated (a window of ``rows`` drawn from the reference's
    shares; a small reference redrawn as well) and a log-normal with the same log-mean and
    log-variance extends it into the tail that a few hundred draws cannot reach. Against
    100,000-draw simulations the log-normal errs on the high side in the far tail, where a
    gamma fit erred low (more false alarms than promised), which is the side to err on. The
    answer is never below the largest simulated value, nor, for a distance, below 0.1.
    """
    shares = [c / reference.rows for c in reference.counts]
    redraw = reference.rows < NOISY_REFERENCE

    def draw(size: int) -> list[int]:
        return multinomial(rng, size, shares)

    values = []
    for _ in range(draws):
        base = reference
        if redraw:
            base = _with_counts(reference, draw(reference.rows))
        values.append(score(statistic, base, draw(rows)).value)
    values = [v for v in values if math.isfinite(v)]
    floor = 0.0 if statistic in ("ks", "chisquare") else DISTANCE_THRESHOLD
    positive = [math.log(v) for v in values if v > 0]
    if len(positive) < 2:
        return max([floor, *values])
    mu, sigma = statistics.fmean(positive), statistics.stdev(positive)
    fitted = math.exp(mu + statistics.NormalDist().inv_cdf(1 - false_alarm) * sigma)
    return max(floor, max(values), fitted)


EXACT_DRAWS = 2000  # windows up to this size are drawn request by request


def multinomial(rng: random.Random, size: int, shares: list[float]) -> list[int]:
    """Counts of ``size`` draws over bins with these shares.

    Small windows are drawn one request at a time. A large window (a busy endpoint's 100,000
    requests) would take seconds that way per draw, so each bin's count is drawn in turn from
    its binomial given what is left, in the normal approximation, which is exact enough at
    the counts where it is used (every bin expects dozens of requests or more).
    """
    if size <= EXACT_DRAWS:
        counts = [0] * len(shares)
        for i in rng.choices(range(len(shares)), weights=shares, k=size):
            counts[i] += 1
        return counts
    counts, left, rest = [], size, 1.0
    for share in shares[:-1]:
        p = min(1.0, share / rest) if rest > 0 else 0.0
        mean = left * p
        drawn = round(rng.gauss(mean, math.sqrt(max(mean * (1 - p), 0.0))))
        drawn = min(left, max(0, drawn))
        counts.append(drawn)
        left -= drawn
        rest -= share
    counts.append(left)
    return counts


def _with_counts(reference: Reference, counts: list[int]) -> Reference:
    from dataclasses import replace

    return replace(reference, counts=tuple(counts))
