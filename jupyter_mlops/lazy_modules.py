"""Stand-ins for third-party modules that cost far more to import than a CLI command can afford.

``jsonschema`` (through nbformat's validation, which every run and convert goes through) does
``from rfc3987_syntax import is_valid_syntax`` at import when that package is installed, and
``rfc3987_syntax`` compiles an Earley grammar at import: 1 to 2 s on a loaded 2-core machine,
longer than the whole tracked run. Its only use is the ``iri``/``iri-reference`` format checks,
which nbformat's schema never asks for.

:func:`defer_rfc3987_syntax` puts a small module object under that name in ``sys.modules``
before jsonschema is imported. It offers the same ``is_valid_syntax`` (and any other
attribute) and imports the real package the first time one is used, so a schema that does
check an IRI gets the same answer as before, only later. The CLI installs it at start; nothing
else does, so a library user's process is left as it was.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from typing import Any

RFC3987_SYNTAX = "rfc3987_syntax"

_lock = threading.Lock()


class _Deferred(types.ModuleType):
    """Marks our stand-in, so it is never installed twice and is told apart from the real one."""


def defer_rfc3987_syntax() -> bool:
    """Install the stand-in unless the real module is loaded already or not installed.

    Returns whether the stand-in is in place. When the package is missing, nothing is
    installed, so ``jsonschema``'s ``ImportError`` branch (no IRI checks) stays as it was.
    """
    loaded = sys.modules.get(RFC3987_SYNTAX)
    if loaded is not None:
        return isinstance(loaded, _Deferred)
    try:
        if importlib.util.find_spec(RFC3987_SYNTAX) is None:
            return False
    except (ImportError, ValueError):  # a broken install: leave jsonschema to find out alone
        return False
    stand_in = _Deferred(RFC3987_SYNTAX, "imports rfc3987_syntax on first use")

    def is_valid_syntax(term: str, value: str) -> Any:
        return _real().is_valid_syntax(term, value)

    def other_attribute(name: str) -> Any:  # PEP 562's __getattr__: read from the real one
        if name.startswith("__"):
            # The import system asks for __path__ and the like on every `from … import`:
            # answering those must not load the real module.
            raise AttributeError(name)
        return getattr(_real(), name)

    stand_in.is_valid_syntax = is_valid_syntax  # type: ignore[attr-defined]
    stand_in.__getattr__ = other_attribute  # type: ignore[method-assign]
    sys.modules[RFC3987_SYNTAX] = stand_in
    return True


def _real() -> types.ModuleType:
    """The real ``rfc3987_syntax``, imported once (under a lock: two threads may validate)."""
    with _lock:
        current = sys.modules.get(RFC3987_SYNTAX)
        if current is not None and not isinstance(current, _Deferred):
            return current
        sys.modules.pop(RFC3987_SYNTAX, None)
        try:
            return importlib.import_module(RFC3987_SYNTAX)
        except BaseException:
            if current is not None:
                sys.modules[RFC3987_SYNTAX] = current
            raise
