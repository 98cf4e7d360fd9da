'use strict';
// What the queue calls hand back: received messages, queue and message status, as plain
// camelCase objects (times as Date, null when unset).

const { NoLeaseError, StaleLeaseError } = require('./errors');

const STATES = {
  MESSAGE_STATE_READY: 'ready',
  MESSAGE_STATE_DELAYED: 'delayed',
  MESSAGE_STATE_IN_FLIGHT: 'in_flight',
  MESSAGE_STATE_GONE: 'gone',
};

function toDate(ms) {
  return ms ? new Date(Number(ms)) : null;
}

/** A JSON value as compact UTF-8 text; TypeError for what JSON cannot hold. */
function encode(value) {
  const text = JSON.stringify(value);
  if (text === undefined) throw new TypeError(`${typeof value} is not a JSON value`);
  return text;
}

/** One delivered message; ack(), nack() and extend() settle its lease. */
class ReceivedMessage {
  #settler;
  #body;
  #decoded = false;

  constructor(proto, settler) {
    this.messageId = proto.message_id;
    /** The body as JSON text. */
    this.json = proto.json;
    this.headers = { ...(proto.headers || {}) };
    /** 1 for the first delivery, more for redeliveries. */
    this.attempt = proto.attempt;
    this.enqueuedAt = toDate(proto.enqueued_at_unix_ms);
    this.leaseToken = proto.lease_token;
    this.leaseExpiresAt = toDate(proto.lease_expires_at_unix_ms);
    this.queue = proto.queue;
    this.#settler = proto.lease_token ? settler : null;
  }

  /** The body as a JavaScript value (parsed once). */
  get body() {
    if (!this.#decoded) {
      this.#body = JSON.parse(this.json);
      this.#decoded = true;
    }
    return this.#body;
  }

  #lease() {
    if (!this.#settler) throw new NoLeaseError(`message ${this.messageId} has no lease to settle`);
    return this.#settler;
  }

  /** Done: remove the message. Rejects with StaleLeaseError when the lease is gone. */
  async ack() {
    await this.#lease().settleAck(this.leaseToken);
  }

  /** Failed: hand the message back, ready again after delaySeconds. */
  async nack({ delaySeconds = 0, error = '' } = {}) {
    await this.#lease().settleNack(this.leaseToken, delaySeconds, error);
  }

  /** Keep the lease for `seconds` more, counted from now. */
  async extend(seconds) {
    await this.#lease().settleExtend(this.leaseToken, seconds);
  }
}

function queueInfo(q) {
  const options = q.options || {};
  return {
    name: q.name,
    depth: q.depth,
    inFlight: q.in_flight,
    delayed: q.delayed,
    deadLettered: q.dead_lettered,
    oldestAgeSeconds: q.oldest_age_seconds,
    closed: q.closed,
    maxDeliveries: options.max_deliveries || 0,
    dedupWindowSeconds: options.dedup_window_seconds || 0,
  };
}

function messageStatus(reply) {
  return { state: STATES[reply.state] || 'unknown', attempt: reply.attempt };
}

/** Throws StaleLeaseError unless the SettleResult says OK. */
function checkOutcome(result, action) {
  if (result.outcome !== 'SETTLE_OUTCOME_OK') throw new StaleLeaseError(result.lease_token, action);
}

module.exports = { ReceivedMessage, queueInfo, messageStatus, checkOutcome, encode, toDate };
