"""Which modules a notebook's runs find already imported: the engine's side of warm imports.

The engine reads the notebook it is given (not the Plan: plain ``papermill --engine mlops``
and a Dask worker see only the notebook) and takes every top-level ``import x`` and
``from x import y`` of its code cells. A zygote *generation* that imported those modules
forks the runs, so each run finds them in ``sys.modules`` and skips the import; the run still
starts from a clean namespace, since the zygote never runs user code and every run is its own
fork (what a run changes in a module dies with it).

Never warmed, each with the reason recorded in ``metadata.mlops.engine.warm.skipped``:

- the standard library (cheap, and much of it is loaded already) and relative imports;
- ``NEVER_WARMED``: runtimes that start threads, GPU contexts or event loops at import and
  do not survive ``fork()`` (CUDA in torch/tensorflow/jax, gRPC, Ray);
- a module of the same name in the run's folder (the run must import that one, as a kernel
  started there would);
- what the zygote could not import or what started a thread at import (``zygote``).

The generation's key is the import set, the versions of the installed distributions behind
it, the variables that shape ``sys.path`` and the environment the imports saw, so a new
import, an upgraded package or another ``PYTHONPATH`` gives a fresh generation
(``zygotes.get_zygote`` keeps a bounded, least-recently-used set of them).

``JUPYTER_MLOPS_WARM_IMPORTS=0`` in the engine's environment (or the engine option
``mlops_warm=False``) turns warm imports off.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_mlops.execute.warm_zygote import MAYBE_MODULE

SWITCH = "JUPYTER_MLOPS_WARM_IMPORTS"

# Top-level packages whose import starts CUDA/accelerator runtimes, thread pools outside our
# control or network clients that are documented as unsafe to fork (or that import those).
NEVER_WARMED = frozenset(
    {
        "torch",
        "torchvision",
        "torchaudio",
        "lightning",
        "pytorch_lightning",
        "tensorflow",
        "keras",
        "jax",
        "jaxlib",
        "flax",
        "cupy",
        "cudf",
        "cuml",
        "numba",
        "grpc",
        "google",
        "ray",
        "mxnet",
        "paddle",
        "transformers",
        "accelerate",
        "pyspark",
        "distributed",
        "jupyter_mlops",
    }
)

# Variables a run sets for itself that no import may depend on: they differ from run to run
# and would otherwise give every run its own generation.
PER_RUN_VARIABLES = frozenset({"JPY_PARENT_PID", "JUPYTER_MLOPS_RUN_DIR"})
# What a shell sets for each command it starts (the folder it is in, its depth, the last
# argument): configuration of the shell, not of any library, and different in every command,
# which would keep a zygote kept warm between commands (``kept``) from serving the next one.
SHELL_VARIABLES = frozenset({"PWD", "OLDPWD", "SHLVL", "_"})


@dataclass
class WarmPlan:
    """The modules to warm for one run, why others are not, and the generation's key."""

    modules: tuple[str, ...] = ()
    skipped: dict[str, str] = field(default_factory=dict)
    key: str = ""
    env: dict[str, str] = field(default_factory=dict)


def enabled(option: bool | None) -> bool:
    """Warm imports are on unless the engine option or the environment turns them off."""
    if option is not None:
        return option
    return os.environ.get(SWITCH, "1").strip().lower() not in {"0", "false", "no", "off"}


_transformer: Any = None
_transformer_lock = threading.Lock()


def _parse(source: str) -> ast.Module | None:
    """The cell's syntax tree; a cell with magics or ``!`` lines as IPython would run it
    (IPython is imported only then: the engine's process need not pay for it)."""
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError):
        pass
    global _transformer
    with _transformer_lock:
        try:
            if _transformer is None:
                from IPython.core.inputtransformer2 import TransformerManager

                _transformer = TransformerManager()  # type: ignore[no-untyped-call]
            return ast.parse(str(_transformer.transform_cell(source)))
        except Exception:  # the run reports it; nothing to warm from this cell
            return None


def notebook_imports(nb: Any) -> list[str]:
    """Absolute modules imported at the top level of the notebook's code cells, in order
    (``x.y?`` for ``from x import y``: ``x.y`` if that is a module, not an attribute)."""
    sources = tuple(
        str(cell.source)
        for cell in nb.cells
        if cell.cell_type == "code" and "import" in cell.source
    )
    return list(_imports(sources))


@functools.lru_cache(maxsize=256)
def _imports(sources: tuple[str, ...]) -> tuple[str, ...]:
    """The imports of these cells (cached: every run of a sweep has the same cells)."""
    found: dict[str, None] = {}
    for source in sources:
        tree = _parse(source)
        if tree is None:
            continue
        for node in _top_level(tree.body):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    found.setdefault(alias.name, None)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.setdefault(node.module, None)
                for alias in node.names:  # `from matplotlib import pyplot`: maybe a module
                    if alias.name != "*":
                        found.setdefault(f"{node.module}.{alias.name}{MAYBE_MODULE}", None)
    return tuple(found)


def _top_level(body: list[ast.stmt]) -> list[ast.stmt]:
    """Statements run when the cell runs: the cell's own, and those of its top-level
    ``if``/``try``/``with`` blocks (``try: import x`` is a common guard); never a body of
    a function or class, which may never be called."""
    statements: list[ast.stmt] = []
    for node in body:
        statements.append(node)
        if isinstance(node, ast.If | ast.With | ast.Try):
            statements.extend(_top_level(node.body))
    return statements


def plan_for(nb: Any, cwd: str, env: dict[str, str], known_unsafe: dict[str, str]) -> WarmPlan:
    """What to warm for this notebook run in ``cwd`` with ``env`` (the run's environment)."""
    plan = WarmPlan()
    wanted: list[str] = []
    for name in notebook_imports(nb):
        top = name.split(".")[0]
        if top in sys.stdlib_module_names or top in {"__future__", "IPython", "ipykernel"}:
            continue  # cheap or already in the zygote
        reason = _never_reason(top, cwd, known_unsafe)
        if reason is not None:
            if not name.endswith(MAYBE_MODULE):
                plan.skipped.setdefault(top if top in NEVER_WARMED else name, reason)
            continue
        wanted.append(name)
    if not wanted:
        return plan
    plan.modules = tuple(wanted)
    plan.env = {k: v for k, v in env.items() if _may_shape_imports(k)}
    versions = distribution_versions(tuple(sorted({n.split(".")[0] for n in wanted})))
    digest = hashlib.sha256(json.dumps([plan.modules, versions, sorted(plan.env.items())]).encode())
    plan.key = digest.hexdigest()[:16]
    return plan


def _may_shape_imports(variable: str) -> bool:
    """Whether a variable goes into the generation's key. Not the per-run and shell ones,
    nor our own (``JUPYTER_MLOPS_*``): the engine reads those, and a run imports
    jupyter_mlops afresh, so no module the zygote warms has seen them."""
    return (
        variable not in PER_RUN_VARIABLES
        and variable not in SHELL_VARIABLES
        and not variable.startswith("JUPYTER_MLOPS_")
    )


def _never_reason(top: str, cwd: str, known_unsafe: dict[str, str]) -> str | None:
    if top in NEVER_WARMED:
        return "never warmed: its runtime (threads, GPU, event loop) does not survive fork()"
    if top in known_unsafe:
        return known_unsafe[top]
    folder = Path(cwd)
    local = (folder / f"{top}.py").exists() or (folder / top).is_dir()
    if local or any(folder.glob(f"{top}.*.so")):
        return "a module of that name is in the run's folder: the run imports that one"
    return None


def distribution_versions(tops: tuple[str, ...]) -> dict[str, list[str]]:
    """``top-level name -> ["dist==version", ...]`` for the installed distributions that
    provide it (empty for a module found on PYTHONPATH or in no distribution)."""
    return _versions(tops, _site_signature())


def _site_signature() -> tuple[tuple[str, float], ...]:
    """The import path's distribution folders and when they last changed: installing,
    upgrading or removing a distribution renames its ``.dist-info`` folder, which changes
    the folder's time (other folders change with every file a user writes)."""
    signature: list[tuple[str, float]] = []
    for entry in sys.path:
        if os.path.basename(entry) not in {"site-packages", "dist-packages"}:
            continue
        try:
            signature.append((entry, os.stat(entry).st_mtime))
        except OSError:
            continue
    return tuple(signature)


@functools.lru_cache(maxsize=8)
def _distributions(signature: tuple[tuple[str, float], ...]) -> dict[str, list[str]]:
    """``top-level name -> ["dist==version", ...]`` for every distribution on the import path.

    Read from the ``.dist-info``/``.egg-info`` folders themselves: the version from the
    folder's name, the top-level names from ``top_level.txt`` or else the first part of each
    ``RECORD`` path. ``importlib.metadata.packages_distributions()`` gives the same names but
    parses every distribution's metadata as e-mail: about 0.2 s, on the way to starting the
    warm generation of every CLI command; this reads a few small files (~10 ms).
    """
    del signature  # the cache key: a changed import path reads the distributions again
    providers: dict[str, list[str]] = {}
    for entry in sys.path:
        try:
            folders = [e for e in os.scandir(entry or ".") if e.name.endswith(_INFO_SUFFIXES)]
        except OSError:
            continue
        for folder in folders:
            stem = folder.name.rsplit(".", 1)[0]  # "scikit_learn-1.5.2"
            name, _, version = stem.partition("-")
            if not version:
                continue
            for top in _provided(Path(folder.path)):
                providers.setdefault(top, []).append(f"{name}=={version}")
    return providers


_INFO_SUFFIXES = (".dist-info", ".egg-info")


def _provided(info: Path) -> set[str]:
    """The top-level names a distribution's folder says it installs."""
    try:
        declared = (info / "top_level.txt").read_text(encoding="utf-8").split()
    except OSError:
        declared = []
    if declared:
        return set(declared)
    try:
        record = (info / "RECORD").read_text(encoding="utf-8")
    except OSError:
        return set()
    tops: set[str] = set()
    for line in record.splitlines():
        path = line.split(",", 1)[0]
        first, slash, _ = path.partition("/")
        if slash:
            if first not in {"..", "__pycache__"} and not first.endswith((".dist-info", ".data")):
                tops.add(first)
        elif path.endswith((".py", ".so", ".pyd")):
            tops.add(path.split(".", 1)[0])
    return tops


@functools.lru_cache(maxsize=256)
def _versions(
    tops: tuple[str, ...], signature: tuple[tuple[str, float], ...]
) -> dict[str, list[str]]:
    providers = _distributions(signature)
    return {top: sorted(set(providers.get(top, []))) for top in tops}
