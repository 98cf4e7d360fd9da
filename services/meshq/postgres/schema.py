"""Versioned schema migrations, applied at start under an advisory lock.

``MIGRATIONS[i]`` brings the schema from version ``i`` to ``i + 1``; the applied version is
the row count of ``meshq_schema``. ``migrate`` takes a transaction-level advisory lock first,
so two replicas starting together apply each step once: the second waits, then sees the new
version and does nothing. A database newer than this code is refused (an older replica must
not run against a schema it does not know).

Every table lives in the connection's current schema (``search_path``), so one database can
hold several meshq installations (and each test its own).
"""

from __future__ import annotations

import logging

import asyncpg

from meshq.core.errors import FailedPrecondition

logger = logging.getLogger(__name__)

MIGRATION_LOCK = 0x6D65_7368_7100_0001  # pg_advisory_xact_lock key: "meshq" + 1

SCHEDULER = """
CREATE TABLE sched_tasks (
  id TEXT PRIMARY KEY,
  room TEXT NOT NULL,
  queue TEXT NOT NULL,
  schedule TEXT NOT NULL,
  timezone TEXT NOT NULL,
  payload_json TEXT NOT NULL,
  active BOOLEAN NOT NULL,
  once BOOLEAN NOT NULL,
  name TEXT NOT NULL,
  annotations TEXT NOT NULL,
  catchup_window DOUBLE PRECISION NOT NULL,
  misfire_policy TEXT NOT NULL,
  misfire_cap INTEGER NOT NULL,
  jitter DOUBLE PRECISION NOT NULL,
  skip_if_pending BOOLEAN NOT NULL,
  created_at_ms BIGINT NOT NULL,
  cursor_ms BIGINT NOT NULL
);
CREATE TABLE sched_runs (
  task_id TEXT NOT NULL REFERENCES sched_tasks(id) ON DELETE CASCADE,
  scheduled_ms BIGINT NOT NULL,
  fired_at_ms BIGINT NOT NULL,
  outcome TEXT NOT NULL,
  queue TEXT NOT NULL,
  message_id TEXT NOT NULL,
  error TEXT NOT NULL,
  manual BOOLEAN NOT NULL,
  PRIMARY KEY (task_id, scheduled_ms)
);
CREATE INDEX sched_runs_sending ON sched_runs (scheduled_ms) WHERE outcome = 'sending';
"""

QUEUES = """
CREATE TABLE q_rooms (
  name TEXT PRIMARY KEY,
  created_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE q_queues (
  room TEXT NOT NULL REFERENCES q_rooms(name) ON DELETE CASCADE,
  name TEXT NOT NULL,
  max_deliveries INTEGER NOT NULL,
  dedup_window DOUBLE PRECISION NOT NULL,
  closed BOOLEAN NOT NULL DEFAULT false,
  created_at DOUBLE PRECISION NOT NULL,
  rate_limit DOUBLE PRECISION NOT NULL DEFAULT 0,
  rate_burst INTEGER NOT NULL DEFAULT 0,
  key_concurrency INTEGER NOT NULL DEFAULT 0,
  tokens DOUBLE PRECISION NOT NULL DEFAULT 0,  -- the rate limit's bucket, shared by replicas
  tokens_at DOUBLE PRECISION NOT NULL DEFAULT 0,
  keyed BOOLEAN NOT NULL DEFAULT false,  -- a message with a key was ever sent: keys take turns
  PRIMARY KEY (room, name)
);
CREATE TABLE q_messages (
  seq BIGSERIAL PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  room TEXT NOT NULL,
  queue TEXT NOT NULL,
  body TEXT NOT NULL,
  headers_json TEXT NOT NULL,
  enqueued_at DOUBLE PRECISION NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  ready_at DOUBLE PRECISION NOT NULL,
  priority SMALLINT NOT NULL DEFAULT 0,
  msg_key TEXT NOT NULL DEFAULT '',
  lease_token TEXT,
  lease_expires_at DOUBLE PRECISION,
  leased_at DOUBLE PRECISION,
  leased_by TEXT,
  FOREIGN KEY (room, queue) REFERENCES q_queues(room, name) ON DELETE CASCADE
);
-- Claims: the ready (unleased) messages of one queue in delivery order: higher priority
-- first, then enqueue time, then seq (concurrent sends' seqs interleave, their
-- replica-stamped enqueue times do not).
CREATE INDEX q_messages_ready ON q_messages (room, queue, priority DESC, enqueued_at, seq)
  WHERE lease_token IS NULL;
-- Expiry sweeps: leases by deadline.
CREATE INDEX q_messages_leased ON q_messages (lease_expires_at) WHERE lease_token IS NOT NULL;
-- Leases held per key (key_concurrency).
CREATE INDEX q_messages_keyed ON q_messages (room, queue, msg_key)
  WHERE lease_token IS NOT NULL AND msg_key <> '';
-- Drains, deletes (the foreign key) and depth counts. Every index here costs an insert per
-- claim (a lease changes indexed columns), so there are few: a restarted replica finds its
-- own leases through q_messages_leased.
CREATE INDEX q_messages_queue ON q_messages (room, queue);
-- A queue table: rows are inserted, updated (leased) and deleted at high rates. Vacuum it
-- early, and leave room on each page for the lease's new row version.
ALTER TABLE q_messages SET (autovacuum_vacuum_scale_factor = 0.01,
  autovacuum_vacuum_insert_scale_factor = 0.01, autovacuum_vacuum_cost_limit = 2000,
  fillfactor = 80);
CREATE TABLE q_dedup (
  room TEXT NOT NULL,
  queue TEXT NOT NULL,
  dedup_id TEXT NOT NULL,
  message_id TEXT NOT NULL,
  expires_at DOUBLE PRECISION NOT NULL,
  PRIMARY KEY (room, queue, dedup_id),
  FOREIGN KEY (room, queue) REFERENCES q_queues(room, name) ON DELETE CASCADE
);
CREATE INDEX q_dedup_expiry ON q_dedup (expires_at);
-- Keys take turns: how many deliveries each key of a queue has had.
CREATE TABLE q_keys (
  room TEXT NOT NULL,
  queue TEXT NOT NULL,
  msg_key TEXT NOT NULL,
  served BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (room, queue, msg_key),
  FOREIGN KEY (room, queue) REFERENCES q_queues(room, name) ON DELETE CASCADE
);
-- One round trip per claim (or removal, p_remove: auto-ack) of up to p_n ready messages of an
-- open queue: in delivery order, keys taking turns (a key's next message goes at its turn:
-- deliveries it had + its rank), at most key_concurrency leased per key, and no more than the
-- rate limit's bucket holds. A rate- or key-limited queue's claims take its row's lock (the
-- bucket and the per-key counts are then exact); others run side by side with SKIP LOCKED.
-- A lease's commit need not wait for the WAL flush: a lease lost in a crash of PostgreSQL
-- only makes the message ready again (delivered twice at worst, as at-least-once allows).
CREATE FUNCTION meshq_claim(p_room TEXT, p_queue TEXT, p_n INTEGER, p_now DOUBLE PRECISION,
                            p_expires DOUBLE PRECISION, p_replica TEXT, p_remove BOOLEAN)
RETURNS SETOF q_messages LANGUAGE plpgsql AS $$
DECLARE
  q q_queues%ROWTYPE;
  allowed INTEGER := p_n;
  avail DOUBLE PRECISION;
  burst DOUBLE PRECISION;
  picked BIGINT[];
  got INTEGER;
BEGIN
  IF NOT p_remove THEN
    PERFORM set_config('synchronous_commit', 'off', true);
  END IF;
  SELECT * INTO q FROM q_queues WHERE room = p_room AND name = p_queue;
  IF NOT FOUND OR q.closed THEN
    RETURN;
  END IF;
  IF q.rate_limit > 0 OR q.key_concurrency > 0 THEN
    SELECT * INTO q FROM q_queues WHERE room = p_room AND name = p_queue FOR UPDATE;
  END IF;
  IF q.rate_limit > 0 THEN
    burst := CASE WHEN q.rate_burst > 0 THEN q.rate_burst ELSE greatest(1, ceil(q.rate_limit)) END;
    avail := CASE WHEN q.tokens_at = 0 THEN burst
             ELSE least(burst, q.tokens + greatest(0, p_now - q.tokens_at) * q.rate_limit) END;
    allowed := least(allowed, floor(avail)::INTEGER);
    IF allowed <= 0 THEN
      RETURN;
    END IF;
  END IF;
  IF NOT q.keyed THEN  -- the common case: no turns to take, the head of the index in order
    picked := ARRAY(SELECT m.seq FROM q_messages m
                    WHERE m.room = p_room AND m.queue = p_queue AND m.lease_token IS NULL
                      AND m.ready_at <= p_now
                    ORDER BY m.priority DESC, m.enqueued_at, m.seq LIMIT allowed
                    FOR UPDATE SKIP LOCKED);
  ELSE
    SELECT array_agg(c.seq ORDER BY c.priority DESC, coalesce(k.served, 0) + c.rn, c.enqueued_at, c.seq)
      INTO picked
    FROM (
      SELECT w.*, row_number() OVER (PARTITION BY w.msg_key
                                     ORDER BY w.priority DESC, w.enqueued_at, w.seq) AS rn
      FROM (SELECT m.seq, m.msg_key, m.priority, m.enqueued_at FROM q_messages m
            WHERE m.room = p_room AND m.queue = p_queue AND m.lease_token IS NULL
              AND m.ready_at <= p_now
            ORDER BY m.priority DESC, m.enqueued_at, m.seq LIMIT 1000 + 4 * p_n) w
    ) c
    LEFT JOIN q_keys k ON k.room = p_room AND k.queue = p_queue AND k.msg_key = c.msg_key
    WHERE c.msg_key = '' OR q.key_concurrency = 0 OR c.rn + (
      SELECT count(*) FROM q_messages l WHERE l.room = p_room AND l.queue = p_queue
        AND l.msg_key = c.msg_key AND l.lease_token IS NOT NULL AND l.msg_key <> '')
      <= q.key_concurrency;
    IF picked IS NULL THEN
      RETURN;
    END IF;
    picked := picked[1:allowed];
    picked := ARRAY(SELECT m.seq FROM q_messages m WHERE m.seq = ANY (picked)
                    AND m.lease_token IS NULL FOR UPDATE SKIP LOCKED);
  END IF;
  got := cardinality(picked);
  IF got = 0 THEN
    RETURN;
  END IF;
  IF q.rate_limit > 0 THEN
    UPDATE q_queues SET tokens = avail - got, tokens_at = p_now
    WHERE room = p_room AND name = p_queue;
  END IF;
  IF q.keyed THEN
    INSERT INTO q_keys (room, queue, msg_key, served)
      SELECT p_room, p_queue, m.msg_key, count(*) FROM q_messages m
      WHERE m.seq = ANY (picked) AND m.msg_key <> '' GROUP BY m.msg_key
    ON CONFLICT (room, queue, msg_key) DO UPDATE SET served = q_keys.served + EXCLUDED.served;
  END IF;
  IF p_remove THEN
    RETURN QUERY DELETE FROM q_messages m WHERE m.seq = ANY (picked) RETURNING m.*;
  ELSE
    RETURN QUERY UPDATE q_messages m SET
      lease_token = to_hex(m.seq) || '.' || replace(gen_random_uuid()::text, '-', ''),
      lease_expires_at = p_expires, leased_at = p_now, leased_by = p_replica
    WHERE m.seq = ANY (picked)  -- by primary key, never a join's scan
    RETURNING m.*;
  END IF;
END $$;
"""

STORAGE = """
-- state: 'writing' (a stream in progress), 'live' (a file points at it), 'dead' (replaced or
-- deleted; kept a while for reads that started before).
CREATE TABLE st_blobs (
  id BIGSERIAL PRIMARY KEY,
  state TEXT NOT NULL,
  changed_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX st_blobs_collect ON st_blobs (changed_at) WHERE state <> 'live';
CREATE TABLE st_chunks (
  blob_id BIGINT NOT NULL REFERENCES st_blobs(id) ON DELETE CASCADE,
  n INTEGER NOT NULL,
  start_offset BIGINT NOT NULL,
  data BYTEA NOT NULL,
  PRIMARY KEY (blob_id, n)
);
ALTER TABLE st_chunks ALTER COLUMN data SET STORAGE EXTERNAL;  -- arbitrary bytes: no compression
CREATE TABLE st_files (
  room TEXT NOT NULL,
  path TEXT NOT NULL COLLATE "C",
  blob_id BIGINT NOT NULL REFERENCES st_blobs(id),
  size BIGINT NOT NULL,
  modified_ms BIGINT NOT NULL,
  PRIMARY KEY (room, path)
);
CREATE TABLE st_folders (
  room TEXT NOT NULL,
  path TEXT NOT NULL COLLATE "C",
  modified_ms BIGINT NOT NULL,
  PRIMARY KEY (room, path)
);
"""

POOLS = """
-- Pools' desired state, as the pools service encodes it (meshq.postgres.pool_store).
CREATE TABLE pool_specs (
  room TEXT NOT NULL,
  name TEXT NOT NULL,
  spec BYTEA NOT NULL,
  token_scope TEXT NOT NULL,
  updated_at DOUBLE PRECISION NOT NULL,
  PRIMARY KEY (room, name)
);
"""

MIGRATIONS: tuple[str, ...] = (SCHEDULER, QUEUES, STORAGE, POOLS)
VERSION = len(MIGRATIONS)


async def migrate(conn: asyncpg.Connection) -> int:
    """Bring the schema to ``VERSION``; returns the version found before."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS meshq_schema ("
            " version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
        found = int(await conn.fetchval("SELECT count(*) FROM meshq_schema"))
        if found > VERSION:
            raise FailedPrecondition(
                f"the database schema is at version {found}, newer than this meshq knows "
                f"({VERSION}); upgrade meshq on this replica")
        for version in range(found, VERSION):
            await conn.execute(MIGRATIONS[version])
            await conn.execute("INSERT INTO meshq_schema (version) VALUES ($1)", version + 1)
            logger.info("PostgreSQL schema migrated to version %d", version + 1)
    return found
