"""``store.policies``: a deployment's retraining policy, as ``loop/policy.py`` describes it."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select

from ..errors import NotFoundError
from ..loop.policy import Policy
from .database import Database
from .models import DeploymentRow, PolicyRow


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _policy(row: PolicyRow) -> Policy:
    return Policy(
        deployment=row.deployment,
        notebook=row.notebook,
        function=row.function,
        sweep=dict(row.sweep) if row.sweep is not None else None,
        parameters=dict(row.parameters or {}),
        gate=row.gate,
        live_gate=row.live_gate,
        promote=row.promote,
        approval=row.approval,
        after=row.after,
        within=row.within_s,
        cooldown=row.cooldown_s,
        schedule=row.schedule_s,
        enabled=bool(row.enabled),
        created_at=row.created_at,
        actor=row.actor,
        last_fired_at=row.last_fired_at,
        last_outcome=row.last_outcome,
    )


class PolicyStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def set(self, policy: Policy) -> Policy:
        """Create or replace the policy of ``policy.deployment`` (which must exist); the
        loop's memory (when it last fired) is kept across a replacement, so editing a
        policy does not make it fire again at once."""
        now = _now()
        with self._db.write() as session:
            if session.get(DeploymentRow, policy.deployment) is None:
                raise NotFoundError(f"no deployment named {policy.deployment!r}")
            row = session.get(PolicyRow, policy.deployment)
            if row is None:
                row = PolicyRow(deployment=policy.deployment, created_at=now)
                session.add(row)
            row.notebook = policy.notebook
            row.function = policy.function
            row.sweep = policy.sweep
            row.parameters = dict(policy.parameters)
            row.gate = policy.gate
            row.live_gate = policy.live_gate
            row.promote = policy.promote
            row.approval = policy.approval
            row.after = policy.after
            row.within_s = policy.within
            row.cooldown_s = policy.cooldown
            row.schedule_s = policy.schedule
            row.enabled = int(policy.enabled)
            row.updated_at = now
            row.actor = policy.actor
            session.flush()
            return _policy(row)

    def get(self, deployment: str) -> Policy:
        with self._db.read() as session:
            row = session.get(PolicyRow, deployment)
            if row is None:
                raise NotFoundError(f"deployment {deployment!r} has no policy")
            return _policy(row)

    def every(self) -> list[Policy]:
        with self._db.read() as session:
            rows = session.scalars(select(PolicyRow).order_by(PolicyRow.deployment)).all()
            return [_policy(row) for row in rows]

    def remove(self, deployment: str) -> None:
        with self._db.write() as session:
            row = session.get(PolicyRow, deployment)
            if row is None:
                raise NotFoundError(f"deployment {deployment!r} has no policy")
            session.delete(row)

    def fired(self, deployment: str, at: datetime, outcome: str) -> None:
        """What the loop did with the policy at ``at`` (its cooldown counts from here)."""
        with self._db.write() as session:
            row = session.get(PolicyRow, deployment)
            if row is not None:
                row.last_fired_at = at
                row.last_outcome = outcome

    def outcome(self, deployment: str, outcome: str) -> None:
        """A later word on the last firing (the gate's verdict, the rollover, a rollback)."""
        with self._db.write() as session:
            row = session.get(PolicyRow, deployment)
            if row is not None:
                row.last_outcome = outcome
