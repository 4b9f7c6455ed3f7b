"""Drift statistics and verdicts (jupyter_mlops.drift), checked against scipy, which we did not
write, and against simulations of stable and shifted traffic."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import pytest

from jupyter_mlops.drift import (
    CategoricalReference,
    Detector,
    DriftError,
    NumericReference,
    WindowCounts,
    from_dict,
    score,
    summarize,
)
from jupyter_mlops.drift.detect import calibration_size
from jupyter_mlops.drift.special import chi2_sf, kolmogorov_sf, ks_two_sample_p
from jupyter_mlops.drift.statistics import bin_middles

scipy_stats = pytest.importorskip("scipy.stats")
scipy_distance = pytest.importorskip("scipy.spatial.distance")
scipy_special = pytest.importorskip("scipy.special")


def gaussian(rng: random.Random, rows: int, shift: float = 0.0) -> list[float]:
    return [rng.gauss(shift, 1.0) for _ in range(rows)]


def window(
    reference: NumericReference | CategoricalReference, values: Sequence[object]
) -> list[int]:
    counts = WindowCounts(reference)
    for value in values:
        counts.add(value)
    return counts.counts


# -- the distribution functions, against scipy ------------------------------------------------


@pytest.mark.parametrize("dof", [1, 2, 3, 7, 19, 49])
@pytest.mark.parametrize("statistic", [0.01, 0.5, 1.0, 3.8, 10.0, 30.0, 90.0])
def test_chi_square_survival_matches_scipy(statistic: float, dof: int) -> None:
    assert chi2_sf(statistic, dof) == pytest.approx(
        scipy_stats.chi2.sf(statistic, dof), rel=1e-7, abs=1e-12
    )


@pytest.mark.parametrize("lam", [0.3, 0.5, 0.8, 1.0, 1.36, 1.63, 2.0, 3.0])
def test_kolmogorov_survival_matches_scipy(lam: float) -> None:
    assert kolmogorov_sf(lam) == pytest.approx(scipy_special.kolmogorov(lam), abs=1e-9)


def test_ks_p_value_is_close_to_scipys_two_sample_test() -> None:
    rng = random.Random(5)
    for shift in (0.0, 0.2, 0.4):
        a, b = gaussian(rng, 400), gaussian(rng, 300, shift)
        result = scipy_stats.ks_2samp(a, b, method="asymp")
        ours = ks_two_sample_p(result.statistic, 400, 300)
        # Stephens' small-sample correction moves it a little from scipy's plain asymptotic
        assert ours == pytest.approx(result.pvalue, abs=0.03)


# -- statistics on counts, against scipy on the same binned data ------------------------------


def test_distances_on_counts_match_scipy() -> None:
    rng = random.Random(1)
    reference = summarize("x", gaussian(rng, 2000))
    assert isinstance(reference, NumericReference)
    current = window(reference, list(gaussian(rng, 500, 0.3)))
    p = [c / reference.rows for c in reference.counts]
    q = [c / sum(current) for c in current]

    assert score("jensenshannon", reference, current).value == pytest.approx(
        scipy_distance.jensenshannon(p, q), rel=1e-9
    )
    middles = bin_middles(reference)
    expected = scipy_stats.wasserstein_distance(middles, middles, p, q) / reference.std
    assert score("wasserstein", reference, current).value == pytest.approx(expected, rel=1e-9)
    identical = score("chisquare", summarize("c", [str(i) for i in range(3)] * 3), [3, 3, 3, 0])
    assert identical.value == 0.0
    assert identical.p_value == 1.0
    assert score("tvd", reference, current).value == pytest.approx(
        sum(abs(a - b) for a, b in zip(p, q, strict=True)) / 2
    )
    halves = [(math.sqrt(a) - math.sqrt(b)) ** 2 for a, b in zip(p, q, strict=True)]
    hellinger = math.sqrt(sum(halves) / 2)
    assert score("hellinger", reference, current).value == pytest.approx(hellinger, rel=1e-9)


def test_chi_square_of_categories_matches_scipy() -> None:
    values = ["a"] * 50 + ["b"] * 30 + ["c"] * 20
    reference = summarize("plan", values)
    assert isinstance(reference, CategoricalReference)
    current = window(reference, ["a"] * 30 + ["b"] * 30 + ["c"] * 40)
    ours = score("chisquare", reference, current)
    expected = scipy_stats.chisquare(current[:3], [50.0, 30.0, 20.0])
    assert ours.value == pytest.approx(expected.statistic)
    assert ours.p_value == pytest.approx(expected.pvalue, rel=1e-6)


def test_a_statistic_that_does_not_fit_the_field_is_refused_by_name() -> None:
    reference = summarize("plan", ["a", "b"])
    with pytest.raises(DriftError, match="field 'plan' is categorical: ks applies to numeric"):
        score("ks", reference, [1, 1, 0])
    with pytest.raises(DriftError, match="unknown drift statistic 'kl'"):
        score("kl", reference, [1, 1, 0])


# -- references ---------------------------------------------------------------------------


def test_numeric_reference_has_quantile_bins_and_no_raw_rows() -> None:
    rng = random.Random(2)
    reference = summarize("tenure", [*gaussian(rng, 10000), None, math.nan])
    assert isinstance(reference, NumericReference)
    assert reference.bins == 20
    assert reference.rows == 10_000
    assert reference.missing == 2
    assert all(400 <= c <= 600 for c in reference.counts)  # about 500 in each
    assert reference.mean == pytest.approx(0, abs=0.05)
    assert reference.std == pytest.approx(1, abs=0.05)
    stored = reference.to_dict()
    assert len(str(stored)) < 2000  # bins, not the 10,000 rows
    assert from_dict(stored) == reference


def test_few_distinct_values_give_fewer_bins_none_empty() -> None:
    reference = summarize("children", [0] * 50 + [1] * 30 + [2] * 20)
    assert reference.bins == 3
    assert list(reference.counts) == [50, 30, 20]


def test_categories_beyond_the_most_frequent_share_one_bin() -> None:
    values = [f"c{i}" for i in range(60) for _ in range(i + 1)]
    reference = summarize("city", values, max_categories=10)
    assert isinstance(reference, CategoricalReference)
    assert len(reference.categories) == 10
    assert "c59" in reference.categories
    assert reference.bin_of("c0") == 10  # a rare one: "other"
    assert reference.bin_of("never seen") == 10


def test_live_counting_keeps_missing_and_wrong_types_apart() -> None:
    reference = summarize("x", [1.0, 2.0, 3.0, 4.0])
    counts = WindowCounts(reference)
    for value in [1.5, None, "abc", math.nan, 10.0]:
        counts.add(value)
    assert counts.total == 2
    assert counts.missing == 2
    assert counts.invalid == 1


def test_a_damaged_reference_is_named() -> None:
    with pytest.raises(DriftError, match="field 'x': the stored reference is damaged"):
        from_dict({"field": "x", "kind": "numeric", "edges": [1]})
    with pytest.raises(DriftError, match="field 'x': the reference has no values"):
        summarize("x", [None, None])


# -- verdicts: stable traffic, shifted traffic -----------------------------------------------


def simulate(
    detector: Detector,
    rng: random.Random,
    windows: int,
    size: int,
    shift: dict[str, float],
) -> list[bool]:
    alarms = []
    for _ in range(windows):
        current = {
            name: window(ref, list(gaussian(rng, size, shift.get(name, 0.0))))
            for name, ref in detector.references.items()
        }
        alarms.append(any(field.drifted for field in detector.check(current)))
    return alarms


@pytest.fixture(scope="module")
def references() -> dict[str, NumericReference | CategoricalReference]:
    rng = random.Random(3)
    return {f"x{i}": summarize(f"x{i}", gaussian(rng, 3000)) for i in range(10)}


def test_stable_traffic_raises_at_most_one_false_alarm_in_100_windows(
    references: dict[str, NumericReference | CategoricalReference],
) -> None:
    calibrated = Detector(references)
    alarms = simulate(calibrated, random.Random(5), 400, 200, {})
    assert sum(alarms) <= 4  # at most 1 in 100
    # Evidently's fixed rule on the same windows: a p < 0.05 per field alarms far more often.
    fixed = Detector(references, mode="evidently")
    assert sum(simulate(fixed, random.Random(4), 200, 200, {})) > 20


def test_a_half_standard_deviation_shift_is_caught_within_two_windows(
    references: dict[str, NumericReference | CategoricalReference],
) -> None:
    detector = Detector(references)
    rng = random.Random(6)
    for _ in range(10):  # ten separate episodes of shifted traffic
        first, second = simulate(detector, rng, 2, 200, {"x3": 0.5})
        assert first or second
    drifted = [
        f.field
        for f in detector.check(
            {
                n: window(r, gaussian(rng, 200, 0.5 if n == "x3" else 0))
                for n, r in references.items()
            }
        )
        if f.drifted
    ]
    assert "x3" in drifted


def test_mlrun_mode_reports_possible_and_detected_bands() -> None:
    reference = summarize("plan", ["a"] * 60 + ["b"] * 40)
    detector = Detector({"plan": reference}, mode="mlrun")
    (same,) = detector.check({"plan": [60, 40, 0]})
    assert not same.possible
    assert not same.drifted
    assert same.statistic == "tvd_hellinger"
    (moved,) = detector.check({"plan": [0, 0, 100]})  # all "other"
    assert moved.possible
    assert moved.drifted
    assert moved.value >= 0.7


def test_windows_share_calibrations_by_size_rounded_down() -> None:
    assert calibration_size(57) == 57
    assert [calibration_size(n) for n in (200, 209, 210, 1999, 12345)] == [
        200,
        200,
        210,
        1900,
        12000,
    ]


def test_a_window_with_the_wrong_bins_or_an_unknown_field_is_refused() -> None:
    detector = Detector({"x": summarize("x", [1.0, 2.0, 3.0])})
    with pytest.raises(DriftError, match="field 'y' has no reference"):
        detector.check({"y": [1]})
    with pytest.raises(DriftError, match="field 'x': 5 bins counted"):
        detector.check({"x": [1, 1, 1, 1, 1]})
    with pytest.raises(DriftError, match="unknown drift mode 'strict'"):
        Detector({}, mode="strict")


def test_a_batch_is_binned_exactly_as_one_value_at_a_time() -> None:
    """``add_many`` (numpy, in chunks: the serving process's path) agrees with ``add`` on
    numbers, ints, edges, NaN, None, infinities, and on a chunk holding a string or a flag."""
    from jupyter_mlops.drift.reference import WindowCounts, summarize

    rng = random.Random(3)
    reference = summarize("x", [rng.gauss(0, 1) for _ in range(1000)])
    edges = list(reference.edges)  # type: ignore[union-attr]
    plain: list[object] = [rng.gauss(0, 2) for _ in range(3000)] + [3, -2, 0] + edges
    plain += [None, float("nan"), float("inf"), float("-inf")]
    rng.shuffle(plain)
    for chunk in (plain, [*plain[:50], "1.5", True, 2]):
        one, many = WindowCounts(reference), WindowCounts(reference)
        for value in chunk:
            one.add(value)
        many.add_many(list(chunk))
        assert (many.counts, many.missing, many.invalid) == (one.counts, one.missing, one.invalid)
