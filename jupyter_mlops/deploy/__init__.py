"""Deployments: function versions served as HTTP endpoints, supervised and monitored.

The layers, each a module::

    files      where a deployment keeps its notebook snapshots, logs and monitor windows
    manager    Deployments: deploy, redeploy, roll back, start, stop, restore (every surface)
    launcher   a surface's side of the keeper: start it, wake it, wait for its outcome, stop it
    keeper     the process that owns one deployment's socket and supervises its server
    child      starting one serving process (``python -m jupyter_mlops.serve``) and waiting
    environment  the allowlisted environment keepers and serving processes get (no secrets)
    leftovers  serving processes a killed keeper left, ended; a port still held, reported
    views      a deployment as JSON for the REST API, the CLI and the magics

A surface writes what it wants into the store (a new generation) and wakes the keeper; the
keeper writes back what is. Deployments outlive the Jupyter server that started them; after a
reboot, the next Jupyter server (or ``jupyter mlops deployments --restore``) restarts every
deployment that was left running.
"""

from __future__ import annotations

from .manager import Deployments

__all__ = ["Deployments"]
