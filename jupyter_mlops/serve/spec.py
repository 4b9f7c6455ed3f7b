"""What a serving process is started with; JSON-serializable so worker processes get it too."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

TOKEN_HASH_ENV = "MLOPS_SERVE_TOKEN_SHA256"
SPEC_ENV = "MLOPS_SERVE_SPEC"  # how the parent hands the spec to worker processes


@dataclass
class ServeSpec:
    """One deployment's process: which function, bound to what, listening where, with limits."""

    notebook: str  # path of the .ipynb to load
    function: str
    root_dir: str  # the project root (the store lives under it unless store_url says else)
    notebook_name: str = ""  # the name runs were recorded under (default: relative to root)
    version: str | None = None  # expected version (prefix or alias); refuse to start otherwise
    from_run: str | None = None
    store_url: str | None = None
    artifacts_dir: str | None = None  # default: under the root, as for store_url
    artifact_url: str | None = None  # a shared artifact store (artifacts_dir: its cache)
    host: str = "127.0.0.1"
    port: int = 8000
    fd: int | None = None  # an inherited listening socket to serve on instead of host:port
    watch_pid: int | None = None  # stop (gracefully) when this process, the supervisor, ends
    header_timeout: float = 10.0  # seconds from a request's first byte to its last header
    work_dir: str | None = None  # where the setup code runs (default: the notebook's folder)
    workers: int = 1
    threads: int = 4  # per worker: function calls run in this many threads at most
    token_hash_env: str = TOKEN_HASH_ENV
    max_body: int = 1024 * 1024  # bytes
    max_batch: int = 1000  # objects in one batch request
    timeout: float = 30.0  # seconds a request may take
    inline_below: float = 0.001  # seconds: faster calls run on the event loop (0: never)
    max_concurrency: int = 256  # connections+requests at once; more get 503
    use_defaults: bool = False  # parameters with a default may be left out of a request
    log_file: str | None = None
    record_file: str | None = None
    log_level: str = "info"
    loop: str = "auto"  # uvicorn's: auto (uvloop if installed), asyncio, uvloop
    http: str = "auto"  # uvicorn's: auto (httptools if installed), h11, httptools
    monitor_dir: str | None = None  # window files of /invoke statistics go here (monitor.py)
    monitor_interval: float = 5.0  # seconds per window
    sample_rate: float = 0.1  # share of /invoke requests whose input and output are kept
    max_samples: int = 20  # per window and worker
    max_sample_bytes: int = 8192  # a larger input or output is kept as its size only
    # filled in by the parent process once the binding is resolved
    binding: list[dict[str, Any]] = field(default_factory=list)
    resolved_version: str = ""
    # request field -> its reference's binned summary (drift/reference.py); every request is
    # counted into these bins per monitor window
    references: dict[str, dict[str, Any]] = field(default_factory=dict)
    reference_source: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeSpec:
        return cls(**json.loads(text))
