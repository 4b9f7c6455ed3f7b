"""Serving: one function version of a notebook as an HTTP endpoint, in its own process.

The layers, each a module::

    spec       ServeSpec: everything a serving process is started with (options, limits)
    binding    which run's artifacts feed the function's upstream inputs (--from or newest)
    loader     setup code run once, the function compiled from the python target's code
    inputs     request bodies checked against the function's parameter types
    outputs    the function's return values as JSON (numpy / pandas converted)
    openapi    the OpenAPI document of the endpoint
    deadlines  the request-body timeout, one timer per worker instead of one per request
    monitor    per-worker windows of counts, latency buckets and samples, as files
    app        the ASGI application: /invoke, /health, /openapi.json, auth, limits
    process    binds the socket (or takes an inherited one), writes the start record,
               runs uvicorn (N workers)

``python -m jupyter_mlops.serve NOTEBOOK FUNCTION …`` starts one; ``--help`` lists the options.
The process writes one JSON start record (function, version, binding, URL, pid) to stdout
and to ``--record``; a supervisor reads it, polls ``GET /health`` and, with
``--monitor-dir``, consumes the window files (``monitor.take_windows`` and ``merge``).
"""

from __future__ import annotations

from .spec import ServeSpec

__all__ = ["ServeSpec"]
