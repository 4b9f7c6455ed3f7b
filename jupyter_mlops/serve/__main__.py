"""``python -m jupyter_mlops.serve NOTEBOOK FUNCTION [options]``: serve one function version.

The bearer token is never an argument (arguments are visible to every user of the machine):
the process reads the hex sha256 of the token from an environment variable.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys

from ..errors import MLOpsError
from ..project import Project, load_project, project_from_environ
from .spec import TOKEN_HASH_ENV, ServeSpec


def parser() -> argparse.ArgumentParser:
    defaults = ServeSpec(notebook="", function="", root_dir="")
    p = argparse.ArgumentParser(
        prog="python -m jupyter_mlops.serve",
        description="Serve one function of a notebook over HTTP (POST /invoke, GET /health, "
        "GET /openapi.json). Prints one JSON start record (URL, version, binding) on stdout.",
    )
    p.add_argument("notebook", help="the .ipynb file")
    p.add_argument("function", help="the function to serve (its mlops:fn: name)")
    p.add_argument(
        "--root",
        help="project root (default: the project handed on by a keeper, or the config files', "
        "or the current directory)",
    )
    p.add_argument(
        "--name", default="", help="the notebook's name in the store (default: path under --root)"
    )
    p.add_argument(
        "--version",
        help="refuse to start unless the function's version is this (a prefix or an alias)",
    )
    p.add_argument(
        "--from",
        dest="from_run",
        help="bind upstream inputs from this run (default: newest succeeded run producing them)",
    )
    p.add_argument("--store-url", help="SQLAlchemy URL of the store (default: the project's)")
    p.add_argument("--artifacts-dir", help="artifact bytes (default: the project's)")
    p.add_argument("--host", default=defaults.host, help="address to bind (default: %(default)s)")
    p.add_argument(
        "--port", type=int, default=defaults.port, help="0: any free port (default: %(default)s)"
    )
    p.add_argument(
        "--fd",
        type=int,
        help="serve on this inherited, already listening socket instead of binding --host/--port",
    )
    p.add_argument(
        "--watch-pid",
        type=int,
        help="stop serving (gracefully) when this process ends: the supervisor that started "
        "this one, so a supervisor killed with SIGKILL leaves no server behind",
    )
    p.add_argument(
        "--header-timeout",
        type=float,
        default=defaults.header_timeout,
        help="seconds a client may take from a request's first byte to its last header "
        "(and a new connection to its first request); slower ones are closed "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--workdir",
        dest="work_dir",
        help="run the setup code in this folder (default: the notebook's folder)",
    )
    p.add_argument("--workers", type=int, default=defaults.workers, help="worker processes")
    p.add_argument(
        "--threads", type=int, default=defaults.threads, help="concurrent calls per worker"
    )
    p.add_argument(
        "--token-hash-env",
        default=TOKEN_HASH_ENV,
        help="environment variable holding the token's hex sha256 (default: %(default)s)",
    )
    p.add_argument("--max-body", type=int, default=defaults.max_body, help="bytes (413 above)")
    p.add_argument("--max-batch", type=int, default=defaults.max_batch, help="objects per batch")
    p.add_argument(
        "--timeout", type=float, default=defaults.timeout, help="seconds per request (504 after)"
    )
    p.add_argument(
        "--max-concurrency",
        type=int,
        default=defaults.max_concurrency,
        help="open connections per worker: above it, a new connection closes the oldest one "
        "still sending its request (or idle), else is answered 503 (default: %(default)s)",
    )
    p.add_argument(
        "--inline-below",
        type=float,
        default=defaults.inline_below * 1000,
        help="milliseconds: calls that recently took less run on the event loop, not in a "
        "thread (0: always in a thread; default: %(default)s)",
    )
    p.add_argument(
        "--use-defaults",
        action="store_true",
        help="let requests leave out parameters that have a default (default: all required)",
    )
    p.add_argument("--loop", default="auto", choices=["auto", "asyncio", "uvloop"])
    p.add_argument("--http", default="auto", choices=["auto", "h11", "httptools"])
    p.add_argument(
        "--monitor-dir",
        help="write a window of /invoke statistics and samples here every --monitor-interval",
    )
    p.add_argument(
        "--monitor-interval",
        type=float,
        default=defaults.monitor_interval,
        help="seconds per monitor window (default: %(default)s)",
    )
    p.add_argument(
        "--sample-rate",
        type=float,
        default=defaults.sample_rate,
        help="share of requests whose input and output a window keeps, 0..1 (default: %(default)s)",
    )
    p.add_argument(
        "--max-samples",
        type=int,
        default=defaults.max_samples,
        help="samples per window and worker at most (default: %(default)s)",
    )
    p.add_argument(
        "--max-sample-bytes",
        type=int,
        default=defaults.max_sample_bytes,
        help="a larger input or output is kept as its size only (default: %(default)s)",
    )
    p.add_argument("--log-file", help="append the log here (default: stderr)")
    p.add_argument("--record", help="also write the JSON start record to this file")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    for name in ("workers", "threads", "max_body", "max_batch", "max_concurrency"):
        if getattr(args, name) < 1:
            parser().error(f"--{name.replace('_', '-')} must be at least 1")
    if args.inline_below < 0:
        parser().error("--inline-below must not be negative")
    if args.timeout <= 0 or not 0 <= args.port <= 65535:
        parser().error("--timeout must be positive and --port within 0..65535")
    if args.header_timeout <= 0:
        parser().error("--header-timeout must be positive")
    if args.fd is not None and args.fd < 0:
        parser().error("--fd must not be negative")
    if args.monitor_interval <= 0 or not 0 <= args.sample_rate <= 1:
        parser().error("--monitor-interval must be positive and --sample-rate within 0..1")
    if args.max_samples < 0 or args.max_sample_bytes < 0:
        parser().error("--max-samples and --max-sample-bytes must not be negative")
    try:
        project = _project(args)
    except MLOpsError as err:
        sys.stderr.write(f"jupyter_mlops.serve: {err}\n")
        return 2
    spec = ServeSpec(
        notebook=args.notebook,
        function=args.function,
        root_dir=project.root_dir,
        notebook_name=args.name,
        version=args.version,
        from_run=args.from_run,
        store_url=project.store_url,
        artifacts_dir=project.artifacts_dir,
        artifact_url=project.artifact_url or None,
        host=args.host,
        port=args.port,
        fd=args.fd,
        watch_pid=args.watch_pid,
        header_timeout=args.header_timeout,
        work_dir=os.path.abspath(args.work_dir) if args.work_dir else None,
        workers=args.workers,
        threads=args.threads,
        token_hash_env=args.token_hash_env,
        max_body=args.max_body,
        max_batch=args.max_batch,
        timeout=args.timeout,
        max_concurrency=args.max_concurrency,
        inline_below=args.inline_below / 1000,
        use_defaults=args.use_defaults,
        # absolute: the process works in the notebook's folder once the setup code runs
        log_file=os.path.abspath(args.log_file) if args.log_file else None,
        record_file=os.path.abspath(args.record) if args.record else None,
        log_level=args.log_level,
        loop=args.loop,
        http=args.http,
        monitor_dir=os.path.abspath(args.monitor_dir) if args.monitor_dir else None,
        monitor_interval=args.monitor_interval,
        sample_rate=args.sample_rate,
        max_samples=args.max_samples,
        max_sample_bytes=args.max_sample_bytes,
    )
    from .process import serve

    if importlib.util.find_spec("uvicorn") is None:
        sys.stderr.write(
            "jupyter_mlops.serve: serving needs uvicorn: pip install 'jupyter-mlops[serve]'\n"
        )
        return 2
    try:
        return serve(spec)
    except MLOpsError as err:
        sys.stderr.write(f"jupyter_mlops.serve: {err}\n")
        return 2


def _project(args: argparse.Namespace) -> Project:
    """The project a keeper handed on (flags on top), else the config files' (as the CLI)."""
    flags = {
        "root_dir": args.root,
        "store_url": args.store_url,
        "artifacts_dir": args.artifacts_dir,
    }
    handed = project_from_environ()
    if handed is None:
        return load_project(overrides=flags, source="command line")
    return handed.updated(flags, "command line")


if __name__ == "__main__":
    sys.exit(main())
