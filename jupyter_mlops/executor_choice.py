"""``--executor`` / ``--scheduler`` / ``--retries`` as the CLI and ``%mlops`` apply them.

``--scheduler ADDRESS`` names the dask executor's cluster for what follows and ``--retries N``
how often a run whose worker was lost runs again; both imply ``--executor dask``, and with
another executor they are a mistake, said so.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from .errors import ParameterError

if TYPE_CHECKING:
    from .service import MLOps


def use_scheduler(service: MLOps, arguments: argparse.Namespace) -> None:
    """Apply ``--scheduler`` and ``--retries`` (if given) to the service's dask executor."""
    scheduler = getattr(arguments, "scheduler", None)
    retries = getattr(arguments, "retries", None)
    for option, value in (("scheduler", scheduler), ("retries", retries)):
        if value is not None and arguments.executor not in (None, "dask"):
            raise ParameterError(
                f"--{option} is an option of the dask executor; it does not apply to "
                f"--executor {arguments.executor}",
                parameter=option,
            )
    if retries is not None and retries < 0:
        raise ParameterError(f"--retries must be 0 or more, not {retries}", parameter="retries")
    if scheduler:
        arguments.executor = "dask"
        service.use_dask_scheduler(scheduler)
    if retries is not None:
        from .execute.dask_executor import DaskExecutor

        arguments.executor = "dask"
        executor = service.get_executor("dask")
        assert isinstance(executor, DaskExecutor)
        executor.retries = retries
