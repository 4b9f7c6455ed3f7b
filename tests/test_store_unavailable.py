"""A Jupyter server whose store cannot be opened (a corrupted ``mlops.db``, a read-only one, a
config file that does not read, so which store to open is unknown)
(pytest-jupyter): the extension still loads, every route answers 503 with the reason, and once
the fault is fixed the next request opens the store. Read-only is a real read-only bind
mount of ``.mlops/`` (the tests run as root, for whom file modes are no barrier).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import make_notebook

from jupyter_mlops.extension.handlers import ROUTES
from jupyter_mlops.store import Store

pytestmark = pytest.mark.kernel


@pytest.fixture(params=["corrupted", "read-only", "broken-config"])
def fault(request: pytest.FixtureRequest, jp_root_dir: Path) -> Iterator[tuple[list[str], Any]]:
    """The store made unusable before the server starts: (what the 503 says, a fix)."""
    state = jp_root_dir / ".mlops"
    store = str(state / "mlops.db")
    if request.param == "corrupted":
        state.mkdir()
        (state / "mlops.db").write_bytes(os.urandom(8192))
        yield [store, "move it aside"], lambda: (state / "mlops.db").rename(state / "mlops.broken")
        return
    if request.param == "broken-config":  # which store to open is unknown: none is guessed
        config = jp_root_dir / "jupyter_mlops_config.json"
        config.write_text('{"MLOps": {"store_url": ', "utf-8")
        yield [str(config), "answer again once it reads"], config.unlink
        return
    Store.for_root(jp_root_dir).close()  # a good store, then its folder mounted read-only
    mounted = subprocess.run(["mount", "--bind", str(state), str(state)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount here: {mounted.stderr.decode().strip()}")
    subprocess.run(["mount", "-o", "remount,bind,ro", str(state)], check=True)
    unmount = ["umount", "-l", str(state)]
    yield [store, "writable"], lambda: subprocess.run(unmount, check=True)
    subprocess.run(unmount, capture_output=True)  # already done by the fix, unless it failed


@pytest.fixture
def jp_server_config(jp_root_dir: Path, fault: tuple[list[str], Any]) -> dict[str, Any]:
    (jp_root_dir / "nb.ipynb").write_text(json.dumps(make_notebook("x = 1")), "utf-8")
    return {"ServerApp": {"jpserver_extensions": {"jupyter_mlops": True}}}


def _example_path(pattern: str) -> list[str]:
    """A route's pattern with each path argument filled in: the parts for jp_fetch."""
    path = re.sub(r"\(\?P<\w+>[^)]*\)", "abc123", pattern)
    return path.split("/")


async def test_every_route_answers_503_naming_the_store_until_it_is_fixed(
    jp_fetch: Any, fault: tuple[list[str], Any]
) -> None:
    words, fix = fault
    for pattern, handler in ROUTES:
        for method in ("get", "post", "put", "delete"):
            if method not in vars(handler):
                continue
            response = await jp_fetch(
                *_example_path(pattern),
                method=method.upper(),
                body=b"{}" if method in ("post", "put") else None,
                raise_error=False,
                allow_nonstandard_methods=True,
            )
            assert response.code == 503, (pattern, method, response.body)
            error = json.loads(response.body)
            for word in words:
                assert word in error["message"]
    # Once it is fixed, the next request opens the store: no restart needed.
    fix()
    response = await jp_fetch("mlops", "api", "runs", raise_error=False)
    assert response.code == 200
    assert json.loads(response.body)["runs"] == []


async def test_without_a_token_it_is_still_403_and_the_reason_stays_private(
    jp_fetch: Any,
) -> None:
    response = await jp_fetch(
        "mlops", "api", "runs", headers={"Authorization": ""}, raise_error=False
    )
    assert response.code == 403
    assert b"mlops.db" not in response.body
