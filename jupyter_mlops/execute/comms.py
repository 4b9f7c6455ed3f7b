"""Comms in a run child: widget state travels to the engine as nbclient would keep it.

In a kernel, ``ipywidgets`` (and tqdm's notebook bar) open a comm per widget and send its
state over iopub; nbclient keeps the last state of every widget and papermill saves it as
the output notebook's ``metadata.widgets``, so the saved notebook shows the widgets. A run
child has no frontend to talk to, so its comms only report: ``RunComm`` sends each message's
state to the engine (``outputs.CellOutputs``) and nothing ever comes back, as in papermill.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from comm.base_comm import BaseComm

from jupyter_mlops.execute.protocol import Message

Send = Callable[[Message], None]


class RunComm(BaseComm):
    """A comm whose messages carrying ``state`` become ``comm`` messages to the engine."""

    send_to_engine: Send | None = None

    def publish_msg(
        self,
        msg_type: str,
        data: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        buffers: list[Any] | None = None,
        **keys: Any,
    ) -> None:
        send = type(self).send_to_engine
        if send is None or not data or "state" not in data:
            return  # custom messages and closes change no saved state
        send(
            {
                "op": "comm",
                "msg_type": msg_type,
                "comm_id": self.comm_id,
                "data": data,
                "buffers": [base64.b64encode(bytes(b)).decode("ascii") for b in buffers or []],
            }
        )


def install_comms(send: Send) -> None:
    """Make ``comm.create_comm`` (what ipywidgets calls) give reporting comms in this child."""
    import comm

    RunComm.send_to_engine = send

    def create_comm(*args: Any, **kwargs: Any) -> BaseComm:
        return RunComm(*args, **kwargs)

    comm.create_comm = create_comm
