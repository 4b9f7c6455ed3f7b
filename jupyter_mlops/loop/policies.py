"""Setting, reading and removing policies, checked against the notebook they retrain.

Every surface (CLI, ``%mlops``, REST) goes through ``PolicyManager``, so a policy is refused
the same way everywhere: a notebook that does not parse, a function it does not have, a
parameter it does not take, a bad duration or sweep, each named.
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..actors import actor_name
from ..paths import locate_notebook
from .gate import parse as parse_gate
from .live import check_live_gate
from .policy import Policy, PolicyError, check_policy, parse_duration

if TYPE_CHECKING:
    from ..service import MLOps


class PolicyManager:
    def __init__(self, service: MLOps) -> None:
        self.service = service

    def every(self) -> list[Policy]:
        return self.service.store.policies.every()

    def get(self, deployment: str) -> Policy:
        return self.service.store.policies.get(deployment)

    def remove(self, deployment: str) -> None:
        self.service.store.policies.remove(deployment)

    def set(
        self,
        deployment: str,
        *,
        notebook: str,
        function: str | None = None,
        sweep: str | None = None,
        parameters: dict[str, Any] | None = None,
        gate: str | None = None,
        live_gate: str | None = None,
        promote: str = "production",
        approval: str = "auto",
        after: int = 2,
        within: str | float = "1h",
        cooldown: str | float = "1h",
        schedule: str | float | None = None,
        enabled: bool = True,
        actor: str | None = None,
    ) -> Policy:
        """Check and store the policy of ``deployment`` (replacing its earlier one)."""
        self.service.deployments.get(deployment)  # a missing one: NotFoundError
        path, _name, _folder = locate_notebook(self.service.project.root_dir, notebook)
        plan = self.service.inspect(path)
        if function is not None:
            plan.function(function)  # an unknown name: the error lists the functions
        if gate:
            parse_gate(gate)  # a bad gate is refused now, not when the policy fires
        if live_gate:
            check_live_gate(live_gate)
        space = parse_sweep(sweep) if sweep is not None else None
        fixed = {str(k): str(v) for k, v in (parameters or {}).items()}
        known = {parameter.name for parameter in plan.parameters}
        for name in [*(space or {}), *fixed]:
            if name not in known:
                listed = ", ".join(sorted(known)) or "none"
                raise PolicyError(f"{notebook} has no parameter {name!r} (parameters: {listed})")
        policy = Policy(
            deployment=deployment,
            notebook=notebook,
            function=function,
            sweep=space,
            parameters=fixed,
            gate=gate,
            live_gate=live_gate or None,
            promote=promote,
            approval=approval,
            after=after,
            within=_seconds(within, "--within"),
            cooldown=_seconds(cooldown, "--cooldown"),
            schedule=_seconds(schedule, "--schedule") if schedule is not None else None,
            enabled=enabled,
            actor=actor_name(actor or self.service.actor),
        )
        return self.service.store.policies.set(check_policy(policy))

    def disable(self, deployment: str, actor: str | None = None) -> Policy:
        policy = self.get(deployment)
        changed = replace(policy, enabled=False, actor=actor_name(actor or self.service.actor))
        return self.service.store.policies.set(changed)


def _seconds(value: str | float, option: str) -> float:
    if isinstance(value, int | float):
        if value <= 0:
            raise PolicyError(f"{option}: a duration is more than 0 ({value})")
        return float(value)
    return parse_duration(value, option)


class _SweepParser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would exit the process
        raise PolicyError(f"--sweep: {message}")


def parse_sweep(text: str) -> dict[str, list[str]]:
    """``"-p C 0.1,1,10 -p max_iter 100,300"`` as ``{"C": ["0.1", "1", "10"], …}``: the
    ``-p`` of ``jupyter mlops sweep``, values as text (the notebook's types apply at run)."""
    parser = _SweepParser(prog="--sweep", add_help=False)
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[])
    try:
        words = shlex.split(text)
    except ValueError as err:
        raise PolicyError(f"--sweep: {err}") from None
    pairs = []
    for word in words:  # -p NAME=VALUES as the sweep command takes it
        pairs.extend(word.split("=", 1) if "=" in word and not word.startswith("-") else [word])
    parsed = parser.parse_args(pairs)
    space: dict[str, list[str]] = {}
    for name, values in parsed.parameter:
        listed = [value.strip() for value in values.split(",") if value.strip()]
        if not listed:
            raise PolicyError(f"--sweep: parameter {name!r} has no values")
        space[name] = listed
    if not space:
        raise PolicyError("--sweep: give parameters as -p NAME V1,V2,…")
    return space
