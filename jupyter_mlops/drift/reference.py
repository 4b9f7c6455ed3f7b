"""A field's reference distribution as binned counts, and live values counted into its bins.

The reference is recorded once, when the model is trained, and never holds raw rows: a
numeric field keeps quantile cut points (so each bin holds about the same share of the
training data), the count in each bin, and min/max/mean/standard deviation; a categorical
field keeps the counts of its most frequent categories and one "other" bin for the rest.
The serving process counts every request into the same bins, so a live window is the same
shape as the reference and every statistic compares two count vectors.

Bins are right-closed: bin ``i`` of a numeric field counts values in ``(edges[i-1],
edges[i]]``, bin 0 everything up to ``edges[0]`` and the last bin everything above the last
edge, so any number lands somewhere. Missing values (None, NaN) are counted apart, never
binned.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import MLOpsError

NUMERIC_BINS = 20
MAX_CATEGORIES = 50
OTHER = "<other>"


class DriftError(MLOpsError):
    """A reference or a window that cannot be used, naming the field."""


@dataclass(frozen=True)
class NumericReference:
    """Quantile bins of a number field in the training data."""

    field: str
    edges: tuple[float, ...]
    counts: tuple[int, ...]
    rows: int
    minimum: float
    maximum: float
    mean: float
    std: float
    missing: int = 0
    kind: str = "numeric"

    def bin_of(self, value: float) -> int:
        return bisect_left(self.edges, value)

    @property
    def bins(self) -> int:
        return len(self.counts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "kind": self.kind,
            "edges": list(self.edges),
            "counts": list(self.counts),
            "rows": self.rows,
            "min": self.minimum,
            "max": self.maximum,
            "mean": self.mean,
            "std": self.std,
            "missing": self.missing,
        }


@dataclass(frozen=True)
class CategoricalReference:
    """Counts of a categorical field's most frequent values; the last bin is the rest."""

    field: str
    categories: tuple[str, ...]
    counts: tuple[int, ...]  # one per category, then the "other" bin
    rows: int
    missing: int = 0
    kind: str = "categorical"

    def bin_of(self, value: object) -> int:
        try:
            return self._index[str(value)]
        except KeyError:
            return len(self.categories)

    @property
    def _index(self) -> dict[str, int]:
        cached: dict[str, int] | None = self.__dict__.get("_index_cache")
        if cached is None:
            cached = {name: i for i, name in enumerate(self.categories)}
            object.__setattr__(self, "_index_cache", cached)
        return cached

    @property
    def bins(self) -> int:
        return len(self.counts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "kind": self.kind,
            "categories": list(self.categories),
            "counts": list(self.counts),
            "rows": self.rows,
            "missing": self.missing,
        }


Reference = NumericReference | CategoricalReference


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def summarize(
    field: str,
    values: Iterable[object],
    *,
    bins: int = NUMERIC_BINS,
    max_categories: int = MAX_CATEGORIES,
) -> Reference:
    """The reference of one field from its training values (numbers, or anything else)."""
    present: list[object] = []
    missing = 0
    for value in values:
        if _is_missing(value):
            missing += 1
        else:
            present.append(value.item() if hasattr(value, "item") else value)  # numpy scalars
    if not present:
        raise DriftError(f"field {field!r}: the reference has no values (only missing ones)")
    if all(_is_number(value) for value in present):
        return _numeric(field, [float(v) for v in present], bins, missing)  # type: ignore[arg-type]
    return _categorical(field, present, max_categories, missing)


def _numeric(field: str, values: list[float], bins: int, missing: int) -> NumericReference:
    if any(math.isinf(v) for v in values):
        raise DriftError(f"field {field!r}: the reference holds an infinite value")
    values.sort()
    n = len(values)
    # Cut points at the 1/bins, 2/bins, ... quantiles; repeated values give one cut, so a
    # field with few distinct values gets fewer (and never empty-by-construction) bins.
    edges = sorted({values[min(n - 1, math.ceil(n * i / bins) - 1)] for i in range(1, bins)})
    if edges and edges[-1] >= values[-1]:
        edges.pop()  # the last bin would hold nothing: the maximum is in the one before
    counts = [0] * (len(edges) + 1)
    for value in values:
        counts[bisect_left(edges, value)] += 1
    return NumericReference(
        field=field,
        edges=tuple(edges),
        counts=tuple(counts),
        rows=n,
        minimum=values[0],
        maximum=values[-1],
        mean=math.fsum(values) / n,
        std=_std(values),
        missing=missing,
    )


def _std(values: Sequence[float]) -> float:
    n = len(values)
    if n < 2:
        return 0.0
    mean = math.fsum(values) / n
    return math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))


def _categorical(
    field: str, values: list[object], max_categories: int, missing: int
) -> CategoricalReference:
    frequencies = Counter(str(value) for value in values)
    top = [name for name, _ in frequencies.most_common(max_categories)]
    top.sort()
    counts = [frequencies[name] for name in top]
    counts.append(len(values) - sum(counts))
    return CategoricalReference(
        field=field,
        categories=tuple(top),
        counts=tuple(counts),
        rows=len(values),
        missing=missing,
    )


def from_dict(data: Mapping[str, Any]) -> Reference:
    """A reference as ``to_dict`` wrote it (in the store, or a window file)."""
    field = str(data.get("field", "?"))
    try:
        if data["kind"] == "numeric":
            return NumericReference(
                field=field,
                edges=tuple(float(v) for v in data["edges"]),
                counts=tuple(int(v) for v in data["counts"]),
                rows=int(data["rows"]),
                minimum=float(data["min"]),
                maximum=float(data["max"]),
                mean=float(data["mean"]),
                std=float(data["std"]),
                missing=int(data.get("missing", 0)),
            )
        if data["kind"] == "categorical":
            return CategoricalReference(
                field=field,
                categories=tuple(str(v) for v in data["categories"]),
                counts=tuple(int(v) for v in data["counts"]),
                rows=int(data["rows"]),
                missing=int(data.get("missing", 0)),
            )
    except (KeyError, TypeError, ValueError) as error:
        raise DriftError(f"field {field!r}: the stored reference is damaged ({error})") from None
    raise DriftError(f"field {field!r}: unknown reference kind {data.get('kind')!r}")


_PLAIN = {float, int, type(None)}  # what numpy bins exactly as ``add`` does (not bool, str)


def preload_numpy() -> None:
    """Import numpy now, if it is there (the first chunk then does not pay for it)."""
    _numpy()


def _numpy() -> Any:
    """numpy if installed (it is not a dependency: without it values are binned one by one)."""
    try:
        import numpy
    except ImportError:
        return None
    return numpy


class WindowCounts:
    """Live values of one field counted into its reference's bins (one window's worth).

    ``add`` is what the serving process calls for every request: a bisect or a dict lookup
    and an increment, so counting costs microseconds, not a copy of the request.
    """

    __slots__ = ("_edges", "counts", "invalid", "missing", "reference")

    def __init__(self, reference: Reference) -> None:
        self.reference = reference
        self.counts = [0] * reference.bins
        self.missing = 0
        self.invalid = 0  # a string where a number was expected: counted, never binned
        # a numeric field's edges, for add's fast path (None: categorical)
        self._edges = reference.edges if isinstance(reference, NumericReference) else None

    def add(self, value: object) -> None:
        kind = type(value)
        # the hot path: a plain float (not NaN) or int into a numeric field is one bisect
        # (bool is a subclass of int, not int itself, so it takes the checks below)
        if self._edges is not None and ((kind is float and value == value) or kind is int):
            self.counts[bisect_left(self._edges, value)] += 1  # type: ignore[call-overload]
            return
        if _is_missing(value):
            self.missing += 1
        elif isinstance(self.reference, NumericReference):
            if _is_number(value):
                self.counts[self.reference.bin_of(value)] += 1  # type: ignore[arg-type]
            else:
                self.invalid += 1
        else:
            self.counts[self.reference.bin_of(value)] += 1

    def add_many(self, values: list[object]) -> None:
        """``add`` for a batch. Numbers (and missing values) of a numeric field are binned at
        once with numpy when it is installed: the serving process buffers a window's values
        and bins them in chunks, so a request costs an append per field, not a bisect."""
        numpy = _numpy()
        if numpy is not None and self._edges is not None and set(map(type, values)) <= _PLAIN:
            array = numpy.array(values, dtype=float)  # None -> NaN
            absent = numpy.isnan(array)
            self.missing += int(absent.sum())
            where = numpy.searchsorted(self._edges, array[~absent], side="left")
            for i, n in enumerate(numpy.bincount(where, minlength=len(self.counts)).tolist()):
                self.counts[i] += n
            return
        for value in values:
            self.add(value)

    @property
    def total(self) -> int:
        return sum(self.counts)

    def merge(self, other: Sequence[int]) -> None:
        """Add another worker's counts of the same bins."""
        if len(other) != len(self.counts):
            raise DriftError(
                f"field {self.reference.field!r}: {len(other)} bins counted, "
                f"the reference has {len(self.counts)}"
            )
        for i, n in enumerate(other):
            self.counts[i] += int(n)
