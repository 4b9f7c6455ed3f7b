"""The prediction's distribution: what a deployment answers, binned like its inputs.

A served result is read as prediction fields: a number, string or flag is the field
``prediction``; a mapping (a typed def's dict, a function's outputs) gives one field
``prediction.KEY`` per scalar value (nested values are left out). They are counted into
reference bins exactly as request fields are, so ``drift`` judges them with the same
statistics and thresholds.

The reference is the training run's, when it logged one (``log_reference(df,
predictions=…)``); otherwise the first ``FIRST_SERVED`` predictions a deployment serves
become it. That reference is shared by the deployment's workers through one file in its
monitor folder, written once (the first worker to collect enough wins; the others adopt it),
and named after the version and run it belongs to, so a new version starts a new one.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .reference import DriftError, Reference, from_dict, summarize

logger = logging.getLogger(__name__)

PREDICTION = "prediction"
FIRST_SERVED = 200  # predictions that make a reference when training logged none
FIRST_SERVED_SOURCE = f"the first {FIRST_SERVED} predictions served"
_SCALARS = (int, float, str, bool)


def is_prediction(field: str) -> bool:
    return field == PREDICTION or field.startswith(f"{PREDICTION}.")


def prediction_values(result: object) -> dict[str, object]:
    """The prediction fields of one served result (empty when it has none to count)."""
    if isinstance(result, _SCALARS) or result is None:
        return {PREDICTION: result}
    if isinstance(result, Mapping):
        return {
            f"{PREDICTION}.{key}": value
            for key, value in result.items()
            if isinstance(value, _SCALARS) or value is None
        }
    return {}


def logged_predictions(predictions: object) -> dict[str, list[object]]:
    """``log_reference(…, predictions=)``: a sequence (one prediction each), or a mapping /
    DataFrame of columns (a dict prediction's keys), as prediction fields."""
    if hasattr(predictions, "columns") and hasattr(predictions, "__getitem__"):
        frame: Any = predictions
        return {f"{PREDICTION}.{name}": list(frame[name]) for name in frame.columns}
    if isinstance(predictions, Mapping):
        return {f"{PREDICTION}.{key}": list(values) for key, values in predictions.items()}
    return {PREDICTION: list(predictions)}  # type: ignore[call-overload]


def reference_file(directory: Path, version: str, run: str | None) -> Path:
    """Where the first-served reference of a version (and bound run) is kept."""
    return directory / f"prediction-reference-{version[:12]}-{(run or 'newest')[:12]}.json"


class FirstServed:
    """Collects the first predictions of a worker until there are enough for a reference."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.values: dict[str, list[object]] = {}
        self.seen = 0

    def add(self, results: list[object]) -> dict[str, Reference] | None:
        """Count ``results`` in; the shared references once they exist (None: not yet)."""
        for result in results:
            for name, value in prediction_values(result).items():
                self.values.setdefault(name, []).append(value)
            self.seen += 1
        if self.seen < FIRST_SERVED:
            return self.adopt()
        built: dict[str, Reference] = {}
        for name, values in self.values.items():
            try:
                built[name] = summarize(name, values)
            except DriftError:  # only missing values (a None answer): nothing to bin
                continue
        if not built:
            self._first_seen_nothing()
            return None
        self._publish(built)
        return self.adopt() or built

    def _first_seen_nothing(self) -> None:
        """Answers with no prediction to bin: keep collecting, but not without bound."""
        self.values = {}
        self.seen = 0

    def adopt(self) -> dict[str, Reference] | None:
        """The reference another worker wrote first, if there is one."""
        if self.path is None or not self.path.is_file():
            return None
        try:
            stored = json.loads(self.path.read_text(encoding="utf-8"))
            return {name: from_dict(data) for name, data in stored.items()}
        except (OSError, ValueError, DriftError) as err:
            logger.warning("the shared prediction reference %s is unreadable: %s", self.path, err)
            return None

    def _publish(self, built: Mapping[str, Reference]) -> None:
        if self.path is None:
            return
        text = json.dumps({name: reference.to_dict() for name, reference in built.items()})
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            temporary.write_text(text, encoding="utf-8")
            # A hard link is created whole or not at all, and never over another worker's:
            # the first one is the reference every worker counts against.
            os.link(temporary, self.path)
        except FileExistsError:
            pass
        except OSError as err:
            logger.warning("could not share the prediction reference: %s", err)
        finally:
            temporary.unlink(missing_ok=True)


def read_first_served(path: Path) -> dict[str, Any] | None:
    """The keeper's view: the shared first-served references as stored dicts (None: none)."""
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return stored if isinstance(stored, dict) else None
