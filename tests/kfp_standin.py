"""A stand-in for the KFP API server, written for the tests: a KFP API server needs Kubernetes.

A real HTTP server on 127.0.0.1 (a thread of the test process) answering the v2beta1 routes
``kfp.Client`` calls: healthz, experiments (create, get, list by name), runs (create, get,
list, terminate). A created run is PENDING for ``pending_for`` seconds, then RUNNING while
the pipeline spec it was given really runs with ``kfp.local`` (SubprocessRunner, no venv) in
a subprocess, then SUCCEEDED or FAILED. Its task details list each task's output artifacts
with their ``schema_title`` and ``metadata``, read from what kfp.local wrote (the executor
output of each task), so a Metrics artifact carries the values the pipeline computed.

Every ``Authorization`` header received is kept in ``authorizations``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import yaml

API = "/apis/v2beta1"

# Runs the spec with kfp.local; the task outputs are in pipeline_root/<run>/<task>/.
RUN_SCRIPT = """
import json, sys, warnings
warnings.simplefilter("ignore")
from kfp import components, local
spec, arguments, root = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=root)
components.load_component_from_file(spec)(**arguments)
"""
ERROR_LINE = re.compile(r"^\s*(\w+(?:Error|Exception)): (.+)$", re.MULTILINE)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


class KfpStandin:
    """Start with ``start()``; ``host`` is its URL; ``stop()`` ends it and its runs."""

    def __init__(self, folder: Path, *, pending_for: float = 1.0) -> None:
        self.folder = folder
        self.pending_for = pending_for
        self.experiments: dict[str, dict[str, Any]] = {}
        self.runs: dict[str, dict[str, Any]] = {}
        self.authorizations: list[str] = []
        self.requests: list[str] = []  # "METHOD path" of each request
        self._processes: dict[str, subprocess.Popen[str]] = {}
        self._lock = threading.Lock()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                standin._handle(self, "GET")

            def do_POST(self) -> None:
                standin._handle(self, "POST")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> KfpStandin:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            processes = list(self._processes.values())
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)

    # -- routes ------------------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        url = urlparse(request.path)
        with self._lock:
            self.requests.append(f"{method} {url.path}")
            if request.headers.get("Authorization"):
                self.authorizations.append(request.headers["Authorization"])
        length = int(request.headers.get("Content-Length") or 0)
        body = json.loads(request.rfile.read(length) or b"{}") if length else {}
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        path = url.path.removeprefix(API)
        try:
            status, reply = self._route(method, path, query, body)
        except KeyError as err:
            status, reply = 404, {"code": 5, "message": f"not found: {err}"}
        data = json.dumps(reply).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    def _route(
        self, method: str, path: str, query: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        if method == "GET" and path == "/healthz":
            return 200, {"multi_user": False}
        if path == "/experiments":
            if method == "POST":
                return 200, self._create_experiment(body)
            return 200, {"experiments": self._find_experiments(query.get("filter"))}
        if method == "GET" and path.startswith("/experiments/"):
            return 200, self.experiments[path.rsplit("/", 1)[1]]
        if path == "/runs":
            if method == "POST":
                return 200, self._create_run(body)
            with self._lock:
                listed = [self._public(r) for r in self.runs.values()]
            return 200, {"runs": listed, "total_size": len(listed)}
        match = re.fullmatch(r"/runs/([^/:]+)(:terminate)?", path)
        if match:
            run_id, terminate = match.groups()
            if terminate and method == "POST":
                self._terminate(run_id)
                return 200, {}
            with self._lock:
                return 200, self._public(self.runs[run_id])
        return 404, {"code": 5, "message": f"no route {method} {path} in the stand-in"}

    def _create_experiment(self, body: dict[str, Any]) -> dict[str, Any]:
        experiment_id = uuid.uuid4().hex
        experiment = {
            "experiment_id": experiment_id,
            "display_name": body.get("display_name"),
            "created_at": _now(),
            "storage_state": "AVAILABLE",
        }
        with self._lock:
            self.experiments[experiment_id] = experiment
        return experiment

    def _find_experiments(self, filter_text: str | None) -> list[dict[str, Any]]:
        with self._lock:
            found = list(self.experiments.values())
        if filter_text:
            for predicate in json.loads(filter_text).get("predicates", []):
                value = predicate.get("string_value", predicate.get("stringValue"))
                key = predicate["key"]
                found = [e for e in found if e.get(key) == value]
        return found

    def _create_run(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("experiment_id") not in self.experiments:
            raise KeyError(f"experiment {body.get('experiment_id')}")
        run_id = uuid.uuid4().hex
        run = {
            "run_id": run_id,
            "experiment_id": body["experiment_id"],
            "display_name": body.get("display_name"),
            "pipeline_spec": body["pipeline_spec"],
            "runtime_config": body.get("runtime_config") or {},
            "created_at": _now(),
            "state": "PENDING",
            "storage_state": "AVAILABLE",
        }
        with self._lock:
            self.runs[run_id] = run
        threading.Thread(target=self._execute, args=(run_id,), daemon=True).start()
        return self._public(run)

    def _terminate(self, run_id: str) -> None:
        with self._lock:
            run = self.runs[run_id]
            process = self._processes.get(run_id)
            run["state"] = "CANCELED"
            run["finished_at"] = _now()
        if process is not None and process.poll() is None:
            process.kill()

    @staticmethod
    def _public(run: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in run.items() if k != "pipeline_spec"}

    # -- running a pipeline ------------------------------------------------------------------

    def _execute(self, run_id: str) -> None:
        time.sleep(self.pending_for)
        folder = self.folder / run_id
        folder.mkdir(parents=True)
        with self._lock:
            run = self.runs[run_id]
            if run["state"] != "PENDING":
                return
            spec = run["pipeline_spec"]
            arguments = run["runtime_config"].get("parameters") or {}
            (folder / "pipeline.yaml").write_text(yaml.safe_dump(spec))
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    RUN_SCRIPT,
                    str(folder / "pipeline.yaml"),
                    json.dumps(arguments),
                    str(folder / "root"),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            self._processes[run_id] = process
            run["state"], run["scheduled_at"] = "RUNNING", _now()
        output, _ = process.communicate(timeout=600)
        (folder / "output.txt").write_text(output)
        tasks = self._task_details(spec, folder / "root")
        with self._lock:
            if run["state"] != "RUNNING":  # terminated meanwhile
                return
            run["finished_at"] = _now()
            run["run_details"] = {"task_details": tasks}
            if process.returncode == 0:
                run["state"] = "SUCCEEDED"
            else:
                run["state"] = "FAILED"
                errors = ERROR_LINE.findall(output)
                message = f"{errors[0][0]}: {errors[0][1]}" if errors else output[-300:]
                run["error"] = {"code": 2, "message": message}

    @staticmethod
    def _task_details(spec: dict[str, Any], root: Path) -> list[dict[str, Any]]:
        """Each task that ran, with its output artifacts' types and metadata."""
        components = spec.get("components", {})
        tasks = spec.get("root", {}).get("dag", {}).get("tasks", {})
        details = []
        for name, task in tasks.items():
            written = list(root.glob(f"*/{name}/executor_output.json"))
            component = components.get(task.get("componentRef", {}).get("name"), {})
            declared = component.get("outputDefinitions", {}).get("artifacts", {})
            outputs: dict[str, Any] = {}
            if written:
                produced = json.loads(written[0].read_text()).get("artifacts", {})
                for output, listed in produced.items():
                    schema = declared.get(output, {}).get("artifactType", {}).get("schemaTitle")
                    artifacts = [
                        {
                            "artifact_id": uuid.uuid4().hex,
                            "schema_title": schema,
                            "uri": artifact.get("uri"),
                            "metadata": artifact.get("metadata", {}),
                        }
                        for artifact in listed.get("artifacts", [])
                    ]
                    outputs[output] = {
                        "artifact_ids": [a["artifact_id"] for a in artifacts],
                        "artifacts": artifacts,
                    }
            details.append(
                {
                    "task_id": uuid.uuid4().hex,
                    "display_name": name,
                    "state": "SUCCEEDED" if written else "FAILED",
                    "outputs": outputs,
                }
            )
        return details
