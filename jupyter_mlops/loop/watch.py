"""The loop: for each policy that is due, retrain, gate, promote; roll back what regresses.

One pass (``Watcher.tick``) is what ``jupyter mlops watch --once`` does; ``watch`` repeats it
and the Jupyter server runs it on a thread (``WatchThread``). Each step is a loop event with
the ids it touched, so ``jupyter mlops events NAME`` tells the story: drift -> run -> gate ->
promote -> redeploy (-> rollback).

A policy is marked fired *before* its retraining starts: a loop that dies mid-run (or two
loops on one store) does not start the same retraining again before the cooldown.

Rollback: after a promotion rolled a deployment over, the loop compares what the new version
measured since (``live.py``) with what the previous one measured before. Once at least
``ROLLBACK_MIN_REQUESTS`` were served, an error rate that rose by ``ROLLBACK_RISE`` (absolute)
and at least doubled, or a failed clause of the policy's live gate, moves the alias back to
the champion it replaced (its version and run); the deployment follows it back and a
``rollback`` event says why. Each promotion is rolled back at most once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..errors import MLOpsError
from .gate import evaluate
from .gate import parse as parse_gate
from .live import check_live_gate, live_metrics
from .policy import Policy, Trigger, due

if TYPE_CHECKING:
    from ..service import MLOps
    from ..store.loop_events import LoopEvent
    from ..store.records import Run

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
ROLLBACK_MIN_REQUESTS = 50  # fewer served since the rollover: too early to judge
ROLLBACK_RISE = 0.05  # the error rate must rise by 5 points, and at least double
RETRAIN_PARALLEL = 2  # a policy's sweep runs this many at a time


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Outcome:
    """What one pass did for one deployment (a firing, or a rollback)."""

    deployment: str
    action: str  # "retrained" or "rolled back"
    trigger: Trigger | None = None
    run: str | None = None  # the challenger
    sweep: str | None = None
    passed: bool | None = None  # the gate's verdict (None: it never got that far)
    moved: bool = False  # the alias moved
    message: str = ""
    events: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment,
            "action": self.action,
            "trigger": self.trigger.to_dict() if self.trigger else None,
            "run": self.run,
            "sweep": self.sweep,
            "passed": self.passed,
            "moved": self.moved,
            "message": self.message,
            "events": list(self.events),
        }


class Watcher:
    """Runs the policies of one store; ``tick`` is one pass over them."""

    def __init__(self, service: MLOps, clock: Clock = utc_now) -> None:
        self.service = service
        self.clock = clock

    def tick(self) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for policy in self.service.store.policies.every():
            try:
                rolled = self.check_rollback(policy)
                if rolled is not None:
                    outcomes.append(rolled)
                    continue
                if not policy.enabled:
                    continue
                report = self.service.deployments.drift(policy.deployment)
                trigger = due(policy, report.get("windows", []), self.clock())
                if trigger is not None:
                    outcomes.append(self.fire(policy, trigger))
            except MLOpsError as err:  # one policy's trouble must not stop the others
                log.warning("policy of %s: %s", policy.deployment, err)
                self._event(policy, "error", str(err), {})
        return outcomes

    # -- retraining ---------------------------------------------------------------------------

    def fire(self, policy: Policy, trigger: Trigger) -> Outcome:
        """Retrain now, as ``policy`` says, because of ``trigger``; gate and promote."""
        store = self.service.store
        outcome = Outcome(policy.deployment, "retrained", trigger)
        store.policies.fired(policy.deployment, self.clock(), f"retraining: {trigger.reason}")
        kind = "drift" if trigger.kind == "drift" else "policy"  # a schedule: the policy's
        cause = self._event(policy, kind, trigger.reason, trigger.to_dict())
        outcome.events.append(cause)
        challenger = self._retrain(policy, outcome, cause)
        if challenger is None:
            store.policies.outcome(policy.deployment, outcome.message)
            return outcome
        try:
            result = self.service.promote(
                policy.notebook,
                self._promoted_function(policy),
                to=policy.target_alias,
                gate=policy.gate,
                run=challenger.id,
                actor=f"policy:{policy.deployment}",
            )
        except MLOpsError as err:
            outcome.message = f"run {challenger.id[:12]} could not be judged: {err}"
            outcome.events.append(self._event(policy, "error", outcome.message, {}))
            store.policies.outcome(policy.deployment, outcome.message)
            return outcome
        outcome.passed, outcome.moved = result.passed, result.moved
        outcome.events += [event for event in (result.event,) if event is not None]
        if not result.passed:
            outcome.message = f"run {challenger.id[:12]} failed the gate; nothing promoted"
        elif policy.approval == "manual":
            outcome.message = (
                f"run {challenger.id[:12]} passed; {policy.target_alias} moved, waiting for a "
                f"person to promote it to {policy.promote}"
            )
        else:
            outcome.message = f"run {challenger.id[:12]} passed; {policy.target_alias} moved"
        store.policies.outcome(policy.deployment, outcome.message)
        return outcome

    def _promoted_function(self, policy: Policy) -> str:
        """The function whose alias moves: the policy's, else the one that produces what the
        deployment binds (``train`` for a deployed ``predict``), else the served one."""
        if policy.function is not None:
            return policy.function
        deployment = self.service.deployments.get(policy.deployment)
        producers = sorted({entry["function"] for entry in deployment.binding})
        return producers[0] if producers else deployment.function

    def _retrain(self, policy: Policy, outcome: Outcome, cause: int) -> Run | None:
        """The challenger: the run (or the sweep's best); None with the reason when none."""
        actor = f"policy:{policy.deployment}"
        links: dict[str, Any] = {"cause_event": cause}
        try:
            if policy.sweep is not None:
                result = self.service.sweep(
                    policy.notebook,
                    {name: list(values) for name, values in policy.sweep.items()},
                    fixed=dict(policy.parameters),
                    as_text=True,
                    parallel=RETRAIN_PARALLEL,
                    select=sweep_selection(policy),
                    actor=actor,
                )
                outcome.sweep = links["sweep"] = result.sweep.id
                run = result.best
                if run is None:
                    outcome.message = f"sweep {result.sweep.id[:12]} selected no best run" + (
                        "" if policy.gate else " (a sweep policy selects by its --gate metric)"
                    )
            else:
                run = self.service.run(
                    policy.notebook,
                    parameters=dict(policy.parameters),
                    as_text=True,
                    function=policy.function,
                    actor=actor,
                )
                if run.status != "succeeded":
                    outcome.message = f"retraining run {run.id[:12]} {run.status}"
                    run = None
        except MLOpsError as err:
            outcome.message = f"retraining could not start: {err}"
            outcome.events.append(self._event(policy, "run", outcome.message, links))
            return None
        if run is None:
            outcome.events.append(self._event(policy, "run", outcome.message, links))
            return None
        outcome.run = links["run_id"] = run.id
        what = f"sweep {outcome.sweep[:12]}: best run" if outcome.sweep else "run"
        message = f"{what} {run.id[:12]} succeeded"
        outcome.events.append(self._event(policy, "run", message, links))
        return run

    # -- rollback -----------------------------------------------------------------------------

    def check_rollback(self, policy: Policy) -> Outcome | None:
        """Roll back the last promotion that rolled this deployment over, if it regressed."""
        store = self.service.store
        rollover = self._last_rollover(policy.deployment)
        if rollover is None:
            return None
        promoted = store.events.get(int(rollover.refs["promote_event"]))
        if promoted is None or promoted.refs.get("champion") is None:
            return None  # nothing to go back to (the first promotion)
        regressed = self._regression(policy, rollover.created_at)
        if regressed is None:
            return None
        champion = store.get_run(str(promoted.refs["champion"]))
        function = str(promoted.function)
        previous = self._previous_version(promoted, champion)
        reason = f"{regressed}: back to run {champion.id[:12]}"
        moved = store.events.move_alias(  # the alias back, with the event that says why
            function,
            previous,
            str(promoted.refs["alias"]),
            refs={"promote_event": promoted.id, "redeploy_event": rollover.id},
            message=reason,
            actor=f"policy:{policy.deployment}",
            run_id=champion.id,
            kind="rollback",
            deployment=policy.deployment,
        )
        from ..deploy.follow import reconcile_followers

        for follower in reconcile_followers(self.service):
            if not follower.ok:
                self._event(policy, "error", f"{follower.name}: {follower.error}", {})
        store.policies.outcome(policy.deployment, f"rolled back: {reason}")
        return Outcome(
            policy.deployment,
            "rolled back",
            run=champion.id,
            moved=True,
            message=reason,
            events=[moved.id],
        )

    def _last_rollover(self, deployment: str) -> LoopEvent | None:
        """The newest successful redeploy by a promotion, unless already rolled back."""
        events = self.service.store.events.timeline(deployment, limit=200)
        for event in reversed(events):
            if event.source != "loop":
                continue
            if event.kind == "rollback":
                return None
            if event.kind == "redeploy" and event.refs.get("ok") and "promote_event" in event.refs:
                return event
        return None

    def _regression(self, policy: Policy, since: datetime) -> str | None:
        """Why the version served since ``since`` regressed (None: it did not, or too few
        requests to say): the error-rate rule, then the policy's live gate."""
        windows = self.service.store.deployments.windows(policy.deployment, limit=500)
        after = live_metrics([w for w in windows if w.start >= since])
        if after["requests"] < ROLLBACK_MIN_REQUESTS:
            return None
        before = live_metrics([w for w in windows if w.end <= since][-60:])
        rate, earlier = after.get("error_rate", 0.0), before.get("error_rate")
        if earlier is not None and rate >= earlier + ROLLBACK_RISE and rate >= 2 * earlier:
            return (
                f"error rate {rate:.1%} over {after['requests']:.0f} requests since the "
                f"rollover, against {earlier:.1%} before"
            )
        if not policy.live_gate:
            return None
        judged = evaluate(check_live_gate(policy.live_gate), after, lambda _alias: before)
        failed = [clause for clause in judged if not clause["passed"]]
        if not failed:
            return None
        from .promotion import describe_clause

        return "live gate failed: " + "; ".join(describe_clause(c) for c in failed)

    def _previous_version(self, promoted: LoopEvent, champion: Run) -> str:
        """The version the alias pointed at before the promotion."""
        history = self.service.store.alias_history(str(promoted.function), promoted.refs["alias"])
        moved = promoted.refs.get("alias_history")
        for index, move in enumerate(history):
            if move.run_id == promoted.refs.get("run_id") and index and moved is not None:
                return history[index - 1].version
        return champion.version or str(promoted.refs["version"])

    def _event(self, policy: Policy, kind: str, message: str, refs: dict[str, Any]) -> int:
        actor = f"policy:{policy.deployment}"
        recorded = self.service.store.events.record(
            kind, deployment=policy.deployment, refs=refs, message=message, actor=actor
        )
        return recorded.id


def sweep_selection(policy: Policy) -> str | None:
    """A policy's sweep picks its best run by the gate's first metric (``accuracy >= …``:
    the highest accuracy); with no gate, the sweep selects nothing and nothing is promoted."""
    if not policy.gate:
        return None
    first = parse_gate(policy.gate)[0]
    return f"{'max' if first.op in ('>=', '>', '==') else 'min'}:{first.metric}"


class WatchThread:
    """``Watcher.tick`` every ``interval`` seconds on a daemon thread (the server's loop)."""

    def __init__(self, watcher: Watcher, interval: float) -> None:
        self.watcher = watcher
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="mlops-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 60.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            started = time.monotonic()
            try:
                self.watcher.tick()
            except Exception:  # the loop outlives a bad pass; the log has why
                log.exception("policy loop pass failed")
            log.debug("policy loop pass took %.2f s", time.monotonic() - started)
