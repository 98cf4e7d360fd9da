'use strict';
// room.queues: send, receive, subscribe and manage the queues of one room. Every unary call
// carries the connection's token and a deadline (the connection's timeout; for a waiting
// receive, the wait plus the timeout).

const { Subscription } = require('./subscription');
const { ReceivedMessage, queueInfo, messageStatus, checkOutcome, encode } = require('./messages');
const { inject } = require('./tracing');

const SEND_BATCH = 500; // messages per Send call in sendMany (the server's default limit is 1000)

function outgoing(value, { headers, delaySeconds = 0, dedupId = '', dedupWindowSeconds = 0 } = {}) {
  return {
    json: encode(value), headers: inject({ ...(headers || {}) }), delay_seconds: delaySeconds,
    dedup_id: dedupId || '', dedup_window_seconds: dedupWindowSeconds,
  };
}

class QueuesClient {
  constructor(conn, room) {
    this._conn = conn;
    this.room = room;
  }

  _call(method, request, extraMs = 0) {
    return this._conn.unary('QueueService', method, { room: this.room, ...request }, this._conn.timeoutMs + extraMs);
  }

  /** Enqueues one JSON value; resolves with its id once it is on disk. */
  async send(queue, message, { create = true, headers, delaySeconds = 0, dedupId = '', dedupWindowSeconds = 0 } = {}) {
    const [id] = await this.sendBatch(queue, [{ json: encode(message), headers, delaySeconds, dedupId, dedupWindowSeconds }], { create });
    return id;
  }

  /** Enqueues many JSON values in order, batchSize per call; resolves with their ids. */
  async sendMany(queue, messages, { create = true, headers, delaySeconds = 0, batchSize = SEND_BATCH } = {}) {
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError('batchSize must be an integer of at least 1');
    const all = Array.from(messages, (m) => outgoing(m, { headers, delaySeconds }));
    const ids = [];
    for (let start = 0; start < all.length; start += batchSize) {
      const reply = await this._call('Send', { queue, create, messages: all.slice(start, start + batchSize) });
      ids.push(...reply.results.map((r) => r.message_id));
    }
    return ids;
  }

  /** Sends prepared messages ({ json: text, headers, delaySeconds, dedupId, dedupWindowSeconds })
   * in one call; the JSON text is sent as given, for the server to check. */
  async sendBatch(queue, messages, { create = true } = {}) {
    const wire = messages.map((m) => ({
      json: m.json, headers: inject({ ...(m.headers || {}) }), delay_seconds: m.delaySeconds || 0,
      dedup_id: m.dedupId || '', dedup_window_seconds: m.dedupWindowSeconds || 0,
    }));
    const reply = await this._call('Send', { queue, create, messages: wire });
    return reply.results.map((r) => r.message_id);
  }

  /** Pops one message (auto-acked): its body, or null when the wait ended with nothing. */
  async receive(queue, { create = true, wait = true, timeoutSeconds = 20 } = {}) {
    const [message] = await this.receiveMessages(queue, { create, wait, timeoutSeconds, autoAck: true });
    return message === undefined ? null : message.body;
  }

  /** Receives up to maxMessages: leased (settle each with ack / nack / extend), or removed at
   * once with autoAck. An empty array when the wait ended with nothing. */
  async receiveMessages(queue, {
    maxMessages = 1, wait = true, timeoutSeconds = 20, leaseSeconds = 30, autoAck = false, create = true,
  } = {}) {
    const request = {
      queue, create, wait, timeout_seconds: timeoutSeconds, max_messages: maxMessages,
      lease_seconds: leaseSeconds, auto_ack: autoAck,
    };
    const reply = await this._call('Receive', request, wait ? timeoutSeconds * 1000 : 0);
    const settler = new UnarySettler(this, queue);
    return reply.deliveries.map((d) => new ReceivedMessage(d, settler));
  }

  /** Opens a streaming consumer; resolves once the server confirmed the open. */
  async subscribe(queue, { maxInFlight = 1, leaseSeconds = 30, create = true } = {}) {
    return new Subscription(this._conn, this.room, queue, { maxInFlight, leaseSeconds, create }).open();
  }

  /** Acks leases by token; true for each applied, false for each stale. */
  async ack(queue, tokens) {
    const reply = await this._call('Ack', { queue, lease_tokens: tokens });
    return reply.results.map((r) => r.outcome === 'SETTLE_OUTCOME_OK');
  }

  /** Hands one lease back, ready again after delaySeconds; false when it was stale. */
  async nack(queue, token, { delaySeconds = 0, error = '' } = {}) {
    const reply = await this._call('Nack', { queue, nacks: [{ lease_token: token, delay_seconds: delaySeconds, error }] });
    return reply.results[0].outcome === 'SETTLE_OUTCOME_OK';
  }

  /** Extends one lease to `seconds` from now; false when it was stale. */
  async extend(queue, token, seconds) {
    const reply = await this._call('ExtendLease', { queue, extends: [{ lease_token: token, seconds }] });
    return reply.results[0].outcome === 'SETTLE_OUTCOME_OK';
  }

  /** Creates (the room too) or reopens a queue; given options are applied, others kept. */
  async open(queue, { maxDeliveries = 0, dedupWindowSeconds = 0 } = {}) {
    const reply = await this._call('OpenQueue', {
      queue, options: { max_deliveries: maxDeliveries, dedup_window_seconds: dedupWindowSeconds },
    });
    return queueInfo(reply.queue);
  }

  /** Makes the queue refuse send and receive until it is reopened. */
  async close(queue) {
    await this._call('CloseQueue', { queue });
  }

  /** Removes every message; resolves with how many went. */
  async drain(queue) {
    return (await this._call('DrainQueue', { queue })).removed;
  }

  /** Removes the queue and its messages. */
  async delete(queue) {
    await this._call('DeleteQueue', { queue });
  }

  /** The next ready messages, not leased (they cannot be settled). */
  async peek(queue, { maxMessages = 10 } = {}) {
    const reply = await this._call('PeekQueue', { queue, max_messages: maxMessages });
    return reply.messages.map((d) => new ReceivedMessage(d, null));
  }

  /** Moves up to maxMessages (0: all) from "<queue>.dlq" back; resolves with how many. */
  async redrive(queue, { maxMessages = 0 } = {}) {
    return (await this._call('RedriveQueue', { queue, max_messages: maxMessages })).moved;
  }

  /** Where a message is: { state: 'ready' | 'delayed' | 'in_flight' | 'gone', attempt }. */
  async messageState(queue, messageId) {
    return messageStatus(await this._call('GetMessage', { queue, message_id: messageId }));
  }

  /** The room's queues with their counts, by name. */
  async list() {
    return (await this._call('ListQueues', {})).queues.map(queueInfo);
  }
}

/** Settles leases from receiveMessages with the unary Ack / Nack / ExtendLease. */
class UnarySettler {
  constructor(client, queue) {
    this._client = client;
    this._queue = queue;
  }

  async settleAck(token) {
    checkOutcome(outcome((await this._client.ack(this._queue, [token]))[0], token), 'ack');
  }

  async settleNack(token, delaySeconds, error) {
    checkOutcome(outcome(await this._client.nack(this._queue, token, { delaySeconds, error }), token), 'nack');
  }

  async settleExtend(token, seconds) {
    checkOutcome(outcome(await this._client.extend(this._queue, token, seconds), token), 'extend');
  }
}

function outcome(applied, token) {
  return { lease_token: token, outcome: applied ? 'SETTLE_OUTCOME_OK' : 'SETTLE_OUTCOME_STALE' };
}

module.exports = { QueuesClient, SEND_BATCH };
