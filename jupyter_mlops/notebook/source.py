"""IPython syntax in cells: find magics and ``!`` lines and give plain-Python equivalents.

A kernel runs a cell's source as written, so notebooks we generate keep it untouched. Plain
Python (the generated module, KFP components, and our own static analysis) needs a cell
without IPython syntax. Each magic line becomes one line of Python, so line numbers still
point at the user's cell:

- a call of a helper from ``jupyter_mlops/magic_runtime.py`` that does what IPython does
  (``!cmd``, ``%cd``, ``%env``, ``%time``, ``%timeit``, ``%%bash``, ``%%writefile``,
  ``%%capture``...); ``$name`` and ``{expr}`` in a command are expanded as IPython's
  var_expand does, by small lambdas the analysis can read;
- a comment where the magic only changes the interactive session (``%matplotlib``,
  ``%load_ext``, ``%%html``...);
- a comment plus a warning naming the magic and what to change where nothing equivalent
  exists (``%sql``, ``%run``, ``%pip``...), so nothing is dropped silently.

The generated helper calls are ours, named ``_mlops_*``, so the analysis never warns about
them; the converters paste the helpers into the code that uses them (``runtime_uses``).
"""

from __future__ import annotations

import ast
import io
import re
import shlex
import tokenize
from dataclasses import dataclass, field

from .. import magic_runtime
from ..magic_runtime import _mlops_fields

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
# %%NAME cells IPython runs with the program NAME (%%script PROGRAM is the general form)
SCRIPT_MAGICS = frozenset({"bash", "sh", "perl", "ruby", "python", "python2", "python3", "pypy"})
# helpers that start other programs (the run-folder analysis in recorded.py must know)
STARTS_PROGRAMS = frozenset({"_mlops_system", "_mlops_getoutput", "_mlops_script"})
RUNTIME_NAMES = frozenset(name for name in vars(magic_runtime) if name.startswith("_mlops_"))
_ADVICE = {
    "pip": "install the packages before running the module (a requirements file or the "
    "image), or tag the cell mlops:skip",
    "run": "import the script's functions instead of %run, or tag the cell mlops:skip",
    "sql": "query the database with a client library (sqlalchemy, psycopg...) in Python",
    "load": "paste the file's code into the cell",
    "store": "pass the value as a parameter or a function's output",
}
_ADVICE["conda"] = _ADVICE["mamba"] = _ADVICE["pip"]
_GENERIC_ADVICE = (
    "rewrite it in Python, or tag the cell mlops:skip if the pipeline does not need it"
)

_ASSIGNED = re.compile(
    r"^(?P<indent>\s*)(?P<target>[A-Za-z_][\w.]*(\s*,\s*[A-Za-z_][\w.]*)*)"
    r"\s*=\s*(?P<magic>[%!].*)$"
)


@dataclass(frozen=True)
class Magic:
    """One piece of IPython syntax in a cell, as the user wrote it."""

    line: int  # 1-based line in the cell
    text: str
    translated: bool  # False: no plain-Python equivalent, reported to the user
    advice: str = ""  # what to change, for one that is not translated


@dataclass
class PlainSource:
    """A cell's code as plain Python, line for line, and the IPython syntax it contained."""

    code: str
    magics: list[Magic] = field(default_factory=list)

    @property
    def untranslated(self) -> list[Magic]:
        return [magic for magic in self.magics if not magic.translated]


@dataclass(frozen=True)
class _Line:
    """One magic as Python: its code, and why not, if it has no equivalent."""

    code: str
    advice: str = ""  # empty: translated

    @property
    def translated(self) -> bool:
        return not self.advice


def to_plain_python(source: str) -> PlainSource:
    """Rewrite IPython syntax into plain Python, keeping one output line per input line."""
    if _is_python(source):
        return PlainSource(source)
    lines = source.split("\n")
    first = lines[0].lstrip()
    if first.startswith("%%"):
        return _cell_magic(first[2:], source)
    result = PlainSource("")
    out: list[str] = []
    number = 0
    while number < len(lines):
        line = lines[number]
        stripped = line.lstrip()
        indent = line[: len(line) - len(stripped)]
        assigned = _ASSIGNED.match(line)
        is_magic = stripped.startswith(("!", "%")) and not stripped.startswith("!=")
        if not (assigned or is_magic):
            if stripped.startswith("?") or (stripped.endswith("?") and _is_help(stripped)):
                out.append(indent + "pass  # help: " + stripped)
                result.magics.append(Magic(number + 1, stripped, True))
            else:
                out.append(line)
            number += 1
            continue
        # IPython joins a magic's '\'-continued lines with spaces before running it
        last = number
        while lines[last].rstrip().endswith("\\") and last + 1 < len(lines):
            last += 1
        parts = [stripped, *lines[number + 1 : last + 1]]
        text = " ".join([p.rstrip()[:-1] for p in parts[:-1]] + [parts[-1].rstrip()])
        if assigned:
            indent = assigned["indent"]
            magic = text.split("=", 1)[1].strip() if not is_magic else text
            translated = _line_magic(magic, assigned["target"])
        else:
            translated = _line_magic(text, None)
        out.append(indent + translated.code)
        out += [indent + "# " + lines[n].strip() for n in range(number + 1, last + 1)]
        result.magics.append(Magic(number + 1, text, translated.translated, translated.advice))
        number = last + 1
    result.code = "\n".join(out)
    return result


def runtime_uses(code: str) -> bool:
    """Does this plain-Python code call a magic helper (so the helpers must be pasted in)?"""
    if "_mlops_" not in code:
        return False
    return any(
        isinstance(node, ast.Name) and node.id in RUNTIME_NAMES
        for node in ast.walk(ast.parse(code))
    )


def _is_python(source: str) -> bool:
    try:
        ast.parse(source)
    except SyntaxError:
        return False
    return True


def _is_help(line: str) -> bool:
    return re.fullmatch(r"\??[\w.]+\?{1,2}", line) is not None


def expanded(text: str) -> str:
    """A Python expression for ``text`` as IPython's var_expand sees it: ``$name`` and
    ``{expr}`` become lambdas read when the line runs; a line IPython could not expand
    (a field that is not an expression, a lone brace) stays the literal text."""
    try:
        fields = _mlops_fields(text)
    except ValueError:
        return repr(text)
    expressions = [expression.strip() for _, expression, _ in fields if expression is not None]
    if not expressions and "".join(literal for literal, _, _ in fields) == text:
        return repr(text)
    for expression in expressions:
        try:
            ast.parse(expression, mode="eval")
        except SyntaxError:
            return repr(text)
    thunks = "".join(f", lambda: ({expression})" for expression in expressions)
    return f"_mlops_expand({text!r}{thunks})"


def _line_magic(text: str, target: str | None) -> _Line:
    """One ``%magic`` or ``!cmd`` (without indentation) as one line of Python."""
    comment = "  # " + text
    assign = f"{target} = " if target else ""
    if text.startswith("!!"):
        text = "%sx " + text[2:]
    if text.startswith("!"):
        command = text[1:].strip()
        refused = _installer(command)
        if refused:
            return _refused(target, comment, refused)
        helper = "_mlops_getoutput" if target else "_mlops_system"
        return _Line(f"{assign}{helper}({expanded(command)})" + comment)
    name, _, arg = text[1:].partition(" ")
    name = name.lstrip("%")
    arg = arg.strip()
    if name in INSTALLERS:
        return _refused(target, comment, _ADVICE[name])
    if name in {"time", "timeit", "prun"}:
        return _timed(name, arg, target, comment)
    if name == "cd":
        if re.match(r"-b(\s|$)", arg) or re.search(r"\s-b(\s|$)", arg):
            advice = "IPython's bookmarks are not available to a plain module; use the path"
            return _refused(target, comment, advice)
        return _Line(f"{assign}_mlops_cd({expanded(arg)})" + comment)
    if name == "env" and not arg and not target:
        return _Line("pass" + comment)  # lists the environment: display only
    if name in {"env", "set_env"}:
        return _Line(f"{assign}_mlops_env({expanded(arg)})" + comment)
    if name in {"sx", "system"} and arg:
        return _Line(f"{assign}_mlops_getoutput({expanded(arg)})" + comment)
    if name in SESSION_ONLY and not target:
        return _Line("pass" + comment)
    return _refused(target, comment, _ADVICE.get(name, _GENERIC_ADVICE))


def _refused(target: str | None, comment: str, advice: str) -> _Line:
    return _Line((f"{target} = None" if target else "pass") + comment, advice)


def _installer(command: str) -> str:
    words = command.split()
    head = words[0] if words else ""
    if head in INSTALLERS or words[:3] in (["python", "-m", "pip"], ["python3", "-m", "pip"]):
        return _ADVICE["pip"]
    return "" if command else "an empty '!' line runs nothing; delete it"


def _timed(name: str, arg: str, target: str | None, comment: str) -> _Line:
    """``%time``/``%prun`` run the statement where it is, under a timer or profiler;
    ``%timeit`` runs it in a class body, which keeps its assignments (see magic_runtime)."""
    options, statement = _options(arg, "nrp" if name == "timeit" else "lsTD")
    if not statement:
        return _refused(target, comment, "the magic has no statement to run")
    try:
        body = ast.parse(statement).body
    except SyntaxError:
        return _refused(target, comment, "the statement does not parse as Python")
    compound = any(not isinstance(node, _SIMPLE) for node in body)
    if compound:
        return _refused(target, comment, f"put the statement in a %%{name} cell instead")
    if name == "timeit":
        keywords = ", quiet=True" if "q" in options else ""
        if "p" in options:
            keywords += f", precision={int(options['p'])}" if options["p"].isdigit() else ""
        class_name = target if target and "o" in options and "." not in target else "_mlops_timed"
        if target and class_name != target:
            return _refused(target, comment, "use 'NAME = %timeit -o STATEMENT' to keep a result")
        return _Line(
            f"class {class_name}(metaclass=_mlops_timeit{keywords}): {statement}" + comment
        )
    helper = "_mlops_time" if name == "time" else "_mlops_prun"
    if target:
        if len(body) != 1 or not isinstance(body[0], ast.Expr):
            return _refused(target, comment, "only an expression's value can be assigned")
        statement = f"{target} = {statement}"
    return _Line(f"with {helper}(): {statement}" + comment)


_SIMPLE = (
    ast.Expr,
    ast.Assign,
    ast.AugAssign,
    ast.AnnAssign,
    ast.Pass,
    ast.Delete,
    ast.Import,
    ast.ImportFrom,
    ast.Assert,
    ast.Raise,
    ast.Global,
    ast.Nonlocal,
)


def _options(arg: str, with_value: str) -> tuple[dict[str, str], str]:
    """Leading ``-x`` options of a timing magic (``with_value`` take a value) and the rest."""
    options: dict[str, str] = {}
    while arg.startswith("-") and not arg.startswith("--no-raise-error"):
        option, _, rest = arg.partition(" ")
        arg = rest.strip()
        for letter in option[1:]:
            options[letter] = ""
        if option[1:] and option[-1] in with_value:
            value, _, arg = arg.partition(" ")
            options[option[-1]] = value
            arg = arg.strip()
    if arg.startswith("--no-raise-error"):
        arg = arg[len("--no-raise-error") :].strip()
    return options, arg


def indent_code(code: str, prefix: str = "    ") -> str:
    """Indent code without touching the inside of multi-line strings (their value would change)."""
    if not prefix:
        return code  # nothing to add: skip tokenizing (cell_block's default)
    lines = code.split("\n")
    if "\n" not in code or not any(m in code for m in ('"""', "'''", "\\\n", "\r")):
        # no string can span lines: skip tokenizing (most cells; a long notebook has many)
        return "\n".join(prefix + line if line.strip() else line for line in lines)
    inside_string: set[int] = set()  # 1-based line numbers that continue a string
    try:
        for token in tokenize.generate_tokens(io.StringIO(code).readline):
            if token.type == tokenize.STRING or token.type == getattr(
                tokenize, "FSTRING_MIDDLE", -1
            ):
                inside_string.update(range(token.start[0] + 1, token.end[0] + 1))
    except (tokenize.TokenError, SyntaxError):
        pass
    return "\n".join(
        line if (number in inside_string or not line.strip()) else prefix + line
        for number, line in enumerate(lines, start=1)
    )


def _cell_magic(header: str, source: str) -> PlainSource:
    """A cell that starts with ``%%name args``; the result keeps the cell's line count."""
    name, _, arg = header.partition(" ")
    arg = arg.strip()
    magic_text = "%%" + header.strip()
    body_lines = source.split("\n")[1:]
    # IPython hands the magic the rest of the cell, ending with a newline
    body = source.partition("\n")[2]
    if not body.endswith("\n"):
        body += "\n"
    opener = _block_opener(name, arg)
    if isinstance(opener, str) and not body_lines:  # '%%time' alone: one line stays one
        return PlainSource(f"{opener} pass  # {magic_text}", [Magic(1, magic_text, True)])
    if isinstance(opener, str):
        inner = to_plain_python("\n".join(body_lines))
        code = inner.code if inner.code.strip() else "pass" + "\n" * inner.code.count("\n")
        code = f"{opener}  # {magic_text}\n" + indent_code(code)
        shifted = [Magic(m.line + 1, m.text, m.translated, m.advice) for m in inner.magics]
        return PlainSource(code, [Magic(1, magic_text, True), *shifted])
    commented = "\n".join("# " + line for line in body_lines)
    padding = "\n" + commented if body_lines else ""
    translated = opener if opener is not None else _run_body(name, arg, body)
    code = translated.code + f"  # {magic_text}"
    return PlainSource(
        code + padding, [Magic(1, magic_text, translated.translated, translated.advice)]
    )


def _block_opener(name: str, arg: str) -> str | _Line | None:
    """The header of a block the cell's body runs in (``with …:``), a refusal, or None for
    a magic whose body is data rather than Python."""
    if name == "time":
        return (
            "with _mlops_time():"
            if not arg
            else _Line("pass", "Can't use statement directly after '%%time'; move it into the body")
        )
    if name == "prun":
        return (
            "with _mlops_prun():"
            if not _options(arg, "lsTD")[1]
            else _Line("pass", "move the statement after %%prun into the cell's body")
        )
    if name == "timeit":
        options, setup = _options(arg, "nrp")
        if setup:
            return _Line("pass", "move the setup statement after %%timeit into the cell before")
        keywords = ", quiet=True" if "q" in options else ""
        return f"class _mlops_timed(metaclass=_mlops_timeit{keywords}):"
    if name == "capture":
        words = arg.split()
        names = [w for w in words if not w.startswith("-")]
        flags = f"stdout={'--no-stdout' not in words}, stderr={'--no-stderr' not in words}"
        if len(names) > 1 or (names and not names[0].isidentifier()):
            return _Line("pass", "%%capture takes one variable name")
        return f"with _mlops_capture({flags})" + (f" as {names[0]}:" if names else ":")
    return None


def _run_body(name: str, arg: str, body: str) -> _Line:
    """Cell magics whose body is data: a script, a file's text, a shell command."""
    if name in SCRIPT_MAGICS or name == "script":
        return _script(name, arg, body)
    if name == "writefile":
        words = arg.split(maxsplit=1)
        append = bool(words) and words[0] in {"-a", "--append"}
        filename = words[1].strip() if append and len(words) > 1 else "" if append else arg
        if not filename:
            return _Line("pass", "%%writefile needs a file name")
        flag = ", append=True" if append else ""
        return _Line(f"_mlops_writefile({expanded(filename)}, {body!r}{flag})")
    if name in {"sx", "system", "!"} and not arg:
        return _Line(f"_mlops_getoutput({body!r})")
    if name in DISPLAY_CELL_MAGICS:
        return _Line("pass")
    return _Line("pass", _ADVICE.get(name, _GENERIC_ADVICE))


def _script(name: str, arg: str, body: str) -> _Line:
    """``%%bash [--out V] [--err E] [--bg] [--proc P] [--no-raise-error]``."""
    try:
        words = shlex.split(arg)
    except ValueError:
        return _Line("pass", f"the %%{name} options do not parse (an unclosed quote?)")
    bound: dict[str, str] = {}
    flags: set[str] = set()
    program: list[str] = [] if name == "script" else [name]
    while words:
        word = words.pop(0)
        if word in {"--out", "--err", "--proc"} and words:
            bound[word[2:]] = words.pop(0)
        elif word in {"--bg", "--no-raise-error"}:
            flags.add(word)
        else:
            program.append(word)
    if not program:
        return _Line("pass", "%%script needs the program to run the cell with")
    if not all(target.isidentifier() for target in bound.values()):
        return _Line("pass", "--out/--err/--proc take a variable name")
    background = "--bg" in flags
    if "proc" in bound and not background:
        bound.pop("proc")  # IPython only binds the process of a background script
    keywords = "".join(f", {key}=True" for key in ("out", "err") if key in bound)
    if background:
        keywords += ", background=True" + (", process=True" if "proc" in bound else "")
    if "--no-raise-error" in flags:
        keywords += ", raise_error=False"
    targets = [bound[key] for key in ("out", "err", "proc") if key in bound]
    assign = f"{', '.join(targets)} = " if targets else ""
    return _Line(f"{assign}_mlops_script({program!r}, {body!r}{keywords})")
