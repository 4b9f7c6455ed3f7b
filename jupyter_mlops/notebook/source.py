"""IPython syntax in cells: find magics and ``!`` lines and give plain-Python equivalents.

A kernel runs a cell's source as written, so notebooks we generate keep it untouched. Plain
Python (the generated module, KFP components, and our own static analysis) needs a cell
without IPython syntax. Each magic line becomes one line of Python, so line numbers still
point at the user's cell:

- a translation where plain Python can do the same (``!cmd``, ``%cd``, ``%env``, ``%time``,
  ``%%bash``, ``%%writefile``, ``%%capture``...);
- a comment where the magic only changes the interactive session (``%matplotlib``,
  ``%load_ext``, ``%%html``...);
- a comment plus a warning naming the magic where nothing equivalent exists (``%sql``,
  ``%run``...), so nothing is dropped silently.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

# Magics that only shape the interactive session: safe to leave out of a script.
SESSION_ONLY = frozenset(
    {
        "matplotlib",
        "load_ext",
        "reload_ext",
        "unload_ext",
        "autoreload",
        "aimport",
        "config",
        "precision",
        "pylab",
        "who",
        "whos",
        "who_ls",
        "pprint",
        "xmode",
        "colors",
        "pdb",
        "debug",
        "history",
        "hist",
        "lsmagic",
        "magic",
        "notebook",
        "page",
        "pinfo",
        "pinfo2",
        "psearch",
        "quickref",
        "reset",
        "reset_selective",
        "alias_magic",
        "automagic",
        "autocall",
        "doctest_mode",
        "tb",
        "clear",
        "ls",
        "pwd",
        "env_list",
        "nuclio",
    }
)
DISPLAY_CELL_MAGICS = frozenset({"html", "markdown", "latex", "javascript", "js", "svg"})
INSTALLERS = frozenset({"pip", "conda", "mamba"})

_ASSIGNED = re.compile(
    r"^(?P<indent>\s*)(?P<target>[A-Za-z_][\w.]*(\s*,\s*[A-Za-z_][\w.]*)*)"
    r"\s*=\s*(?P<magic>[%!].*)$"
)
_SHELL_INTERPOLATION = re.compile(r"\$\w|\{[^}]*\}")


@dataclass(frozen=True)
class Magic:
    """One piece of IPython syntax in a cell, as the user wrote it."""

    line: int  # 1-based line in the cell
    text: str
    translated: bool  # False: no plain-Python equivalent, reported to the user


@dataclass
class PlainSource:
    """A cell's code as plain Python, line for line, and the IPython syntax it contained."""

    code: str
    magics: list[Magic] = field(default_factory=list)

    @property
    def untranslated(self) -> list[Magic]:
        return [magic for magic in self.magics if not magic.translated]


def to_plain_python(source: str) -> PlainSource:
    """Rewrite IPython syntax into plain Python, keeping one output line per input line."""
    if _is_python(source):
        return PlainSource(source)
    lines = source.split("\n")
    first = lines[0].lstrip()
    if first.startswith("%%"):
        return _cell_magic(first[2:], lines[1:])
    result = PlainSource("")
    out = []
    for number, line in enumerate(lines, start=1):
        stripped = line.lstrip()
        indent = line[: len(line) - len(stripped)]
        assigned = _ASSIGNED.match(line)
        if assigned:
            code, ok = _assigned_magic(assigned["target"], assigned["magic"])
            out.append(assigned["indent"] + code)
            result.magics.append(Magic(number, stripped, ok))
        elif stripped.startswith(("!", "%")) and not stripped.startswith("!="):
            code, ok = _line_magic(stripped)
            out.append(indent + code)
            result.magics.append(Magic(number, stripped, ok))
        elif stripped.startswith("?") or (stripped.endswith("?") and _is_help(stripped)):
            out.append(indent + "pass  # help: " + stripped)
            result.magics.append(Magic(number, stripped, True))
        else:
            out.append(line)
    result.code = "\n".join(out)
    return result


def _is_python(source: str) -> bool:
    try:
        ast.parse(source)
    except SyntaxError:
        return False
    return True


def _is_help(line: str) -> bool:
    return re.fullmatch(r"\??[\w.]+\?{1,2}", line) is not None


def _line_magic(text: str) -> tuple[str, bool]:
    """One ``%magic`` or ``!cmd`` line (without indentation) as a Python statement."""
    comment = "  # " + text
    if text.startswith("!"):
        command = text[1:].strip()
        return _shell(command, comment)
    name, _, arg = text[1:].partition(" ")
    name = name.lstrip("%")
    arg = arg.strip()
    if name in INSTALLERS:
        return "pass" + comment + "  (install before running)", False
    if name in {"time", "timeit"} and arg:
        return _strip_timeit_options(arg), True
    if name == "cd" and arg:
        return f"__import__('os').chdir(__import__('os').path.expanduser({arg!r}))" + comment, True
    if name == "env" and arg:
        key, value = _env_assignment(arg)
        if key is not None:
            return f"__import__('os').environ[{key!r}] = {value!r}" + comment, True
    if name in {"sx", "system"} and arg:
        return _shell(arg, comment)
    if name in SESSION_ONLY:
        return "pass" + comment, True
    return "pass" + comment, False


def _assigned_magic(target: str, magic: str) -> tuple[str, bool]:
    """``x = !cmd`` and ``x = %magic args``."""
    comment = "  # " + magic
    command = None
    if magic.startswith("!"):
        command = magic[1:].strip()
    else:
        name, _, arg = magic[1:].partition(" ")
        if name in {"sx", "system"}:
            command = arg.strip()
        elif name in {"time", "timeit"} and arg.strip():
            return f"{target} = {_strip_timeit_options(arg.strip())}", True
    if command is None or _SHELL_INTERPOLATION.search(command):
        return f"{target} = None" + comment, False
    run = (
        f"__import__('subprocess').run({command!r}, shell=True, capture_output=True, "
        "text=True).stdout.splitlines()"
    )
    return f"{target} = {run}" + comment, True


def _shell(command: str, comment: str) -> tuple[str, bool]:
    head = command.split(maxsplit=1)[0] if command else ""
    if head in INSTALLERS or command.startswith(("python -m pip", "python3 -m pip")):
        return "pass" + comment + "  (install before running)", False
    if not command or _SHELL_INTERPOLATION.search(command):
        return "pass" + comment, False
    return f"__import__('subprocess').run({command!r}, shell=True, check=True)" + comment, True


def _env_assignment(arg: str) -> tuple[str | None, str]:
    if "=" in arg:
        key, _, value = arg.partition("=")
    else:
        key, _, value = arg.partition(" ")
        if not value:
            return None, ""
    return key.strip(), value.strip()


def _strip_timeit_options(arg: str) -> str:
    while arg.startswith("-"):
        option, _, rest = arg.partition(" ")
        arg = rest.strip()
        if option in {"-n", "-r", "-p"}:
            _, _, arg = arg.partition(" ")
    return arg


def _cell_magic(header: str, body_lines: list[str]) -> PlainSource:
    """A cell that starts with ``%%name args``; the result keeps the cell's line count."""
    name, _, arg = header.partition(" ")
    arg = arg.strip()
    body = "\n".join(body_lines)
    magic_text = "%%" + header.strip()
    if name in {"time", "timeit", "prun", "capture"}:
        # The body runs as Python; '%%capture out' keeps no captured-output object.
        captured = name == "capture" and any(not a.startswith("-") for a in arg.split())
        inner = to_plain_python(body)
        inner.code = f"pass  # {magic_text}\n" + inner.code
        shifted = [Magic(m.line + 1, m.text, m.translated) for m in inner.magics]
        inner.magics = [Magic(1, magic_text, not captured), *shifted]
        return inner
    commented = "\n".join("# " + line for line in body_lines)
    padding = "\n" + commented if body_lines else ""
    if name in {"bash", "sh"}:
        code = f"__import__('subprocess').run(['bash', '-c', {body!r}], check=True)  # {magic_text}"
        return PlainSource(code + padding, [Magic(1, magic_text, True)])
    if name == "writefile" and arg:
        append = arg.startswith("-a ")
        path = arg[3:].strip() if append else arg
        mode = "a" if append else "w"
        code = (
            f"with open({path!r}, {mode!r}, encoding='utf-8') as _mlops_file: "
            f"_mlops_file.write({body + chr(10)!r})  # {magic_text}"
        )
        return PlainSource(code + padding, [Magic(1, magic_text, True)])
    translated = name in DISPLAY_CELL_MAGICS
    return PlainSource(f"pass  # {magic_text}" + padding, [Magic(1, magic_text, translated)])
