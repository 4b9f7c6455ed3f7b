"""A stand-in for the KFP API server, written for the tests: a KFP API server needs Kubernetes.

A real HTTP server on 127.0.0.1 (a thread of the test process) answering the v2beta1 routes
``kfp.Client`` calls: healthz, pipelines (upload, upload a version, list by name, list
versions), experiments (create, get, list by name), runs (create, get, list, terminate). A
run is created from an uploaded pipeline version (or an inline spec). It is PENDING for
``pending_for`` seconds, then RUNNING while the pipeline spec really runs with ``kfp.local``
(SubprocessRunner, no venv) in a subprocess, then SUCCEEDED or FAILED. Its task details list
each task's output artifacts with their ``schema_title`` and ``metadata``, read from what
kfp.local wrote (the executor output of each task), so a Metrics artifact carries the values
the pipeline computed.

Every ``Authorization`` header received is kept in ``authorizations``; ``unavailable_reads``
makes the next reads of a run fail with 503, as a server restarting would, and ``refusal``
makes it refuse new runs with that message.
"""

from __future__ import annotations

import email.policy
import json
import re
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from email.parser import BytesParser
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
        self.pipelines: dict[str, dict[str, Any]] = {}
        self.versions: dict[str, dict[str, Any]] = {}  # each with its "spec"
        self.runs: dict[str, dict[str, Any]] = {}
        self.authorizations: list[str] = []
        self.unavailable_reads = 0  # the next N reads of a run are answered 503
        self.refusal: str | None = None  # set: a new run is refused (400) with this message
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
        raw = request.rfile.read(length) if length else b""
        kind = request.headers.get("Content-Type", "")
        if kind.startswith("multipart/form-data"):
            body = {"uploadfile": _uploaded_file(kind, raw)}
        else:
            body = json.loads(raw or b"{}")
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        path = url.path.removeprefix(API)
        try:
            status, reply = self._route(method, path, query, body)
        except KeyError as err:
            status, reply = 404, {"code": 5, "message": f"not found: {err}"}
        except Exception as err:  # a real server answers 500 rather than hanging up
            status, reply = 500, {"code": 13, "message": f"{type(err).__name__}: {err}"}
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
        if method == "POST" and path in ("/pipelines/upload", "/pipelines/upload_version"):
            return 200, self._upload(query, body["uploadfile"], path.endswith("_version"))
        if method == "GET" and path == "/pipelines":
            return 200, {"pipelines": _matching(self.pipelines.values(), query.get("filter"))}
        versions = re.fullmatch(r"/pipelines/([^/]+)/versions", path)
        if method == "GET" and versions:
            mine = [v for v in self.versions.values() if v["pipeline_id"] == versions.group(1)]
            listed = [{k: v for k, v in version.items() if k != "spec"} for version in mine]
            return 200, {"pipeline_versions": _matching(listed, query.get("filter"))}
        if path == "/experiments":
            if method == "POST":
                return 200, self._create_experiment(body)
            return 200, {"experiments": _matching(self.experiments.values(), query.get("filter"))}
        if method == "GET" and path.startswith("/experiments/"):
            return 200, self.experiments[path.rsplit("/", 1)[1]]
        if path == "/runs":
            if method == "POST" and self.refusal:
                return 400, {"code": 3, "message": self.refusal}
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
                if self.unavailable_reads > 0:
                    self.unavailable_reads -= 1
                    return 503, {"code": 14, "message": "the stand-in is unavailable, on purpose"}
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

    def _upload(self, query: dict[str, str], spec_text: bytes, as_version: bool) -> dict[str, Any]:
        """A new pipeline with its first version, or a new version of one (by ``pipelineid``)."""
        with self._lock:
            name = query.get("name") or query.get("display_name")
            if as_version:
                pipeline_id = query["pipelineid"]
                if pipeline_id not in self.pipelines:
                    raise KeyError(f"pipeline {pipeline_id}")
            else:
                pipeline_id = uuid.uuid4().hex
                self.pipelines[pipeline_id] = {
                    "pipeline_id": pipeline_id,
                    "display_name": name,
                    "created_at": _now(),
                }
            version_id = uuid.uuid4().hex
            self.versions[version_id] = {
                "pipeline_id": pipeline_id,
                "pipeline_version_id": version_id,
                "display_name": name,
                "created_at": _now(),
                "spec": yaml.safe_load(spec_text),
            }
            if as_version:
                return {k: v for k, v in self.versions[version_id].items() if k != "spec"}
            return self.pipelines[pipeline_id]

    def _create_run(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("experiment_id") not in self.experiments:
            raise KeyError(f"experiment {body.get('experiment_id')}")
        reference = body.get("pipeline_version_reference") or {}
        if reference:
            spec = self.versions[reference["pipeline_version_id"]]["spec"]
        else:
            spec = body["pipeline_spec"]
        run_id = uuid.uuid4().hex
        run = {
            "run_id": run_id,
            "experiment_id": body["experiment_id"],
            "display_name": body.get("display_name"),
            "pipeline_version_reference": reference or None,
            "pipeline_spec": spec,
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


def _matching(items: Any, filter_text: str | None) -> list[dict[str, Any]]:
    """The items a v2beta1 filter's EQUALS predicates select."""
    found = list(items)
    for predicate in json.loads(filter_text).get("predicates", []) if filter_text else []:
        value = predicate.get("string_value", predicate.get("stringValue"))
        found = [item for item in found if item.get(predicate["key"]) == value]
    return found


def _uploaded_file(content_type: str, raw: bytes) -> bytes:
    """The ``uploadfile`` part of a multipart/form-data body."""
    message = BytesParser(policy=email.policy.default).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw
    )
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "uploadfile":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload
    raise KeyError("uploadfile")
