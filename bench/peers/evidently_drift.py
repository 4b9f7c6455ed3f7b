"""Evidently's default data-drift tests on the bench's windows; run by bench/drift.py.

Runs inside bench/.peers/evidently-venv (Evidently is never a dependency of the product).
Reads the JSON bench/drift.py wrote: ``{"reference": {field: [...]}, "windows": [{field:
[...]}, ...]}`` and prints one JSON line: for each window, how many columns Evidently's
DataDriftPreset (its default method per column and threshold) found drifted, and the time.
"""

from __future__ import annotations

import json
import sys
import time
import warnings

import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset


def drifted_columns(reference: pd.DataFrame, current: pd.DataFrame) -> int:
    snapshot = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
    for metric in snapshot.dict()["metrics"]:
        if metric["metric_name"].startswith("DriftedColumnsCount"):
            return int(metric["value"]["count"])
    raise RuntimeError("Evidently's report has no DriftedColumnsCount metric")


def main() -> None:
    warnings.simplefilter("ignore")
    with open(sys.argv[1]) as source:
        data = json.load(source)
    reference = pd.DataFrame(data["reference"])
    started = time.perf_counter()
    counts = [drifted_columns(reference, pd.DataFrame(window)) for window in data["windows"]]
    elapsed = time.perf_counter() - started
    print(json.dumps({"drifted": counts, "seconds": elapsed}))


if __name__ == "__main__":
    main()
