"""Deleted messages as tombstones: a delete appends seqs, the rows go later, in seq order.

Why: a queue with priorities or keys is acked in an order far from its send (seq) order, and
deleting each acked row at once touches a different table page and index page per row: in a
drain with random priorities 0-9, 5.5x the WAL frames per commit and 2-3x the writer's CPU
per ack of a drain in send order. So a ``DeleteMessages`` whose seqs are *scattered* (they
span at least ``DENSE_SPAN`` times their number) only inserts them into ``tombstones`` (a
small table keyed by seq, in the same durable transaction: an acked message never comes
back); a dense one (acks near send order, a single ack) still deletes its rows in place,
which costs no more. The writer thread *purges* tombstones later: it deletes the rows of the
lowest ``PURGE_CHUNK`` tombstones and those tombstones in one transaction, when that is cheap
or needed:

- after a group commit with nothing waiting, when the lowest chunk is *dense* (spans at most
  ``DENSE_SPAN`` times its size in seqs: its pages are mostly dead, as a plain queue's are);
- when the writer has been idle ``PURGE_IDLE`` seconds (whatever the density);
- when more than ``TOMBSTONE_LIMIT`` wait (a backlog acked far out of order).

The density looks at tombstones only: rows deleted in place between them make a chunk
cheaper than its span says, and such a chunk waits for the idle or the limit rule.

Every read excludes tombstoned rows (``LIVE``); loading purges them all first, so the index
never sees one and a seq is never reused while its tombstone exists.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable, Sequence

from meshq.queue import store as st

logger = logging.getLogger(__name__)

PURGE_CHUNK = 1024  # tombstones purged per transaction (a few ms of the writer's time)
DENSE_SPAN = 2  # seqs spanning < 2 x their number are dense (deleted at once)
PURGE_IDLE = 0.1  # seconds without a batch before the writer purges whatever waits
TOMBSTONE_LIMIT = 32_768  # beyond this many, purge after every group commit
RECHECK = PURGE_CHUNK // 8  # new tombstones between two density checks

SCHEMA = "CREATE TABLE IF NOT EXISTS tombstones (seq INTEGER PRIMARY KEY);"
LIVE = "NOT EXISTS (SELECT 1 FROM tombstones t WHERE t.seq = messages.seq)"
"""SQL condition on ``messages``: the row is not tombstoned."""

_BOTTOM = "SELECT seq FROM tombstones ORDER BY seq LIMIT 1 OFFSET ?"
_BOTTOM_SPAN = ("SELECT min(seq), max(seq), count(*) FROM "
                "(SELECT seq FROM tombstones ORDER BY seq LIMIT ?)")
_PURGE = ("DELETE FROM messages WHERE seq IN (SELECT seq FROM tombstones WHERE seq <= ?1)",
          "DELETE FROM tombstones WHERE seq <= ?1")


def scattered(seqs: Sequence[int]) -> bool:
    """Whether deleting these rows in place would touch many more pages than rows hold."""
    return len(seqs) > 1 and max(seqs) - min(seqs) >= DENSE_SPAN * len(seqs)


def tombstoned(ops: Iterable[st.Op]) -> int:
    """How many tombstones ``ops`` write (an upper bound: a repeated seq counts twice)."""
    return sum(len(op.seqs) for op in ops
               if type(op) is st.DeleteMessages and scattered(op.seqs))


class Tombstones:
    """The writer thread's tombstones: how many wait, and when to purge (module docstring)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.count = conn.execute("SELECT count(*) FROM tombstones").fetchone()[0]
        self._checked = 0  # the count at the last density check
        self._stalled = False  # a purge failed: wait for the next commit before retrying

    @property
    def idle_wait(self) -> float | None:
        """How long the writer may wait for a batch before purging (None: nothing waits)."""
        return PURGE_IDLE if self.count and not self._stalled else None

    def added(self, n: int) -> None:
        """``n`` tombstones were committed (an upper bound: a repeated seq counts twice)."""
        self.count += n
        self._stalled = False

    def after_commit(self) -> None:
        """Purge one chunk if it is cheap (dense) or the backlog is over the limit."""
        if self._stalled or self.count < PURGE_CHUNK:
            return
        if self.count < TOMBSTONE_LIMIT:
            if self.count - self._checked < RECHECK:
                return
            self._checked = self.count
            lo, hi, n = self._conn.execute(_BOTTOM_SPAN, (PURGE_CHUNK,)).fetchone()
            if n < PURGE_CHUNK or hi - lo >= DENSE_SPAN * PURGE_CHUNK:
                return
        self.purge_chunk()

    def purge_chunk(self) -> None:
        """Delete the rows of the lowest ``PURGE_CHUNK`` tombstones, and those tombstones.

        A failure is logged, not raised: nothing is lost (the rows stay tombstoned and reads
        skip them); purging resumes after the next commit.
        """
        try:
            last = self._conn.execute(_BOTTOM, (PURGE_CHUNK - 1,)).fetchone()
            if last is None:
                self.purge_all()
            else:
                self._purge(last[0])
        except sqlite3.Error:
            logger.exception("purging deleted messages failed; retrying after the next commit")
            self._stalled = True

    def purge_all(self) -> None:
        """Delete every tombstoned row and every tombstone (raises on failure)."""
        top = self._conn.execute("SELECT max(seq) FROM tombstones").fetchone()[0]
        if top is not None:
            self._purge(top)
        self.count = 0

    def _purge(self, up_to: int) -> None:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(_PURGE[0], (up_to,))
            purged = conn.execute(_PURGE[1], (up_to,)).rowcount
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self.count = max(0, self.count - purged)
        self._checked = min(self._checked, self.count)
