"""One function of a notebook as a Python callable, with its setup code run once.

The code is the ``python`` target's (``convert/python_module.py``): the setup cells as the
module writes them, then the function's ``def`` with its data inputs as arguments and its
parameters keyword-only. Both are compiled under names that tracebacks (and the log) show.
"""

from __future__ import annotations
import __future__

import linecache
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..convert.codegen import cell_block, require_python
from ..convert.python_module import function_source
from ..errors import MLOpsError
from ..notebook.plan import Function, Plan
from .signature import typed_def

logger = logging.getLogger(__name__)


@dataclass
class ServedFunction:
    """The callable and what it needs: ``call(parameters)`` returns ``{output: value}``."""

    plan: Plan
    function: Function
    bound: dict[str, Any]  # upstream inputs, already loaded
    code: Callable[..., Any]
    typed_def: str | None = None  # a def served as written: its return value is the answer

    def call(self, parameters: Mapping[str, Any]) -> Any:
        if self.typed_def is not None:
            return self.code(**parameters)
        result = self.code(**self.bound, **parameters)
        outputs = self.function.outputs
        if not outputs:
            return {}
        if len(outputs) == 1:
            return {outputs[0]: result}
        return dict(zip(outputs, result, strict=True))


def load_function(plan: Plan, function: Function, bound: dict[str, Any]) -> ServedFunction:
    """Run the setup code (in the current directory) and compile the function's ``def``."""
    require_python(plan)
    namespace: dict[str, Any] = {"__name__": "__mlops_served__", "Any": Any, "Literal": Literal}
    if plan.setup:
        setup = cell_block([(f"cell {cell.index}", cell.python) for cell in plan.setup])
        logger.info("running the setup code of %s in %s", plan.notebook, os.getcwd())
        try:
            _run(setup, f"<setup of {plan.notebook}>", namespace)
        except Exception as err:
            logger.error("the setup code of %s raised", plan.notebook, exc_info=err)
            raise MLOpsError(
                f"the setup code raised {type(err).__name__}: {err}", notebook=plan.notebook
            ) from None
    found = typed_def(plan, function)
    if found is not None:
        # The cells run once, as in the notebook, with the bound values as their globals;
        # the def they define is what each request calls.
        namespace.update(bound)
        for cell in function.cells:
            _run(cell.python, f"<cell {cell.index} of {plan.notebook}>", namespace)
        name = found[1].name
        return ServedFunction(plan, function, bound, namespace[name], typed_def=name)
    _run(function_source(plan, function), f"<function {function.name}>", namespace)
    return ServedFunction(plan, function, bound, namespace[function.identifier])


def _run(source: str, filename: str, namespace: dict[str, Any]) -> None:
    # Registered with linecache so a traceback in the log shows the lines of the cell.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    flags = __future__.annotations.compiler_flag
    exec(compile(source, filename, "exec", flags=flags, dont_inherit=True), namespace)
