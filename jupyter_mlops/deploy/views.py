"""A deployment as JSON for the REST API, the CLI and the magics (one shape everywhere).

Besides the stored row it carries what a client needs to call the endpoint: the request
fields with their types and defaults (read from the snapshot of the version it serves), an
example body, the outputs, the earlier versions it can roll back to, and recent totals.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import MLOpsError

if TYPE_CHECKING:
    from ..store.deployment_records import Deployment
    from .manager import Deployments


@lru_cache(maxsize=64)
def _signature(
    snapshot: str, function: str, mtime: float
) -> tuple[list[dict[str, Any]], list[str]]:
    from ..notebook.parser import parse_notebook
    from ..serve.signature import served_signature

    plan = parse_notebook(Path(snapshot), name=Path(snapshot).name)
    served = served_signature(plan, plan.function(function))
    fields = served.field_dicts()
    if served.typed_def is None:
        fields.sort(key=lambda field: str(field["name"]))
        return fields, list(served.outputs)
    returns = f" -> {served.returns_text}" if served.returns_text else ""
    return fields, [f"{served.typed_def}(){returns}"]


def signature(deployment: Deployment, snapshot: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The request fields and the outputs of the version a deployment serves."""
    try:
        return _signature(str(snapshot), deployment.function, snapshot.stat().st_mtime)
    except (OSError, MLOpsError):
        return [], []


# A typed def's field without a default still needs a value in the example body.
PLACEHOLDERS: dict[str, Any] = {"int": 0, "float": 0.0, "str": "", "bool": False, "list": []}


def _example(field: dict[str, Any]) -> Any:
    if field["default"] is not None or not field.get("required"):
        return field["default"]
    return PLACEHOLDERS.get(str(field["type"]).split("[")[0].removesuffix(" | None"))


def deployment_view(deployments: Deployments, deployment: Deployment) -> dict[str, Any]:
    data = deployment.to_dict()
    for private in ("keeper_host", "keeper_start", "options"):
        data.pop(private, None)
    options = deployment.options
    data["workers"] = options.get("workers", 1)
    data["limits"] = {
        key: options.get(key) for key in ("timeout", "max_body", "max_batch", "threads")
    }
    data["sample_rate"] = options.get("sample_rate")
    data["pid"] = deployment.serve_pid
    data["follows"] = deployment.alias  # redeployed when it moves (deploy/follow.py)
    if deployment.status in ("running", "restarting") and not deployment.keeper_alive():
        # The row says what the keeper last reported; a keeper that is gone (a reboot, a
        # kill) reported nothing since, so what serves is nothing.
        data["status"], data["pid"] = "stopped", None
        data["error"] = (
            "its keeper process is gone; a Jupyter server with jupyter_mlops restores it, "
            "or: jupyter mlops deployments --restore"
        )
    files = deployments.files(deployment.name)
    version = deployment.serving_version or deployment.version
    fields, outputs = signature(deployment, files.snapshot(version))
    data["fields"] = fields
    data["example"] = {field["name"]: _example(field) for field in fields}
    data["outputs"] = outputs
    data["versions"] = deployments.deployed_versions(deployment.name)
    data["stats"] = deployments.service.store.deployments.totals(deployment.name)
    return data


def curl_example(view: dict[str, Any]) -> str:
    body = json.dumps(view.get("example", {}))
    return (
        f"curl -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' "
        f"-d '{body}' {view['url']}/invoke"
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def deployments_table(views: list[dict[str, Any]]) -> str:
    if not views:
        return "no deployments (jupyter mlops deploy NOTEBOOK --function NAME)"
    header = (
        "NAME", "STATUS", "FUNCTION", "VERSION", "URL", "REQUESTS", "ERRORS", "P99 MS", "BY",
    )  # fmt: skip
    rows = [header]
    for view in views:
        stats = view["stats"]
        rows.append(
            (
                view["name"],
                view["status"],
                view["function"],
                (view["serving_version"] or view["version"])[:12],
                view["url"],
                str(stats["requests"]),
                str(stats["errors"]),
                _ms(stats["p99_ms"]),
                view.get("actor") or "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def describe_deployment(view: dict[str, Any], token: str | None = None) -> str:
    stats = view["stats"]
    version = view["serving_version"] or view["version"]
    lines = [
        f"{view['name']}: {view['status']}  {view['function']}@{version[:12]}",
        f"  url       {view['url']}/invoke",
        f"  notebook  {view['notebook']}",
    ]
    if view.get("follows"):
        lines.append(f"  follows   {view['follows']}")
    for entry in view["binding"]:
        lines.append(
            f"  input     {entry['name']} from {entry['function']} (run {entry['run'][:12]}, "
            f"{entry.get('how', 'newest')})"
        )
    if view["fields"]:
        fields = ", ".join(f"{f['name']}: {f['type']}" for f in view["fields"])
        lines.append(f"  fields    {fields}")
    lines.append(f"  outputs   {', '.join(view['outputs']) or '-'}")
    lines.append(
        f"  requests  {stats['requests']} ({stats['errors']} errors, {stats['rejected']} "
        f"rejected); p50 {_ms(stats['p50_ms'])} ms, p99 {_ms(stats['p99_ms'])} ms "
        f"(last {stats['window_s'] // 60} min)"
    )
    if view["restarts"]:
        lines.append(f"  restarts  {view['restarts']}")
    if view["error"]:
        lines.append(f"  error     {view['error']}")
    if token:
        lines += [
            f"  token     {token}",
            "            (shown once: keep it; the store holds only its sha256)",
            f"  try       {curl_example(view).replace('$TOKEN', token)}",
        ]
    else:
        lines.append(f"  try       {curl_example(view)}")
    return "\n".join(lines)
