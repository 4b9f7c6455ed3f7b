"""One project's settings, read once and handed to every process the product starts.

Every surface (CLI, ``%mlops``, the server extension) builds a :class:`Project` with
:func:`load_project`; the processes they start (a deployment's keeper, its serving processes)
get the resolved value in the ``JUPYTER_MLOPS_PROJECT`` environment variable and never look
for it again. That is what keeps a deployment reading the store its runs were written to.

Lookup order, each later source overriding the earlier ones, setting by setting:

1. ``jupyter_mlops_config.py`` then ``.json`` in every folder of the Jupyter config path
   (``jupyter --paths``), lowest first: system, environment (``sys.prefix``), user
   (``JUPYTER_CONFIG_DIR``, default ``~/.jupyter``), then ``JUPYTER_CONFIG_PATH`` entries;
2. ``<root>/jupyter_mlops_config.json``, the project's own (JSON only: a ``.py`` there would
   run code from whatever folder a command starts in, the hole jupyter_core closed in
   CVE-2022-39286; it is reported and ignored);
3. what the surface is told explicitly: ``--root``, ``c.MLOps`` in the Jupyter server's
   config, ``c.MLOps`` in the kernel's config.

The syntax is traitlets' (``c.MLOps.store_url = "…"``, or ``{"MLOps": {"store_url": "…"}}``).
Relative paths, and a relative SQLite path in a store URL, are taken from the project root.
Defaults: ``state_dir`` is the SQLite store file's folder (``<root>/.mlops`` when nothing is
set, or with a server database); ``store_url`` is ``<state_dir>/mlops.db``; ``artifacts_dir``
is ``<state_dir>/artifacts``. So moving the store file moves the project's local state too.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from .errors import MLOpsError

CONFIG_NAME = "jupyter_mlops_config"
STATE_DIR = ".mlops"  # the default state folder, under the root
PROJECT_ENV = "JUPYTER_MLOPS_PROJECT"  # the resolved project, as JSON, for child processes
SECTION = "MLOps"
DEFAULT = "default"

# setting -> (type it must have, what it is); the traits of service.MLOps are the same names
DEFAULT_MAX_SWEEP_RUNS = 10_000
DEFAULT_KEEP_WARM = 300.0  # five minutes: a session of runs and sweeps, not a day

SETTINGS: dict[str, tuple[type, str]] = {
    "root_dir": (str, "the project root: notebooks are resolved inside it"),
    "state_dir": (
        str,
        "work folders, deployments, posted notebooks (default: the SQLite store's folder, "
        "else <root>/.mlops)",
    ),
    "store_url": (str, "SQLAlchemy URL of the store (default SQLite <state_dir>/mlops.db)"),
    "artifacts_dir": (str, "artifact bytes (default <state_dir>/artifacts)"),
    "artifact_url": (
        str,
        "fsspec URL of shared artifact bytes, e.g. s3://bucket/prefix "
        "(default: artifacts_dir itself; else artifacts_dir is its local cache)",
    ),
    "engine": (str, "papermill engine of runs: mlops or papermill"),
    "cell_timeout": (float, "seconds a cell may run (0: no limit)"),
    "keep_warm": (
        float,
        "seconds a CLI command's zygotes stay warm for the next command (0: they end with it)",
    ),
    "max_sweep_runs": (int, "the most runs one sweep may make (a larger one is refused)"),
    "executor": (str, "where runs execute: local, dask, or a registered executor"),
    "dask_address": (str, "the Dask scheduler of the dask executor (default: a LocalCluster)"),
}


@dataclass(frozen=True)
class Project:
    """Where a project keeps everything, resolved: absolute paths, no default left open."""

    root_dir: str
    state_dir: str
    store_url: str
    artifacts_dir: str
    engine: str = "mlops"
    artifact_url: str = ""  # empty: the bytes live in artifacts_dir
    cell_timeout: float = 0.0
    keep_warm: float = DEFAULT_KEEP_WARM
    max_sweep_runs: int = DEFAULT_MAX_SWEEP_RUNS
    executor: str = "local"
    dask_address: str = ""
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)  # setting -> where
    files: tuple[str, ...] = field(default=(), compare=False)  # config files read
    warnings: tuple[str, ...] = field(default=(), compare=False)

    # -- the one place the state folder's layout is written down ------------------------------

    @property
    def work_dir(self) -> Path:
        """Private folders of runs in flight."""
        return Path(self.state_dir) / "work"

    @property
    def deployments_dir(self) -> Path:
        """One folder per deployment: snapshots, logs, monitor windows (``deploy/files.py``)."""
        return Path(self.state_dir) / "deployments"

    @property
    def posted_dir(self) -> Path:
        """Live notebook content sent by the editor, staged for a run."""
        return Path(self.state_dir) / "posted"

    # -- building ----------------------------------------------------------------------------

    @classmethod
    def resolve(
        cls,
        values: Mapping[str, Any],
        sources: Mapping[str, str] | None = None,
        *,
        default_root: str | os.PathLike[str] | None = None,
        files: tuple[str, ...] = (),
        warnings: tuple[str, ...] = (),
    ) -> Project:
        """Fill the defaults in and make every path absolute (relative ones: from the root)."""
        given = {key: value for key, value in values.items() if value not in (None, "")}
        known = dict(sources or {})
        for key, value in given.items():
            _check(key, value, known.get(key, "settings"))
        root = Path(os.path.expanduser(given.get("root_dir") or default_root or os.getcwd()))
        root = root.resolve()

        def place(key: str, default: Path) -> str:
            if key not in given:
                return str(default)
            return str((root / os.path.expanduser(given[key])).resolve())

        store_url = _absolute_url(given.get("store_url") or "", root)
        # A SQLite store's folder is where the rest of the local state goes by default, so
        # moving the store file moves everything and nothing is left under <root>/.mlops.
        state = Path(place("state_dir", _sqlite_folder(store_url) or root / STATE_DIR))
        store_url = store_url or f"sqlite:///{state / 'mlops.db'}"
        return cls(
            root_dir=str(root),
            state_dir=str(state),
            store_url=store_url,
            artifacts_dir=place("artifacts_dir", state / "artifacts"),
            engine=str(given.get("engine", "mlops")),
            artifact_url=str(given.get("artifact_url", "")),
            cell_timeout=float(given.get("cell_timeout", 0.0)),
            keep_warm=float(given.get("keep_warm", DEFAULT_KEEP_WARM)),
            max_sweep_runs=int(given.get("max_sweep_runs", DEFAULT_MAX_SWEEP_RUNS)),
            executor=str(given.get("executor", "local")),
            dask_address=str(given.get("dask_address", "")),
            sources={key: known.get(key, DEFAULT) if key in given else DEFAULT for key in SETTINGS},
            files=files,
            warnings=warnings,
        )

    def updated(self, overrides: Mapping[str, Any], source: str) -> Project:
        """This project with some settings given again (what is None or empty is kept)."""
        given = {k: v for k, v in overrides.items() if v not in (None, "")}
        if not given:
            return self
        # what was a default is derived again (a new root or store moves the state with it)
        values = {
            key: getattr(self, key)
            for key in SETTINGS
            if key == "root_dir" or self.sources.get(key, DEFAULT) != DEFAULT
        }
        sources = {**self.sources, **dict.fromkeys(given, source)}
        return Project.resolve(
            {**values, **given}, sources, files=self.files, warnings=self.warnings
        )

    # -- handing it on -----------------------------------------------------------------------

    def to_json(self) -> str:
        data = asdict(self)
        data["sources"] = dict(self.sources)
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> Project:
        data = json.loads(text)
        data["files"] = tuple(data.get("files", ()))
        data["warnings"] = tuple(data.get("warnings", ()))
        return cls(**data)

    def environ(self) -> dict[str, str]:
        """What a child process needs in its environment to use this project."""
        return {PROJECT_ENV: self.to_json()}

    def settings(self, *, masked: bool = True) -> dict[str, dict[str, Any]]:
        """Each setting with its value (secrets masked) and where it came from."""
        shown: dict[str, dict[str, Any]] = {}
        for key in SETTINGS:
            value = getattr(self, key)
            if key in ("store_url", "artifact_url") and masked and value:
                value = mask_url(value)
            shown[key] = {"value": value, "source": self.sources.get(key, DEFAULT)}
        return shown


def project_from_environ(environ: Mapping[str, str] | None = None) -> Project | None:
    """The project a parent process handed on, if it did (keeper and serving processes)."""
    text = (os.environ if environ is None else environ).get(PROJECT_ENV)
    if not text:
        return None
    try:
        return Project.from_json(text)
    except (ValueError, TypeError) as err:
        raise MLOpsError(f"{PROJECT_ENV} does not hold a project: {err}") from None


def served_project_file(pid: int | str) -> Path:
    """Where a Jupyter server with this extension leaves its project for its kernels' magics
    (beside its own ``jpserver-<pid>.json``, in the private runtime folder)."""
    from jupyter_core.paths import jupyter_runtime_dir

    return Path(jupyter_runtime_dir()) / f"jupyter_mlops-{pid}.json"


def write_served_project(project: Project, pid: int) -> Path:
    """Leave the server's resolved project where its kernels find it (owner-only, atomic)."""
    path = served_project_file(pid)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(project.to_json())
    os.replace(temporary, path)
    return path


def read_served_project(environ: Mapping[str, str]) -> Project | None:
    """The project of the Jupyter server that started this kernel (None: none left one)."""
    pid = environ.get("JPY_PARENT_PID", "")
    if not pid.isdigit():
        return None
    try:
        return Project.from_json(served_project_file(pid).read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return None


def config_paths() -> list[Path]:
    """The folders searched for ``jupyter_mlops_config.*``, lowest precedence first."""
    from jupyter_core.paths import jupyter_config_path

    return [Path(folder) for folder in reversed(jupyter_config_path())]


def load_project(
    *,
    overrides: Mapping[str, Any] | None = None,
    source: str = "explicit",
    default_root: str | os.PathLike[str] | None = None,
) -> Project:
    """Read the config files (see the module docstring) and resolve the project.

    ``overrides`` are what the surface was told explicitly (labelled ``source``);
    ``default_root`` is the root when nothing sets one (the server's root, the cwd).
    """
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    files: list[str] = []
    warnings: list[str] = []
    for folder in config_paths():
        for suffix in (".py", ".json"):  # traitlets' order: the .json of a folder wins
            _read_into(folder / f"{CONFIG_NAME}{suffix}", values, sources, files, warnings)
    explicit = {k: v for k, v in (overrides or {}).items() if v not in (None, "")}
    for key in [key for key in explicit if key not in SETTINGS]:
        warnings.append(f"{source}: unknown setting {SECTION}.{key}")
        del explicit[key]
    root = explicit.get("root_dir") or values.get("root_dir") or default_root or os.getcwd()
    root_path = (Path(os.path.expanduser(str(root)))).resolve()
    project_file = root_path / f"{CONFIG_NAME}.json"
    local: dict[str, Any] = {}
    local_sources: dict[str, str] = {}
    _read_into(project_file, local, local_sources, files, warnings)
    if local.pop("root_dir", None) is not None:
        local_sources.pop("root_dir")
        warnings.append(f"{project_file}: root_dir is ignored (the project is where this file is)")
    values.update(local)
    sources.update(local_sources)
    if (root_path / f"{CONFIG_NAME}.py").is_file():
        warnings.append(
            f"{root_path / CONFIG_NAME}.py is ignored: a project's own settings are read from "
            f"{CONFIG_NAME}.json only (a .py there would run code from the folder)"
        )
    for key, value in explicit.items():
        values[key] = value
        sources[key] = source
    values["root_dir"] = str(root_path)
    if "root_dir" not in sources:  # neither a file nor the surface: the cwd or the server's
        sources["root_dir"] = DEFAULT
    return Project.resolve(
        values, sources, files=tuple(files), warnings=tuple(dict.fromkeys(warnings))
    )


def _read_into(
    path: Path,
    values: dict[str, Any],
    sources: dict[str, str],
    files: list[str],
    warnings: list[str],
) -> None:
    if not path.is_file():
        return
    section = _read(path)
    files.append(str(path))
    for key, value in section.items():
        if key not in SETTINGS:
            warnings.append(
                f"{path}: unknown setting {SECTION}.{key} (known: {', '.join(SETTINGS)})"
            )
            continue
        _check(key, value, str(path))
        values[key] = value
        sources[key] = str(path)


def _read(path: Path) -> dict[str, Any]:
    """The ``MLOps`` section of one traitlets config file (.py or .json)."""
    from traitlets.config.loader import JSONFileConfigLoader, PyFileConfigLoader

    loader_class = PyFileConfigLoader if path.suffix == ".py" else JSONFileConfigLoader
    try:
        config = loader_class(path.name, path=str(path.parent)).load_config()
    except Exception as err:  # a user's file: a syntax error, bad JSON, an exception it raised
        raise MLOpsError(
            f"cannot read the config file {path}: {type(err).__name__}: {err}"
        ) from None
    section = config.get(SECTION, {})
    return {key: section[key] for key in section}


def _check(key: str, value: Any, where: str) -> None:
    expected, _ = SETTINGS[key]
    if expected is float:
        good = isinstance(value, (int, float)) and not isinstance(value, bool)
        good = good and value >= 0 and value == value and value != float("inf")
        kind = "a number >= 0"
    elif expected is int:
        good = isinstance(value, int) and not isinstance(value, bool) and value >= 1
        kind = "a whole number >= 1"
    else:
        good = isinstance(value, str)
        kind = "a string"
    if not good:
        raise MLOpsError(f"{where}: {SECTION}.{key} must be {kind}, not {value!r}")


def _absolute_url(url: str, root: Path) -> str:
    """A SQLite URL with a relative file path made absolute (from the root); others as given."""
    if not url.startswith("sqlite"):
        return url
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:
        raise MLOpsError(f"store_url {mask_url(url)!r} is not a SQLAlchemy URL") from None
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return url
    path = Path(os.path.expanduser(database))
    if path.is_absolute():
        return url
    absolute = parsed.set(database=str((root / path).resolve()))
    return absolute.render_as_string(hide_password=False)


def _sqlite_folder(url: str) -> Path | None:
    """The folder of a SQLite store file (None: no URL, a server database, in memory)."""
    if not url.startswith("sqlite"):
        return None
    from sqlalchemy.engine import make_url

    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).parent


def mask_url(url: str) -> str:
    """A store URL fit to show: the password, and any secret-looking query value, as ***."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:
        return "***"  # unparsable: it could hold anything
    base = parsed.set(query={}).render_as_string(hide_password=True)
    if not parsed.query:
        return base
    pairs = []
    for key, value in parsed.query.items():
        for one in (value,) if isinstance(value, str) else value:
            pairs.append((key, "***" if _secret(key) else one))
    return f"{base}?{urlencode(pairs, safe='*')}"


def _secret(key: str) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in ("password", "secret", "token", "key", "pwd"))
