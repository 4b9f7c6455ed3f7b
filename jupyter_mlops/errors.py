"""Every error jupyter_mlops raises on purpose.

One root, so a surface can catch "the user's mistake" in one place and map it to its own
idiom (exit code, HTTP status, IPython error) without ever showing a traceback::

    MLOpsError                      anything we raise on purpose
    ├── NotebookError               the notebook file or its content is unusable
    │   ├── NotebookFormatError     not JSON, not a valid nbformat v4 document, not Python
    │   └── TagError                a cell's tags or parameters break the grammar
    ├── PlanError                   the tags are fine one by one but not together
    │                               (a cycle, two functions with one name)
    ├── ConvertError                a target cannot express the plan
    │   └── StrictConvertError      --strict, and the conversion changes or drops something
    ├── ParameterError              a run's parameter value or name is wrong (nothing started)
    ├── ExecutionError              a run could not finish (kernel died, timeout, cancelled)
    ├── StoreError                  the run store is unusable or a record conflicts
    │   ├── NotFoundError           no run, version, sweep or artifact by that id or name
    │   ├── ConflictError           the record's state forbids it (cancel a finished run)
    │   └── StoreUnavailableError   the store cannot be opened: read-only, disk full, corrupted
    └── UnknownNameError            no converter (or other registered thing) by that name

Each carries the fields a surface needs to point at the problem: the notebook, the cell
index (0-based, as in the notebook's ``cells`` list) and a hint of what to do.
"""

from __future__ import annotations


class MLOpsError(Exception):
    """Root of all deliberate errors; ``str(err)`` is a complete, user-facing message."""

    def __init__(
        self,
        message: str,
        *,
        notebook: str | None = None,
        cell: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.notebook = notebook
        self.cell = cell
        self.hint = hint
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.notebook:
            where.append(self.notebook)
        if self.cell is not None:
            where.append(f"cell {self.cell}")
        text = f"{', '.join(where)}: {self.message}" if where else self.message
        if self.hint:
            text += f" ({self.hint})"
        return text

    def to_dict(self) -> dict[str, object]:
        """The error as JSON-ready fields, for ``--json`` output and REST bodies."""
        return {
            "error": type(self).__name__,
            "message": self.message,
            "notebook": self.notebook,
            "cell": self.cell,
            "hint": self.hint,
        }


class NotebookError(MLOpsError):
    """The notebook (file or content) cannot be used."""


class NotebookFormatError(NotebookError):
    """Not JSON, not a valid nbformat v4 document, or not a Python notebook."""


class TagError(NotebookError):
    """A cell's tags, parameters or markers break the tag grammar."""


class PlanError(MLOpsError):
    """The cells are fine one by one, but the functions they make are not consistent."""


class ConvertError(MLOpsError):
    """A conversion target cannot express the plan, or its toolchain is missing."""


class StrictConvertError(ConvertError):
    """A strict conversion refused: the warnings say what it would change or drop."""

    def __init__(self, message: str, warnings: list[str], *, notebook: str | None = None) -> None:
        self.warnings = list(warnings)
        hint = "fix what the warnings name, or convert without strict to accept them"
        super().__init__(message, notebook=notebook, hint=hint)

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "warnings": list(self.warnings)}


class UnknownNameError(MLOpsError, KeyError):
    """A registry has nothing under that name."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self._render()


class ParameterError(MLOpsError):
    """A parameter given for a run is unknown, not an identifier, or of the wrong type."""

    def __init__(
        self,
        message: str,
        *,
        parameter: str | None = None,
        notebook: str | None = None,
        cell: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.parameter = parameter
        super().__init__(message, notebook=notebook, cell=cell, hint=hint)


class ExecutionError(MLOpsError):
    """A run stopped for a reason other than its own code failing (cancel, timeout, death)."""


class StoreError(MLOpsError):
    """The store cannot be opened or migrated, or a write conflicts with what is there."""


class NotFoundError(StoreError, LookupError):
    """No run, version, sweep or artifact matches the id, prefix or name given."""


class ConflictError(StoreError):
    """The record exists but its state forbids the change (a finished run is final)."""


class StoreUnavailableError(StoreError):
    """The store cannot be opened or written at all (a read-only file or folder, a full disk,
    a corrupted database): nothing a request can fix, so the server answers 503 with this."""
