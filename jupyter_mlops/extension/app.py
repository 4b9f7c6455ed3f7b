"""The server extension application: wires the MLOps service and the routes into Jupyter."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from jupyter_server.extension.application import ExtensionApp
from tornado.ioloop import PeriodicCallback
from traitlets import Float, Int

from ..errors import MLOpsError, StoreError, StoreUnavailableError
from ..project import load_project, mask_url, write_served_project
from ..service import MLOps
from .handlers import ROUTES
from .tasks import BackgroundWork


class MLOpsExtension(ExtensionApp):
    """``jupyter_mlops`` on a Jupyter server: the REST API the sidebar talks to.

    Configure the service as ``c.MLOps.…`` (store URL, engine; the project root defaults to
    the server's root directory) and the extension as ``c.MLOpsExtension.…``.
    """

    name = "jupyter_mlops"
    description = "Tracked runs, sweeps and versions of tagged notebook functions"
    load_other_extensions = True

    max_body_bytes = Int(
        64 * 1024 * 1024,
        config=True,
        help="Largest request body accepted (bytes); a larger one is refused with 413.",
    )
    max_parse_bytes = Int(
        16 * 1024 * 1024,
        config=True,
        help="Largest notebook (request body) that /parse and /check accept (bytes); larger "
        "is refused with 413. Parsing is the slow route: a thousand-cell notebook takes "
        "seconds, on its own threads.",
    )
    max_concurrent_parses = Int(
        2, config=True, help="Notebook parses (/parse, /check) that run at the same time."
    )
    max_concurrent_runs = Int(
        2, config=True, help="Runs started from the sidebar that execute at the same time."
    )
    supervise_interval = Float(
        15.0,
        config=True,
        help="Seconds between checks that every deployment left running has its keeper "
        "process (restarted if not: after a reboot or a kill); 0: only at start.",
    )

    policy_interval = Float(
        10.0,
        config=True,
        help="Seconds between passes of the retraining loop over the deployments' policies "
        "(drift -> retrain -> gate -> promote -> rollover, and rollback of what regresses); "
        "0: the server runs no policies (run `jupyter mlops watch` instead).",
    )

    service: MLOps | None = None
    work: BackgroundWork | None = None
    _supervisor: PeriodicCallback | None = None
    _served: Path | None = None
    _opening = threading.Lock()

    def initialize_settings(self) -> None:
        self.settings.update(
            {
                "mlops_service": None,
                "mlops_work": None,
                "mlops_max_body_bytes": self.max_body_bytes,
                "mlops_max_parse_bytes": self.max_parse_bytes,
                "mlops_store_error": None,
            }
        )
        # A config file that does not read, or a store that does not open (read-only, disk
        # full, corrupted), must not cost the routes: the extension loads, they answer 503
        # with the reason (handlers/base.py) and try again on each request until it is fixed.
        try:
            self.open_service()
        except StoreUnavailableError as err:
            self.settings["mlops_store_error"] = err
            self.log.error("jupyter_mlops: %s", err)
        if self.supervise_interval > 0:
            self._supervisor = PeriodicCallback(self._supervise, self.supervise_interval * 1000)
            self._supervisor.start()

    def open_service(self) -> None:
        """Load the project, build the service and its workers, open the store (once each).

        Raises StoreUnavailableError (503) while the config file or the store is broken;
        called again by the first request after that, so a fix needs no restart.
        """
        assert self.serverapp is not None
        with self._opening:  # two first requests at once build one service
            self._open_service()

    def _open_service(self) -> None:
        assert self.serverapp is not None
        if self.service is None:
            # jupyter_mlops_config.* as every surface reads it, then this server's own
            # c.MLOps on top; the root defaults to the server's.
            section = self.config.get("MLOps", {})
            try:
                project = load_project(
                    overrides={key: section[key] for key in section},
                    source="jupyter_server config (c.MLOps)",
                    default_root=self.serverapp.root_dir,
                )
            except MLOpsError as err:  # which store to open is unknown: never guess one
                raise StoreUnavailableError(
                    f"{err}; the routes answer again once it reads"
                ) from None
            for warning in project.warnings:
                self.log.warning("jupyter_mlops: %s", warning)
            self.service = MLOps(parent=self, project=project, pooled=True)  # long-lived
            # The kernels this server starts get the same project (server config included)
            # for %mlops: beside jpserver-<pid>.json, which the magic already reads.
            self._served = write_served_project(project, os.getpid())
            self.work = BackgroundWork(
                self.service,
                max_runs=max(1, self.max_concurrent_runs),
                max_parses=max(1, self.max_concurrent_parses),
                policy_interval=self.policy_interval,
            )
            self.settings.update({"mlops_service": self.service, "mlops_work": self.work})
            self.log.info(
                "jupyter_mlops: project root %s, store %s",
                self.service.root_dir,
                mask_url(self.service.store_url),
            )
        # Open the store now: migrations run, and runs left `running` by a server that died
        # are marked `interrupted` before anyone lists them.
        try:
            self.service.store  # noqa: B018
        except StoreError as err:
            if isinstance(err, StoreUnavailableError):
                raise
            raise StoreUnavailableError(str(err)) from None
        self.settings["mlops_store_error"] = None
        # Deployments outlive the server; the ones left running come back if they are gone.
        assert self.work is not None
        self.work.supervise()

    def _supervise(self) -> None:
        if self.work is not None and self.settings.get("mlops_store_error") is None:
            self.work.supervise()

    def initialize_handlers(self) -> None:
        self.handlers.extend(ROUTES)

    async def stop_extension(self) -> None:
        if self._served is not None:
            self._served.unlink(missing_ok=True)
        if self._supervisor is not None:
            self._supervisor.stop()
        if self.work is not None:
            self.work.stop()
        if self.service is not None:
            self.service.close()
