"""The misfire policy as a pure function: due instants of one task -> what becomes of each.

``None`` in a decision means "send"; any ``RunOutcome`` is a skip recorded as is.
"""

from __future__ import annotations

from collections.abc import Sequence

from meshq.scheduler.model import MisfirePolicy, RunOutcome, TaskSpec

Decision = tuple[int, RunOutcome | None]


def plan_instants(spec: TaskSpec, instants_ms: Sequence[int], now_ms: int,
                  grace_ms: int) -> list[Decision]:
    """Decide each instant (ascending) due at ``now_ms``.

    An instant at most ``grace_ms`` old is on time and is sent. An older one was missed (the
    scheduler was down or stalled): outside the catch-up window it is SKIPPED_MISFIRE; inside
    it, ``skip`` sends none, ``latest`` the newest, ``all`` the newest ``misfire_cap``.
    A ``once`` task sends one instant and records the rest as inactive; ``skip_if_pending``
    sends at most one per pass (the newest), the rest are SKIPPED_PENDING.
    """
    if not spec.active:
        return [(ms, RunOutcome.SKIPPED_INACTIVE) for ms in instants_ms]
    window_ms = int(spec.catchup_window_seconds * 1000)
    late = [ms for ms in instants_ms if now_ms - ms > grace_ms]
    catchable = [ms for ms in late if now_ms - ms <= window_ms]
    if spec.misfire_policy is MisfirePolicy.LATEST:
        chosen = set(catchable[-1:])
    elif spec.misfire_policy is MisfirePolicy.ALL:
        chosen = set(catchable[-spec.misfire_cap:])
    else:
        chosen = set()
    decisions: list[Decision] = []
    for ms in instants_ms:
        missed = now_ms - ms > grace_ms
        decisions.append((ms, RunOutcome.SKIPPED_MISFIRE if missed and ms not in chosen else None))
    return _limit_sends(spec, decisions)


def _limit_sends(spec: TaskSpec, decisions: list[Decision]) -> list[Decision]:
    """Apply ``once`` (first send only) and ``skip_if_pending`` (newest send only)."""
    sends = [i for i, (_, outcome) in enumerate(decisions) if outcome is None]
    if len(sends) <= 1:
        return decisions
    if spec.once:
        keep, rest = sends[0], RunOutcome.SKIPPED_INACTIVE
    elif spec.skip_if_pending:
        keep, rest = sends[-1], RunOutcome.SKIPPED_PENDING
    else:
        return decisions
    return [(ms, outcome if outcome is not None or i == keep else rest)
            for i, (ms, outcome) in enumerate(decisions)]
