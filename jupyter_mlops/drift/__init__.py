"""Drift of a deployment's inputs: binned references, live counts, statistics and verdicts.

``reference`` summarizes a field's training values into bins and counts live values into
the same bins; ``statistics`` compares two count vectors; ``detect`` picks the statistic and
threshold per field and judges windows. Nothing here imports a numerical library.
"""

from __future__ import annotations

from .detect import MODES, Detector, FieldDrift, default_statistic
from .reference import (
    CategoricalReference,
    DriftError,
    NumericReference,
    Reference,
    WindowCounts,
    from_dict,
    summarize,
)
from .statistics import STATISTICS, Score, score

__all__ = [
    "MODES",
    "STATISTICS",
    "CategoricalReference",
    "Detector",
    "DriftError",
    "FieldDrift",
    "NumericReference",
    "Reference",
    "Score",
    "WindowCounts",
    "default_statistic",
    "from_dict",
    "score",
    "summarize",
]
