"""Compile a Kale-tagged notebook to KFP YAML through Kale's own API: the peer baseline.

Run it with the Kale venv's interpreter::

    bench/.peers/kale-venv/bin/python bench/peers/kale_compile.py NOTEBOOK OUT_DIR

It makes the calls ``kale --nb`` makes (NotebookProcessor -> Compiler -> kfputils), minus
upload and run. Not the stock CLI, because its defaults for ``--pipeline_name`` and
``--experiment_name`` override the notebook's metadata and it always writes to
``$CWD/.kale``. Kale resolves ``output_path`` against the working directory and rejects a
path outside it, so we chdir into OUT_DIR and pass ``"."``.

Prints the YAML path on stdout and one ``KALE_PHASES {json}`` line on stderr (seconds per
phase), so the runner can show where the time goes. Exits 1 when no YAML was written.
``kfputils.compile_pipeline`` leaves a temp dir behind on every call: run this with
``TMPDIR`` pointing at a scratch dir. Kale is imported by name (importlib) because this file
is type-checked in the project's environment, where Kale is not installed.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

STARTED = time.perf_counter()


class Phases:
    """Seconds spent per phase, measured back to back."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._mark = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = round(now - self._mark, 4)
        self._mark = now


def compile_notebook(notebook: Path, out_dir: Path) -> tuple[Path, dict[str, float]]:
    """The pipeline YAML Kale writes for ``notebook`` into ``out_dir``, and phase times."""
    os.chdir(out_dir)  # Kale writes beside the working directory, never outside it
    phases = Phases()
    processors: Any = importlib.import_module("kale.processors")
    compiler: Any = importlib.import_module("kale.compiler")
    kfputils: Any = importlib.import_module("kale.common.kfputils")
    phases.lap("import")

    processor = processors.NotebookProcessor(str(notebook), {"output_path": "."})
    pipeline = processor.run()
    imports_and_functions = processor.get_imports_and_functions()
    phases.lap("process")

    dsl_path = compiler.Compiler(pipeline, imports_and_functions).compile()
    phases.lap("dsl")

    yaml_path = kfputils.compile_pipeline(dsl_path, pipeline.config.pipeline_name)
    phases.lap("kfp_compile")
    return Path(yaml_path).resolve(), phases.seconds


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: kale_compile.py NOTEBOOK OUT_DIR", file=sys.stderr)
        return 2
    notebook, out_dir = Path(argv[0]).resolve(), Path(argv[1]).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    yaml_path, phases = compile_notebook(notebook, out_dir)
    if not yaml_path.is_file() or yaml_path.stat().st_size == 0:
        print(f"Kale reported {yaml_path} but wrote no YAML there", file=sys.stderr)
        return 1
    phases["total_in_process"] = round(time.perf_counter() - STARTED, 4)
    print("KALE_PHASES " + json.dumps(phases), file=sys.stderr)
    print(yaml_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
