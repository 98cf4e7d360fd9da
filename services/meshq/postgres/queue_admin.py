"""Rooms and queue administration on PostgreSQL: create, open, close, drain, delete, list,
peek, redrive. The half of ``PgQueueBackend`` that is not on the message hot path.

Each call is one short transaction. Counts (``queue_info``) are read from the shared tables,
so every replica answers the same.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import asyncpg

from meshq.core.errors import AlreadyExists, FailedPrecondition, NotFound, ResourceExhausted
from meshq.core.validation import check_name
from meshq.postgres.messages import CHANNEL
from meshq.postgres.pool import Database
from meshq.postgres.wakeups import Wakeups
from meshq.queue import validate as v
from meshq.queue.model import (
    Delivery,
    QueueInfo,
    QueueLimits,
    QueueOptions,
    RoomInfo,
    dlq_name,
    is_dlq,
)

DEFAULT_PEEK = 10


def _room_info(row: asyncpg.Record) -> RoomInfo:
    return RoomInfo(name=row["name"], created_at=row["created_at"],
                    queue_count=row["queue_count"])


async def notify(conn: asyncpg.Connection, room: str, queue: str) -> None:
    await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, f"{room}/{queue}")


class PgQueueAdmin:
    """Administration half of ``PgQueueBackend`` (which provides the attributes below)."""

    _db: Database
    _clock: Callable[[], float]
    _wakeups: Wakeups
    limits: QueueLimits

    async def expire_in(self, conn: asyncpg.Connection, room: str, queue: str) -> None:
        """Return the queue's expired leases (provided by the backend)."""
        raise NotImplementedError

    # -- rooms ------------------------------------------------------------------------------

    async def create_room(self, name: str, *, if_not_exists: bool = False
                          ) -> tuple[RoomInfo, bool]:
        check_name("room", name)
        async with self._db.tx() as conn:
            created = await conn.fetchval(
                "INSERT INTO q_rooms (name, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING "
                "RETURNING true", name, self._clock())
            if not created and not if_not_exists:
                raise AlreadyExists(f"room {name!r} exists already")
            return await self._room_row(conn, name), bool(created)

    async def _room_row(self, conn: asyncpg.Connection, name: str) -> RoomInfo:
        row = await conn.fetchrow(
            "SELECT r.name, r.created_at, (SELECT count(*) FROM q_queues q WHERE q.room = "
            "r.name) AS queue_count FROM q_rooms r WHERE r.name=$1", name)
        if row is None:
            raise NotFound(f"room {name!r} does not exist")
        return _room_info(row)

    async def get_room(self, name: str) -> RoomInfo:
        check_name("room", name)
        async with self._db.conn() as conn:
            return await self._room_row(conn, name)

    async def list_rooms(self) -> list[RoomInfo]:
        async with self._db.conn() as conn:
            rows = await conn.fetch(
                "SELECT r.name, r.created_at, count(q.name) AS queue_count FROM q_rooms r "
                "LEFT JOIN q_queues q ON q.room = r.name GROUP BY r.name ORDER BY r.name")
        return [_room_info(r) for r in rows]

    async def delete_room(self, name: str, *, force: bool = False) -> None:
        """Delete a room; with queues in it only when ``force`` (they go too)."""
        check_name("room", name)
        async with self._db.tx() as conn:
            room = await self._room_row(conn, name)
            if room.queue_count and not force:
                raise FailedPrecondition(f"room {name!r} still has {room.queue_count} queues; "
                                         "delete them first or pass force")
            queues = await conn.fetch("DELETE FROM q_queues WHERE room=$1 RETURNING name", name)
            await conn.execute("DELETE FROM q_rooms WHERE name=$1", name)
            for q in queues:
                await notify(conn, name, q["name"])

    # -- queues -----------------------------------------------------------------------------

    async def create_queue_in(self, conn: asyncpg.Connection, room: str, queue: str,
                              options: QueueOptions) -> None:
        """Create the queue (and its room) inside the caller's transaction."""
        now = self._clock()
        await conn.execute("INSERT INTO q_rooms (name, created_at) VALUES ($1, $2) "
                           "ON CONFLICT DO NOTHING", room, now)
        count = await conn.fetchval("SELECT count(*) FROM q_queues WHERE room=$1", room)
        if count >= self.limits.max_queues_per_room:
            raise ResourceExhausted(f"room {room!r} holds {count} queues, the limit; delete "
                                    "one first")
        await conn.execute(
            "INSERT INTO q_queues (room, name, max_deliveries, dedup_window, created_at, "
            "rate_limit, rate_burst, key_concurrency) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
            "ON CONFLICT DO NOTHING", room, queue, options.max_deliveries,
            options.dedup_window_seconds, now, float(options.rate_limit), options.rate_burst,
            options.key_concurrency)

    async def open_queue(self, room: str, queue: str, options: QueueOptions | None = None
                         ) -> QueueInfo:
        """Create the queue (and room) if missing, reopen it if closed, apply options."""
        v.check_target(room, queue)
        if options is not None:
            v.check_options(options)
        async with self._db.tx() as conn:
            exists = await conn.fetchval(
                "SELECT true FROM q_queues WHERE room=$1 AND name=$2 FOR UPDATE", room, queue)
            if not exists:
                await self.create_queue_in(conn, room, queue, options or QueueOptions())
            elif options is not None:
                await conn.execute(
                    "UPDATE q_queues SET closed=false, max_deliveries=$3, dedup_window=$4, "
                    "rate_limit=$5, rate_burst=$6, key_concurrency=$7 WHERE room=$1 AND "
                    "name=$2", room, queue, options.max_deliveries,
                    options.dedup_window_seconds, float(options.rate_limit),
                    options.rate_burst, options.key_concurrency)
            else:
                await conn.execute("UPDATE q_queues SET closed=false WHERE room=$1 AND name=$2",
                                   room, queue)
            await notify(conn, room, queue)
            return await self._info(conn, room, queue)

    async def close_queue(self, room: str, queue: str) -> None:
        """Refuse Send, Receive and new deliveries until reopened; settling still works."""
        v.check_target(room, queue)
        async with self._db.tx() as conn:
            done = await conn.fetchval("UPDATE q_queues SET closed=true WHERE room=$1 AND "
                                       "name=$2 RETURNING true", room, queue)
            if not done:
                await self.missing(conn, room, queue)

    async def drain_queue(self, room: str, queue: str) -> int:
        """Remove every message (ready, delayed, leased); returns how many."""
        v.check_target(room, queue)
        async with self._db.tx() as conn:
            await self.existing(conn, room, queue)
            rows = await conn.fetch("DELETE FROM q_messages WHERE room=$1 AND queue=$2 "
                                    "RETURNING seq", room, queue)
            return len(rows)

    async def delete_queue(self, room: str, queue: str) -> None:
        """Delete the queue and its messages; its dead-letter queue stays."""
        v.check_target(room, queue)
        async with self._db.tx() as conn:
            done = await conn.fetchval("DELETE FROM q_queues WHERE room=$1 AND name=$2 "
                                       "RETURNING true", room, queue)
            if not done:
                await self.missing(conn, room, queue)
            await notify(conn, room, queue)
        self._wakeups.wake(room, queue)

    async def list_queues(self, room: str) -> list[QueueInfo]:
        check_name("room", room)
        async with self._db.conn() as conn:
            await self._room_row(conn, room)
            names = await conn.fetch("SELECT name FROM q_queues WHERE room=$1 ORDER BY name",
                                     room)
            return [await self._info(conn, room, r["name"]) for r in names]

    async def queue_info(self, room: str, queue: str) -> QueueInfo:
        v.check_target(room, queue)
        async with self._db.tx() as conn:
            await self.expire_in(conn, room, queue)
            return await self._info(conn, room, queue)

    async def _info(self, conn: asyncpg.Connection, room: str, queue: str) -> QueueInfo:
        now = self._clock()
        row = await conn.fetchrow(
            "SELECT q.closed, q.max_deliveries, q.dedup_window, q.rate_limit, q.rate_burst, "
            "q.key_concurrency, "
            "count(m.seq) FILTER (WHERE m.lease_token IS NULL AND m.ready_at <= $3) AS depth, "
            "count(m.seq) FILTER (WHERE m.lease_token IS NOT NULL) AS in_flight, "
            "count(m.seq) FILTER (WHERE m.lease_token IS NULL AND m.ready_at > $3) AS delayed, "
            "min(m.enqueued_at) FILTER (WHERE m.lease_token IS NULL AND m.ready_at <= $3) "
            "AS oldest FROM q_queues q LEFT JOIN q_messages m ON m.room = q.room AND "
            "m.queue = q.name WHERE q.room=$1 AND q.name=$2 GROUP BY q.room, q.name",
            room, queue, now)
        if row is None:
            await self.missing(conn, room, queue)
        dead = 0 if is_dlq(queue) else await conn.fetchval(
            "SELECT count(*) FROM q_messages WHERE room=$1 AND queue=$2", room, dlq_name(queue))
        oldest = row["oldest"]
        return QueueInfo(
            name=queue, depth=row["depth"], in_flight=row["in_flight"], delayed=row["delayed"],
            dead_lettered=dead, oldest_age_seconds=max(0.0, now - oldest) if oldest else 0.0,
            closed=row["closed"],
            options=QueueOptions(max_deliveries=row["max_deliveries"],
                                 dedup_window_seconds=row["dedup_window"],
                                 rate_limit=row["rate_limit"],
                                 rate_burst=row["rate_burst"],
                                 key_concurrency=row["key_concurrency"]))

    async def peek(self, room: str, queue: str, max_messages: int) -> list[Delivery]:
        """The next ready messages, oldest first, without leasing them."""
        v.check_target(room, queue)
        n = v.check_count("max_messages", max_messages or DEFAULT_PEEK, self.limits)
        async with self._db.conn() as conn:
            await self.existing(conn, room, queue)
            rows = await conn.fetch(
                "SELECT id, body, headers_json, enqueued_at, attempts FROM q_messages WHERE "
                "room=$1 AND queue=$2 AND lease_token IS NULL AND ready_at <= $3 ORDER BY enqueued_at, seq "
                "LIMIT $4", room, queue, self._clock(), n)
        return [Delivery(message_id=r["id"], body=r["body"], headers=json.loads(r["headers_json"]),
                         enqueued_at=r["enqueued_at"], attempt=r["attempts"] + 1, queue=queue)
                for r in rows]

    async def redrive(self, room: str, queue: str, max_messages: int = 0) -> int:
        """Move messages of ``<queue>.dlq`` (not leased ones) back, oldest first, attempts 0."""
        v.check_target(room, queue)
        if is_dlq(queue):
            return 0
        limit = max_messages if max_messages > 0 else None
        async with self._db.tx() as conn:
            await self.existing(conn, room, queue)
            rows = await conn.fetch(
                "UPDATE q_messages SET queue=$2, attempts=0, ready_at=0 WHERE seq = ANY (ARRAY("
                "SELECT seq FROM q_messages WHERE room=$1 AND queue=$3 AND lease_token IS NULL "
                "ORDER BY enqueued_at, seq LIMIT $4 FOR UPDATE)) RETURNING seq", room, queue, dlq_name(queue), limit)
            if rows:
                await notify(conn, room, queue)
        if rows:
            self._wakeups.wake(room, queue)
        return len(rows)

    # -- lookups ----------------------------------------------------------------------------

    async def existing(self, conn: asyncpg.Connection, room: str, queue: str) -> asyncpg.Record:
        """The queue's row (closed, max_deliveries, dedup_window); NotFound if missing."""
        row = await conn.fetchrow("SELECT closed, max_deliveries, dedup_window FROM q_queues "
                                  "WHERE room=$1 AND name=$2", room, queue)
        if row is None:
            await self.missing(conn, room, queue)
        return row

    async def missing(self, conn: asyncpg.Connection, room: str, queue: str) -> None:
        """Raise the NotFound that says whether the room or only the queue is missing."""
        if not await conn.fetchval("SELECT true FROM q_rooms WHERE name=$1", room):
            raise NotFound(f"room {room!r} does not exist")
        raise NotFound(f"queue {queue!r} does not exist in room {room!r}; send with "
                       "create=true or open it first")
