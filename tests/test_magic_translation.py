"""Generated code means what the notebook means: each magic, run both ways.

Each case is a small untagged notebook (the whole notebook becomes one function). It runs in
a real python3 kernel through papermill's stock engine, and its ``convert --to python``
module runs with plain ``python`` in a subprocess, in another folder and without
jupyter_mlops on the path (the module carries its own helpers). What they print must be the
same, once what differs by nature is masked: timings and the folder each ran in.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from jupyter_mlops.notebook import parse_notebook

REPO = Path(__file__).resolve().parents[1]
TIMEIT = re.compile(
    r"^\S+ \S+ ± \S+ \S+ per loop \(mean ± std\. dev\. of \d+ runs?, [\d,]+ loops? each\)$",
    re.M,
)
CPU = re.compile(r"^CPU times: user .+, sys: .+, total: .+$", re.M)
WALL = re.compile(r"^Wall time: .+$", re.M)

CASES = {
    "timeit keeps its assignments, prints IPython's line, -o returns the result": [
        "x = 5",
        "%timeit y = x + 1",
        "try:\n    y\nexcept NameError:\n    print('y was not assigned')",
        "r = %timeit -o -q x * 2",
        "print(type(r).__name__.endswith('TimeitResult'), r.loops >= 1, r.average > 0)",
    ],
    "time runs the statement once where it is and prints CPU and wall times": [
        "calls = []",
        "%time calls.append(1)",
        "w = %time 2 + 2",
        "print(calls, w)",
        "%%time\nz = len(calls) * 10\nprint('in the timed cell')",
        "print(z)",
    ],
    "env expands $name and {expr} as IPython does": [
        "k = 'hello'",
        "%env MLOPS_T=$k-{1 + 1}",
        "%env MLOPS_U $k",
        "%env MLOPS_V=$no_such_python_name",
        "import os\nprint(os.environ['MLOPS_T'], os.environ['MLOPS_U'], os.environ['MLOPS_V'])",
        "value = %env MLOPS_U\nprint(value)",
    ],
    "shell lines run, expand values, capture lines and continue": [
        "n = 3\nwords = 'a b'",
        "!echo {n * 2} $n '$n' {words}",
        "lines = !printf 'one\\ntwo\\n'",
        "print(lines, len(lines), lines.s)",
        "!echo joined \\\n    line",
        "for i in range(2):\n    !echo loop {i}",
        "!exit 3",
        "print('a failing command does not stop the notebook')",
    ],
    "bash cells: output shown, --out/--err bound, --no-raise-error": [
        "%%bash\necho plain bash\necho $((2 + 3))",
        "%%bash --out V --err E\necho to out\necho to err >&2",
        "print(repr(V), repr(E))",
        "%%bash --no-raise-error\necho before\nexit 4",
        "print('went on')",
    ],
    "writefile writes, appends and says so": [
        "%%writefile notes.txt\nfirst line",
        "%%writefile -a notes.txt\nsecond line",
        "print(repr(open('notes.txt').read()))",
        "%%writefile notes.txt\nreplaced",
        "print(repr(open('notes.txt').read()))",
    ],
    "capture keeps the printed text in its variable": [
        "%%capture cap\nprint('inside')\nq = 2",
        "print(repr(cap.stdout), q)",
        "cap.show()",
    ],
    "cd changes folder, prints it, and goes back with -": [
        "import os\nos.makedirs('sub', exist_ok=True)",
        "%cd sub",
        "print(os.path.basename(os.getcwd()))",
        "%cd -",
        "%cd -q sub",
        "print(sorted(os.listdir('..')) == sorted(os.listdir(os.path.dirname(os.getcwd()))))",
    ],
}


def notebook_file(folder: Path, sources: list[str]) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "language": "python",
        "display_name": "Python 3",
    }
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    path = folder / "magic.ipynb"
    nbformat.write(notebook, path)
    return path


def papermill_stdout(source: Path, folder: Path) -> str:
    """Run with papermill's stock engine in a real kernel; the stdout streams, in order."""
    folder.mkdir()
    executed = folder / "executed.ipynb"
    run = subprocess.run(
        [
            *(sys.executable, "-m", "papermill", str(source), str(executed)),
            *("-k", "python3", "--cwd", str(folder), "--no-progress-bar"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    notebook = json.loads(executed.read_text())
    text = "".join(
        "".join(output["text"])
        for cell in notebook["cells"]
        for output in cell.get("outputs", [])
        if output["output_type"] == "stream" and output["name"] == "stdout"
    )
    return normalized(text, folder)


def module_stdout(source: Path, folder: Path) -> str:
    """Convert with the CLI, then run the module with plain python, without jupyter_mlops."""
    folder.mkdir()
    convert = subprocess.run(
        [
            *(sys.executable, "-m", "jupyter_mlops.cli", "convert", str(source)),
            *("--to", "python", "-o", str(folder), "--json"),
        ],
        capture_output=True,
        text=True,
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
    )
    assert convert.returncode == 0, convert.stderr
    (module,) = json.loads(convert.stdout)["files"]
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run(
        [sys.executable, "-I", module],  # -I: no jupyter_mlops from the path or cwd
        capture_output=True,
        text=True,
        cwd=folder,
        env=clean,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.endswith("{}\n"), run.stdout[-200:]  # main() prints the metrics last
    return normalized(run.stdout[: -len("{}\n")], folder)


def normalized(text: str, folder: Path) -> str:
    text = text.replace("\r\n", "\n").replace(str(folder), "<folder>")
    text = TIMEIT.sub("<timeit>", text)
    return WALL.sub("<wall>", CPU.sub("<cpu>", text))


@pytest.mark.parametrize("sources", list(CASES.values()), ids=list(CASES))
def test_the_module_prints_what_the_notebook_prints(sources, tmp_path):
    # Given a notebook using the magic
    source = notebook_file(tmp_path, sources)
    assert all(
        "no plain-Python equivalent" not in w.message for w in parse_notebook(source).warnings
    )
    # When papermill runs it in a kernel, and the generated module runs with python
    expected = papermill_stdout(source, tmp_path / "kernel")
    actual = module_stdout(source, tmp_path / "module")
    # Then both print the same
    assert actual == expected
    assert expected.strip()  # the case does print something to compare


def test_the_comparison_sees_a_difference(tmp_path):
    """The masks above keep what matters: a different statement prints differently."""
    source = notebook_file(tmp_path, ["x = 1", "%timeit y = x", "print('y' in dir())"])
    printed = module_stdout(source, tmp_path / "module")
    assert printed == "<timeit>\nFalse\n"


# -- convert reports what it changes or drops ---------------------------------------------


def tagged_notebook(folder: Path, cells: list[tuple[str, list[str]]]) -> Path:
    notebook = nbformat.v4.new_notebook()
    for source, tags in cells:
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["tags"] = tags
        notebook.cells.append(cell)
    path = folder / "tagged.ipynb"
    nbformat.write(notebook, path)
    return path


def cli(*words: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jupyter_mlops.cli", *words],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
    )


UNTRANSLATABLE = [
    ("x = 1", ["mlops:setup"]),
    ("%pip install numpy\n%sql SELECT 1\ny = x + 1", ["mlops:fn:train"]),
]


def test_convert_warns_on_stderr_naming_cell_line_and_what_to_change(tmp_path):
    source = tagged_notebook(tmp_path, UNTRANSLATABLE)
    run = cli("convert", str(source), "--to", "python", "-o", "out", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    warnings = [line for line in run.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 2
    assert warnings[0].startswith("warning: cell 1: '%pip install numpy' (line 1)")
    assert "install the packages before running" in warnings[0]
    assert warnings[1].startswith("warning: cell 1: '%sql SELECT 1' (line 2)")
    assert "client library" in warnings[1]
    inspect = cli("inspect", str(source), "--json", cwd=tmp_path)
    assert [str(w["message"]) for w in json.loads(inspect.stdout)["warnings"]] == [
        w.split(": ", 2)[2] for w in warnings
    ]
    as_json = cli("convert", str(source), "--to", "python", "-o", "out", "--json", cwd=tmp_path)
    assert json.loads(as_json.stdout)["warnings"] == [w[len("warning: ") :] for w in warnings]


def test_strict_convert_fails_with_exit_2_and_writes_nothing(tmp_path):
    source = tagged_notebook(tmp_path, UNTRANSLATABLE)
    run = cli("convert", str(source), "--to", "python", "-o", "out", "--strict", cwd=tmp_path)
    assert run.returncode == 2
    errors = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1
    assert "nothing written" in errors[0]
    assert "Traceback" not in run.stderr
    assert sum(line.startswith("warning: cell 1: ") for line in run.stderr.splitlines()) == 2
    assert not (tmp_path / "out").exists()  # not even the folder it would have made
    as_json = cli(
        "convert", str(source), "--to", "python", "-o", "out", "--strict", "--json", cwd=tmp_path
    )
    assert as_json.returncode == 2
    error = json.loads(as_json.stderr)
    assert error["error"] == "StrictConvertError"
    assert len(error["warnings"]) == 2


def test_strict_convert_passes_when_every_magic_is_translated(tmp_path):
    source = tagged_notebook(
        tmp_path,
        [
            ("n = 2", ["mlops:setup"]),
            ("!echo {n}\n%env MLOPS_N=$n\nout = !ls\nresult = len(out)", ["mlops:fn:train"]),
            ("%%bash --out listing\nls", ["mlops:fn:after"]),
        ],
    )
    run = cli("convert", str(source), "--to", "python", "-o", "out", "--strict", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    assert (tmp_path / "out" / "tagged.py").is_file()
    # and a kernel target keeps %pip as written: nothing to report for it
    kept = tagged_notebook(tmp_path, UNTRANSLATABLE)
    notebooks = cli("convert", str(kept), "--to", "notebooks", "-o", "nb", "--strict", cwd=tmp_path)
    assert notebooks.returncode == 0, notebooks.stderr


def test_no_warning_about_code_the_translation_generated(tmp_path):
    """!cmd, %env, %cd and %%bash used to become __import__ calls that the analysis then
    warned about; the helpers they call now are ours and say nothing."""
    source = tagged_notebook(
        tmp_path,
        [
            ("folder = '.'", ["mlops:setup"]),
            (
                "%cd {folder}\n!echo $folder\n%env A=1\nfiles = !ls\ncount = len(files)",
                ["mlops:fn:a"],
            ),
            ("%%bash --out text\necho hi", ["mlops:fn:b"]),
            ("%timeit count + 1\nsize = len(text) + count", ["mlops:fn:c"]),
        ],
    )
    plan = parse_notebook(source)
    assert [str(w) for w in plan.warnings] == []
    assert set(plan.function("c").inputs) == {"text", "count"}


def test_the_kfp_target_carries_the_helpers_its_components_call(tmp_path):
    source = tagged_notebook(
        tmp_path, [("n = 2", ["mlops:setup"]), ("!echo {n}\nresult = n", ["mlops:fn:train"])]
    )
    run = cli("convert", str(source), "--to", "kfp", "-o", "kfp", "--strict", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    pipeline = (tmp_path / "kfp" / "tagged_pipeline.py").read_text()
    assert "def _mlops_system(" in pipeline
    assert "_mlops_system(_mlops_expand('echo {n}', lambda: (n)))" in pipeline


def test_an_undefined_name_in_a_command_line_gets_a_warning_that_says_what_to_write(tmp_path):
    def warnings(command: str) -> list[str]:
        source = tagged_notebook(
            tmp_path, [("x = 5", ["mlops:setup"]), (f"{command}\ny = x", ["mlops:fn:train"])]
        )
        return [str(w) for w in parse_notebook(source).warnings]

    (warning,) = warnings("!echo $HOME {x}")
    assert warning.startswith("cell 1: 'HOME' (line 1) is not defined")
    assert "write $$HOME for the shell's variable" in warning
    assert warnings("!echo $$HOME {x}") == []


def test_the_helpers_keep_working_when_the_notebook_reuses_their_module_names(tmp_path):
    """The helpers' own imports are private: a notebook's 'time' or 'string' cannot break them."""
    source = tagged_notebook(
        tmp_path,
        [
            ("time = 3\nstring = 'text'\nos = None\nsubprocess = None", ["mlops:setup"]),
            ("%time total = time * 2\n!echo {string} {total}", ["mlops:fn:train"]),
        ],
    )
    run = cli("convert", str(source), "--to", "python", "-o", "out", "--strict", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    module = subprocess.run(
        [sys.executable, "-I", str(tmp_path / "out" / "tagged.py")],
        capture_output=True,
        text=True,
        env=clean,
        timeout=120,
    )
    assert module.returncode == 0, module.stderr
    assert "text 6\n" in module.stdout
    assert "Wall time: " in module.stdout
