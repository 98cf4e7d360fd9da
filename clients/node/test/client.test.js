'use strict';
// Runs against a live meshq server: MESHQ_SERVER and MESHQ_TOKEN name it. The Python suite
// (tests/contract/test_node_client.py) starts the server, sends the message this test expects
// in MESHQ_TEST_FROM_PY_QUEUE, and afterwards receives what this test sends to
// MESHQ_TEST_TO_PY_QUEUE.

const test = require('node:test');
const assert = require('node:assert/strict');
const { randomUUID } = require('node:crypto');
const { MeshqClient } = require('../src/index.js');

const live = Boolean(process.env.MESHQ_SERVER);
const skip = live ? false : 'MESHQ_SERVER is not set: these tests need a live meshq server';
const room = process.env.MESHQ_TEST_ROOM || `node-${randomUUID().slice(0, 8)}`;

function client() {
  return new MeshqClient({ timeoutMs: 10000 });
}

test('send from Node, subscribe and ack from Node', { skip }, async () => {
  const meshq = client();
  const queue = `q-${randomUUID().slice(0, 8)}`;
  try {
    await meshq.createRoom(room);
    const ids = await meshq.sendMany(room, queue, [{ n: 1 }, { n: 2 }, { n: 3 }]);
    assert.equal(ids.length, 3);
    const sub = meshq.subscribe(room, queue, { maxInFlight: 10 });
    const seen = [];
    for await (const delivery of sub) {
      seen.push(delivery.body.n);
      await delivery.ack();
      if (seen.length === 3) break;
    }
    sub.close();
    assert.deepEqual(seen, [1, 2, 3]);
  } finally {
    meshq.close();
  }
});

test('a nacked message comes back with attempt 2', { skip }, async () => {
  const meshq = client();
  const queue = `q-${randomUUID().slice(0, 8)}`;
  try {
    await meshq.send(room, queue, { job: 'retry-me' });
    const sub = meshq.subscribe(room, queue, { maxInFlight: 1 });
    const first = (await sub.next()).value;
    assert.equal(first.attempt, 1);
    await first.nack({ error: 'try again' });
    const second = (await sub.next()).value;
    assert.equal(second.messageId, first.messageId);
    assert.equal(second.attempt, 2);
    await second.ack();
    sub.close();
  } finally {
    meshq.close();
  }
});

test('a message sent from Python is received in Node', { skip: skip || !process.env.MESHQ_TEST_FROM_PY_QUEUE }, async () => {
  const meshq = client();
  try {
    const sub = meshq.subscribe(room, process.env.MESHQ_TEST_FROM_PY_QUEUE, { maxInFlight: 1 });
    const delivery = (await sub.next()).value;
    assert.deepEqual(delivery.body, { from: 'python', text: 'héllo' });
    await delivery.ack();
    sub.close();
  } finally {
    meshq.close();
  }
});

test('a message sent from Node is left for Python', { skip: skip || !process.env.MESHQ_TEST_TO_PY_QUEUE }, async () => {
  const meshq = client();
  try {
    const id = await meshq.send(room, process.env.MESHQ_TEST_TO_PY_QUEUE, { from: 'node', text: 'grüß' });
    assert.ok(id);
  } finally {
    meshq.close();
  }
});

test('a scheduled task added from Node fires into its queue', { skip }, async () => {
  const meshq = client();
  const queue = `tick-${randomUUID().slice(0, 8)}`;
  try {
    await meshq.createRoom(room);
    const task = await meshq.addScheduledTask({
      room, queue, schedule: '* * * * * *', payload: { digest: 'node' }, name: 'node-every-second',
    });
    assert.ok(task.id);
    const listed = await meshq.listScheduledTasks({ room });
    assert.ok(listed.some((t) => t.id === task.id));
    const sub = meshq.subscribe(room, queue, { maxInFlight: 1 });
    const delivery = (await sub.next()).value;
    assert.deepEqual(delivery.body, { digest: 'node' });
    assert.equal(delivery.headers['x-meshq-task-id'], task.id);
    await delivery.ack();
    sub.close();
    await meshq.deleteScheduledTask(task.id);
  } finally {
    meshq.close();
  }
});
