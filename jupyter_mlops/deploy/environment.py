"""The environment a keeper and its serving processes get: an allowlist, never the server's.

A deployment outlives the Jupyter server or CLI that started it and runs code any client can
reach over HTTP, so it must not inherit that process's secrets (``JUPYTER_TOKEN``,
``JPY_API_TOKEN``, cloud credentials, anything a user exported). A denylist misses the next
secret; an allowlist only passes what running Python code needs: where programs and
libraries are, who and where the user is, locale and time zone, the interpreter's and the
virtual environment's variables, thread counts for numeric libraries, and the Jupyter paths
(configuration is found through them). A notebook that needs more passes it explicitly.
"""

from __future__ import annotations

from collections.abc import Mapping

ALLOWED = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TMPDIR",
        "TEMP",
        "TMP",
        "PYTHONPATH",
        "PYTHONHOME",
        "PYTHONIOENCODING",
        "PYTHONUTF8",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONWARNINGS",
        "VIRTUAL_ENV",
        "CONDA_PREFIX",
        "CONDA_DEFAULT_ENV",
        "LD_LIBRARY_PATH",
        "DYLD_LIBRARY_PATH",
        "SYSTEMROOT",  # Windows: Python cannot start without it
        "COMSPEC",
        "MPLBACKEND",
        "MPLCONFIGDIR",
        "JUPYTER_CONFIG_DIR",
        "JUPYTER_CONFIG_PATH",
        "JUPYTER_DATA_DIR",
        "JUPYTER_PATH",
        "JUPYTER_PLATFORM_DIRS",
    }
)
ALLOWED_PREFIXES = ("LC_", "XDG_", "OMP_", "MKL_", "OPENBLAS_", "NUMEXPR_", "CUDA_", "PYENV_")


def allowed(name: str) -> bool:
    return name in ALLOWED or name.startswith(ALLOWED_PREFIXES)


def clean_environment(parent: Mapping[str, str], **extra: str) -> dict[str, str]:
    """The allowed variables of ``parent``, plus ``extra`` (which the caller vouches for)."""
    return {**{k: v for k, v in parent.items() if allowed(k)}, **extra}
