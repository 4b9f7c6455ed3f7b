"""Project folders for the UI benchmark: a store of N runs of churn.ipynb, and a big folder.

``seed_runs`` opens a new store the way the server does (``Store.for_root``: migrations
run), registers the notebook's real function versions through ``Store.register_version``,
then bulk-inserts the finished runs and their metrics through the store's own tables in one
transaction (10,000 runs take about a second; one ``create_run`` each would take minutes).
The runs look like the sidebar's own: the notebook's functions and parameters, mixed final
statuses, metrics on ``evaluate``. None is queued or running, so the list does not poll.

``make_folder`` writes the peer's input: a folder of N small files for JupyterLab's file
browser.
"""

from __future__ import annotations

import random
import sys
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from jupyter_mlops.service import MLOps  # noqa: E402
from jupyter_mlops.store import Store  # noqa: E402
from jupyter_mlops.store.models import MetricRow, RunRow  # noqa: E402

STATUSES = ("succeeded",) * 8 + ("failed", "cancelled")
BATCH = 5_000


@dataclass(frozen=True)
class Seeded:
    runs: int
    functions: tuple[str, ...]
    database: Path


def seed_runs(root: Path, notebook: str, count: int, seed: int = 0) -> Seeded:
    """``count`` finished runs of ``<root>/<notebook>`` in a new store at ``<root>/.mlops``."""
    plan = MLOps(root_dir=str(root)).inspect(root / notebook)
    if not plan.functions:
        raise ValueError(f"{notebook} has no tagged functions to seed runs of")
    defaults = {parameter.name: parameter.default for parameter in plan.parameters}
    with Store.for_root(root) as store:
        for function in plan.functions:
            code = "\n\n".join(cell.source for cell in function.cells)
            store.register_version(function.name, function.version, notebook=notebook, code=code)
        url = store.url
    rng = random.Random(seed)
    start = datetime.now(timezone.utc) - timedelta(seconds=count * 30)
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            for offset in range(0, count, BATCH):
                runs: list[dict[str, Any]] = []
                metrics: list[dict[str, Any]] = []
                for index in range(offset, min(offset + BATCH, count)):
                    function = plan.functions[index % len(plan.functions)]
                    run_id = uuid.UUID(int=rng.getrandbits(128), version=4).hex
                    status = rng.choice(STATUSES)
                    created = start + timedelta(seconds=index * 30)
                    parameters = {name: defaults[name] for name in function.parameters}
                    if "C" in parameters:
                        parameters["C"] = round(rng.choice((0.1, 0.5, 1.0, 2.0, 5.0)), 2)
                    runs.append(
                        {
                            "id": run_id,
                            "notebook": notebook,
                            "function": function.name,
                            "version": function.version,
                            "parameters": parameters,
                            "status": status,
                            "created_at": created,
                            "started_at": created + timedelta(seconds=1),
                            "ended_at": created + timedelta(seconds=1 + rng.randint(2, 20)),
                            "executor": "local",
                            "host": "bench",
                            "pid": 1,
                            "inputs": {},
                            "error": (
                                {"cell": 10, "ename": "ValueError", "evalue": "bench"}
                                if status == "failed"
                                else None
                            ),
                        }
                    )
                    if status == "succeeded":
                        for metric in function.metrics:
                            metrics.append(
                                {"run_id": run_id, "name": metric, "value": rng.random()}
                            )
                connection.execute(insert(RunRow), runs)
                if metrics:
                    connection.execute(insert(MetricRow), metrics)
    finally:
        engine.dispose()
    # Reopen once, as the server will: the open refreshes the planner's statistics.
    Store.for_root(root).close()
    names = tuple(function.name for function in plan.functions)
    return Seeded(runs=count, functions=names, database=root / ".mlops" / "mlops.db")


def make_folder(folder: Path, count: int) -> None:
    """``count`` small text files, named so they sort in creation order."""
    folder.mkdir(parents=True)
    width = len(str(count - 1))
    for index in range(count):
        (folder / f"file_{index:0{width}d}.txt").write_text(f"{index}\n", encoding="utf-8")
