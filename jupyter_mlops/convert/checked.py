"""A conversion with the notebook's warnings, and ``strict`` conversions that write nothing
when the result would differ from the notebook.

``inspect`` reports what reading the notebook changed or dropped (a magic with no Python
equivalent, a cell left out); a converter adds what it changed itself (a star import moved).
A user who converts must see both, so the result carries both; under ``strict`` any of them
is an error (exit 2, HTTP 409) and the output folder is left as it was: the converter
writes into a temporary folder, and the files move to the output folder only when there is
nothing to report.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path

from ..errors import StrictConvertError
from ..notebook.plan import Plan
from .codegen import make_output_dir
from .registry import Converter, ConvertResult


def convert_checked(
    converter: Converter, plan: Plan, output_dir: Path, *, strict: bool = False
) -> ConvertResult:
    """Run ``converter``; the result's warnings start with the plan's that apply to it."""
    # a target whose code runs in a kernel (generated notebooks) keeps magics as written
    in_kernel = bool(getattr(converter, "runs_in_kernel", False))
    read = [str(w) for w in plan.warnings if not (in_kernel and w.plain_python_only)]
    if not strict:
        result = converter.convert(plan, output_dir)
        result.warnings[:0] = read
        return result
    created = not output_dir.exists()
    make_output_dir(output_dir, plan.notebook)
    try:
        return _convert_into(converter, plan, output_dir, read)
    except StrictConvertError:
        if created:  # "nothing written": not even the folder the conversion would have made
            with contextlib.suppress(OSError):
                output_dir.rmdir()
        raise


def _convert_into(
    converter: Converter, plan: Plan, output_dir: Path, read: list[str]
) -> ConvertResult:
    """Convert into a scratch folder inside ``output_dir``; move the files in only when the
    conversion has no warning (the scratch folder goes either way)."""
    with tempfile.TemporaryDirectory(dir=output_dir, prefix=".mlops-convert-") as scratch:
        result = converter.convert(plan, Path(scratch))
        result.warnings[:0] = read
        if result.warnings:
            count = len(result.warnings)
            raise StrictConvertError(
                f"the {converter.name} target would change or drop {count} thing"
                f"{'s' if count != 1 else ''} (see the warnings); nothing written",
                result.warnings,
                notebook=plan.notebook,
            )
        moved = []
        for path in result.files:
            target = output_dir / Path(path).relative_to(scratch)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(path), target)
            moved.append(target)
        result.files = moved
    return result
