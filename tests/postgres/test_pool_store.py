"""Pools' desired state on PostgreSQL, and the supervisor lease held by one replica at a time."""

from __future__ import annotations

import json
from dataclasses import dataclass

from meshq.postgres.pool_store import PgPoolStore, PgSupervisorLease


@dataclass(frozen=True)
class Spec:
    """Stands for the pools service's PoolConfig (the store never looks inside)."""

    room: str
    name: str
    replicas: int


def encode(spec: Spec) -> tuple[bytes, str]:
    return json.dumps(spec.__dict__).encode(), json.dumps({"room": spec.room})


def decode(blob: bytes) -> Spec:
    return Spec(**json.loads(blob))


def store_on(url: str) -> PgPoolStore:
    return PgPoolStore(url, encode=encode, decode=decode, key=lambda s: (s.room, s.name))


def test_pools_are_stored_replaced_deleted_and_seen_by_every_replica(pg_url: str) -> None:
    one, two = store_on(pg_url), store_on(pg_url)
    try:
        one.save(Spec("r", "b", 1))
        one.save(Spec("r", "a", 2))
        one.save(Spec("r", "a", 3))  # a scale replaces the row
        assert two.load() == [Spec("r", "a", 3), Spec("r", "b", 1)]
        two.delete("r", "a")
        two.delete("r", "missing")  # no error
        assert one.load() == [Spec("r", "b", 1)]
    finally:
        one.close()
        two.close()


async def test_exactly_one_replica_supervises_and_another_takes_over(pg_url: str) -> None:
    store_on(pg_url).close()  # the schema exists
    first, second = PgSupervisorLease(pg_url), PgSupervisorLease(pg_url)
    try:
        assert await first.held() is True
        assert await second.held() is False
        assert await first.held() is True  # still its own
        # When the supervisor's session ends (it died or stopped), Then the other takes over
        await first.close()
        assert await second.held() is True
        assert await first.held() is False
    finally:
        await first.close()
        await second.close()


async def test_a_waiting_replica_takes_the_pools_over_when_the_supervisor_goes(
        pg_url: str) -> None:
    import asyncio

    store_on(pg_url).close()
    supervisor, waiting = PgSupervisorLease(pg_url), PgSupervisorLease(pg_url, poll_seconds=0.05)
    took_over = asyncio.Event()

    async def restore() -> None:
        took_over.set()

    try:
        assert await supervisor.held() and not await waiting.held()
        waiting.on_acquired(restore)
        # When the supervisor's session ends, Then the waiting replica takes over and restores
        await supervisor.close()
        async with asyncio.timeout(30):
            await took_over.wait()
        assert await waiting.held()
    finally:
        await supervisor.close()
        await waiting.close()
