'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { NoLeaseError, NotFoundError, FailedPreconditionError, StaleLeaseError } = require('../src');
const { useServer, unique } = require('./fixtures');

const ctx = useServer();

function queues() {
  return ctx.client.room(unique('room')).queues;
}

test('send and sendMany enqueue in order; receive pops each body once', async () => {
  const q = queues();
  const first = await q.send('jobs', { n: 0, text: 'grüß' }, { headers: { 'x-kind': 'first' } });
  assert.match(first, /\S/);
  const ids = await q.sendMany('jobs', [{ n: 1 }, { n: 2 }, { n: 3 }], { batchSize: 2 });
  assert.equal(ids.length, 3);
  assert.equal(new Set([first, ...ids]).size, 4);
  const peeked = await q.peek('jobs', { maxMessages: 10 });
  assert.deepEqual(peeked.map((m) => m.messageId), [first, ...ids]);
  assert.equal(peeked[0].headers['x-kind'], 'first');
  const bodies = [];
  for (let i = 0; i < 4; i += 1) bodies.push(await q.receive('jobs', { timeoutSeconds: 5 }));
  assert.deepEqual(bodies, [{ n: 0, text: 'grüß' }, { n: 1 }, { n: 2 }, { n: 3 }]);
  assert.equal(await q.receive('jobs', { wait: false }), null);
  await assert.rejects(q.sendMany('jobs', [1], { batchSize: 0 }), RangeError);
});

test('a dedup id enqueues once; a delayed message waits', async () => {
  const q = queues();
  const a = await q.send('jobs', { n: 1 }, { dedupId: 'same' });
  const b = await q.send('jobs', { n: 2 }, { dedupId: 'same' });
  assert.equal(a, b);
  const later = await q.send('jobs', { n: 3 }, { delaySeconds: 3600 });
  assert.deepEqual(await q.messageState('jobs', later), { state: 'delayed', attempt: 0 });
  const [info] = await q.list();
  assert.equal(info.name, 'jobs');
  assert.equal(info.depth, 1);
  assert.equal(info.delayed, 1);
});

test('leased messages are settled with unary ack, nack and extend', async () => {
  const q = queues();
  const ids = await q.sendMany('jobs', ['a', 'b']);
  const leased = await q.receiveMessages('jobs', { maxMessages: 2, leaseSeconds: 30, timeoutSeconds: 5 });
  assert.deepEqual(leased.map((m) => m.body), ['a', 'b']);
  assert.ok(leased[0].leaseToken && leased[0].leaseExpiresAt instanceof Date && leased[0].enqueuedAt instanceof Date);
  assert.equal((await q.messageState('jobs', ids[0])).state, 'in_flight');
  await leased[0].extend(60);
  await leased[0].ack();
  await assert.rejects(leased[0].ack(), (err) => err instanceof StaleLeaseError && err.action === 'ack');
  assert.equal((await q.messageState('jobs', ids[0])).state, 'gone');
  await leased[1].nack({ error: 'try again' });
  const [again] = await q.receiveMessages('jobs', { timeoutSeconds: 5 });
  assert.equal(again.messageId, ids[1]);
  assert.equal(again.attempt, 2);
  assert.equal(again.headers['x-meshq-last-error'], 'try again');
  assert.deepEqual(await q.ack('jobs', [again.leaseToken, 'no-such-token']), [true, false]);
  assert.equal(await q.nack('jobs', again.leaseToken), false);
  assert.equal(await q.extend('jobs', again.leaseToken, 10), false);
});

test('auto-acked and peeked messages have no lease to settle', async () => {
  const q = queues();
  await q.sendMany('jobs', [1, 2]);
  const [peeked] = await q.peek('jobs', { maxMessages: 1 });
  await assert.rejects(peeked.ack(), NoLeaseError);
  const [popped] = await q.receiveMessages('jobs', { autoAck: true, timeoutSeconds: 5 });
  assert.equal(popped.body, 1);
  assert.equal(popped.leaseToken, '');
  await assert.rejects(popped.nack(), NoLeaseError);
});

test('open, close, drain, redrive and delete manage a queue', async () => {
  const q = queues();
  const opened = await q.open('jobs', { maxDeliveries: 1, dedupWindowSeconds: 60 });
  assert.equal(opened.maxDeliveries, 1);
  assert.equal(opened.dedupWindowSeconds, 60);
  assert.equal(opened.closed, false);
  await q.send('jobs', 'poison');
  const [m] = await q.receiveMessages('jobs', { timeoutSeconds: 5 });
  await m.nack({ error: 'always fails' }); // its only delivery: to jobs.dlq
  assert.equal((await q.list()).find((i) => i.name === 'jobs').deadLettered, 1);
  assert.equal(await q.redrive('jobs'), 1);
  assert.deepEqual((await q.peek('jobs')).map((x) => x.body), ['poison']);
  await q.close('jobs');
  assert.equal((await q.list()).find((i) => i.name === 'jobs').closed, true);
  await assert.rejects(q.send('jobs', 'refused'), FailedPreconditionError);
  await q.open('jobs');
  await q.send('jobs', 'more');
  assert.equal(await q.drain('jobs'), 2);
  await q.delete('jobs');
  assert.ok(!(await q.list()).some((i) => i.name === 'jobs'));
  await assert.rejects(q.send('jobs', 'x', { create: false }), NotFoundError);
});
