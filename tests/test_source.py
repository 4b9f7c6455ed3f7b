"""IPython syntax (magics, ``!`` lines) to plain Python, one line for one line."""

from __future__ import annotations

import ast
import os
import subprocess
from pathlib import Path

import pytest

from jupyter_mlops.magic_runtime import runtime_source
from jupyter_mlops.notebook.source import to_plain_python


def plain(source: str):
    result = to_plain_python(source)
    ast.parse(result.code)  # always valid Python
    assert len(result.code.split("\n")) == len(source.split("\n")), "line count changed"
    return result


def run(code: str) -> dict:
    """Run translated code the way a generated module does: after the magic helpers."""
    namespace: dict = {}
    exec(runtime_source(), namespace)
    exec(code, namespace)
    return namespace


def magic_texts(source: str) -> list[tuple[int, str, bool]]:
    return [(m.line, m.text, m.translated) for m in plain(source).magics]


def test_plain_python_is_returned_unchanged():
    source = "x = 1  # %matplotlib in a comment\ny = '!ls'\nz = a != b\n"
    result = to_plain_python(source)
    assert result.code == source
    assert result.magics == []


@pytest.mark.parametrize(
    "source",
    [
        "!ls",
        "x = !ls",
        "%cd /tmp",
        "%env A=1",
        "%time y = 1",
        "%matplotlib inline",
        "%pip install numpy",
        "%sql SELECT 1",
        "%%bash\nls\necho done",
        "%%writefile a.txt\nline",
        "%%capture\ny = 1",
        "%%time",
        "%%timeit\n",
        "%%capture out",
        "%%sql\nSELECT 1",
        "import os\n!ls\nx = !ls\n%time y = len(x)\nif x:\n    %env B=2\n    !echo ok",
    ],
)
def test_every_ipython_form_becomes_python_that_parses_line_for_line(source):
    result = plain(source)  # checks that it parses and keeps the line count
    assert result.magics


# -- ! lines -----------------------------------------------------------------------------


def test_a_shell_line_runs_the_command(tmp_path, monkeypatch):
    result = plain("!touch made-by-shell")
    assert result.code.startswith("_mlops_system('touch made-by-shell')")
    assert magic_texts("!touch made-by-shell") == [(1, "!touch made-by-shell", True)]
    # When the translated code runs
    monkeypatch.chdir(tmp_path)
    run(result.code)
    # Then the command ran
    assert (tmp_path / "made-by-shell").exists()


def test_a_failing_shell_line_does_not_raise_as_in_ipython(capsys):
    # IPython keeps going after a failing !cmd (its exit code goes to _exit_code)
    run(plain("!echo before; exit 3").code)
    assert capsys.readouterr().out == "before\n"


def test_captured_shell_output_becomes_a_list_of_lines():
    result = plain("files = !printf 'a\\nb\\n'")
    namespace = run(result.code)
    assert namespace["files"] == ["a", "b"]
    assert namespace["files"].s == "a b"
    assert result.magics[0].translated


@pytest.mark.parametrize(
    ("source", "start"),
    [
        ("x=!ls", "x = _mlops_getoutput("),
        ("a, b = !ls", "a, b = _mlops_getoutput("),
        ("o.out = !ls", "o.out = "),
    ],
)
def test_captured_shell_output_keeps_its_targets(source, start):
    assert plain(source).code.startswith(start)


def test_an_indented_shell_line_keeps_its_indentation():
    result = plain("if True:\n    !echo hi")
    assert result.code.split("\n")[1].startswith("    _mlops_system(")
    assert magic_texts("if True:\n    !echo hi") == [(2, "!echo hi", True)]


@pytest.mark.parametrize(
    ("source", "printed"),
    [
        ("name = 'x y'\n!echo {name}", "x y\n"),
        ("n = 4\n!echo {n * 2} $n", "8 4\n"),
        ("n = 4\n!echo '$n' $$n", "$n\n"),  # single quotes and $$ stop IPython's expansion
        ("!echo {undefined_name}", "{undefined_name}\n"),  # IPython leaves the line as is
        ("!echo {not an expression}", "{not an expression}\n"),
    ],
)
def test_shell_lines_expand_python_values_as_ipython_does(source, printed, capsys):
    result = plain(source)
    assert result.untranslated == []
    run(result.code)
    assert capsys.readouterr().out == printed


def test_shell_quotes_are_kept_inside_a_string_literal():
    result = plain('!echo "it\'s" \'"quoted"\'')
    call = ast.parse(result.code).body[0].value
    assert call.args[0].value == 'echo "it\'s" \'"quoted"\''


def test_continued_shell_lines_are_joined_like_ipython(capsys):
    source = "!echo one \\\n    two"
    result = plain(source)
    assert magic_texts(source) == [(1, "!echo one      two", True)]
    run(result.code)
    assert capsys.readouterr().out == "one two\n"


# -- line magics -------------------------------------------------------------------------


def test_cd_changes_folder_and_prints_it(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(Path.home() if Path.home().exists() else "/")
    run(plain(f"%cd {tmp_path}").code)
    assert Path.cwd() == tmp_path
    assert capsys.readouterr().out == f"{tmp_path}\n"


def test_cd_dash_goes_back(tmp_path, monkeypatch):
    monkeypatch.chdir("/")
    run(plain(f"%cd {tmp_path}\n%cd -q -").code)
    assert Path.cwd() == Path("/")


def test_cd_to_a_bookmark_is_reported():
    assert plain("%cd -b data").untranslated[0].advice.startswith("IPython's bookmarks")


def test_cd_to_the_home_folder_expands_the_tilde(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir("/")
    run(plain("%cd ~").code)
    assert Path.cwd() == tmp_path


@pytest.mark.parametrize("source", ["%env FOO=bar baz", "%env FOO bar baz"])
def test_env_sets_an_environment_variable(source, monkeypatch):
    monkeypatch.delenv("FOO", raising=False)
    run(plain(source).code)
    assert os.environ["FOO"] == "bar baz"


def test_env_expands_python_values(monkeypatch):
    monkeypatch.delenv("FOO", raising=False)
    run(plain("folder = 'data'\n%env FOO=$folder/{1 + 1}").code)
    assert os.environ["FOO"] == "data/2"


@pytest.mark.parametrize(
    ("source", "code"),
    [
        ("%time y = f(1)", "with _mlops_time(): y = f(1)"),
        ("%timeit f(1)", "class _mlops_timed(metaclass=_mlops_timeit): f(1)"),
        ("%timeit -n 10 -r 3 f(1)", "class _mlops_timed(metaclass=_mlops_timeit): f(1)"),
        ("x = %time f()", "with _mlops_time(): x = f()"),
        ("r = %timeit -o f()", "class r(metaclass=_mlops_timeit): f()"),
        ("if a:\n    %time f()", "if a:\n    with _mlops_time(): f()"),
    ],
)
def test_time_and_timeit_wrap_the_statement(source, code):
    assert [line.split("  #")[0] for line in plain(source).code.split("\n")] == code.split("\n")


def test_timeit_keeps_its_assignments_and_time_does_not(capsys):
    namespace = run(plain("%timeit a = 1\n%time b = 2").code)
    assert "a" not in namespace
    assert namespace["b"] == 2
    printed = capsys.readouterr().out.split("\n")
    assert "per loop (mean ± std. dev. of 1 run, 1 loop each)" in printed[0]
    assert printed[1].startswith("CPU times: user ")
    assert printed[2].startswith("Wall time: ")


def test_a_compound_statement_after_timeit_is_reported():
    result = plain("%timeit for i in range(3): pass")
    assert "%%timeit cell" in result.untranslated[0].advice


@pytest.mark.parametrize(
    "source",
    ["%matplotlib inline", "%load_ext autoreload", "%autoreload 2", "%config X.y = 1", "%who"],
)
def test_session_only_magics_become_comments(source):
    result = plain(source)
    assert result.code == f"pass  # {source}"
    assert result.magics[0].translated
    assert result.untranslated == []


@pytest.mark.parametrize(
    "source",
    [
        "%pip install numpy",
        "!pip install numpy",
        "%conda install numpy",
        "!python -m pip install x",
    ],
)
def test_installs_are_kept_as_comments_and_reported(source):
    result = plain(source)
    assert result.code.startswith("pass  # " + source)
    assert [m.text for m in result.untranslated] == [source]
    assert "install the packages before running" in result.untranslated[0].advice


@pytest.mark.parametrize("source", ["%sql SELECT 1", "%run other.ipynb", "%store x"])
def test_unknown_magics_are_kept_as_comments_and_reported(source):
    result = plain(source)
    assert result.code == f"pass  # {source}"
    assert [(m.line, m.text) for m in result.untranslated] == [(1, source)]
    assert result.untranslated[0].advice


def test_a_magic_between_code_lines_keeps_the_line_numbers():
    result = plain("x = 1\n%sql SELECT *\ny = 2")
    assert result.code.split("\n") == ["x = 1", "pass  # %sql SELECT *", "y = 2"]
    assert [(m.line, m.text) for m in result.untranslated] == [(2, "%sql SELECT *")]


@pytest.mark.parametrize("source", ["df?", "df.head??"])
def test_help_lines_become_comments(source):
    assert plain(source).code == f"pass  # help: {source}"


@pytest.mark.parametrize("source", ["?len", "??df.head"])
def test_leading_question_mark_help_lines_become_comments(source):
    assert plain(source).code == f"pass  # help: {source}"


# -- cell magics -------------------------------------------------------------------------


def test_bash_cell_runs_its_body_with_bash(tmp_path, monkeypatch):
    source = "%%bash\necho one > out.txt\necho 'two' >> out.txt"
    result = plain(source)
    assert magic_texts(source) == [(1, "%%bash", True)]
    monkeypatch.chdir(tmp_path)
    run(result.code)
    assert (tmp_path / "out.txt").read_text() == "one\ntwo\n"


def test_bash_cell_out_and_err_bind_the_streams():
    namespace = run(plain("%%bash --out o --err e\necho a\necho b\necho c >&2").code)
    assert (namespace["o"], namespace["e"]) == ("a\nb\n", "c\n")


def test_a_failing_bash_cell_raises_unless_told_not_to():
    with pytest.raises(subprocess.CalledProcessError):
        run(plain("%%bash\nexit 3").code)
    run(plain("%%bash --no-raise-error\nexit 3").code)


def test_a_background_bash_cell_binds_its_output_stream():
    namespace = run(plain("%%bash --bg --out stream --proc p\necho later").code)
    namespace["p"].wait(timeout=60)
    with namespace["stream"] as stream:
        assert stream.read() == b"later\n"


def test_bash_cell_body_is_kept_as_comments_for_the_reader():
    code = plain("%%bash\necho hi").code
    assert code.split("\n")[1] == "# echo hi"


@pytest.mark.parametrize("header", ["%%writefile notes.txt", "%%writefile -a notes.txt"])
def test_writefile_cell_writes_its_body(header, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("old\n")
    body = 's = """\nquoted \\ text\n"""'
    run(plain(f"{header}\n{body}").code)
    written = (tmp_path / "notes.txt").read_text()
    expected = body + "\n"
    assert written == ("old\n" + expected if "-a" in header else expected)
    assert capsys.readouterr().out == ("Appending to" if "-a" in header else "Overwriting") + (
        " notes.txt\n"
    )


def test_capture_cell_runs_its_body_and_keeps_what_it_printed(capsys):
    result = plain("%%capture out\nx = 1\nprint('said')\n!echo hidden")
    namespace = run(result.code)
    assert namespace["x"] == 1
    assert namespace["out"].stdout == "said\nhidden\n"
    assert result.untranslated == []
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("header", ["%%time", "%%timeit", "%%prun"])
def test_timing_cells_run_their_body_in_a_block(header):
    assert plain(f"{header}\nx = 1\ny = x").code.split("\n")[1:] == ["    x = 1", "    y = x"]


def test_magics_inside_a_timing_cell_are_numbered_by_cell_line():
    assert magic_texts("%%time\nx = 1\n%sql SELECT 1") == [
        (1, "%%time", True),
        (3, "%sql SELECT 1", False),
    ]


def test_display_cells_become_comments():
    result = plain("%%html\n<b>bold</b>")
    assert result.code == "pass  # %%html\n# <b>bold</b>"
    assert result.untranslated == []


@pytest.mark.parametrize("source", ["%%sql\nSELECT 1\nFROM t", "%%R\nplot(x)", "%%javascript2\n"])
def test_unknown_cell_magics_are_comments_and_reported(source):
    result = plain(source)
    assert result.code.startswith("pass  # %%")
    assert result.untranslated[0].line == 1
    assert all(line.startswith("#") for line in result.code.split("\n")[1:])
