"""nbclient's rules for turning a run child's messages into ``cell.outputs``.

Display ids are tracked across cells (``update_display`` rewrites every output with that id),
``clear_output(wait=True)`` clears just before the next output, each new output is logged or
copied to ``stdout_file``/``stderr_file`` as papermill's client does, and widget state sent
over comms is kept for the notebook's ``metadata.widgets``, as nbclient keeps it.
"""

from __future__ import annotations

import datetime
from typing import Any

import nbformat

from jupyter_mlops.execute.protocol import Message


def _node(value: Any) -> Any:
    """A NotebookNode (attribute access, as papermill and nbclient build them)."""
    return nbformat.from_dict(value)  # type: ignore[no-untyped-call]


def _timestamp() -> str:
    """nbclient's ``record_timing`` format."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class CellOutputs:
    """The outputs of one run's cells, and its widget state, as nbclient would make them."""

    def __init__(self, nb_man: Any, log_output: bool, stdout_file: Any, stderr_file: Any) -> None:
        self.nb_man = nb_man
        self.log_output = log_output
        self.stdout_file = stdout_file
        self.stderr_file = stderr_file
        self.display_ids: dict[str, dict[int, list[int]]] = {}
        self.cell: Any = None
        self.index = -1
        self.clear_pending = False
        self.widget_state: dict[str, dict[str, Any]] = {}
        self.capturing: str | None = None  # an Output widget's comm id, inside `with out:`
        self.widget_buffers: dict[str, dict[tuple[str, ...], dict[str, Any]]] = {}

    def begin(self, cell: Any, index: int) -> None:
        self.cell = cell
        self.index = index
        self.clear_pending = False
        cell.outputs = []
        cell.metadata["execution"] = {"iopub.status.busy": _timestamp()}

    def end(self, reply: Message) -> None:
        stamp = _timestamp()
        self.cell.metadata["execution"]["shell.execute_reply"] = stamp
        self.cell.metadata["execution"]["iopub.status.idle"] = stamp

    def fail(self, ename: str, evalue: str) -> None:
        """The engine's own error output for a run it stopped (or that died)."""
        error = {"output_type": "error", "ename": ename, "evalue": evalue}
        self._add({**error, "traceback": [f"{ename}: {evalue}"]}, None)

    def handle(self, message: Message) -> None:
        op = message.get("op")
        if op == "execute_input":
            self.cell.execution_count = message["execution_count"]
            self.cell.metadata["execution"]["iopub.execute_input"] = _timestamp()
        elif self.capturing is not None and self._capture(message):
            return
        elif op == "output":
            self._add(message["output"], None)
        elif op == "display":
            self._display(message)
        elif op == "comm":
            self._comm(message)
        elif op == "clear_output":
            if message.get("wait"):
                self.clear_pending = True
            else:
                self._clear()

    def _display(self, message: Message) -> None:
        msg_type = message["msg_type"]
        display_id = (message.get("transient") or {}).get("display_id")
        data, metadata = message.get("data", {}), message.get("metadata", {})
        if display_id:
            for cell_index, positions in self.display_ids.get(display_id, {}).items():
                outputs = self.nb_man.nb.cells[cell_index].outputs
                for position in positions:
                    outputs[position]["data"] = _node(data)
                    outputs[position]["metadata"] = _node(metadata)
        if msg_type == "update_display_data":
            return
        output: dict[str, Any] = {"output_type": msg_type, "data": data, "metadata": metadata}
        if msg_type == "execute_result":
            output["execution_count"] = message.get("execution_count")
            self.cell.execution_count = output["execution_count"]
        self._add(output, display_id)

    def _capture(self, message: Message) -> bool:
        """Inside ``with out:``, outputs go into the Output widget's state, as nbclient puts
        them (consecutive text of one stream joined); False: not an output to capture."""
        op = message.get("op")
        state = self.widget_state.setdefault(str(self.capturing), {})
        if op == "clear_output":
            state["outputs"] = []
            return True
        if op == "output":
            output = dict(message["output"])
        elif op == "display" and message["msg_type"] != "update_display_data":
            output = {
                "output_type": message["msg_type"],
                "data": message.get("data", {}),
                "metadata": message.get("metadata", {}),
            }
            if message["msg_type"] == "execute_result":
                output["execution_count"] = message.get("execution_count")
        else:
            return False
        outputs = state.setdefault("outputs", [])
        last = outputs[-1] if outputs else None
        if (
            last is not None
            and output["output_type"] == last["output_type"] == "stream"
            and output["name"] == last["name"]
        ):
            last["text"] += output["text"]
        else:
            outputs.append(output)
        return True

    def _comm(self, message: Message) -> None:
        """A comm's state (a widget's), merged as nbclient merges it; buffers by path."""
        comm_id, data = str(message["comm_id"]), message.get("data") or {}
        if not isinstance(data.get("state"), dict):
            return  # custom messages carry no state
        self.widget_state.setdefault(comm_id, {}).update(data["state"])
        if "msg_id" in data["state"]:  # an Output widget starts or stops capturing
            if data["state"]["msg_id"]:
                self.capturing = comm_id
            elif self.capturing == comm_id:
                self.capturing = None
        paths = data.get("buffer_paths") or []
        if paths:
            buffers = self.widget_buffers.setdefault(comm_id, {})
            for path, encoded in zip(paths, message.get("buffers") or [], strict=False):
                buffers[tuple(path)] = {"data": encoded, "encoding": "base64", "path": path}

    def widgets_metadata(self) -> dict[str, Any] | None:
        """``metadata.widgets`` as nbclient writes it after the last cell (None: no widgets)."""
        if not self.widget_state:
            return None
        state: dict[str, Any] = {}
        for model_id, widget in self.widget_state.items():
            if "_model_name" not in widget:
                continue
            entry: dict[str, Any] = {
                "model_name": widget.get("_model_name"),
                "model_module": widget.get("_model_module"),
                "model_module_version": widget.get("_model_module_version"),
                "state": widget,
            }
            if self.widget_buffers.get(model_id):
                entry["buffers"] = list(self.widget_buffers[model_id].values())
            state[model_id] = entry
        return {
            "application/vnd.jupyter.widget-state+json": {
                "state": state,
                "version_major": 2,
                "version_minor": 0,
            }
        }

    def _clear(self) -> None:
        self.cell.outputs[:] = []
        for positions in self.display_ids.values():
            if self.index in positions:
                positions[self.index] = []

    def _add(self, content: dict[str, Any], display_id: str | None) -> None:
        if self.clear_pending:
            self._clear()
            self.clear_pending = False
        output = _node(content)
        if display_id:
            cell_map = self.display_ids.setdefault(display_id, {})
            cell_map.setdefault(self.index, []).append(len(self.cell.outputs))
        self.cell.outputs.append(output)
        self.nb_man.autosave_cell()
        if self.log_output or self.stdout_file or self.stderr_file:
            self._log(output)

    def _log(self, output: Any) -> None:
        from papermill.log import logger

        if output.output_type == "stream":
            target = self.stdout_file if output.name == "stdout" else self.stderr_file
            if self.log_output:
                (logger.info if output.name == "stdout" else logger.warning)(output.text)
            if target:
                target.write(output.text)
                target.flush()
        elif self.log_output and "text/plain" in output.get("data", {}):
            logger.info(output.data["text/plain"])
