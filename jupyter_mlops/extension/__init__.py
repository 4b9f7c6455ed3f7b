"""The Jupyter server extension: REST routes under ``/mlops/api/`` over the MLOps service.

A thin surface, like the CLI: handlers read and check a request, call the service (in a
worker thread, so the event loop never waits on a parse, a query or a run) and write JSON.
Errors map to HTTP statuses in one place, ``errors.py``. The routes are documented in
``docs/openapi.yaml`` and a test checks that file against ``handlers.ROUTES``.
"""
