"""Inserting messages: the one place that writes ``q_messages`` and ``q_dedup`` rows for a send.

Both the queue backend's Send and the scheduler store's ``record`` call ``insert``, inside a
transaction the caller owns: that is what lets a scheduled fire's ledger row and its message
commit together. Dedup is a unique key (room, queue, dedup_id) with an expiry: an insert that
meets an unexpired record is a duplicate and returns the first message's id; an expired
record is taken over. ``ON CONFLICT`` waits for a concurrent sender of the same id, so two
replicas never both enqueue it. A NOTIFY on ``CHANNEL`` goes out when the transaction commits.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import asyncpg

CHANNEL = "meshq_queue"  # LISTEN/NOTIFY channel; the payload is "<room>/<queue>"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to insert."""

    body: str
    headers_json: str = "{}"
    delay: float = 0.0
    dedup_id: str = ""
    dedup_window: float = 0.0
    """Seconds the dedup id is remembered (0: not remembered)."""
    priority: int = 0
    key: str = ""
    """The flow-control key (``x-meshq-key``): per-key limits and turns."""


def new_id() -> str:
    """A message id, unique across replicas (random, 128 bits, 32 hex digits)."""
    return os.urandom(16).hex()


async def insert_open(conn: asyncpg.Connection, room: str, queue: str,
                      batch: list[Outgoing], enqueued: list[float], now: float, *,
                      lease: int = 0, lease_expires: float = 0.0, replica: str = ""
                      ) -> tuple[list[str], list[str]] | None:
    """One statement (its own transaction when the connection is in none): insert ``batch``
    (no dedup ids) if the queue exists and is open, with the enqueue time of each row in
    ``enqueued`` (a group commit carries several Sends, each stamped when it was called),
    the first ``lease`` rows already leased to ``replica`` at ``now`` (a direct hand-off to
    a waiting local consumer), and NOTIFY when rows are left for others. (ids, lease tokens
    of the first ``lease``), or None when nothing was inserted because the queue is missing
    or closed (the caller finds out which).
    """
    ids = [new_id() for _ in batch]
    suffixes = [new_id() for _ in range(lease)]
    row = await conn.fetchrow(
        "WITH q AS (SELECT 1 FROM q_queues WHERE room=$1 AND name=$2 AND NOT closed), "
        "t AS (SELECT nextval('q_messages_seq_seq') AS s, i, b, h, e, r, p, k, o FROM unnest("
        "$4::text[], $5::text[], $6::text[], $17::float8[], $7::float8[], $14::int2[], "
        "$15::text[]) WITH ORDINALITY AS u(i, b, h, e, r, p, k, o) WHERE EXISTS (SELECT 1 "
        "FROM q) ORDER BY o), "
        "ins AS (INSERT INTO q_messages (seq, id, room, queue, body, headers_json, "
        "enqueued_at, ready_at, priority, msg_key, lease_token, lease_expires_at, leased_at, "
        "leased_by) SELECT s, i, $1, $2, b, h, e, r, p, k, CASE WHEN o <= $10 THEN to_hex(s) || '.' "
        "|| ($13::text[])[o] END, CASE WHEN o <= $10 THEN $11::float8 END, CASE WHEN "
        "o <= $10 THEN $3::float8 END, CASE WHEN o <= $10 THEN $12::text END FROM t ORDER BY o "
        "RETURNING seq, lease_token), "
        "kq AS (UPDATE q_queues SET keyed = true WHERE room=$1 AND name=$2 AND NOT keyed "
        "AND $16::bool AND EXISTS (SELECT 1 FROM q) RETURNING 1) "
        "SELECT count(*) AS n, array_agg(lease_token ORDER BY seq) FILTER (WHERE lease_token "
        "IS NOT NULL) AS tokens, CASE WHEN count(*) > $10 THEN pg_notify($8, $9)::text END "
        "AS notified, (SELECT count(*) FROM kq) AS keyed FROM ins",
        room, queue, now, ids, [m.body for m in batch], [m.headers_json for m in batch],
        [at + m.delay if m.delay > 0 else 0.0 for m, at in zip(batch, enqueued, strict=True)],
        CHANNEL, f"{room}/{queue}", lease, lease_expires, replica, suffixes,
        [m.priority for m in batch], [m.key for m in batch], any(m.key for m in batch),
        enqueued)
    if not row["n"]:
        return None
    return ids, list(row["tokens"] or [])


async def insert(conn: asyncpg.Connection, room: str, queue: str, batch: list[Outgoing],
                 now: float) -> list[tuple[str, bool]]:
    """Insert ``batch`` into one queue; (message_id, duplicate) per message, in order."""
    ids = [new_id() for _ in batch]
    first: dict[str, int] = {}
    repeats: list[tuple[int, int]] = []  # (index, index of the first with that dedup id)
    for i, m in enumerate(batch):
        if m.dedup_id:
            if m.dedup_id in first:
                repeats.append((i, first[m.dedup_id]))
            else:
                first[m.dedup_id] = i
    held = await _claim_dedup(conn, room, queue, batch, ids, list(first.values()), now)
    results: list[tuple[str, bool] | None] = [None] * len(batch)
    for i, first_id in held.items():
        results[i] = (first_id, True)
    for i, j in repeats:
        prior = results[j]
        results[i] = (prior[0] if prior is not None else ids[j], True)
    fresh = [i for i in range(len(batch)) if results[i] is None]
    if fresh:
        await conn.execute(
            "INSERT INTO q_messages (id, room, queue, body, headers_json, enqueued_at, ready_at, "
            "priority, msg_key) SELECT i, $1, $2, b, h, $3, r, p, k FROM unnest($4::text[], "
            "$5::text[], $6::text[], $7::float8[], $8::int2[], $9::text[]) WITH ORDINALITY AS "
            "t(i, b, h, r, p, k, o) ORDER BY o",
            room, queue, now, [ids[i] for i in fresh], [batch[i].body for i in fresh],
            [batch[i].headers_json for i in fresh],
            [now + batch[i].delay if batch[i].delay > 0 else 0.0 for i in fresh],
            [batch[i].priority for i in fresh], [batch[i].key for i in fresh])
        if any(batch[i].key for i in fresh):
            await conn.execute("UPDATE q_queues SET keyed = true WHERE room=$1 AND name=$2 "
                               "AND NOT keyed", room, queue)
        for i in fresh:
            results[i] = (ids[i], False)
        await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, f"{room}/{queue}")
    return [r for r in results if r is not None]


async def _claim_dedup(conn: asyncpg.Connection, room: str, queue: str, batch: list[Outgoing],
                       ids: list[str], keyed: list[int], now: float) -> dict[int, str]:
    """Take the dedup record of each keyed message whose window is set (an expired record
    is taken over); {index: holder's message id} of those that repeat a live record."""
    if not keyed:
        return {}
    remembered = [i for i in keyed if batch[i].dedup_window > 0]
    won: set[str] = set()
    if remembered:
        rows = await conn.fetch(
            "INSERT INTO q_dedup AS d (room, queue, dedup_id, message_id, expires_at) "
            "SELECT $1, $2, k, m, e FROM unnest($3::text[], $4::text[], $5::float8[]) AS t(k, m, e) "
            "ON CONFLICT (room, queue, dedup_id) DO UPDATE SET message_id = EXCLUDED.message_id, "
            "expires_at = EXCLUDED.expires_at WHERE d.expires_at <= $6 RETURNING dedup_id",
            room, queue, [batch[i].dedup_id for i in remembered], [ids[i] for i in remembered],
            [now + batch[i].dedup_window for i in remembered], now)
        won = {r["dedup_id"] for r in rows}
    lost = [batch[i].dedup_id for i in keyed if batch[i].dedup_id not in won]
    if not lost:
        return {}
    rows = await conn.fetch(
        "SELECT dedup_id, message_id FROM q_dedup WHERE room = $1 AND queue = $2 "
        "AND dedup_id = ANY($3::text[]) AND expires_at > $4", room, queue, lost, now)
    holders = {r["dedup_id"]: r["message_id"] for r in rows}
    return {i: holders[batch[i].dedup_id] for i in keyed if batch[i].dedup_id in holders}
