"""A Jupyter server whose store cannot be opened (a corrupted ``mlops.db``) on a real server
(pytest-jupyter): the extension still loads, every route answers 503 with the reason, and
once the file is moved aside the next request opens a new store.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import make_notebook

from jupyter_mlops.extension.handlers import ROUTES

pytestmark = pytest.mark.kernel


@pytest.fixture
def jp_server_config(jp_root_dir: Path) -> dict[str, Any]:
    (jp_root_dir / "nb.ipynb").write_text(json.dumps(make_notebook("x = 1")), "utf-8")
    (jp_root_dir / ".mlops").mkdir()
    (jp_root_dir / ".mlops" / "mlops.db").write_bytes(os.urandom(8192))
    return {"ServerApp": {"jpserver_extensions": {"jupyter_mlops": True}}}


def _example_path(pattern: str) -> list[str]:
    """A route's pattern with each path argument filled in: the parts for jp_fetch."""
    path = re.sub(r"\(\?P<\w+>[^)]*\)", "abc123", pattern)
    return path.split("/")


async def test_every_route_answers_503_naming_the_store_until_it_is_fixed(
    jp_fetch: Any, jp_root_dir: Path
) -> None:
    store = jp_root_dir / ".mlops" / "mlops.db"
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
            assert str(store) in error["message"]
            assert "move it aside" in error["message"]
    # Once the file is moved aside, the next request opens a new store: no restart needed.
    store.rename(store.with_suffix(".broken"))
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
