"""Flow control: who gets delivered when. Rate limits, priorities, keys.

Three parts, each plain and synchronous, owned by the engine's event loop:

- ``TokenBucket``: a queue's rate limit (deliveries per second, a burst), over a time given as
  an argument, so tests pass instants and never sleep.
- ``FlowIndex``: a drop-in ``ReadyIndex`` for a queue whose messages carry priorities or keys,
  or that limits leases per key: strict priority (9 first), and within one priority the keys
  with ready messages take turns (round robin), FIFO within a key; a key at its
  ``key_concurrency`` is passed over until one of its leases ends.
- ``FlowGate``: what the ``Leaser`` asks before taking (how many the rate limit admits) and
  tells after a lease ends (a key may be free again); it wakes waiting consumers when a token
  is due or a key frees up.

A message's priority and key travel in its headers (``x-meshq-priority``, ``x-meshq-key``),
so they are stored, dead-lettered and redriven with it and consumers see them; a queue
switches to a ``FlowIndex`` the first time it needs one and remembers that in its stored row
(``flow_record``), so a restart rebuilds the index with every message's priority and key.
See docs/queues.md, "Flow control", for the exact semantics.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import math
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from meshq.core.errors import InvalidArgument
from meshq.core.validation import shown
from meshq.queue import store as st
from meshq.queue.model import QueueOptions
from meshq.queue.state import READY, ColdQueue, Entry, Msg, QueueState, ReadyIndex

PRIORITY_HEADER = "x-meshq-priority"
KEY_HEADER = "x-meshq-key"
MAX_PRIORITY = 9  # priorities are 0..9, higher first
MAX_KEY_BYTES = 256
MAX_RATE_LIMIT = 1_000_000.0  # deliveries per second
MAX_BURST = 1_000_000
MAX_KEY_CONCURRENCY = 100_000
_EPSILON = 1e-9  # a token summed from float steps (25 x 0.04) still counts as whole
INDEX_READ_CHUNK = 500  # messages read per store call when a queue is indexed


# -- options and message fields -------------------------------------------------------------


def check_flow_options(options: QueueOptions) -> None:
    """The flow fields of a queue's options (InvalidArgument saying what to fix)."""
    rate = options.rate_limit
    if (isinstance(rate, bool) or not isinstance(rate, (int, float)) or math.isnan(rate)
            or not 0 <= rate <= MAX_RATE_LIMIT):
        raise InvalidArgument(f"rate_limit must be between 0 (none) and {MAX_RATE_LIMIT:g} "
                              f"messages per second, got {shown(rate)}")
    for name, value, top in (("rate_burst", options.rate_burst, MAX_BURST),
                             ("key_concurrency", options.key_concurrency, MAX_KEY_CONCURRENCY)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
            raise InvalidArgument(f"{name} must be between 0 and {top}, got {shown(value)}")
    if options.rate_burst and not rate:
        raise InvalidArgument("rate_burst needs a rate_limit; set --rate-limit too")


def burst_of(options: QueueOptions) -> int:
    """The bucket size: the option, or one second's worth of the rate (at least 1)."""
    return options.rate_burst or max(1, math.ceil(options.rate_limit))


def flow_headers(headers: dict[str, str], priority: int, key: str, where: str
                 ) -> dict[str, str]:
    """``headers`` with a message's priority and key added (unchanged when both are unset)."""
    if isinstance(priority, bool) or not isinstance(priority, int) or not (
            0 <= priority <= MAX_PRIORITY):
        raise InvalidArgument(f"{where}.priority must be between 0 and {MAX_PRIORITY}, "
                              f"got {shown(priority)}")
    if not priority and not key:
        return headers
    out = dict(headers)
    if priority:
        out[PRIORITY_HEADER] = str(priority)
    if key:
        out[KEY_HEADER] = key
    return out


def check_message_flow(index: int, headers: Mapping[str, str]) -> bool:
    """Validate a message's flow headers; True when it has a priority or a key."""
    prio = headers.get(PRIORITY_HEADER)
    key = headers.get(KEY_HEADER)
    if prio is None and key is None:
        return False
    if prio is not None and not (len(prio) == 1 and "0" <= prio <= str(MAX_PRIORITY)):
        raise InvalidArgument(f"messages[{index}].priority must be between 0 and "
                              f"{MAX_PRIORITY}, got {shown(prio)}")
    if key is not None and len(key.encode("utf-8", "replace")) > MAX_KEY_BYTES:
        raise InvalidArgument(f"messages[{index}].key is longer than {MAX_KEY_BYTES} bytes")
    return True


def needs_index(headers_of: Iterable[Mapping[str, str]]) -> bool:
    """Whether any message of a send carries a priority or a key (validating them)."""
    found = False
    for i, headers in enumerate(headers_of):
        if headers and check_message_flow(i, headers):
            found = True
    return found


def message_flow(headers: Mapping[str, str]) -> tuple[int, str]:
    """(priority, key) of a message; (0, "") without flow headers."""
    if not headers:
        return 0, ""
    prio = headers.get(PRIORITY_HEADER)
    return (int(prio) if prio else 0), headers.get(KEY_HEADER, "")


def flow_record(options: QueueOptions, indexed: bool) -> str:
    """A queue's flow settings as stored in its row ("" when it has none)."""
    data: dict[str, Any] = {}
    if options.rate_limit:
        data["rate_limit"] = options.rate_limit
    if options.rate_burst:
        data["rate_burst"] = options.rate_burst
    if options.key_concurrency:
        data["key_concurrency"] = options.key_concurrency
    if indexed:
        data["indexed"] = True
    return json.dumps(data, separators=(",", ":"), sort_keys=True) if data else ""


def parse_flow_record(text: str) -> tuple[dict[str, Any], bool]:
    """(QueueOptions keyword arguments, indexed) from a stored flow record."""
    if not text:
        return {}, False
    data = json.loads(text)
    indexed = bool(data.pop("indexed", False))
    return {k: data[k] for k in ("rate_limit", "rate_burst", "key_concurrency") if k in data}, \
        indexed


def is_indexed(q: QueueState) -> bool:
    return isinstance(q.ready, FlowIndex)


def _by_seq(msg: Msg) -> int:
    return msg.seq


def _by_priority(msg: Msg) -> tuple[int, int]:
    return -message_flow(msg.headers)[0], msg.seq


def delivery_order(q: QueueState) -> Callable[[Msg], Any]:
    """The sort key of one batch of deliveries whose bodies were read: age, or on a queue
    with a flow index priority first (which messages are in the batch the index chose)."""
    return _by_priority if isinstance(q.ready, FlowIndex) else _by_seq


# -- the rate limit -------------------------------------------------------------------------


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; one token per delivery.

    ``throttled_since`` is the instant a take first found no token (None while tokens are
    granted): the time until the next grant is time spent waiting on the limit.
    """

    __slots__ = ("rate", "burst", "tokens", "last", "throttled_since")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.last = now
        self.throttled_since: float | None = None

    def _refill(self, now: float) -> None:
        if now > self.last:
            self.tokens = min(float(self.burst), self.tokens + (now - self.last) * self.rate)
        self.last = max(self.last, now)

    def take(self, n: int, now: float) -> int:
        """Take up to ``n`` whole tokens; how many."""
        self._refill(now)
        got = min(n, int(self.tokens + _EPSILON))
        self.tokens = max(0.0, self.tokens - got)
        return got

    def give_back(self, n: int) -> None:
        """Return tokens taken but not used (fewer messages were ready than admitted)."""
        self.tokens = min(float(self.burst), self.tokens + n)

    def wait(self, now: float) -> float:
        """Seconds until one whole token is there (0 when one is)."""
        self._refill(now)
        return 0.0 if self.tokens + _EPSILON >= 1 else (1 - self.tokens) / self.rate

    def reconfigure(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = min(self.tokens, float(burst))


# -- the priority / key-fair ready index ----------------------------------------------------


class _NoCold(ColdQueue):
    """A ``FlowIndex`` keeps no cold run: its ``last_seq`` is above every seq, so a send
    places every message as an object (without its body when over the budget)."""

    def last_seq(self) -> int:
        return 1 << 62


_Item = tuple[int, int, Msg | int]  # (seq, ver, message) or (seq, -1, seq) for a cold one


def _live(item: _Item) -> bool:
    m = item[2]
    return type(m) is int or (m.state == READY and m.ver == item[1])  # type: ignore[union-attr]


class _Lane:
    """The ready items of one (priority, key) by ``seq``: fresh sends arrive in ``seq`` order
    and queue up in a deque (a pop is O(1)); messages that come back (expiry, nack, a delay's
    end) go to a heap, as in ``ReadyIndex``."""

    __slots__ = ("key", "fresh", "back", "last_fresh")

    def __init__(self, key: str) -> None:
        self.key = key
        self.fresh: deque[_Item] = deque()
        self.back: list[_Item] = []
        self.last_fresh = -1

    def add(self, item: _Item) -> None:
        if item[0] > self.last_fresh:
            self.fresh.append(item)
            self.last_fresh = item[0]
        else:
            heapq.heappush(self.back, item)

    def head(self) -> _Item | None:
        """The live item with the lowest ``seq`` (stale ones are dropped on the way)."""
        fresh, back = self.fresh, self.back
        while fresh and not _live(fresh[0]):
            fresh.popleft()
        while back and not _live(back[0]):
            heapq.heappop(back)
        if back and (not fresh or back[0][0] < fresh[0][0]):
            return back[0]
        return fresh[0] if fresh else None

    def take(self) -> _Item:
        """Remove the item ``head`` returned."""
        fresh, back = self.fresh, self.back
        if back and (not fresh or back[0][0] < fresh[0][0]):
            return heapq.heappop(back)
        return fresh.popleft()

    def items(self) -> Iterator[_Item]:
        yield from self.fresh
        yield from self.back


class FlowIndex(ReadyIndex):
    """Ready messages by priority, then key in turn, then ``seq``; see the module docstring.

    One heap per (priority, key) lane; per priority a ring of its lanes. ``pop`` takes from
    the highest priority holding a lane whose key is not at ``key_limit`` leases, and moves
    that lane to the back of its ring. The key "" (no key) is one lane like any other, never
    limited. Stale items (a message that moved on) are skipped lazily, as in ``ReadyIndex``.
    Leases per key are counted while ``key_limit`` is set.
    """

    __slots__ = ("key_limit", "_lanes", "_rings", "_leased", "_cold_times", "_top")

    def __init__(self, key_limit: int = 0) -> None:
        super().__init__()
        self.cold = _NoCold()
        self.key_limit = key_limit
        self._lanes: dict[tuple[int, str], _Lane] = {}
        self._rings: list[deque[_Lane]] = [deque() for _ in range(MAX_PRIORITY + 1)]
        self._leased: dict[str, int] = {}  # key -> messages popped and not yet released
        self._cold_times: dict[int, float] = {}  # cold seq -> enqueued_at
        self._top = -1  # no ring above this priority holds a lane

    def _add(self, prio: int, key: str, item: _Item) -> None:
        lane = self._lanes.get((prio, key))
        if lane is None:
            lane = self._lanes[(prio, key)] = _Lane(key)
            self._rings[prio].append(lane)
            if prio > self._top:
                self._top = prio
        lane.add(item)

    def push(self, msg: Msg) -> None:
        h = msg.headers
        if h:
            prio = h.get(PRIORITY_HEADER)
            self._add(int(prio) if prio else 0, h.get(KEY_HEADER, ""), (msg.seq, msg.ver, msg))
        else:
            self._add(0, "", (msg.seq, msg.ver, msg))

    def push_cold(self, seq: int, enqueued_at: float) -> None:
        """A message without an object (redriven from a dead-letter queue loaded cold):
        priority 0, no key (its headers are not in memory)."""
        self._cold_times[seq] = enqueued_at
        self._add(0, "", (seq, -1, seq))

    def cold_count(self) -> int:
        return len(self._cold_times)

    def leased(self, key: str) -> int:
        """Messages of ``key`` popped and not yet released (counted while limited)."""
        return self._leased.get(key, 0)

    def recount(self, key_limit: int, leased: Iterable[Msg]) -> None:
        """Apply a new ``key_limit``, counting the leases held now (``leased``) per key."""
        self.key_limit = key_limit
        self._leased.clear()
        if key_limit:
            for msg in leased:
                key = msg.headers.get(KEY_HEADER) if msg.headers else None
                if key:
                    self._leased[key] = self._leased.get(key, 0) + 1

    def release(self, msg: Msg) -> bool:
        """A popped message's lease ended; True when its key was at the limit (a consumer
        waiting for it may go on)."""
        if not self.key_limit or not msg.headers:
            return False
        key = msg.headers.get(KEY_HEADER)
        if not key:
            return False
        n = self._leased.get(key, 0)
        if n <= 1:
            self._leased.pop(key, None)
        else:
            self._leased[key] = n - 1
        return n >= self.key_limit

    def pop(self) -> Entry | None:
        got = self.pop_many(1)
        return got[0] if got else None

    def pop_many(self, n: int) -> list[Entry]:
        """Up to ``n`` entries, as ``n`` calls of ``pop`` would give them. Each take starts
        again at the priority of the last one: no higher one can have become takeable (a
        lane only leaves a key's limit when a lease ends, which a pop does not do)."""
        out: list[Entry] = []
        append = out.append
        limit, leased, rings, lanes = self.key_limit, self._leased, self._rings, self._lanes
        prio = self._top
        while prio >= 0 and len(out) < n:
            ring = rings[prio]
            for _ in range(len(ring)):
                lane = ring[0]
                fresh = lane.fresh
                if lane.back:
                    head = lane.head()
                else:  # the common case, inlined: the deque's first live item
                    head = None
                    while fresh:
                        head = fresh[0]
                        m = head[2]
                        if type(m) is int or (m.state == READY  # type: ignore[union-attr]
                                              and m.ver == head[1]):  # type: ignore[union-attr]
                            break
                        fresh.popleft()
                        head = None
                if head is None:
                    ring.popleft()
                    del lanes[(prio, lane.key)]
                    continue
                ring.rotate(-1)
                key = lane.key
                if limit and key:
                    k = leased.get(key, 0)
                    if k >= limit:
                        continue
                    leased[key] = k + 1
                entry = (lane.take() if lane.back else fresh.popleft())[2]
                if type(entry) is int:
                    del self._cold_times[entry]
                append(entry)
                break
            else:  # nothing takeable at this priority
                if not ring and prio == self._top:
                    self._top -= 1
                prio -= 1
        return out

    def _live_items(self) -> list[tuple[int, _Item]]:
        return [(prio, item) for (prio, _), lane in self._lanes.items()
                for item in lane.items() if _live(item)]

    def _when(self, item: _Item) -> float:
        m = item[2]
        return self._cold_times[m] if type(m) is int else m.enqueued_at  # type: ignore[union-attr]

    def oldest_enqueued_at(self) -> float | None:
        """The oldest lane head's enqueue time (within a lane, ``seq`` order is enqueue
        order)."""
        heads: list[float] = []
        for lane in self._lanes.values():
            head = lane.head()
            if head is not None:
                heads.append(self._when(head))
        return min(heads) if heads else None

    def first(self, n: int) -> list[Entry]:
        """The next ``n`` by priority, then age (the key rotation is not simulated)."""
        items = sorted(self._live_items(), key=lambda p: (-p[0], p[1][0]))
        return [item[2] for _, item in items[:n]]

    def drain(self) -> list[tuple[int, Entry, float]]:
        out = sorted(((item[0], item[2], self._when(item)) for _, item in self._live_items()),
                     key=lambda x: x[0])
        self.clear()
        return out

    def clear(self) -> None:
        """Forget every ready message; lease counts stay (their leases end one by one)."""
        self._lanes.clear()
        for ring in self._rings:
            ring.clear()
        self._cold_times.clear()
        self._top = -1


async def index_queue(q: QueueState, read: Callable[[Sequence[int]], Awaitable[
        list[st.StoredBody]]]) -> None:
    """Move ``q``'s ready messages into a ``FlowIndex``, reading the cold ones' headers from
    the store (their bodies are dropped again: read at delivery)."""
    if isinstance(q.ready, FlowIndex):
        q.ready.recount(q.options.key_concurrency, q.leases.values())
        return
    old, new = q.ready, FlowIndex()
    new.recount(q.options.key_concurrency, q.leases.values())
    q.ready = new
    cold: list[int] = []
    for seq, entry, _ in old.drain():
        if isinstance(entry, int):
            cold.append(seq)
        else:
            new.push(entry)
    epoch = q.epoch
    for i in range(0, len(cold), INDEX_READ_CHUNK):
        chunk = cold[i:i + INDEX_READ_CHUNK]
        q.fetching += len(chunk)
        q.n_ready -= len(chunk)
        try:
            rows = await read(chunk)
        finally:
            q.fetching -= len(chunk)
        if q.epoch != epoch or q.deleted:
            return
        for row in rows:
            headers = json.loads(row.headers_json) if row.headers_json != "{}" else {}
            msg = Msg(row.id, None, headers, row.headers_json, row.enqueued_at, row.attempts,
                      row.seq, 0.0, q)
            q.msgs[msg.id] = msg
            q.make_ready(msg)


# -- the gate the leaser asks ---------------------------------------------------------------


class FlowGate:
    """Rate limits per queue and the wake-ups flow control owes waiting consumers."""

    def __init__(self, *, monotonic: Callable[[], float],
                 on_wait: Callable[[QueueState, float], None]) -> None:
        """``on_wait(q, seconds)`` reports time deliveries of ``q`` waited on its limit."""
        self._mono = monotonic
        self._on_wait = on_wait
        self._buckets: dict[QueueState, TokenBucket] = {}
        self._wakes: dict[QueueState, asyncio.TimerHandle] = {}

    def configure(self, q: QueueState) -> None:
        """Apply ``q.options``' rate limit (after open, restore)."""
        opts = q.options
        bucket = self._buckets.get(q)
        if not opts.rate_limit:
            self.forget(q)
        elif bucket is None:
            self._buckets[q] = TokenBucket(opts.rate_limit, burst_of(opts), self._mono())
        else:
            bucket.reconfigure(opts.rate_limit, burst_of(opts))
        if isinstance(q.ready, FlowIndex):
            q.ready.recount(opts.key_concurrency, q.leases.values())

    def close(self) -> None:
        """Cancel every pending wake-up (the engine is stopping)."""
        for handle in self._wakes.values():
            handle.cancel()
        self._wakes.clear()

    def forget(self, q: QueueState) -> None:
        self._buckets.pop(q, None)
        handle = self._wakes.pop(q, None)
        if handle is not None:
            handle.cancel()

    def admit(self, q: QueueState, n: int) -> int:
        """How many of ``n`` deliveries the rate limit allows now (taken from the bucket)."""
        bucket = self._buckets.get(q)
        if bucket is None:
            return n
        now = self._mono()
        got = bucket.take(n, now)
        if got:
            if bucket.throttled_since is not None:
                self._on_wait(q, now - bucket.throttled_since)
                bucket.throttled_since = None
            return got
        if bucket.throttled_since is None:
            bucket.throttled_since = now
        self._wake_later(q, bucket.wait(now))
        return 0

    def unused(self, q: QueueState, n: int) -> None:
        """Admitted deliveries that found no ready message: their tokens go back."""
        bucket = self._buckets.get(q)
        if bucket is not None and n > 0:
            bucket.give_back(n)

    def released(self, msg: Msg) -> None:
        """A lease ended (or an auto-acked message left): its key may take another."""
        ready = msg.q.ready
        if isinstance(ready, FlowIndex) and ready.release(msg):
            self._wake_later(msg.q, 0.0)

    def _wake_later(self, q: QueueState, delay: float) -> None:
        if q in self._wakes:
            return
        loop = asyncio.get_running_loop()
        self._wakes[q] = loop.call_later(delay, self._wake, q)

    def _wake(self, q: QueueState) -> None:
        self._wakes.pop(q, None)
        if not q.deleted:
            q.wake()
            for sub in q.subs:
                sub.wake()
