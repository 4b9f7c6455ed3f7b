"""IPython syntax (magics, ``!`` lines) to plain Python, one line for one line."""

from __future__ import annotations

import ast
import os
import subprocess
from pathlib import Path

import pytest

from jupyter_mlops.notebook.source import to_plain_python


def plain(source: str):
    result = to_plain_python(source)
    ast.parse(result.code)  # always valid Python
    assert len(result.code.split("\n")) == len(source.split("\n")), "line count changed"
    return result


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
        "%%sql\nSELECT 1",
        "import os\n!ls\nx = !ls\n%time y = len(x)\nif x:\n    %env B=2\n    !echo ok",
    ],
)
def test_every_ipython_form_becomes_python_that_parses_line_for_line(source):
    result = plain(source)  # checks that it parses and keeps the line count
    assert result.magics


# -- ! lines -----------------------------------------------------------------------------


def test_a_shell_line_becomes_a_subprocess_call(tmp_path, monkeypatch):
    result = plain("!touch made-by-shell")
    assert "subprocess" in result.code
    assert magic_texts("!touch made-by-shell") == [(1, "!touch made-by-shell", True)]
    # When the translated code runs
    monkeypatch.chdir(tmp_path)
    exec(result.code, {})
    # Then the command ran
    assert (tmp_path / "made-by-shell").exists()


def test_a_failing_shell_line_raises_in_plain_python():
    with pytest.raises(subprocess.CalledProcessError):
        exec(plain("!exit 3").code, {})


def test_captured_shell_output_becomes_a_list_of_lines():
    result = plain("files = !printf 'a\\nb\\n'")
    namespace: dict = {}
    exec(result.code, namespace)
    assert namespace["files"] == ["a", "b"]
    assert result.magics[0].translated


@pytest.mark.parametrize(
    ("source", "start"),
    [("x=!ls", "x = __import__"), ("a, b = !ls", "a, b = __import__"), ("o.out = !ls", "o.out = ")],
)
def test_captured_shell_output_keeps_its_targets(source, start):
    assert plain(source).code.startswith(start)


def test_an_indented_shell_line_keeps_its_indentation():
    result = plain("if True:\n    !echo hi")
    assert result.code.split("\n")[1].startswith("    __import__('subprocess')")
    assert magic_texts("if True:\n    !echo hi") == [(2, "!echo hi", True)]


@pytest.mark.parametrize("source", ["!echo {name}", "!echo $HOME", "out = !ls $folder"])
def test_shell_lines_with_python_interpolation_are_reported_not_guessed(source):
    result = plain(source)
    assert result.untranslated
    assert "subprocess" not in result.code


def test_shell_quotes_are_kept_inside_a_string_literal():
    result = plain('!echo "it\'s" \'"quoted"\'')
    call = ast.parse(result.code).body[0].value
    assert call.args[0].value == 'echo "it\'s" \'"quoted"\''


# -- line magics -------------------------------------------------------------------------


def test_cd_becomes_chdir(tmp_path, monkeypatch):
    monkeypatch.chdir(Path.home() if Path.home().exists() else "/")
    exec(plain(f"%cd {tmp_path}").code, {})
    assert Path.cwd() == tmp_path


def test_cd_to_the_home_folder_expands_the_tilde(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir("/")
    exec(plain("%cd ~").code, {})
    assert Path.cwd() == tmp_path


@pytest.mark.parametrize("source", ["%env FOO=bar baz", "%env FOO bar baz"])
def test_env_sets_an_environment_variable(source, monkeypatch):
    monkeypatch.delenv("FOO", raising=False)
    exec(plain(source).code, {})
    assert os.environ["FOO"] == "bar baz"


@pytest.mark.parametrize(
    ("source", "code"),
    [
        ("%time y = f(1)", "y = f(1)"),
        ("%timeit f(1)", "f(1)"),
        ("%timeit -n 10 -r 3 f(1)", "f(1)"),
        ("x = %time f()", "x = f()"),
        ("if a:\n    %time f()", "if a:\n    f()"),
    ],
)
def test_time_and_timeit_keep_just_the_statement(source, code):
    assert plain(source).code == code


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
    assert "install before running" in result.code
    assert [m.text for m in result.untranslated] == [source]


@pytest.mark.parametrize("source", ["%sql SELECT 1", "%run other.ipynb", "%store x", "%cd", "%env"])
def test_unknown_magics_are_kept_as_comments_and_reported(source):
    result = plain(source)
    assert result.code == f"pass  # {source}"
    assert [(m.line, m.text) for m in result.untranslated] == [(1, source)]


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
    exec(result.code, {})
    assert (tmp_path / "out.txt").read_text() == "one\ntwo\n"


def test_bash_cell_body_is_kept_as_comments_for_the_reader():
    code = plain("%%bash\necho hi").code
    assert code.split("\n")[1] == "# echo hi"


@pytest.mark.parametrize("header", ["%%writefile notes.txt", "%%writefile -a notes.txt"])
def test_writefile_cell_writes_its_body(header, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("old\n")
    body = 's = """\nquoted \\ text\n"""'
    exec(plain(f"{header}\n{body}").code, {})
    written = (tmp_path / "notes.txt").read_text()
    expected = body + "\n"
    assert written == ("old\n" + expected if "-a" in header else expected)


def test_capture_cell_runs_its_body():
    result = plain("%%capture\nx = 1\n!echo hidden")
    namespace: dict = {}
    exec(result.code.replace("__import__('subprocess').run", "(lambda *a, **k: None)"), namespace)
    assert namespace["x"] == 1
    assert result.untranslated == []


def test_capture_into_a_variable_is_reported_because_the_output_object_is_lost():
    result = plain("%%capture out\nprint(1)")
    assert [m.text for m in result.untranslated] == ["%%capture out"]
    assert result.code.split("\n")[1] == "print(1)"


@pytest.mark.parametrize("header", ["%%time", "%%timeit", "%%prun"])
def test_timing_cells_keep_their_body_as_code(header):
    assert plain(f"{header}\nx = 1\ny = x").code.split("\n")[1:] == ["x = 1", "y = x"]


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
