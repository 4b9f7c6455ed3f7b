"""The serving process: resolve, load, bind the socket, announce, serve.

In the parent process: read the notebook, check the function's version, resolve the
binding of its upstream inputs in the store, load the function once (so a broken setup fails
here, with its message, before any port is announced), bind the socket (``port=0``: the
system picks one) or take over the listening socket inherited as ``fd`` (a supervisor that
keeps one socket across restarts and redeploys, so no connection is ever refused), write the
start record, then run uvicorn. With ``workers > 1`` uvicorn starts that many worker
processes on the same socket; each runs the setup code and loads the bound values itself
(from the spec in ``MLOPS_SERVE_SPEC``) and never opens the store.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import importlib.util
import json
import logging
import os
import re
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import MLOpsError
from ..notebook.parser import parse_notebook
from ..notebook.plan import Function, Plan
from ..notebook.reader import read_notebook
from ..store.owner import is_alive
from .app import ServeApp
from .binding import bind_inputs, load_values
from .loader import load_function
from .spec import SPEC_ENV, ServeSpec

logger = logging.getLogger(__name__)

_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


def read_plan(spec: ServeSpec) -> tuple[Plan, Function]:
    source = read_notebook(spec.notebook, name=spec.notebook_name)
    plan = parse_notebook(source, name=spec.notebook_name)
    return plan, plan.function(spec.function)


def token_hash(spec: ServeSpec) -> str:
    """The sha256 (hex) of the bearer token, from the environment variable the spec names."""
    value = os.environ.get(spec.token_hash_env, "").strip()
    if not _SHA256.fullmatch(value):
        raise MLOpsError(
            f"no token hash: set {spec.token_hash_env} to the hex sha256 of the bearer token",
            hint='e.g. python -c "import hashlib,sys; print(hashlib.sha256(sys.argv[1]'
            '.encode()).hexdigest())" TOKEN',
        )
    return value.lower()


def resolve(spec: ServeSpec) -> ServeSpec:
    """The spec with the notebook name, the checked version and the binding filled in."""
    from ..drift.recorded import references_for
    from ..store import Store
    from .signature import served_signature

    root = Path(spec.root_dir).resolve()
    notebook = Path(spec.notebook).resolve()
    spec.root_dir, spec.notebook = str(root), str(notebook)
    if spec.work_dir is not None:
        work_dir = Path(spec.work_dir).resolve()
        if not work_dir.is_dir():
            raise MLOpsError(f"the working directory {work_dir} is not a folder")
        spec.work_dir = str(work_dir)
    if spec.monitor_dir is not None:
        try:  # here, so a folder that cannot be written fails the start, saying so
            Path(spec.monitor_dir).mkdir(parents=True, exist_ok=True)
            if not os.access(spec.monitor_dir, os.W_OK):
                raise PermissionError(13, "not writable")
        except OSError as err:
            raise MLOpsError(
                f"cannot write to the monitor folder {spec.monitor_dir}: {err}"
            ) from None
    if not spec.notebook_name:
        try:
            spec.notebook_name = notebook.relative_to(root).as_posix()
        except ValueError:
            raise MLOpsError(
                f"the notebook {notebook} is not under the root {root}",
                hint="pass --root, or --name with the name its runs were recorded under",
            ) from None
    token_hash(spec)
    plan, function = read_plan(spec)
    store = Store.for_root(root, spec.store_url, spec.artifacts_dir, spec.artifact_url)
    try:
        if spec.version and not function.version.startswith(spec.version):
            expected = store.get_version(function.name, spec.version).version
            if expected != function.version:
                raise MLOpsError(
                    f"{function.name!r} in the notebook is version {function.version[:12]}, "
                    f"not {expected[:12]} ({spec.version!r})",
                    notebook=spec.notebook_name,
                    hint="serve the notebook that has that version's code",
                )
        from_run = store.get_run(spec.from_run).id if spec.from_run else None
        bound = bind_inputs(store, plan, function, spec.notebook_name, from_run)
        # The request fields: a typed def's own parameters, else the notebook's it reads.
        fields = [field.name for field in served_signature(plan, function).fields]
        spec.references, spec.reference_source = references_for(
            store, [entry.run for entry in bound], fields
        )
    finally:
        store.close()
    spec.from_run = from_run
    spec.binding = [entry.to_dict() for entry in bound]
    spec.resolved_version = function.version
    return spec


def build_app(spec: ServeSpec) -> ServeApp:
    """Load the function of a resolved spec and wrap it in the app (in each worker)."""
    # the setup code runs where the notebook's runs do (or where the supervisor says: it
    # serves a snapshot of the notebook kept elsewhere)
    os.chdir(spec.work_dir or Path(spec.notebook).parent)
    plan, function = read_plan(spec)
    if function.version != spec.resolved_version:
        raise MLOpsError(
            f"the notebook changed while starting: {function.name!r} is now version "
            f"{function.version[:12]}, not {spec.resolved_version[:12]}",
            notebook=spec.notebook_name,
        )
    served = load_function(plan, function, load_values(spec.binding))
    app = ServeApp(served, spec, token_hash(spec))
    # Everything loaded so far lives as long as the process: keep the collector off it, so
    # a full collection does not walk the model, the modules and the plan (p99 latency).
    gc.collect()
    gc.freeze()
    return app


def worker_app() -> ServeApp:
    """The uvicorn factory of a worker process: the spec comes in ``MLOPS_SERVE_SPEC``."""
    spec = ServeSpec.from_json(os.environ[SPEC_ENV])
    configure_logging(spec)
    return build_app(spec)


def configure_logging(spec: ServeSpec) -> None:
    handler: logging.Handler = (
        logging.FileHandler(spec.log_file, encoding="utf-8")
        if spec.log_file
        else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s")
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(spec.log_level.upper())


def listening_socket(spec: ServeSpec) -> socket.socket:
    """The inherited socket ``spec.fd`` (checked: TCP, listening), or a new one bound."""
    if spec.fd is None:
        family = socket.AF_INET6 if ":" in spec.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((spec.host, spec.port))
        sock.listen(2048)  # from here on, connections wait in the backlog until one is accepted
    else:
        try:
            sock = socket.socket(fileno=spec.fd)
        except OSError as err:
            raise MLOpsError(
                f"--fd {spec.fd} is not an open socket ({err.strerror})",
                hint="pass the listening socket's descriptor to the child (pass_fds)",
            ) from None
        tcp = sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM
        if not tcp or not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            sock.detach()  # not ours to close
            raise MLOpsError(
                f"--fd {spec.fd} is not a listening TCP socket",
                hint="bind it and call listen() before starting the serving process",
            )
    sock.set_inheritable(True)
    return sock


def start_record(spec: ServeSpec, address: tuple[str, int]) -> dict[str, Any]:
    """What a supervisor needs to know about this process; never the token or its hash."""
    bound, port = address
    host = f"[{bound}]" if ":" in bound else bound
    return {
        "url": f"http://{host}:{port}",
        "host": bound,
        "port": port,
        "pid": os.getpid(),
        "started_at": time.time(),
        "notebook": spec.notebook_name,
        "notebook_path": spec.notebook,
        "function": spec.function,
        "version": spec.resolved_version,
        "from_run": spec.from_run,
        "binding": spec.binding,
        "references": spec.references,
        "reference_source": spec.reference_source,
        "workers": spec.workers,
        "limits": {
            "max_body": spec.max_body,
            "max_batch": spec.max_batch,
            "timeout": spec.timeout,
            "threads": spec.threads,
            "max_concurrency": spec.max_concurrency,
            "header_timeout": spec.header_timeout,
        },
        "log_file": spec.log_file,
        "work_dir": spec.work_dir or str(Path(spec.notebook).parent),
        "monitor_dir": spec.monitor_dir,
    }


def serve(spec: ServeSpec) -> int:
    """Run until SIGINT/SIGTERM; returns the exit code."""
    import uvicorn

    configure_logging(spec)
    if spec.watch_pid is not None:
        watch(spec.watch_pid)
    resolve(spec)
    app = build_app(spec)  # in the parent too: a setup that fails, fails here
    sock = listening_socket(spec)
    spec.host, spec.port = sock.getsockname()[:2]
    record = start_record(spec, (spec.host, spec.port))
    options: dict[str, Any] = {
        "log_config": None,
        "access_log": False,
        "lifespan": "on",
        "timeout_graceful_shutdown": 5,
        "server_header": False,
        "loop": spec.loop,
        **http_options(spec),
    }
    if spec.workers > 1:
        del app  # each worker loads its own
        os.environ[SPEC_ENV] = spec.to_json()
        config = uvicorn.Config(
            "jupyter_mlops.serve.process:worker_app", factory=True, workers=spec.workers, **options
        )
        _announce(spec, record)
        _multiprocess(config, sock)
    else:
        config = uvicorn.Config(app, **options)
        _announce(spec, record)
        draining_server(config).run(sockets=[sock])
    logger.info("stopped serving %s", spec.function)
    return 0


def http_options(spec: ServeSpec) -> dict[str, Any]:
    """uvicorn's protocol: httptools guarded against slow clients (``connections.py``)."""
    if spec.http != "h11" and importlib.util.find_spec("httptools") is not None:
        from .connections import GuardedHttpTools, Limits

        limits = Limits(spec.header_timeout, spec.max_concurrency)
        # the guard caps connections itself (evicting slow ones); uvicorn's cap would 503
        return {"http": functools.partial(GuardedHttpTools, limits=limits)}
    logger.warning(
        "serving with h11: no header deadline and no eviction of slow clients "
        "(install httptools for both); at most %d connections",
        spec.max_concurrency,
    )
    return {"http": "h11", "limit_concurrency": spec.max_concurrency}


def watch(pid: int) -> None:
    """Stop gracefully (SIGTERM to ourselves) once ``pid``, our supervisor, has ended.

    On Linux the kernel sends the signal when the parent dies (``PR_SET_PDEATHSIG``); a
    thread that polls the parent covers other systems and a supervisor that is not the
    parent."""
    import threading

    child = os.getppid() == pid
    if child and sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG

    def gone() -> bool:  # a child whose parent died is adopted: its parent pid changes
        return not is_alive(pid, None) or (child and os.getppid() != pid)

    def poll() -> None:
        while not gone():
            time.sleep(0.5)
        logger.warning("the supervisor (pid %d) has ended: stopping", pid)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=poll, daemon=True, name="mlops-watch").start()


DRAIN_SECONDS = 2.0  # at most: keep-alive clients make their next request and are told to go


def draining_server(config: Any) -> Any:
    """A uvicorn Server that stops accepting, then drains before it closes what is left.

    Each connection's next answer says ``Connection: close`` (``connections.drain``), so a
    keep-alive client reconnects, to the next version on the shared socket, rather than
    sending into a connection being closed; one accepted just before SIGTERM gets its request
    answered instead of reset. Connections still idle after ``DRAIN_SECONDS`` are closed."""
    import asyncio

    import uvicorn

    from .connections import drain

    class DrainingServer(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            for server in self.servers:
                server.close()
            drain(self.server_state.connections)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + DRAIN_SECONDS
            while self.server_state.connections and loop.time() < deadline:
                await asyncio.sleep(0.02)
            await super().shutdown(sockets)

    return DrainingServer(config)


def _announce(spec: ServeSpec, record: dict[str, Any]) -> None:
    text = json.dumps(record)
    if spec.record_file:
        path = Path(spec.record_file)
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_text(text + "\n", encoding="utf-8")
        temporary.replace(path)
    logger.info("serving %s@%s at %s", spec.function, spec.resolved_version[:12], record["url"])
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _multiprocess(config: Any, sock: socket.socket) -> None:
    """uvicorn's worker supervisor (it restarts a worker that dies)."""
    import inspect

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    options: dict[str, Any] = {"sockets": [sock]}
    if "target" in inspect.signature(Multiprocess).parameters:  # uvicorn before 0.30
        options["target"] = uvicorn.Server(config).run
    Multiprocess(config, **options).run()
