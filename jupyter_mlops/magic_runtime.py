"""IPython magics and ``!`` lines as plain Python: the helpers generated code calls.

``notebook/source.py`` rewrites each magic into a call of one of these helpers, so the
generated module does what the kernel did: ``!cmd`` runs the command, ``%env X=$Y`` expands
``$Y``, ``%timeit`` keeps its assignments to itself. Generated code must run where
jupyter_mlops is not installed, so (like ``convert/runtime_io.py``) this source is pasted into
the generated module or KFP component that uses it: standard library only, self-contained,
and every name starts with ``_mlops`` (the analysis ignores those names, and they cannot
collide with the notebook's own).

Behaviour follows IPython's (8.x/9.x) where a plain process can do the same; the deliberate
differences are in the README's magic table (``%timeit`` runs its statement once, not many
times: a pipeline step should not benchmark).
"""

# ruff: noqa: N801, N816 - every name starts with _mlops (see above), classes too

import os as _mlops_os
import re as _mlops_re
import string as _mlops_string
import subprocess as _mlops_subprocess
import sys as _mlops_sys
import threading as _mlops_threading
import time as _mlops_clock
from typing import Any as _mlops_Any

# $name or $name.attr outside single quotes; $$ escapes a dollar (IPython's DollarFormatter)
_mlops_DOLLAR = _mlops_re.compile(r"(.*?)\$(\$?[\w.]+)(?=([^']*'[^']*')*[^']*$)")


def _mlops_fields(text: str) -> list[tuple[str, _mlops_Any, _mlops_Any]]:
    """``text`` as (literal, expression or None, conversion or None) pieces, the way
    IPython's var_expand reads a command line: ``{expr}`` fields, then ``$name`` fields in
    the literal parts. Raises ValueError where IPython's formatter would fail."""
    pieces: list[tuple[str, _mlops_Any, _mlops_Any]] = []
    for literal, field, spec, conversion in _mlops_string.Formatter().parse(text):
        done = 0
        pending = ""
        for match in _mlops_DOLLAR.finditer(literal):
            before, name = match.group(1, 2)
            if name.startswith("$"):  # $$name: a literal $name
                pending += before + name
            else:
                pieces.append((pending + before, name, None))
                pending = ""
            done = match.end()
        expression = None if field is None else (field + ":" + spec if spec else field)
        pieces.append((pending + literal[done:], expression, conversion))
    return pieces


def _mlops_expand(text: str, *values: _mlops_Any) -> str:
    """``text`` with its fields replaced by ``values`` (one callable per field, in order), or
    ``text`` unchanged if any of them fails, as IPython leaves a line it cannot expand."""
    try:
        result = []
        thunks = iter(values)
        for literal, expression, conversion in _mlops_fields(text):
            result.append(literal)
            if expression is not None:
                value = next(thunks)()
                if conversion == "r":
                    value = repr(value)
                elif conversion == "a":
                    value = ascii(value)
                elif conversion == "s":
                    value = str(value)
                result.append(format(value, ""))
        return "".join(result)
    except Exception:  # IPython's rule: any failure leaves the line as written
        return text


def _mlops_flush() -> None:
    _mlops_sys.stdout.flush()
    _mlops_sys.stderr.flush()


def _mlops_pump(stream: _mlops_Any, sink: _mlops_Any, keep: _mlops_Any = None) -> None:
    """Copy a child's output to ``sink`` (or into the list ``keep``) as it arrives."""
    for raw in iter(stream.readline, b""):
        text = raw.decode("utf-8", "replace")
        if keep is not None:
            keep.append(text)
        else:
            sink.write(text)
            sink.flush()
    stream.close()


def _mlops_system(command: str) -> int:
    """``!cmd``: run it with the user's shell; its output (stdout and stderr together, as a
    kernel shows them) goes to sys.stdout. A failing command does not raise (IPython keeps
    the exit code in ``_exit_code``; it is returned here)."""
    shell = _mlops_os.environ.get("SHELL") or "/bin/sh"
    _mlops_flush()
    process = _mlops_subprocess.Popen(
        [shell, "-c", command], stdout=_mlops_subprocess.PIPE, stderr=_mlops_subprocess.STDOUT
    )
    _mlops_pump(process.stdout, _mlops_sys.stdout)
    return process.wait()


class _mlops_SList(list):  # type: ignore[type-arg]
    """``x = !cmd``: the output's lines, with IPython's SList shortcuts .l, .n and .s."""

    @property
    def l(self) -> list[str]:  # noqa: E743 - IPython's name
        return list(self)

    @property
    def n(self) -> str:
        return "\n".join(self)

    @property
    def s(self) -> str:
        return " ".join(self)

    list = l
    nlstr = n
    spstr = s


def _mlops_getoutput(command: str) -> _mlops_SList:
    """``x = !cmd`` and ``%sx``: the command's stdout and stderr as a list of lines."""
    _mlops_flush()
    done = _mlops_subprocess.run(
        command,
        shell=True,
        stdout=_mlops_subprocess.PIPE,
        stderr=_mlops_subprocess.STDOUT,
        check=False,
    )
    return _mlops_SList(done.stdout.decode("utf-8", "replace").splitlines())


def _mlops_env(argument: str) -> _mlops_Any:
    """``%env``: list, read (``%env X``) or set (``%env X=v``, ``%env X v``) a variable."""
    if not argument.strip():
        secret = ("key", "token", "secret")
        return {
            k: ("<hidden>" if any(s in k.lower() for s in secret) else v)
            for k, v in _mlops_os.environ.items()
        }
    separator = "=" if "=" in argument else " "
    parts = argument.split(separator, 1)
    if len(parts) == 1:
        key = argument.strip()
        if key not in _mlops_os.environ:
            raise KeyError(f"Environment does not have key: {key}")
        return _mlops_os.environ[key]
    key, value = parts[0].strip(), parts[1].strip()
    if _mlops_re.match(r".*\s.*", key):
        raise ValueError(f"refusing to set env var with whitespace: '{value}'")
    _mlops_os.environ[key] = value
    print(f"env: {key}={value}")
    return None


_mlops_dir_history: list[str] = []


def _mlops_cd(argument: str) -> None:
    """``%cd``: ``%cd DIR``, ``%cd`` (home), ``%cd -`` (back), ``%cd -N`` (the N-th folder
    of this run's history), ``%cd --PART``, ``-q``; prints the new folder like IPython."""
    if not _mlops_dir_history:
        _mlops_dir_history.append(_mlops_os.getcwd())
    argument = argument.strip()
    quiet = False
    if _mlops_re.match(r"-q(\s|$)", argument):
        quiet, argument = True, argument[2:].strip()
    numbered = _mlops_re.fullmatch(r"-(\d+)", argument)
    if numbered:
        number = int(numbered.group(1))
        if number >= len(_mlops_dir_history):
            print("The requested directory does not exist in history.")
            return
        target = _mlops_dir_history[number]
    elif argument.startswith("--"):
        matches = [d for d in reversed(_mlops_dir_history) if argument[2:] in d]
        if not matches:
            print("No matching entry in directory history")
            return
        target = matches[0]
    elif argument == "-":
        if len(_mlops_dir_history) < 2:
            raise RuntimeError("%cd -: No previous directory to change to.")
        target = _mlops_dir_history[-2]
    else:
        quoted = _mlops_re.fullmatch(r"'(.*)'|\"(.*)\"", argument)
        if quoted:
            argument = quoted.group(1) if quoted.group(1) is not None else quoted.group(2)
        target = argument or _mlops_os.path.expanduser("~")
    old = _mlops_os.getcwd()
    try:
        _mlops_os.chdir(_mlops_os.path.expanduser(target))
    except OSError as error:
        print(error)  # IPython prints the error and goes on
    else:
        if _mlops_os.getcwd() != old:
            _mlops_dir_history.append(_mlops_os.getcwd())
    if not quiet:
        print(_mlops_dir_history[-1])


def _mlops_script(
    program: list[str],
    body: str,
    *,
    out: bool = False,
    err: bool = False,
    background: bool = False,
    process: bool = False,
    raise_error: bool = True,
) -> _mlops_Any:
    """``%%bash`` / ``%%script PROGRAM``: the cell's body on the program's stdin.

    Returns what the magic's options bind: the stdout text (``--out``), the stderr text
    (``--err``), or both as a pair; with ``--bg`` the process's streams (``--out``/``--err``)
    and the process (``--proc``), and output nobody asked for is discarded, as IPython does.
    """
    data = (body if body.endswith("\n") else body + "\n").encode("utf-8", "replace")
    _mlops_flush()
    pipe = _mlops_subprocess.PIPE
    if background:
        child = _mlops_subprocess.Popen(
            program,
            stdin=pipe,
            stdout=pipe if out else _mlops_subprocess.DEVNULL,
            stderr=pipe if err else _mlops_subprocess.DEVNULL,
        )
        feeder = _mlops_threading.Thread(target=_mlops_feed, args=(child.stdin, data), daemon=True)
        feeder.start()
        wanted = (child.stdout, out), (child.stderr, err), (child, process)
        bound = [value for value, asked in wanted if asked]
        return None if not bound else bound[0] if len(bound) == 1 else tuple(bound)
    process_ = _mlops_subprocess.Popen(program, stdin=pipe, stdout=pipe, stderr=pipe)
    kept_out: list[str] = []
    kept_err: list[str] = []
    readers = [
        _mlops_threading.Thread(
            target=_mlops_pump, args=(process_.stdout, _mlops_sys.stdout, kept_out if out else None)
        ),
        _mlops_threading.Thread(
            target=_mlops_pump, args=(process_.stderr, _mlops_sys.stderr, kept_err if err else None)
        ),
    ]
    for reader in readers:
        reader.start()
    _mlops_feed(process_.stdin, data)
    for reader in readers:
        reader.join()
    code = process_.wait()
    if raise_error and code != 0:
        raise _mlops_subprocess.CalledProcessError(code, data)
    found = [
        text for text, wanted in (("".join(kept_out), out), ("".join(kept_err), err)) if wanted
    ]
    return None if not found else found[0] if len(found) == 1 else tuple(found)


def _mlops_feed(stdin: _mlops_Any, data: bytes) -> None:
    try:
        stdin.write(data)
        stdin.close()
    except BrokenPipeError:  # the program exited without reading its script
        pass


def _mlops_writefile(filename: str, body: str, append: bool = False) -> None:
    """``%%writefile [-a] FILE``: the cell's body, written as is, with IPython's message."""
    quoted = _mlops_re.fullmatch(r"'(.*)'|\"(.*)\"", filename)
    if quoted:
        filename = quoted.group(1) if quoted.group(1) is not None else quoted.group(2)
    filename = _mlops_os.path.expanduser(filename)
    if _mlops_os.path.exists(filename):
        print(f"Appending to {filename}" if append else f"Overwriting {filename}")
    else:
        print(f"Writing {filename}")
    with open(filename, "a" if append else "w", encoding="utf-8") as handle:
        handle.write(body)


class _mlops_CapturedIO:
    """``%%capture NAME``: what the cell printed (.stdout, .stderr; .outputs holds no rich
    outputs in a plain process), shown again by .show() or by calling it."""

    def __init__(self, stdout: _mlops_Any, stderr: _mlops_Any) -> None:
        self._stdout = stdout
        self._stderr = stderr
        self.outputs: list[_mlops_Any] = []

    @property
    def stdout(self) -> str:
        return self._stdout.getvalue() if self._stdout is not None else ""

    @property
    def stderr(self) -> str:
        return self._stderr.getvalue() if self._stderr is not None else ""

    def __str__(self) -> str:
        return self.stdout

    def show(self) -> None:
        _mlops_sys.stdout.write(self.stdout)
        _mlops_sys.stderr.write(self.stderr)

    __call__ = show


class _mlops_capture:
    """``with _mlops_capture(...) as NAME:`` replaces sys.stdout and sys.stderr in the block."""

    def __init__(self, stdout: bool = True, stderr: bool = True) -> None:
        import io

        self.result = _mlops_CapturedIO(
            io.StringIO() if stdout else None, io.StringIO() if stderr else None
        )
        self.saved = (_mlops_sys.stdout, _mlops_sys.stderr)

    def __enter__(self) -> _mlops_CapturedIO:
        self.saved = (_mlops_sys.stdout, _mlops_sys.stderr)
        _mlops_sys.stdout = self.result._stdout or _mlops_sys.stdout
        _mlops_sys.stderr = self.result._stderr or _mlops_sys.stderr
        return self.result

    def __exit__(self, *failure: _mlops_Any) -> None:
        _mlops_sys.stdout, _mlops_sys.stderr = self.saved


def _mlops_format_time(seconds: float, precision: int = 3) -> str:
    """A duration the way IPython's timing magics print it (3 significant digits)."""
    if seconds >= 60.0:
        parts = []
        left = seconds
        for suffix, length in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
            value = int(left / length)
            if value > 0:
                left = left % length
                parts.append(f"{value}{suffix}")
            if left < 1:
                break
        return " ".join(parts)
    units = ["s", "ms", "us", "ns"]
    try:
        "\u03bc".encode(_mlops_sys.stdout.encoding or "ascii")
        units[2] = "\u03bcs"
    except (UnicodeEncodeError, LookupError):
        pass
    order = 3
    if seconds > 0.0:
        import math

        order = min(-int(math.floor(math.log10(seconds)) // 3), 3)
    return f"{seconds * (1, 1e3, 1e6, 1e9)[order]:.{precision}g} {units[order]}"


def _mlops_cpu() -> tuple[float, float]:
    """User and system CPU seconds of this process (getrusage where it exists, like IPython)."""
    try:
        import resource
    except ImportError:  # Windows
        times = _mlops_os.times()
        return times.user, times.system
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


class _mlops_time:
    """``%time`` / ``%%time``: the block runs once, where it is; then the CPU and wall times
    are printed the way IPython prints them (even if the block raised)."""

    def __enter__(self) -> None:
        self.cpu = _mlops_cpu()
        self.wall = _mlops_clock.time()

    def __exit__(self, *failure: _mlops_Any) -> None:
        wall = _mlops_clock.time() - self.wall
        cpu = _mlops_cpu()
        user, system = cpu[0] - self.cpu[0], cpu[1] - self.cpu[1]
        print(
            f"CPU times: user {_mlops_format_time(user)}, sys: {_mlops_format_time(system)}, "
            f"total: {_mlops_format_time(user + system)}"
        )
        print(f"Wall time: {_mlops_format_time(wall)}")


class _mlops_TimeitResult:
    """What ``%timeit -o`` returns: IPython's TimeitResult fields, for one run of one loop."""

    def __init__(self, seconds: float, precision: int) -> None:
        self.loops = 1
        self.repeat = 1
        self.best = self.worst = seconds
        self.all_runs = [seconds]
        self.timings = [seconds]
        self.compile_time = 0.0
        self.average = seconds
        self.stdev = 0.0
        self._precision = precision

    def __str__(self) -> str:
        try:
            "\xb1".encode(_mlops_sys.stdout.encoding or "ascii")
            sign = "\xb1"
        except (UnicodeEncodeError, LookupError):
            sign = "+-"
        mean = _mlops_format_time(self.average, self._precision)
        deviation = _mlops_format_time(self.stdev, self._precision)
        return f"{mean} {sign} {deviation} per loop (mean {sign} std. dev. of 1 run, 1 loop each)"

    def __repr__(self) -> str:
        return f"<TimeitResult : {self}>"


class _mlops_timeit(type):
    """``%timeit STMT`` becomes ``class _mlops_timed(metaclass=_mlops_timeit): STMT``.

    A class body runs once, right where it stands, and keeps its assignments in its own
    namespace, as IPython's %timeit keeps them in its timing function; the metaclass starts
    the clock before the body and prints IPython's line after it. The class statement binds
    its name to the result (``x = %timeit -o STMT`` becomes ``class x(...)``).
    """

    @classmethod
    def __prepare__(
        cls, name: str, bases: tuple[type, ...], /, **options: _mlops_Any
    ) -> dict[str, object]:
        return {"_mlops_started": _mlops_clock.perf_counter()}

    def __new__(
        mcs,
        name: str,
        bases: _mlops_Any,
        namespace: dict[str, _mlops_Any],
        quiet: bool = False,
        precision: int = 3,
    ) -> _mlops_Any:
        result = _mlops_TimeitResult(
            _mlops_clock.perf_counter() - namespace["_mlops_started"], precision
        )
        if not quiet:
            print(result)
        return result

    def __init__(
        cls, *arguments: _mlops_Any, **options: _mlops_Any
    ) -> None:  # pragma: no cover - never a class
        pass


class _mlops_prun:
    """``%prun`` / ``%%prun``: the block runs once under cProfile; the statistics are
    printed sorted by internal time (IPython shows the same table in its pager)."""

    def __enter__(self) -> None:
        import cProfile

        self.profile = cProfile.Profile()
        self.profile.enable()

    def __exit__(self, *failure: _mlops_Any) -> None:
        import pstats

        self.profile.disable()
        _mlops_flush()
        pstats.Stats(self.profile, stream=_mlops_sys.stdout).sort_stats("time").print_stats()


def runtime_source(*, compact: bool = False) -> str:
    """This module's code (not its docstring), for pasting into generated code; ``compact``
    drops docstrings, comments and blank lines (a KFP component carries one copy)."""
    from .convert.pasting import module_body

    return module_body(__name__, compact=compact)
