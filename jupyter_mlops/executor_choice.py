"""``--executor`` / ``--scheduler`` as the CLI and ``%mlops`` apply them to the service.

``--scheduler ADDRESS`` names the dask executor's cluster for what follows (it implies
``--executor dask``); with another executor it is a mistake, said so.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from .errors import ParameterError

if TYPE_CHECKING:
    from .service import MLOps


def use_scheduler(service: MLOps, arguments: argparse.Namespace) -> None:
    """Apply ``--scheduler`` (if given) to the service's dask executor."""
    scheduler = getattr(arguments, "scheduler", None)
    if not scheduler:
        return
    if arguments.executor not in (None, "dask"):
        raise ParameterError(
            f"--scheduler is the Dask scheduler's address; it does not apply to "
            f"--executor {arguments.executor}",
            parameter="scheduler",
        )
    arguments.executor = "dask"
    service.use_dask_scheduler(scheduler)
