"""Lease SQL: claim, settle, extend, expire, hand back. Every token check happens in SQL.

A lease token is "<seq in hex>.<32 random hex digits>", new for every delivery: the seq finds
the row by primary key, and the row must still carry that exact token with an unexpired
lease, so a stale token (settled, expired, redelivered, or from another replica's past) is
refused on every replica. Claims take ready rows in enqueue order (enqueue time, then seq) with ``FOR UPDATE SKIP
LOCKED``, so concurrent consumers on any replicas never block on or receive the same row.

A failed delivery (nack, expiry) adds one to the stored attempts; at the queue's
``max_deliveries`` the row moves to "<queue>.dlq" (created on first use) — as embedded.
Expired leases are returned by whichever replica's sweep locks them first; the others skip
the locked rows, and a row already returned no longer matches, so each expiry counts once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from meshq.postgres.messages import CHANNEL
from meshq.queue.model import (
    LAST_ERROR_HEADER,
    Delivery,
    QueueOptions,
    dlq_name,
    is_dlq,
    new_delivery,
)

EXPIRED_ERROR = "lease expired"
SWEEP_BATCH = 1000  # most expired leases one sweep statement returns


def parse_token(token: str) -> int | None:
    """The row seq a token names, or None for a malformed one (always STALE)."""
    seq, dot, rand = token.partition(".") if isinstance(token, str) else ("", "", "")
    if not dot or len(rand) != 32 or not seq or len(seq) > 16:
        return None
    try:
        return int(seq, 16)
    except ValueError:
        return None


async def claim(conn: asyncpg.Connection, room: str, queue: str, n: int, now: float,
                expires: float, replica: str) -> list[Delivery]:
    """Lease up to ``n`` ready messages, oldest first, on behalf of ``replica``."""
    rows = await conn.fetch("SELECT * FROM meshq_claim($1, $2, $3, $4, $5, $6, false)",
                            room, queue, n, now, expires, replica)
    rows = sorted(rows, key=_fifo)
    return [new_delivery(r["id"], r["body"], _headers(r["headers_json"]), r["enqueued_at"],
                         r["attempts"] + 1, queue, r["lease_token"], expires) for r in rows]


async def pop(conn: asyncpg.Connection, room: str, queue: str, n: int,
              now: float) -> list[Delivery]:
    """Remove up to ``n`` ready messages, oldest first (auto-ack)."""
    rows = await conn.fetch("SELECT * FROM meshq_claim($1, $2, $3, $4, 0, '', true)",
                            room, queue, n, now)
    rows = sorted(rows, key=_fifo)
    return [new_delivery(r["id"], r["body"], _headers(r["headers_json"]), r["enqueued_at"],
                         r["attempts"] + 1, queue) for r in rows]


def _fifo(row: asyncpg.Record) -> tuple[int, float, int]:
    """Delivery order within a batch: higher priority first, then enqueue order."""
    return -row["priority"], row["enqueued_at"], row["seq"]


def _headers(text: str) -> dict[str, str]:
    return json.loads(text) if text != "{}" else {}


def _keys(tokens: Sequence[str]) -> tuple[list[int], list[str]]:
    seqs, toks = [], []
    for token in dict.fromkeys(tokens):
        seq = parse_token(token)
        if seq is not None:
            seqs.append(seq)
            toks.append(token)
    return seqs, toks


async def ack(conn: asyncpg.Connection, room: str, queue: str, tokens: Sequence[str],
              now: float) -> dict[str, float]:
    """Delete the rows these live tokens lease; {token: leased_at} of those settled."""
    seqs, toks = _keys(tokens)
    if not seqs:
        return {}
    rows = await conn.fetch(
        "DELETE FROM q_messages m WHERE m.seq = ANY($3::bigint[]) AND m.lease_token = "
        "ANY($4::text[]) AND m.room=$1 AND m.queue=$2 AND m.lease_expires_at > $5 "
        "RETURNING m.lease_token, m.leased_at",
        room, queue, seqs, toks, now)
    return {r["lease_token"]: r["leased_at"] for r in rows}


async def extend(conn: asyncpg.Connection, room: str, queue: str,
                 items: Sequence[tuple[str, float]], now: float) -> set[str]:
    """Move live leases' expiry to now + seconds; the tokens extended."""
    by_token = dict(items)
    seqs, toks = _keys(list(by_token))
    if not seqs:
        return set()
    rows = await conn.fetch(
        "UPDATE q_messages m SET lease_expires_at = $5 + t.secs FROM unnest($3::bigint[], "
        "$4::text[], $6::float8[]) AS t(seq, tok, secs) WHERE m.seq = ANY($3::bigint[]) AND "
        "m.seq = t.seq AND m.lease_token = t.tok AND m.room=$1 AND m.queue=$2 AND m.lease_expires_at > $5 "
        "RETURNING m.lease_token", room, queue, seqs, toks, now, [by_token[t] for t in toks])
    return {r["lease_token"] for r in rows}


async def hand_back(conn: asyncpg.Connection, room: str, queue: str,
                    tokens: Sequence[str], now: float) -> int:
    """Return live leases to ready, attempt unchanged (a stream closed)."""
    seqs, toks = _keys(tokens)
    if not seqs:
        return 0
    rows = await conn.fetch(
        "UPDATE q_messages m SET lease_token=NULL, lease_expires_at=NULL, leased_at=NULL, "
        "leased_by=NULL WHERE m.seq = ANY($3::bigint[]) AND m.lease_token = ANY($4::text[]) "
        "AND m.room=$1 AND m.queue=$2 AND m.lease_expires_at > $5 "
        "RETURNING m.seq", room, queue, seqs, toks, now)
    if rows:
        await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, f"{room}/{queue}")
    return len(rows)


async def release_replica(conn: asyncpg.Connection, replica: str) -> int:
    """Return every lease ``replica`` handed out before it restarted, attempt unchanged: its
    streams are gone with its old process (as the embedded engine forgets leases)."""
    rows = await conn.fetch(
        "UPDATE q_messages SET lease_token=NULL, lease_expires_at=NULL, leased_at=NULL, "
        "leased_by=NULL WHERE leased_by=$1 AND lease_token IS NOT NULL RETURNING room, queue",
        replica)
    for room, queue in {(r["room"], r["queue"]) for r in rows}:
        await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, f"{room}/{queue}")
    return len(rows)


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed delivery to count: which lease, when it may come back, why."""

    token: str
    ready_at: float = 0.0
    error: str = ""
    """The consumer's error text (sets the last-error header); "" for none."""


@dataclass(frozen=True, slots=True)
class Failed:
    """What ``fail`` did: settled tokens, and how many of them went to the dead letters."""

    tokens: set[str]
    dead: int


async def fail(conn: asyncpg.Connection, room: str, queue: str, options: QueueOptions,
               failures: Sequence[Failure], now: float, *, reason: str = "nacked") -> Failed:
    """Count failed deliveries of live leases (nack): back to ready / delayed, or dead-letter."""
    by_token = {f.token: f for f in failures}
    seqs, toks = _keys(list(by_token))
    if not seqs:
        return Failed(set(), 0)
    rows = await conn.fetch(
        "SELECT m.seq, m.attempts, m.headers_json, m.lease_token FROM q_messages m JOIN "
        "unnest($3::bigint[], $4::text[]) AS t(seq, tok) ON m.seq = t.seq AND "
        "m.lease_token = t.tok WHERE m.seq = ANY($3::bigint[]) AND m.room=$1 AND m.queue=$2 "
        "AND m.lease_expires_at > $5 FOR UPDATE OF m", room, queue, seqs, toks, now)
    updates = [_failed_row(r, by_token[r["lease_token"]], queue, options, reason) for r in rows]
    dead = await _apply(conn, room, queue, updates, now)
    return Failed({r["lease_token"] for r in rows}, dead)


async def expire(conn: asyncpg.Connection, now: float, room: str | None = None,
                 queue: str | None = None) -> dict[tuple[str, str], tuple[int, int]]:
    """Return expired leases (one batch) of every queue, or of one; {(room, queue):
    (expired, dead)}. Calls that must see expiries first (claims, late settles, state
    reads) run it for their queue; the sweeper for all."""
    rows = await conn.fetch(
        "SELECT m.seq, m.room, m.queue, m.attempts, m.headers_json, q.max_deliveries, "
        "q.dedup_window FROM q_messages m JOIN q_queues q ON q.room = m.room AND q.name = "
        "m.queue WHERE m.lease_token IS NOT NULL AND m.lease_expires_at <= $1 AND "
        "($3::text IS NULL OR (m.room = $3 AND m.queue = $4)) ORDER BY m.lease_expires_at "
        "LIMIT $2 FOR UPDATE OF m SKIP LOCKED", now, SWEEP_BATCH, room, queue)
    groups: dict[tuple[str, str], list[asyncpg.Record]] = {}
    for r in rows:
        groups.setdefault((r["room"], r["queue"]), []).append(r)
    out: dict[tuple[str, str], tuple[int, int]] = {}
    for (room, queue), items in groups.items():
        options = QueueOptions(max_deliveries=items[0]["max_deliveries"],
                               dedup_window_seconds=items[0]["dedup_window"])
        updates = [_failed_row(r, Failure(token=""), queue, options, EXPIRED_ERROR)
                   for r in items]
        out[(room, queue)] = (len(items), await _apply(conn, room, queue, updates, now))
    return out


_Update = tuple[int, int, float, str, str]  # seq, attempts, ready_at, queue, headers_json


def _failed_row(row: asyncpg.Record, failure: Failure, queue: str, options: QueueOptions,
                reason: str) -> _Update:
    attempts = row["attempts"] + 1
    headers_json = row["headers_json"]
    if failure.error:
        headers_json = _with_header(headers_json, failure.error)
    if attempts >= options.max_deliveries and not is_dlq(queue):
        why = failure.error or reason
        if _headers(headers_json).get(LAST_ERROR_HEADER) != why:
            headers_json = _with_header(headers_json, why)
        return (row["seq"], attempts, 0.0, dlq_name(queue), headers_json)
    return (row["seq"], attempts, failure.ready_at, queue, headers_json)


def _with_header(headers_json: str, error: str) -> str:
    return json.dumps({**_headers(headers_json), LAST_ERROR_HEADER: error},
                      separators=(",", ":"))


async def _apply(conn: asyncpg.Connection, room: str, queue: str, updates: list[_Update],
                 now: float) -> int:
    """Write failed rows back; creates the dead-letter queue if one moves there."""
    if not updates:
        return 0
    dead = sum(1 for u in updates if u[3] != queue)
    if dead:
        defaults = QueueOptions()
        await conn.execute(
            "INSERT INTO q_queues (room, name, max_deliveries, dedup_window, created_at) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING", room, dlq_name(queue),
            defaults.max_deliveries, defaults.dedup_window_seconds, now)
    await conn.execute(
        "UPDATE q_messages m SET attempts=u.att, ready_at=u.ready, queue=u.queue, "
        "headers_json=u.h, lease_token=NULL, lease_expires_at=NULL, leased_at=NULL, "
        "leased_by=NULL FROM "
        "unnest($1::bigint[], $2::int[], $3::float8[], $4::text[], $5::text[]) AS "
        "u(seq, att, ready, queue, h) WHERE m.seq = ANY($1::bigint[]) AND m.seq = u.seq",
        [u[0] for u in updates], [u[1] for u in updates], [u[2] for u in updates],
        [u[3] for u in updates], [u[4] for u in updates])
    await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, f"{room}/{queue}")
    if dead:
        await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, f"{room}/{dlq_name(queue)}")
    return dead
