"""Deployments: what every surface calls to deploy, redeploy, roll back, start and stop.

Each call checks what it can before anything is written (the function exists, its version,
the runs its upstream inputs are bound to), keeps a snapshot of the notebook for the version,
writes what is wanted into the store, wakes (or starts) the deployment's keeper and waits
until the keeper reports the outcome. A first deploy that fails leaves nothing behind; a
redeploy that fails leaves the old version serving and says why.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..actors import actor_name
from ..errors import ConflictError, MLOpsError, NotFoundError
from ..store.deployment_records import Deployment
from ..store.deployments import DeploymentStore, check_name
from . import launcher, leftovers
from .files import DeploymentFiles
from .launcher import STOP_WAIT, WAIT

if TYPE_CHECKING:
    from ..notebook.plan import Function, Plan
    from ..service import MLOps

DEFAULT_OPTIONS: dict[str, Any] = {
    "workers": 1,
    "threads": 4,
    "timeout": 30.0,
    "max_body": 1024 * 1024,
    "max_batch": 1000,
    "sample_rate": 0.1,
    "max_samples": 20,  # per monitoring window and worker
    "monitor_interval": 5.0,
    "keep_samples": 1000,
    "use_defaults": False,
}


def default_name(function: str) -> str:
    return function.lower().replace("_", "-")


class Deployments:
    """``MLOps(...).deployments``: the deployments of one project root."""

    def __init__(self, service: MLOps) -> None:
        self.service = service
        self.root = Path(service.root_dir)

    def _actor(self, actor: str | None) -> str | None:
        """Who asks: given by the server (the Jupyter user), else this service's user."""
        return actor_name(actor or self.service.actor)

    @property
    def _rows(self) -> DeploymentStore:
        return self.service.store.deployments

    def files(self, name: str) -> DeploymentFiles:
        return DeploymentFiles(self.service.project, check_name(name))

    # -- reading -----------------------------------------------------------------------------

    def every(self) -> list[Deployment]:
        return self._rows.every()

    def get(self, name: str) -> Deployment:
        return self._rows.get(check_name(name))

    def drift(self, name: str, *, window: int = 200, mode: str = "calibrated") -> dict[str, Any]:
        """Drift per field over windows of ``window`` requests (see ``drift/report.py``)."""
        from ..drift.report import drift_report

        self.get(name)
        references, source = self.service.store.drift.references(name)
        windows = self.service.store.drift.windows(name)
        return drift_report(references, source, windows, name=name, size=window, mode=mode)

    def logs(self, name: str, lines: int = 200) -> list[str]:
        self.get(name)
        return self.files(name).tail(lines)

    def deployed_versions(self, name: str) -> list[str]:
        """Versions served under this name before the current one, newest first."""
        current = self.get(name).serving_version
        seen: list[str] = []
        for event in self._rows.events(name, limit=500):
            kinds = ("deployed", "redeployed", "rolled_back", "replaced")
            if event.kind in kinds and event.version and event.version not in seen:
                seen.append(event.version)
            if event.kind == "replaced":  # before it, the name served another function
                break
        return [v for v in seen if v != current and self.files(name).has_version(v)]

    # -- deploying ---------------------------------------------------------------------------

    def deploy(
        self,
        notebook: str | os.PathLike[str],
        function: str,
        *,
        name: str | None = None,
        version: str | None = None,
        alias: str | None = None,
        from_run: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        options: Mapping[str, Any] | None = None,
        content: Mapping[str, Any] | None = None,
        new_token: bool = False,
        replace: bool = False,
        wait: float = WAIT,
        actor: str | None = None,
    ) -> tuple[Deployment, str | None]:
        """Serve ``function`` (its version in the notebook, or ``version``/``alias``).

        Returns the deployment and its token when the token is new (a new name, or
        ``new_token``); an existing name keeps its port and token. A name that serves
        another notebook or function is refused unless ``replace``: then it serves this
        one, on its port, with a new token (its clients were another endpoint's).
        """
        from ..notebook.reader import read_notebook

        if version and alias:
            raise MLOpsError("give --version or --alias, not both")
        path, notebook_name, _ = self.service._locate(notebook, content)
        source = read_notebook(content if content is not None else path, name=notebook_name)
        plan = self.service.inspect(source, name=notebook_name)
        fn = plan.function(function)
        name = check_name(name or default_name(fn.name))
        existing = self._rows.find(name)
        replaced = existing is not None and (
            existing.function != fn.name or existing.notebook != notebook_name
        )
        if replaced and not replace:
            assert existing is not None
            raise ConflictError(
                f"the deployment {name!r} serves {existing.function!r} of "
                f"{existing.notebook!r}, not {fn.name!r} of {notebook_name!r}",
                hint="pick another --name, or pass --replace to serve this one under it",
            )
        if existing is not None and port not in (0, existing.port):
            raise ConflictError(
                f"the deployment {name!r} listens on port {existing.port}",
                hint="leave out --port to keep it, or undeploy --delete it first",
            )
        files = self.files(name)
        how = None  # why the bound run: said in the binding when the alias picked it
        if alias is not None:  # the version behind the alias, the run promoted with it
            given = from_run
            version, from_run = self._followed(plan, fn, alias, from_run)
            how = f"promoted to {alias}" if from_run and from_run != given else None
        wanted = self._wanted_version(fn, name, version, files)
        # Code the version does not use (an unused import in the setup) may differ under
        # the same version: what serves now is put back if this one cannot start.
        previous = files.saved_version(wanted) if existing is not None else None
        if wanted == fn.version:
            binding = self._bind(plan, fn, notebook_name, from_run, how)
            self._register(fn, notebook_name)
            files.save_version(wanted, source.content, binding)
        elif from_run is not None:
            raise MLOpsError(
                "--from applies to the notebook's current version; an earlier version is "
                "served with the binding it was deployed with"
            )
        else:
            binding = files.load_binding(wanted) or {}
        try:
            return self._apply(
                name,
                existing,
                files,
                version=wanted,
                alias=alias,
                binding=binding,
                notebook_name=notebook_name,
                notebook_path=str(path),
                function=fn.name,
                host=host,
                port=port,
                options={**DEFAULT_OPTIONS, **(options or {})},
                new_token=new_token or replaced,
                wait=wait,
                kind="deployed" if existing is None else "replaced" if replaced else "redeployed",
                actor=actor,
            )
        except MLOpsError:
            if previous is not None:
                files.restore_version(wanted, previous)
            raise

    def rollback(
        self, name: str, to: str | None = None, wait: float = WAIT, actor: str | None = None
    ) -> Deployment:
        """Serve a version deployed before under this name (default: the one before this)."""
        deployment = self.get(name)
        earlier = self.deployed_versions(name)
        if to is None:
            if not earlier:
                raise ConflictError(
                    f"the deployment {name!r} has no earlier version to roll back to"
                )
            target = earlier[0]
        else:
            matches = [v for v in earlier if v.startswith(to)]
            if len(matches) != 1:
                known = ", ".join(v[:12] for v in earlier) or "none"
                raise NotFoundError(
                    f"{to!r} is not one version deployed before under {name!r} (those: {known})"
                )
            target = matches[0]
        binding = self.files(name).load_binding(target) or {}
        result, _ = self._apply(
            name,
            deployment,
            self.files(name),
            version=target,
            alias=None,
            binding=binding,
            notebook_name=deployment.notebook,
            notebook_path=deployment.notebook_path,
            function=deployment.function,
            host=deployment.host,
            port=deployment.port,
            options=deployment.options,
            new_token=False,
            wait=wait,
            kind="rolled_back",
            actor=actor,
        )
        return result

    def start(self, name: str, wait: float = WAIT, actor: str | None = None) -> Deployment:
        """Start a stopped (or failed) deployment again: same version, port and token."""
        deployment = self.get(name)
        if deployment.desired == "running" and deployment.keeper_alive():
            return deployment
        self._rows.want(name, desired="running", actor=self._actor(actor))
        self._rows.report(name, status="starting", error=None, failed_generation=None)
        self._spawn_keeper(name)
        result = launcher.await_outcome(self._rows, name, self.get(name).generation, wait)
        self._rows.add_event(name, "started", result.serving_version, actor=self._actor(actor))
        return result

    def stop(self, name: str, wait: float = STOP_WAIT, actor: str | None = None) -> Deployment:
        """Stop the keeper and whatever serves the deployment; a port still held is an error.

        The keeper stops its serving process; one left by a keeper that was killed (or one
        that does not stop in ``wait``) is ended here, found by its command line."""
        deployment = self.get(name)
        self._rows.want(name, desired="stopped", new_generation=False, actor=self._actor(actor))
        launcher.stop(self._rows, deployment, wait)
        left = leftovers.serving_pids(self.files(name), self.get(name).serve_pid)
        if left:
            leftovers.end(left)
            self._rows.add_event(
                name, "stopped", None, f"ended serving processes {left}", self._actor(actor)
            )
        current = self.get(name)
        if current.status not in ("stopped", "failed") or current.serve_pid is not None:
            status = "stopped" if current.status != "failed" else "failed"
            current = self._rows.report(name, status=status, serve_pid=None)
        holder = leftovers.still_held(current.host, current.port)
        if holder is not None:
            raise ConflictError(
                f"the deployment {name!r} is stopped, but port {current.port} is still held"
                f"{holder}",
                hint="that process does not belong to the deployment any more; end it by hand",
            )
        return current

    def delete(self, name: str, actor: str | None = None) -> None:
        self.stop(name, actor=actor)
        self._rows.delete(name)
        self.files(name).remove()

    def restore(self) -> list[str]:
        """Start the keeper of every deployment left running whose keeper is gone."""
        restored = []
        for deployment in self.every():
            if deployment.desired != "running" or deployment.status == "failed":
                continue
            if deployment.keeper_alive() or launcher.being_started(deployment):
                continue
            self._rows.add_event(deployment.name, "restored", deployment.version)
            self._spawn_keeper(deployment.name)
            restored.append(deployment.name)
        return restored

    def invoke(self, name: str, token: str, payload: Any, timeout: float = 60.0) -> dict[str, Any]:
        """One request to the endpoint, as a client would send it (the sidebar's form)."""
        deployment = self.get(name)
        if deployment.status != "running":
            raise ConflictError(f"the deployment {name!r} is {deployment.status}, not running")
        from .child import _loopback

        request = urllib.request.Request(
            f"http://{_loopback(deployment.host)}:{deployment.port}/invoke",
            data=json.dumps(payload).encode("utf-8"),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            method="POST",
        )
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as err:
            status, body = err.code, err.read()
        except OSError as err:
            raise ConflictError(f"the deployment {name!r} did not answer: {err}") from None
        latency = (time.perf_counter() - started) * 1000
        try:
            parsed: Any = json.loads(body)
        except ValueError:
            parsed = body.decode("utf-8", errors="replace")
        return {"status": status, "body": parsed, "latency_ms": round(latency, 3)}

    # -- the steps ---------------------------------------------------------------------------

    def _followed(
        self, plan: Plan, fn: Function, alias: str, from_run: str | None
    ) -> tuple[str | None, str | None]:
        """What ``alias`` means for serving ``fn``: a version of ``fn`` when the alias is set
        on it (else the notebook's), and the inputs from the run the alias was promoted with
        on ``fn`` or on the function that produces its inputs (``promote --function train
        --to production`` moves ``train``'s alias; ``predict`` follows it)."""
        store = self.service.store
        own = store.alias_target(fn.name, alias)
        producers = sorted({fn.sources[name] for name in fn.data_inputs})
        runs = [own] + [store.alias_target(producer, alias) for producer in producers]
        if all(target is None for target in runs):
            named = " or ".join(repr(f) for f in [fn.name, *producers])
            raise NotFoundError(
                f"the alias {alias!r} is not set on {named}",
                hint=f"promote a run first: jupyter mlops promote NOTEBOOK --function "
                f"{producers[0] if producers else fn.name} --to {alias}",
            )
        if own is not None and own[0] != fn.version:  # an earlier version: its own binding
            return own[0], from_run
        promoted = next((target[1] for target in runs if target and target[1]), None)
        return (own[0] if own else None), (from_run or promoted)

    def _wanted_version(
        self, fn: Function, name: str, ref: str | None, files: DeploymentFiles
    ) -> str:
        if ref is None or fn.version.startswith(ref):
            return fn.version
        wanted = self.service.store.get_version(fn.name, ref).version
        if wanted != fn.version and not files.has_version(wanted):
            raise MLOpsError(
                f"{fn.name!r} version {wanted[:12]} ({ref!r}) is not the notebook's code "
                f"(that is {fn.version[:12]}) and was never deployed as {name!r}",
                hint="deploy from a notebook that has that version's code",
            )
        return wanted

    def _bind(
        self,
        plan: Plan,
        fn: Function,
        notebook_name: str,
        from_run: str | None,
        how: str | None = None,
    ) -> dict[str, Any]:
        from dataclasses import replace

        from ..serve.binding import bind_inputs

        store = self.service.store
        run_id = store.get_run(from_run).id if from_run else None
        bound = bind_inputs(store, plan, fn, notebook_name, run_id)
        if how is not None:
            bound = [replace(entry, how=how) for entry in bound]
        runs = {entry.run for entry in bound}
        # One run feeds every input: pin it, so a restart serves the same values.
        pinned = run_id or (runs.pop() if len(runs) == 1 else None)
        return {"from_run": pinned, "inputs": [entry.to_dict() for entry in bound]}

    def _register(self, fn: Function, notebook_name: str) -> None:
        code = "\n\n".join(cell.source for cell in fn.cells)
        self.service.store.register_version(fn.name, fn.version, notebook=notebook_name, code=code)

    def _apply(
        self,
        name: str,
        existing: Deployment | None,
        files: DeploymentFiles,
        *,
        version: str,
        alias: str | None,
        binding: dict[str, Any],
        notebook_name: str,
        notebook_path: str,
        function: str,
        host: str,
        port: int,
        options: dict[str, Any],
        new_token: bool,
        wait: float,
        kind: str,
        actor: str | None = None,
    ) -> tuple[Deployment, str | None]:
        token = secrets.token_urlsafe(32) if existing is None or new_token else None
        previous_token = self._rows.token_sha256(name) if existing is not None else ""
        digest = hashlib.sha256(token.encode()).hexdigest() if token else None
        inputs = binding.get("inputs", [])
        if existing is None:
            deployment = self._rows.create(
                name=name,
                notebook=notebook_name,
                notebook_path=notebook_path,
                function=function,
                version=version,
                alias=alias,
                from_run=binding.get("from_run"),
                binding=inputs,
                host=host,
                port=port,
                token_sha256=digest or "",
                options=options,
                actor=self._actor(actor),
            )
        else:
            wanted: dict[str, Any] = {
                "version": version,
                "alias": alias,
                "from_run": binding.get("from_run"),
                "binding": inputs,
                "desired": "running",
                "notebook": notebook_name,
                "notebook_path": notebook_path,
                "function": function,
                "actor": self._actor(actor),
            }
            if digest:
                wanted["token_sha256"] = digest
            deployment = self._rows.want(name, **wanted)
        if deployment.keeper_alive():
            launcher.wake(deployment)
        else:
            self._rows.report(name, status="starting", error=None, failed_generation=None)
            self._spawn_keeper(name)
        try:
            result = launcher.await_outcome(self._rows, name, deployment.generation, wait)
        except MLOpsError:
            if existing is None:
                self._forget(name)
            else:
                self._revert(name, existing, previous_token)  # back to what serves
            raise
        self._rows.add_event(name, kind, version, actor=self._actor(actor))
        return result, token

    def _revert(self, name: str, previous: Deployment, token_sha256: str) -> None:
        self._rows.want(
            name,
            new_generation=False,
            notebook=previous.notebook,
            notebook_path=previous.notebook_path,
            function=previous.function,
            token_sha256=token_sha256,
            version=previous.version,
            alias=previous.alias,
            from_run=previous.from_run,
            binding=previous.binding,
        )

    def _forget(self, name: str) -> None:
        deployment = self._rows.find(name)
        if deployment is None:
            return
        launcher.wait_gone(self._rows, deployment)
        self._rows.delete(name)
        self.files(name).remove()

    def _spawn_keeper(self, name: str) -> None:
        launcher.spawn(self.root, name, self.files(name), self.service.project.environ())


__all__ = ["Deployments"]
