'use strict';
// The client side of one Subscribe stream: the streaming receive with a credit window.
//
// Acks, nacks, extensions and window changes made in the same tick are merged into one frame
// (at most MAX_FRAME_ITEMS of each kind, the server's default per-frame limit). Each settle
// resolves when the server's SettleResult for its token comes back, or rejects after the
// connection's timeout. No reconnection here: a broken stream rejects the iterator's next()
// with its typed error. The server's first frame is empty and confirms the open, so a bad
// queue name or a missing queue rejects subscribe() itself.
//
// Deliveries wait in a buffer until the application takes them; the server grants up to
// maxInFlight at once and each lease runs from the moment it was sent. So that a slow reader
// does not let buffered deliveries expire (and burn attempts towards the dead-letter queue),
// a BufferLeaser extends the lease of every delivery still in the buffer, as the Python SDK
// (and Pub/Sub's client leaser) does: a third of the way through the lease, to a full lease
// from then. Once taken, a message's lease is the application's to keep; its leaseExpiresAt
// says when it ends.

const { SubscriptionClosedError, fromGrpc, makeError } = require('./errors');
const { ReceivedMessage, checkOutcome } = require('./messages');
const grpc = require('@grpc/grpc-js');

const MAX_FRAME_ITEMS = 1000;
const EXTEND_FRACTION = 1 / 3; // extend a buffered lease when a third of it passed: two chances
const MIN_LEASE_MS = 100; // a lease shorter than this (clock skew) is treated as this long
const IGNORED = { resolve() {}, reject() {}, timer: null }; // a buffered extension's result

/** Extends the leases of buffered deliveries: add() when one enters the buffer, take() when
 * the application takes it (its lease's expiry as a Date), clear() when the buffer is dropped. */
class BufferLeaser {
  constructor(extend) {
    this._extend = extend;
    this._leases = new Map(); // token -> { at, expires, lease }, ms on the monotonic clock
    this._timer = null;
  }

  get size() {
    return this._leases.size;
  }

  add(token, leaseSeconds) {
    const now = performance.now();
    const lease = Math.max(leaseSeconds * 1000, MIN_LEASE_MS);
    this._leases.set(token, { at: now + lease * EXTEND_FRACTION, expires: now + lease, lease });
    if (!this._timer) this._schedule();
  }

  take(token) {
    const entry = this._leases.get(token);
    this._leases.delete(token);
    if (!this._leases.size) this.clear();
    return entry ? new Date(Date.now() + entry.expires - performance.now()) : null;
  }

  clear() {
    this._leases.clear();
    clearTimeout(this._timer);
    this._timer = null;
  }

  _schedule() {
    let due = Infinity;
    for (const { at } of this._leases.values()) due = Math.min(due, at);
    this._timer = due === Infinity ? null : setTimeout(() => this._run(), Math.max(0, due - performance.now()));
  }

  _run() {
    const now = performance.now();
    for (const [token, entry] of this._leases) {
      if (entry.at > now) continue;
      this._extend(token, entry.lease / 1000);
      this._leases.set(token, { at: now + entry.lease * EXTEND_FRACTION, expires: now + entry.lease, lease: entry.lease });
    }
    this._schedule();
  }
}

function deadlineError(what, ms) {
  return makeError(grpc.status.DEADLINE_EXCEEDED, `${what} took over ${ms / 1000}s`);
}

/** `const sub = await queues.subscribe('jobs'); for await (const msg of sub) { ...; await msg.ack(); }` */
class Subscription {
  constructor(conn, room, queue, { maxInFlight = 1, leaseSeconds = 30, create = true } = {}) {
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1) {
      throw new RangeError('maxInFlight must be an integer of at least 1 (pause() stops deliveries)');
    }
    this.room = room;
    this.queue = queue;
    /** The credit window: how many deliveries may be unsettled at once. */
    this.maxInFlight = maxInFlight;
    this._conn = conn;
    this._openFrame = { room, queue, create, max_in_flight: maxInFlight, lease_seconds: leaseSeconds };
    this._call = null;
    this._buffer = [];
    this._readers = [];
    this._waiters = new Map(); // lease token -> [{ resolve, reject, timer }]
    this._pending = { acks: [], nacks: [], extends: [], window: undefined };
    this._flushScheduled = false;
    this._ended = false;
    this._failure = null;
    this._closing = null;
    this._halfClosed = false;
    this._finished = null;
    this._buffered = new BufferLeaser((token, seconds) => this._extendBuffered(token, seconds));
  }

  /** Opens the stream and waits for the server's confirmation (done by queues.subscribe). */
  open() {
    const call = this._conn.stub('QueueService').Subscribe(this._conn.metadata());
    this._call = call;
    this._finished = new Promise((resolve) => {
      call.on('status', resolve);
      call.on('error', resolve);
    });
    return new Promise((resolve, reject) => {
      let confirmed = false;
      const timer = setTimeout(() => {
        call.cancel();
        reject(deadlineError('opening the subscription', this._conn.timeoutMs));
      }, this._conn.timeoutMs);
      call.on('data', (frame) => {
        if (!confirmed) {
          confirmed = true;
          clearTimeout(timer);
          resolve(this);
        }
        this._onFrame(frame);
      });
      call.on('error', (err) => {
        clearTimeout(timer);
        const typed = fromGrpc(err);
        if (!confirmed) reject(typed);
        this._end(this._closing && err.code === grpc.status.CANCELLED ? null : typed);
      });
      call.on('end', () => {
        clearTimeout(timer);
        if (!confirmed) reject(new SubscriptionClosedError('the server ended the stream before confirming the open'));
        this._end(null);
      });
      call.write({ open: this._openFrame });
    });
  }

  _onFrame(frame) {
    for (const result of frame.results || []) {
      const waiters = this._waiters.get(result.lease_token);
      if (!waiters) continue;
      const waiter = waiters.shift();
      if (!waiters.length) this._waiters.delete(result.lease_token);
      clearTimeout(waiter.timer);
      waiter.resolve(result);
    }
    if (this._closing) return; // the server hands these back when the stream ends
    for (const proto of frame.deliveries || []) {
      const message = new ReceivedMessage(proto, this);
      const reader = this._readers.shift();
      if (reader) {
        reader.resolve({ value: message, done: false });
        continue;
      }
      if (proto.lease_token) {
        const lease = this._openFrame.lease_seconds || (Number(proto.lease_expires_at_unix_ms) - Date.now()) / 1000;
        this._buffered.add(proto.lease_token, lease);
      }
      this._buffer.push(message);
    }
  }

  /** Queues an extension of a buffered delivery's lease; nobody waits for its result, but a
   * placeholder keeps this token's results matched to their settles in order. */
  _extendBuffered(token, seconds) {
    if (this._closing || this._ended) return;
    if (!this._waiters.has(token)) this._waiters.set(token, []);
    this._waiters.get(token).push(IGNORED);
    this._pending.extends.push({ lease_token: token, seconds });
    this._scheduleFlush();
  }

  _end(failure) {
    if (this._ended) return;
    this._ended = true;
    this._failure = failure;
    this._buffered.clear();
    for (const reader of this._readers.splice(0)) {
      if (failure) reader.reject(failure);
      else reader.resolve({ value: undefined, done: true });
    }
    this._failWaiters(failure || new SubscriptionClosedError('the stream ended'));
  }

  _failWaiters(err) {
    for (const waiters of this._waiters.values()) {
      for (const waiter of waiters) {
        clearTimeout(waiter.timer);
        waiter.reject(err);
      }
    }
    this._waiters.clear();
  }

  /** The next delivery: `{ value, done }`; rejects with the stream's error if it broke. */
  next() {
    if (this._buffer.length) {
      const message = this._buffer.shift();
      const expires = this._buffered.take(message.leaseToken);
      if (expires) message.leaseExpiresAt = expires; // the buffer may have extended it
      return Promise.resolve({ value: message, done: false });
    }
    if (this._ended || this._closing) {
      return this._failure ? Promise.reject(this._failure) : Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => this._readers.push({ resolve, reject }));
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  /** Changes the credit window; 0 pauses deliveries (in-flight ones stay leased). */
  setMaxInFlight(n) {
    if (!Number.isInteger(n) || n < 0) throw new RangeError('maxInFlight must be an integer >= 0');
    if (n) this.maxInFlight = n;
    this._pending.window = n;
    this._scheduleFlush();
  }

  /** Stops new deliveries (window 0); resume() restores the last window. */
  pause() {
    this.setMaxInFlight(0);
  }

  resume() {
    this.setMaxInFlight(this.maxInFlight);
  }

  /** Flushes pending settles and ends the stream; the server hands unsettled deliveries back. */
  close() {
    if (!this._closing) this._closing = this._close();
    return this._closing;
  }

  async _close() {
    this._buffer.length = 0;
    this._buffered.clear();
    for (const reader of this._readers.splice(0)) reader.resolve({ value: undefined, done: true });
    if (!this._call || this._ended) return;
    this._flush();
    this._call.end();
    this._halfClosed = true; // nothing more may be written
    let timer;
    const timedOut = new Promise((resolve) => { timer = setTimeout(resolve, this._conn.timeoutMs, 'timeout'); });
    const outcome = await Promise.race([this._finished, timedOut]);
    clearTimeout(timer);
    if (outcome === 'timeout') this._call.cancel();
    this._failWaiters(new SubscriptionClosedError('the subscription closed'));
  }

  // Settler: called by ReceivedMessage.ack / nack / extend.

  async settleAck(token) {
    checkOutcome(await this._settle(token, 'ack', token), 'ack');
  }

  async settleNack(token, delaySeconds, error) {
    checkOutcome(await this._settle(token, 'nack', { lease_token: token, delay_seconds: delaySeconds, error }), 'nack');
  }

  async settleExtend(token, seconds) {
    checkOutcome(await this._settle(token, 'extend', { lease_token: token, seconds }), 'extend');
  }

  _settle(token, action, item) {
    if (this._failure) return Promise.reject(this._failure);
    if (this._closing || this._ended) {
      return Promise.reject(new SubscriptionClosedError('the subscription is closed; the message went back'));
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const waiters = this._waiters.get(token) || [];
        const i = waiters.indexOf(waiter);
        if (i >= 0) waiters.splice(i, 1);
        if (!waiters.length) this._waiters.delete(token);
        reject(deadlineError(`${action} on the stream`, this._conn.timeoutMs));
      }, this._conn.timeoutMs);
      const waiter = { resolve, reject, timer };
      if (!this._waiters.has(token)) this._waiters.set(token, []);
      this._waiters.get(token).push(waiter);
      this._pending[`${action}s`].push(item);
      this._scheduleFlush();
    });
  }

  _scheduleFlush() {
    if (this._flushScheduled) return;
    this._flushScheduled = true;
    setImmediate(() => this._flush());
  }

  _flush() {
    this._flushScheduled = false;
    if (!this._call || this._ended || this._halfClosed) return;
    const p = this._pending;
    while (p.acks.length || p.nacks.length || p.extends.length || p.window !== undefined) {
      const frame = {
        ack_tokens: p.acks.splice(0, MAX_FRAME_ITEMS),
        nacks: p.nacks.splice(0, MAX_FRAME_ITEMS),
        extends: p.extends.splice(0, MAX_FRAME_ITEMS),
      };
      if (p.window !== undefined) {
        frame.max_in_flight = p.window;
        p.window = undefined;
      }
      this._call.write(frame);
    }
  }
}

if (Symbol.asyncDispose) {
  // `await using sub = await queues.subscribe(...)` closes it at the end of the block.
  Subscription.prototype[Symbol.asyncDispose] = function dispose() { return this.close(); };
}

module.exports = { Subscription, BufferLeaser, MAX_FRAME_ITEMS };
