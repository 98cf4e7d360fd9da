'use strict';
// The streaming receive: acks, nacks, extensions and the credit window over one stream.

const test = require('node:test');
const assert = require('node:assert/strict');
const { NotFoundError, StaleLeaseError, SubscriptionClosedError, InvalidArgumentError } = require('../src');
const { useServer, unique } = require('./fixtures');

const ctx = useServer();

function queues() {
  return ctx.client.room(unique('room')).queues;
}

async function counts(q, name) {
  const info = (await q.list()).find((i) => i.name === name);
  return { depth: info.depth, inFlight: info.inFlight };
}

test('deliveries arrive in order and acks remove them', async () => {
  const q = queues();
  await q.sendMany('jobs', [1, 2, 3]);
  const sub = await q.subscribe('jobs', { maxInFlight: 10 });
  const seen = [];
  for await (const message of sub) {
    seen.push(message.body);
    await message.ack();
    if (seen.length === 3) break;
  }
  await sub.close();
  assert.deepEqual(seen, [1, 2, 3]);
  assert.deepEqual(await counts(q, 'jobs'), { depth: 0, inFlight: 0 });
  assert.deepEqual(await sub.next(), { value: undefined, done: true });
});

test('a nacked message comes back with attempt 2 and the error in its headers', async () => {
  const q = queues();
  const id = await q.send('jobs', { job: 'retry-me' });
  const sub = await q.subscribe('jobs');
  try {
    const first = (await sub.next()).value;
    assert.equal(first.messageId, id);
    assert.equal(first.attempt, 1);
    await first.nack({ error: 'try again' });
    const second = (await sub.next()).value;
    assert.equal(second.messageId, id);
    assert.equal(second.attempt, 2);
    assert.equal(second.headers['x-meshq-last-error'], 'try again');
    await second.extend(120);
    await second.ack();
    await assert.rejects(second.ack(), StaleLeaseError);
  } finally {
    await sub.close();
  }
  assert.equal((await q.messageState('jobs', id)).state, 'gone');
});

test('the credit window bounds deliveries; pause and resume stop and restart them', async () => {
  const q = queues();
  await q.sendMany('jobs', [1, 2, 3, 4, 5]);
  const sub = await q.subscribe('jobs', { maxInFlight: 2 });
  try {
    const a = (await sub.next()).value;
    const b = (await sub.next()).value;
    assert.deepEqual([a.body, b.body], [1, 2]);
    // Two unsettled: the server leases nothing more.
    assert.deepEqual(await counts(q, 'jobs'), { depth: 3, inFlight: 2 });
    await a.ack();
    const c = (await sub.next()).value;
    assert.equal(c.body, 3);
    // Window 0: settling frees room, yet nothing more comes.
    sub.pause();
    await Promise.all([b.ack(), c.ack()]);
    assert.deepEqual(await counts(q, 'jobs'), { depth: 2, inFlight: 0 });
    sub.resume();
    const d = (await sub.next()).value;
    const e = (await sub.next()).value;
    assert.deepEqual([d.body, e.body], [4, 5]);
    // A wider window takes effect on the same stream.
    sub.setMaxInFlight(5);
    assert.equal(sub.maxInFlight, 5);
    await q.sendMany('jobs', [6, 7, 8]);
    const more = [(await sub.next()).value, (await sub.next()).value, (await sub.next()).value];
    assert.deepEqual(more.map((m) => m.body), [6, 7, 8]);
    assert.deepEqual(await counts(q, 'jobs'), { depth: 0, inFlight: 5 });
    await Promise.all([d, e, ...more].map((m) => m.ack()));
    assert.throws(() => sub.setMaxInFlight(-1), RangeError);
  } finally {
    await sub.close();
  }
  await assert.rejects(q.subscribe('jobs', { maxInFlight: 0 }), RangeError);
});

test('closing hands unsettled deliveries back at once, and settling after close is refused', async () => {
  const q = queues();
  const id = await q.send('jobs', 'held');
  const sub = await q.subscribe('jobs', { leaseSeconds: 3600 });
  const held = (await sub.next()).value;
  assert.equal((await q.messageState('jobs', id)).state, 'in_flight');
  await sub[Symbol.asyncDispose](); // what `await using` calls: close()
  await assert.rejects(held.ack(), SubscriptionClosedError);
  assert.equal((await q.messageState('jobs', id)).state, 'ready');
  const [again] = await q.receiveMessages('jobs', { timeoutSeconds: 5 });
  assert.equal(again.messageId, id);
  await again.ack();
});

test('settles made before close are flushed and applied', async () => {
  const q = queues();
  await q.sendMany('jobs', ['x', 'y']);
  const sub = await q.subscribe('jobs', { maxInFlight: 2 });
  const x = (await sub.next()).value;
  const y = (await sub.next()).value;
  const acked = x.ack();
  const nacked = y.nack({ delaySeconds: 3600 });
  await sub.close();
  await Promise.all([acked, nacked]);
  assert.deepEqual(await counts(q, 'jobs'), { depth: 0, inFlight: 0 });
  assert.equal((await q.messageState('jobs', y.messageId)).state, 'delayed');
});

test('deliveries waiting in the buffer keep their leases while the reader is slow', async () => {
  const q = queues();
  const ids = await q.sendMany('jobs', ['a', 'b', 'c']);
  const sub = await q.subscribe('jobs', { maxInFlight: 3, leaseSeconds: 1 });
  try {
    const first = (await sub.next()).value;
    await first.ack();
    // The reader takes nothing for over two leases: unextended, b and c would expire and come
    // back as attempt 2 (or dead-letter with a low maxDeliveries).
    await new Promise((resolve) => { setTimeout(resolve, 2500); });
    for (const id of ids.slice(1)) assert.deepEqual(await q.messageState('jobs', id), { state: 'in_flight', attempt: 1 });
    const rest = [(await sub.next()).value, (await sub.next()).value];
    assert.deepEqual(rest.map((m) => [m.body, m.attempt]), [['b', 1], ['c', 1]]);
    for (const m of rest) assert.ok(m.leaseExpiresAt > new Date(), 'the lease the reader gets is current');
    await Promise.all(rest.map((m) => m.ack()));
  } finally {
    await sub.close();
  }
});

test('subscribing to a missing queue without create is NOT_FOUND; a bad name is INVALID_ARGUMENT', async () => {
  const q = queues();
  await assert.rejects(q.subscribe('nothing-here', { create: false }), NotFoundError);
  await assert.rejects(q.subscribe('bad/name'), InvalidArgumentError);
});
