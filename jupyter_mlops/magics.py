"""``%mlops``: the IPython surface (``%load_ext jupyter_mlops``).

One line magic with the CLI's subcommands, acting on a notebook *file*::

    %mlops inspect
    r = %mlops run train -p C=0.5
    best = %mlops sweep train -p C=0.1,1 -p max_iter=100,300 --parallel 2 --select max:accuracy
    %mlops runs --function train --limit 5

**The saved notebook.** The magic reads the notebook as it is on disk: save it (Ctrl-S) to run
what you see. The sidebar sends the editor's live content, unsaved edits included.

**Which notebook.** ``--notebook PATH`` (relative to the kernel's working directory) if given.
Otherwise the notebook this kernel belongs to: jupyter_server (2.x and later) starts each
notebook's kernel with ``JPY_SESSION_NAME`` in its environment, set once when the session
is created (``SessionManager.get_kernel_env``). It is the session's path: an absolute file
path when the frontend names the session (JupyterLab does), else the API path relative to
the server's root, which is resolved here by walking up from the kernel's working directory
(the server starts a kernel in the notebook's folder). VS Code's ``__vsc_ipynb_file__``
variable is used the same way. A notebook renamed after its kernel started keeps the old
name in the environment: then, or in a kernel no server started (``jupyter console``,
papermill), the magic says to pass ``--notebook``.

**Which store.** The project of the Jupyter server that started this kernel, when it holds
the notebook: the server extension leaves its resolved settings (config files and the
server's own ``c.MLOps``) in ``jupyter_mlops-<pid>.json`` beside its ``jpserver-<pid>.json``
runtime file, ``JPY_PARENT_PID`` being the server's pid, so the runs are those the sidebar
shows. Else the settings every surface reads (``jupyter_mlops_config.py|json``, see
``project.py``) with the root of that server (without the extension) or the kernel's working
directory as the default root. The kernel's own ``c.MLOps`` goes on top either way.
``%mlops config`` shows where the store is.

**Errors.** A bad argument, parameter, notebook or function is one ``UsageError`` line that
names it (no traceback, nothing run or recorded). A run that fails is not an error: the Run
comes back with ``status == "failed"`` and the failing cell. Interrupting the kernel cancels
the run (its kernel and children are stopped) and records it ``cancelled``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from traitlets import Bool

from .arguments import normalize_parameters, parameter_values, sweep_options, sweep_space
from .errors import MLOpsError
from .kernel_session import (
    VSCODE_VARIABLE,
    inside,
    jupyter_server_root,
    kernel_notebook,
    no_notebook_message,
)
from .magic_grammar import USAGE, HelpShownError, build_parser
from .project import read_served_project

if TYPE_CHECKING:
    from .project import Project
    from .service import MLOps

logger = logging.getLogger(__name__)


class TextReport:
    """A report shown as plain text (the deployment commands' output)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.text)


@magics_class
class MLOpsMagics(Magics):
    """``%mlops …``: see the module docstring, or ``%mlops help``."""

    widgets = Bool(
        True,
        config=True,
        help="Show results and progress as ipywidgets when the shell runs in a kernel "
        "(False: plain text only, as in a terminal).",
    )

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)  # type: ignore[no-untyped-call]
        self._services: dict[str, MLOps] = {}

    @property
    def use_widgets(self) -> bool:
        """In a kernel (a frontend may render widgets) and not switched off."""
        return bool(self.widgets) and getattr(self.shell, "kernel", None) is not None

    @line_magic  # type: ignore[untyped-decorator]
    def mlops(self, line: str) -> Any:
        """Tracked runs, sweeps and versions of this notebook's tagged functions.

        %mlops inspect | run [FUNCTION] -p NAME=VALUE | sweep [FUNCTION] -p NAME=V1,V2 |
        runs | show RUN | cancel RUN | versions F | tag F VERSION ALIAS | diff F A B |
        convert --to TARGET | help;  every command takes --notebook PATH.

        Acts on the notebook as saved on disk (the sidebar uses live, unsaved content).
        Without --notebook: the notebook this kernel was started for (JPY_SESSION_NAME).
        ``%mlops help`` lists the options.
        """
        try:
            words = shlex.split(line)
        except ValueError as err:
            raise UsageError(f"%mlops: {err}") from None
        try:
            arguments = build_parser().parse_args(normalize_parameters(words))
        except HelpShownError:
            return None
        command = arguments.command or "help"
        if command == "help":
            print(USAGE, end="")
            return None
        try:
            return getattr(self, f"_{command}")(arguments)
        except MLOpsError as err:
            # a strict convert's refusal lists what it would have changed, one line each
            listed = "".join(f"\nwarning: {w}" for w in getattr(err, "warnings", []))
            raise UsageError(str(err) + listed) from None

    # -- the commands ------------------------------------------------------------------------

    def _inspect(self, arguments: argparse.Namespace) -> Any:
        service, notebook = self._notebook(arguments.notebook)
        return self._plan(service, notebook)

    def _run(self, arguments: argparse.Namespace) -> Any:
        from .execute.foreground import wait_in_foreground
        from .executor_choice import use_scheduler
        from .widgets import RunProgress

        service, notebook = self._notebook(arguments.notebook)
        use_scheduler(service, arguments)
        request = service.prepare_run(
            notebook,
            parameters=parameter_values(arguments.parameter),
            as_text=True,
            function=arguments.function,
            from_run=arguments.from_run,
            idempotency_key=arguments.idempotency_key,
            timeout=arguments.timeout,
            engine=arguments.engine,
            kernel=arguments.kernel,
            executor=arguments.executor,
        )
        assert request.run_id is not None
        run_id = request.run_id
        progress = RunProgress(
            arguments.function or request.notebook_name, widgets=self.use_widgets
        )
        progress.show()

        def cancel() -> None:
            with contextlib.suppress(MLOpsError):  # it finished meanwhile
                service.cancel(run_id)

        run = wait_in_foreground(
            lambda: service.execute(request, on_start=progress.started),
            on_interrupt=cancel,
            tick=progress.tick,
            interval=0.5,
        )
        progress.finish(run)
        return run

    def _sweep(self, arguments: argparse.Namespace) -> Any:
        from .execute.sweep import check_parallel
        from .executor_choice import use_scheduler
        from .widgets import SweepProgress

        service, notebook = self._notebook(arguments.notebook)
        check_parallel(arguments.parallel)
        use_scheduler(service, arguments)
        job = service.prepare_sweep(
            notebook,
            sweep_space(arguments.parameter),
            **sweep_options(arguments),
        )
        what = f"sweep {arguments.function or job.sweep.notebook}"
        progress = SweepProgress(what, len(job.requests), job.select, widgets=self.use_widgets)
        progress.show()
        try:
            result = service.run_sweep(
                job,
                parallel=arguments.parallel,
                fail_fast=arguments.fail_fast,
                on_progress=progress.update,
            )
        except KeyboardInterrupt:
            progress.interrupted()
            raise
        progress.finish(result)
        return result

    def _submit(self, arguments: argparse.Namespace) -> Any:
        """The notebook as a KFP run (``cli_submit.py``); ``--wait`` follows it here."""
        from .execute.kfp_remote import KfpAuth

        service, notebook = self._notebook(arguments.notebook)
        auth = KfpAuth.from_environment(arguments.existing_token, arguments.cookies)
        run = service.submit(
            notebook,
            parameter_values(arguments.parameter),
            as_text=True,
            host=arguments.host,
            experiment=arguments.experiment,
            auth=auth,
        )
        print(f"KFP run {run.external_id}: {run.external_url}")
        if arguments.wait:
            run = service.kfp_executor().wait(run, auth=auth)
        return run

    def _runs(self, arguments: argparse.Namespace) -> Any:
        from .widgets import RunList

        notebook_name: str | None = None
        if arguments.all:
            service = self._service(self._root(None))
        elif arguments.notebook is None and self._kernel_notebook() is None:
            service = self._service(self._root(None))  # no notebook known: the whole store
        else:
            service, notebook = self._notebook(arguments.notebook)
            notebook_name = _name_in(service, notebook)
        page = service.runs(
            notebook=notebook_name,
            function=arguments.function,
            status=arguments.status,
            sweep=arguments.sweep,
            executor=arguments.executor,
            order_by=arguments.sort,
            limit=arguments.limit,
        )
        return RunList(page.runs)

    def _show(self, arguments: argparse.Namespace) -> Any:
        return self._store_service(arguments).show(arguments.run_id)

    def _cancel(self, arguments: argparse.Namespace) -> Any:
        return self._store_service(arguments).cancel(arguments.run_id)

    def _config(self, arguments: argparse.Namespace) -> Any:
        from .reports import config_report

        given = arguments.notebook
        notebook = Path(given).resolve() if given else self._kernel_notebook()
        project = self._project(self._root(notebook))
        return TextReport(str(config_report(project, as_json=False)))

    def _versions(self, arguments: argparse.Namespace) -> Any:
        from .widgets import VersionList

        service = self._store_service(arguments)
        return VersionList(arguments.function, service.versions(arguments.function))

    def _tag(self, arguments: argparse.Namespace) -> Any:
        service = self._store_service(arguments)
        return service.tag(arguments.function, arguments.version, arguments.alias)

    def _diff(self, arguments: argparse.Namespace) -> Any:
        from .widgets import VersionDiff

        service = self._store_service(arguments)
        old, new, text = service.diff(arguments.function, arguments.a, arguments.b)
        return VersionDiff(arguments.function, old, new, text)

    def _deploy(self, arguments: argparse.Namespace) -> Any:
        service, notebook = self._notebook(arguments.notebook)
        arguments.notebook = notebook
        return self._deployments_command(service, arguments)

    def _deployments(self, arguments: argparse.Namespace) -> Any:
        return self._deployments_command(self._store_service(arguments), arguments)

    _logs = _undeploy = _rollback = _deployments

    def _deployments_command(self, service: MLOps, arguments: argparse.Namespace) -> Any:
        """The CLI's deployment commands; a new token goes to ``mlops_tokens``, not the output
        (an output is saved in the notebook file)."""
        from .cli_deploy import dispatch

        printed: list[str] = []

        def keep_token(name: str, token: str) -> str:
            tokens = self.shell.user_ns.setdefault("mlops_tokens", {}) if self.shell else {}
            tokens[name] = token
            return (
                f"  token     in mlops_tokens[{name!r}] (shown nowhere else: the store keeps "
                "its sha256 only)"
            )

        dispatch(service, arguments, lambda text, _json: printed.append(str(text)), keep_token)
        return TextReport("\n".join(printed))

    def _promote(self, arguments: argparse.Namespace) -> Any:
        service, notebook = self._notebook(arguments.notebook)
        arguments.notebook = notebook
        return self._loop_command(service, arguments)

    def _policy(self, arguments: argparse.Namespace) -> Any:
        return self._loop_command(self._store_service(arguments), arguments)

    _events = _policy

    def _watch(self, arguments: argparse.Namespace) -> Any:
        arguments.once, arguments.interval = True, 1.0  # one pass: a kernel is not a daemon
        return self._loop_command(self._store_service(arguments), arguments)

    def _ci(self, arguments: argparse.Namespace) -> Any:
        service, notebook = self._notebook(arguments.notebook)
        arguments.notebook = notebook
        return self._loop_command(service, arguments)

    def _loop_command(self, service: MLOps, arguments: argparse.Namespace) -> Any:
        """The CLI's loop commands (``cli_loop``, ``cli_promote``), their text as the result;
        a failed gate is a UsageError naming the clause, as the CLI exits 1 with it."""
        from . import cli_ci, cli_loop, cli_promote

        module: Any = next(
            m for m in (cli_promote, cli_ci, cli_loop) if arguments.command in m.COMMANDS
        )
        printed: list[str] = []
        code = module.dispatch(service, arguments, lambda text, _json: printed.append(str(text)))
        if code:
            raise UsageError("\n".join(printed))
        return TextReport("\n".join(printed))

    def _lineage(self, arguments: argparse.Namespace) -> Any:
        from .cli_lineage import dispatch

        printed: list[str] = []
        dispatch(
            self._store_service(arguments),
            arguments,
            lambda value, as_json: printed.append(
                json.dumps(value, indent=2, ensure_ascii=False) if as_json else str(value)
            ),
        )
        return TextReport("\n".join(printed))

    _audit = _lineage

    def _convert(self, arguments: argparse.Namespace) -> Any:
        service, notebook = self._notebook(arguments.notebook)
        return service.convert(
            notebook, arguments.to, Path(arguments.output), strict=arguments.strict
        )

    # -- notebooks, roots and services -------------------------------------------------------

    @staticmethod
    def _plan(service: MLOps, notebook: str) -> Any:
        from .notebook.reader import read_notebook
        from .paths import notebook_in_root

        path = notebook_in_root(service.root_dir, notebook)
        name = _name_in(service, notebook)
        return service.inspect(read_notebook(path, name=name), name=name)

    def _kernel_notebook(self) -> Path | None:
        import sys

        user_ns = getattr(self.shell, "user_ns", {}) or {}
        main = vars(sys.modules["__main__"]) if "__main__" in sys.modules else {}
        vscode = user_ns.get(VSCODE_VARIABLE, main.get(VSCODE_VARIABLE))
        return kernel_notebook(os.environ, Path.cwd(), vscode)

    def _notebook(self, given: str | None) -> tuple[MLOps, str]:
        """The service for a notebook's project root, and the notebook as it names it."""
        relative: str | None = None
        if given is not None:
            path = Path(given).expanduser()
            absolute = path if path.is_absolute() else Path.cwd() / path
            relative = None if path.is_absolute() else given
        else:
            found = self._kernel_notebook()
            if found is None:
                raise UsageError(no_notebook_message())
            if not found.is_file():
                raise UsageError(
                    f"this kernel was started for {str(found)!r}, which is not there now "
                    "(renamed or moved?); pass --notebook PATH"
                )
            absolute = found
        root = self._root(absolute)
        service = self._service(root)
        if relative is not None and Path.cwd().resolve() == root:
            return service, relative  # as typed: the service's path check quotes it so
        return service, str(absolute)

    def _store_service(self, arguments: argparse.Namespace) -> MLOps:
        if arguments.notebook is not None:
            return self._notebook(arguments.notebook)[0]
        return self._service(self._root(self._kernel_notebook()))

    def _root(self, notebook: Path | None) -> Path:
        """The project root: the one of the Jupyter server that started this kernel (if it
        holds the notebook), else the configured one (config files or the kernel's c.MLOps),
        else the kernel's working directory."""
        cwd = Path.cwd().resolve()
        target = (notebook or cwd).resolve()
        served = read_served_project(os.environ)
        if served is not None and inside(target, Path(served.root_dir)):
            return Path(served.root_dir)
        server_root = jupyter_server_root(os.environ)
        if server_root is not None and inside(target, server_root):
            return Path(self._project(server_root).root_dir)
        return Path(self._project(cwd).root_dir)

    def _project(self, default_root: Path) -> Project:
        """The settings every surface reads, with the kernel's own c.MLOps on top: those of
        the server that started this kernel when it is that server's project."""
        from .project import load_project

        section = self.shell.config.get("MLOps", {}) if self.shell else {}
        overrides = {key: section[key] for key in section}
        source = "kernel config (c.MLOps)"
        served = read_served_project(os.environ)
        if served is not None and Path(served.root_dir) == default_root:
            return served.updated(overrides, source)
        return load_project(overrides=overrides, source=source, default_root=default_root)

    def _service(self, root: Path) -> MLOps:
        from .service import MLOps

        key = str(root)
        if key not in self._services:
            project = self._project(root)
            for warning in project.warnings:
                logger.warning("%s", warning)
            # a kernel sits idle between magics: hold no database connection meanwhile
            self._services[key] = MLOps(parent=self.shell, project=project, pooled=False)
        return self._services[key]

    def close(self) -> None:
        for service in self._services.values():
            service.close()
        self._services.clear()


def _name_in(service: MLOps, notebook: str) -> str:
    from .paths import notebook_in_root, relative_name

    return relative_name(service.root_dir, notebook_in_root(service.root_dir, notebook))


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext jupyter_mlops``: register ``%mlops`` and the result formatters."""
    from .widgets import register_formatters

    magics = MLOpsMagics(shell=ipython)
    ipython.register_magics(magics)
    register_formatters(ipython, widgets=magics.use_widgets)
    _loaded[id(ipython)] = magics


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext jupyter_mlops``: the formatters go, and the stores are closed."""
    from .widgets import unregister_formatters

    unregister_formatters(ipython)
    magics = _loaded.pop(id(ipython), None)
    if magics is not None:
        magics.close()
        ipython.magics_manager.magics["line"].pop("mlops", None)


_loaded: dict[int, MLOpsMagics] = {}
