"""Stand-ins for third-party modules that cost far more to import than a CLI command can afford.

Each is a small module object put in ``sys.modules`` under the real name before anything
imports it. It answers any attribute by importing the real module then (once, under a lock),
so code that does use it gets the same answer as before, only later. The CLI installs them
at start; nothing else does, so a library user's process is left as it was.

- ``rfc3987_syntax``: ``jsonschema`` (through nbformat's validation, which every run and
  convert goes through) does ``from rfc3987_syntax import is_valid_syntax`` at import, and
  ``rfc3987_syntax`` compiles an Earley grammar at import: 1 to 2 s on a loaded 2-core
  machine, longer than the whole tracked run. Its only use is the ``iri``/``iri-reference``
  format checks, which nbformat's schema never asks for.
- ``rfc3986_validator``: the same module's ``uri``/``uri-reference`` checks; it builds its
  regular expressions at import (~20 ms), for formats nbformat does not check either.
- ``papermill.s3``: ``papermill.iorw`` imports it (and with it boto3 and botocore, a fifth of
  what a run imports) for ``s3://`` notebook paths, which a tracked run never has.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from collections.abc import Callable
from typing import Any

RFC3987_SYNTAX = "rfc3987_syntax"
RFC3986_VALIDATOR = "rfc3986_validator"
PAPERMILL_S3 = "papermill.s3"

_lock = threading.RLock()


class _Deferred(types.ModuleType):
    """Marks our stand-ins, so one is never installed twice and is told apart from the real."""


def defer_rfc3987_syntax() -> bool:
    """Install the stand-in unless the real module is loaded already or not installed.

    Returns whether the stand-in is in place. When the package is missing, nothing is
    installed, so ``jsonschema``'s ``ImportError`` branch (no IRI checks) stays as it was.
    """
    return _defer(RFC3987_SYNTAX, RFC3987_SYNTAX, ("is_valid_syntax",))


def defer_rfc3986_validator() -> bool:
    """The same for ``rfc3986_validator`` (``validate_rfc3986``)."""
    return _defer(RFC3986_VALIDATOR, RFC3986_VALIDATOR, ("validate_rfc3986",))


def defer_papermill_s3() -> bool:
    """The same for ``papermill.s3``, when boto3 is installed (without it the real import
    fails and papermill puts its "install papermill[s3]" stand-in there: left as it was)."""
    return _defer(PAPERMILL_S3, "boto3", ("S3",))


def defer_slow_imports() -> None:
    """Every stand-in above: what the CLI calls first thing."""
    defer_rfc3987_syntax()
    defer_rfc3986_validator()
    defer_papermill_s3()


def _defer(name: str, needs: str, callables: tuple[str, ...]) -> bool:
    """Put a stand-in for module ``name`` in place if ``needs`` (a top-level package) is
    installed and ``name`` is not imported yet. ``callables`` are attributes read at import
    (``from name import f``) and only called later: they are forwarded when called."""
    with _lock:
        loaded = sys.modules.get(name)
        if loaded is not None:
            return isinstance(loaded, _Deferred)
        try:
            if importlib.util.find_spec(needs) is None:
                return False
        except (ImportError, ValueError):  # a broken install: leave the importer to find out
            return False
        stand_in = _Deferred(name, f"imports {name} on first use")
        for attribute in callables:
            setattr(stand_in, attribute, _forwarder(name, attribute))

        def other_attribute(attribute: str) -> Any:  # PEP 562's __getattr__: read the real one
            if attribute.startswith("__"):
                # The import system asks for __path__ and the like on every `from … import`:
                # answering those must not load the real module.
                raise AttributeError(attribute)
            return getattr(_real(name), attribute)

        stand_in.__getattr__ = other_attribute  # type: ignore[method-assign]
        sys.modules[name] = stand_in
        return True


def _forwarder(name: str, attribute: str) -> Callable[..., Any]:
    def forward(*args: Any, **kwargs: Any) -> Any:
        return getattr(_real(name), attribute)(*args, **kwargs)

    forward.__name__ = forward.__qualname__ = attribute
    return forward


def _real(name: str) -> types.ModuleType:
    """The real module, imported once (under a lock: two threads may use it at once)."""
    with _lock:
        current = sys.modules.get(name)
        if current is not None and not isinstance(current, _Deferred):
            return current
        sys.modules.pop(name, None)
        try:
            module = importlib.import_module(name)
        except BaseException:
            if current is not None:
                sys.modules[name] = current
            raise
        parent, _, child = name.rpartition(".")
        if parent and parent in sys.modules:
            setattr(sys.modules[parent], child, module)  # `papermill.s3` is the real one now
        return module
