"""Warm imports: runs fork from a zygote generation that already imported the notebook's modules.

Real zygote processes, real forked kernels and real papermill (engine ``mlops``); a real CLI
process with a real SQLite store; real ``dask scheduler``/``dask worker`` processes. Each
fault has its test: state leaking between runs, a thread started at import, capped BLAS and
OpenMP pools, a stale generation after an upgrade, unbounded generations.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import papermill
import pytest
from conftest import make_notebook

from jupyter_mlops.execute import zygotes
from jupyter_mlops.execute.warm import notebook_imports
from jupyter_mlops.service import MLOps

pytestmark = pytest.mark.kernel

CellSpec = str | tuple[str, str | list[str]]
INLINE = "module://matplotlib_inline.backend_inline"


def _write(path: Path, *cells: CellSpec) -> Path:
    path.write_text(json.dumps(make_notebook(*cells)), encoding="utf-8")
    return path


def _run(source: Path, output: Path, engine: str | None = "mlops", **options: Any) -> Any:
    papermill.execute_notebook(
        str(source), str(output), engine_name=engine, progress_bar=False, **options
    )
    return nbformat.read(str(output), as_version=4)  # type: ignore[no-untyped-call]


def _text(nb: Any, index: int) -> str:
    return "".join(o.get("text", "") for o in nb.cells[index].outputs)


def _warm(nb: Any) -> dict[str, Any]:
    return dict(nb.metadata["mlops"]["engine"]["warm"])


def _threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def _zygote_pid() -> int:
    assert zygotes._zygote is not None
    return zygotes._zygote.process.pid


def test_the_imports_are_read_from_the_top_level_code_of_every_code_cell() -> None:
    nb = nbformat.from_dict(  # type: ignore[no-untyped-call]
        make_notebook(
            "import numpy as np, os",
            "from sklearn.metrics import f1_score\nfrom . import sibling",
            "def later():\n    import pandas\n\nclass Lazy:\n    import scipy",
            "try:\n    import matplotlib.pyplot as plt\nexcept ImportError:\n    plt = None",
            "%matplotlib inline\n!echo hi\nimport numpy\nimport threadpoolctl",
            "this is not python",
        )
    )
    assert notebook_imports(nb) == [
        "numpy",
        "os",
        "sklearn.metrics",
        "sklearn.metrics.f1_score?",  # a submodule or not: the zygote finds out
        "matplotlib.pyplot",
        "threadpoolctl",
    ]


def test_a_run_finds_the_notebooks_modules_imported_before_its_first_cell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _write(
        tmp_path / "in.ipynb",
        "import sys\nprint(sorted(m for m in ('numpy', 'pandas', 'matplotlib.pyplot')"
        " if m in sys.modules))",
        "import json\nimport numpy\nimport pandas as pd\nfrom matplotlib import pyplot, rcParams",
    )
    warm = _run(source, tmp_path / "warm.ipynb")
    assert _text(warm, 0) == "['matplotlib.pyplot', 'numpy', 'pandas']\n"
    assert _warm(warm) == {
        "modules": ["numpy", "pandas", "matplotlib", "matplotlib.pyplot"],
        "skipped": {},
    }
    # Turned off by the engine option or the environment: imported by the run, as today
    cold = _run(source, tmp_path / "cold.ipynb", mlops_warm=False)
    assert _text(cold, 0) == "[]\n"
    assert "warm" not in cold.metadata["mlops"]["engine"]
    monkeypatch.setenv("JUPYTER_MLOPS_WARM_IMPORTS", "0")
    assert _text(_run(source, tmp_path / "off.ipynb"), 0) == "[]\n"


STATE = """import json, os, sys
import numpy as np
import pandas as pd
import matplotlib
import matplotlib.pyplot as plt
import warmstate
print(json.dumps({
    "max_rows": pd.get_option("display.max_rows"),
    "linewidth": float(matplotlib.rcParams["lines.linewidth"]),
    "backend": matplotlib.get_backend(),
    "counter": warmstate.COUNTER,
    "leak": os.environ.get("WARM_LEAK"),
    "cwd": os.getcwd(),
    "user_variable": "secret_variable" in globals(),
}))
print(float(np.random.rand()))"""

MUTATE = """np.random.seed(123)
pd.set_option("display.max_rows", 7)
matplotlib.rcParams["lines.linewidth"] = 9.0
warmstate.COUNTER += 1
os.environ["WARM_LEAK"] = "1"
secret_variable = 42
os.chdir("/")"""


def test_no_run_sees_module_state_another_run_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a notebook that prints module state, then changes it, in modules warmed for it
    library = tmp_path / "lib"
    library.mkdir()
    (library / "warmstate.py").write_text("COUNTER = 0\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(library), os.getenv("PYTHONPATH", "")]))
    work = tmp_path / "work"
    work.mkdir()
    source = _write(tmp_path / "in.ipynb", STATE, MUTATE)
    # When it runs three times from one warm generation, and once on a stock kernel
    runs = [_run(source, tmp_path / f"run{i}.ipynb", cwd=str(work)) for i in range(3)]
    stock = _run(source, tmp_path / "stock.ipynb", engine=None, cwd=str(work))
    # Then every run starts from what a stock kernel has, not from what the last run left
    expected = json.loads(_text(stock, 0).splitlines()[0])
    assert expected["backend"] == INLINE
    assert expected["max_rows"] == 60
    for nb in runs:
        assert _warm(nb)["modules"] == [
            "numpy",
            "pandas",
            "matplotlib",
            "matplotlib.pyplot",
            "warmstate",
        ]
        assert json.loads(_text(nb, 0).splitlines()[0]) == expected
    # and numpy's global generator is seeded anew in each run, as at a fresh import
    draws = {_text(nb, 0).splitlines()[1] for nb in runs}
    assert len(draws) == 3


def test_a_module_that_starts_a_thread_at_import_is_not_warmed(tmp_path: Path) -> None:
    # Given a library whose import starts a thread, between two that do not
    library = tmp_path / "lib"
    library.mkdir()
    (library / "threadlib_warm.py").write_text(
        "import threading, time\n"
        "STARTED = threading.Thread(target=time.sleep, args=(3600,), daemon=True)\n"
        "STARTED.start()\n"
    )
    (library / "quietlib_warm.py").write_text("VALUE = 1\n")
    env = {"PYTHONPATH": os.pathsep.join([str(library), os.getenv("PYTHONPATH", "")])}
    source = _write(
        tmp_path / "in.ipynb",
        "import quietlib_warm\nimport threadlib_warm\nimport numpy",
        "print(threadlib_warm.STARTED.is_alive(), quietlib_warm.VALUE)",
    )
    old = os.environ.get("PYTHONPATH")
    os.environ.update(env)
    try:
        first = _run(source, tmp_path / "first.ipynb")
        zygote = _zygote_pid()
        second = _run(source, tmp_path / "second.ipynb")
        # Then the run works, the zygote it forked from has no thread but its own, and the
        # run's record says what was not warmed and why
        assert _text(first, 1) == _text(second, 1) == "True 1\n"
        assert _threads(zygote) == 1
        for nb in (first, second):
            warm = _warm(nb)
            assert warm["modules"] == ["quietlib_warm", "numpy"]
            assert "thread" in warm["skipped"]["threadlib_warm"]
        assert _zygote_pid() == zygote  # learnt once: no generation is tried again
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


def test_a_module_that_kills_the_zygote_at_import_is_not_warmed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a library that ends the process importing it, but only in a zygote
    library = tmp_path / "lib"
    library.mkdir()
    (library / "crashlib_warm.py").write_text(
        "import os, sys\nif '--warm' in sys.argv:\n    os._exit(3)\nVALUE = 'imported by the run'\n"
    )
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(library), os.getenv("PYTHONPATH", "")]))
    source = _write(tmp_path / "in.ipynb", "import crashlib_warm\nprint(crashlib_warm.VALUE)")
    # Then each run still works, as it would without warm imports, and says why
    for name in ("first", "second"):
        nb = _run(source, tmp_path / f"{name}.ipynb")
        assert _text(nb, 0) == "imported by the run\n"
        assert _warm(nb)["modules"] == []
        assert "failed" in _warm(nb)["skipped"]["crashlib_warm"]


def test_what_a_module_prints_or_warns_at_import_stays_in_the_runs_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    library = tmp_path / "lib"
    library.mkdir()
    (library / "chatty_warm.py").write_text("print('hello from chatty')\n")
    (library / "warning_warm.py").write_text(
        "import warnings\nwarnings.warn('warning_warm is old', UserWarning)\n"
    )
    (library / "cwriter_warm.py").write_text("import os\nos.write(2, b'said at fd level\\n')\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(library), os.getenv("PYTHONPATH", "")]))
    source = _write(
        tmp_path / "in.ipynb", "import chatty_warm\nimport warning_warm\nimport cwriter_warm"
    )
    nb = _run(source, tmp_path / "out.ipynb")
    stock = _run(source, tmp_path / "stock.ipynb", engine=None)
    text = _text(nb, 0)
    assert "hello from chatty" in text
    assert "warning_warm is old" in text
    assert "said at fd level" in text
    for said in ("hello from chatty", "warning_warm is old"):  # as a stock kernel shows
        assert said in _text(stock, 0)
    warm = _warm(nb)
    assert warm["modules"] == []
    for name in ("chatty_warm", "warning_warm", "cwriter_warm"):
        assert "at import" in warm["skipped"][name]


POOLS = """import json, os
a = np.random.rand(400, 400)
b = a @ a
KMeans(n_clusters=3, n_init=2, random_state=0).fit(a)
print(json.dumps({i["internal_api"]: i["num_threads"] for i in threadpoolctl.threadpool_info()}))"""


def test_blas_and_openmp_pools_are_sized_in_each_run_as_in_a_fresh_process(
    tmp_path: Path,
) -> None:
    source = _write(
        tmp_path / "in.ipynb",
        "import numpy as np\nfrom sklearn.cluster import KMeans\nimport threadpoolctl",
        POOLS,
    )
    cpus = len(os.sched_getaffinity(0))
    results: list[Any] = []

    def run(index: int, **options: Any) -> None:
        output = tmp_path / f"out{index}.ipynb"
        results.append(_run(source, output, execution_timeout=120, **options))

    # Two runs at once from the generation that imported numpy (OpenBLAS) and sklearn (OpenMP)
    threads = [threading.Thread(target=run, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(240)
    assert len(results) == 2
    for nb in results:
        pools = json.loads(_text(nb, 1))
        assert pools["openblas"] == cpus
        assert pools["openmp"] == cpus
    assert _threads(_zygote_pid()) == 1
    # A run whose environment sets the pools' size gets that size
    run(2, mlops_env={"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})
    assert set(json.loads(_text(results[-1], 1)).values()) == {1}


def test_never_warmed_and_local_modules_are_skipped_with_the_reason(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "localmod_warm.py").write_text("WHERE = 'the run folder'\n")
    source = _write(
        tmp_path / "in.ipynb",
        "try:\n    import torch\nexcept ImportError:\n    torch = None\nimport localmod_warm",
        "print(localmod_warm.WHERE)",
    )
    nb = _run(source, tmp_path / "out.ipynb", cwd=str(work))
    assert _text(nb, 1) == "the run folder\n"
    warm = _warm(nb)
    assert warm["modules"] == []
    assert warm["skipped"]["torch"].startswith("never warmed")
    assert "run's folder" in warm["skipped"]["localmod_warm"]


def _fake_distribution(site: Path, version: str) -> None:
    for old in site.glob("verlib_warm-*.dist-info"):
        for file in old.iterdir():
            file.unlink()
        old.rmdir()
    package = site / "verlib_warm"
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text(f"__version__ = {version!r}\n")
    info = site / f"verlib_warm-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: verlib_warm\nVersion: {version}\n"
    )
    (info / "top_level.txt").write_text("verlib_warm\n")


def test_a_new_import_or_an_upgraded_package_gives_a_fresh_generation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site-packages"
    site.mkdir()
    _fake_distribution(site, "1.0")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.getenv("PYTHONPATH", "")]))
    monkeypatch.syspath_prepend(str(site))
    source = _write(tmp_path / "in.ipynb", "import verlib_warm\nprint(verlib_warm.__version__)")
    more = _write(tmp_path / "more.ipynb", "import verlib_warm\nimport numpy\nprint('more')")
    assert _text(_run(source, tmp_path / "a.ipynb"), 0) == "1.0\n"
    first = _zygote_pid()
    # A new import: another generation; the first one is kept and used again
    assert _warm(_run(more, tmp_path / "b.ipynb"))["modules"] == ["verlib_warm", "numpy"]
    assert _zygote_pid() != first
    assert _text(_run(source, tmp_path / "c.ipynb"), 0) == "1.0\n"
    assert _zygote_pid() == first
    # An upgrade (a new .dist-info): a fresh generation, which imported the new code
    _fake_distribution(site, "2.0")
    assert _text(_run(source, tmp_path / "d.ipynb"), 0) == "2.0\n"
    assert _zygote_pid() != first


def test_generations_are_bounded_by_count_and_memory_and_report_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notebooks = [
        _write(tmp_path / "numpy.ipynb", "import numpy"),
        _write(tmp_path / "pandas.ipynb", "import pandas"),
        _write(tmp_path / "both.ipynb", "import numpy\nimport pandas"),
    ]
    monkeypatch.setattr(zygotes, "MAX_GENERATIONS", 2)
    pids = []
    for index, source in enumerate(notebooks):
        _run(source, tmp_path / f"out{index}.ipynb")
        pids.append(_zygote_pid())
    warm = [z for z in zygotes.zygote_status() if z["modules"]]
    assert [z["pid"] for z in warm] == pids[1:]  # least recently used first, then retired
    assert all(z["memory"] > 20 << 20 for z in warm)
    assert not os.path.exists(f"/proc/{pids[0]}/task")
    # Over the memory cap only the newest generation is kept
    monkeypatch.setattr(zygotes, "MAX_GENERATION_BYTES", 1)
    _run(notebooks[0], tmp_path / "again.ipynb")
    assert [z["pid"] for z in zygotes.zygote_status() if z["modules"]] == [_zygote_pid()]


SWEPT = make_notebook(
    ("x: float = 1.0", "parameters"),
    (
        "import sys\nwarm = float('numpy' in sys.modules)\n"
        "import numpy\ny = float(numpy.square(x))",
        "mlops:fn:square",
    ),
    ("warm\ny", "mlops:metrics"),
)


def _project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "nb.ipynb").write_text(json.dumps(SWEPT), encoding="utf-8")
    return folder


def _sweep(project: Path, *words: str) -> list[Any]:
    done = subprocess.run(
        [
            *(sys.executable, "-m", "jupyter_mlops.cli", "sweep", "nb.ipynb"),
            *("-p", "x", "1,2,3", "--parallel", "2", "--json", *words),
        ],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    service = MLOps(root_dir=str(project))
    return list(service.runs(sweep=json.loads(done.stdout)["sweep"]["id"]).runs)


def test_a_cli_sweep_runs_from_a_warm_generation(tmp_path: Path) -> None:
    project = _project(tmp_path)
    runs = _sweep(project)
    assert sorted(run.metrics["y"] for run in runs) == [1.0, 4.0, 9.0]
    assert [run.metrics["warm"] for run in runs] == [1.0, 1.0, 1.0]
    service = MLOps(root_dir=str(project))
    output = json.loads(service.store.artifact_path(runs[0].output_notebook or "").read_text())
    assert output["metadata"]["mlops"]["engine"]["warm"]["modules"] == ["numpy"]


def test_a_dask_worker_runs_from_a_warm_generation(
    tmp_path: Path, dask_cluster: Callable[..., Any]
) -> None:
    project = _project(tmp_path)
    cluster = dask_cluster(1)
    runs = _sweep(project, "--executor", "dask", "--scheduler", cluster.address)
    assert {run.executor for run in runs} == {"dask"}
    assert sorted(run.metrics["y"] for run in runs) == [1.0, 4.0, 9.0]
    assert [run.metrics["warm"] for run in runs] == [1.0, 1.0, 1.0]


@pytest.fixture
def dask_cluster(tmp_path: Path) -> Any:
    pytest.importorskip("distributed")
    from test_dask_executor import Cluster

    started: list[Any] = []

    def start(workers: int) -> Any:
        base = tmp_path / f"cluster{len(started)}"
        base.mkdir()
        started.append(Cluster(base, workers))
        return started[-1]

    yield start
    for one in started:
        one.stop()
