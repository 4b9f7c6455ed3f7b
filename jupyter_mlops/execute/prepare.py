"""Turning what a surface was given into a checked RunRequest, before anything is recorded.

Apart from ``service.py`` (which keeps one public method per thing a surface asks for) and
from ``runner.py`` (which takes a request already checked) because this is where every user
mistake is caught first: an unknown engine, kernel or function, a bad parameter value, a
run to take inputs from that does not exist, a sweep space with a value of the wrong type.
Nothing here records or starts a run, so ``check`` and ``run`` fail on the same things.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UnknownNameError
from ..notebook.parser import parse_notebook
from ..notebook.plan import Plan
from ..notebook.reader import read_notebook
from ..paths import locate_notebook
from .kernels import require_kernel
from .launch import ENGINES
from .params import check_parameters, check_value, declared
from .runner import RunRequest

if TYPE_CHECKING:
    from ..store import Store


def build_request(
    root_dir: str,
    notebook: str | os.PathLike[str],
    parameters: Mapping[str, Any],
    *,
    store: Store,
    posted_dir: Path,
    cell_timeout: float | None,
    as_text: bool,
    function: str | None = None,
    from_run: str | None = None,
    idempotency_key: str | None = None,
    timeout: float | None = None,
    content: Mapping[str, Any] | None = None,
    stage: bool = True,
    engine: str | None = None,
    kernel: str | None = None,
) -> RunRequest:
    """A checked request for a notebook in ``root_dir`` (or its live ``content``).

    Live content is staged under ``posted_dir`` (``stage``) so the runner reads a file.
    """
    if engine is not None and engine not in ENGINES:
        raise UnknownNameError(f"no engine named {engine!r}", hint=f"one of {', '.join(ENGINES)}")
    path, name, cwd = locate_notebook(root_dir, notebook, content)
    source = read_notebook(content if content is not None else path, name=name)
    plan = parse_notebook(source, name=name)
    require_kernel(source.content, name, kernel)
    if function is not None:
        function = plan.function(function).name  # unknown function: fail now
    values = check_parameters(plan, parameters, as_text=as_text)
    if from_run is not None:
        from_run = store.get_run(from_run).id
    if content is not None and stage:
        path = stage_content(posted_dir, source.content)
    return RunRequest(
        notebook=path,
        notebook_name=name,
        plan=plan,
        parameters=values,
        function=function,
        from_run=from_run,
        idempotency_key=idempotency_key,
        timeout=timeout,
        cell_timeout=cell_timeout,
        cwd=cwd,
        engine=engine,
        kernel=kernel,
    )


def check_space(
    plan: Plan, space: Mapping[str, list[Any]], *, as_text: bool
) -> dict[str, list[Any]]:
    """Every value of a sweep space checked as a run would check it, named on a mistake."""
    checked: dict[str, list[Any]] = {}
    for name, values in space.items():
        parameter = declared(plan, name)
        checked[name] = [check_value(plan, parameter, v, as_text=as_text) for v in values]
    return checked


def stage_content(folder: Path, content: Mapping[str, Any]) -> Path:
    """Write live content where the runner can read it: content-addressed, atomically."""
    data = json.dumps(content, sort_keys=True, ensure_ascii=False).encode("utf-8")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{hashlib.sha256(data).hexdigest()}.ipynb"
    if not target.exists():
        handle, temporary = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, target)
    return target
