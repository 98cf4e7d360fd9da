'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { NotFoundError, InvalidArgumentError } = require('../src');
const { useServer, unique } = require('./fixtures');

const ctx = useServer();

async function room() {
  const name = unique('room');
  await ctx.client.rooms.create(name);
  return name;
}

test('a task is added, got, listed, updated and deleted', async () => {
  const sched = ctx.client.scheduler;
  const name = await room();
  const task = await sched.add({
    room: name, queue: 'digest', schedule: '30 17 * * *', timezone: 'Europe/Berlin', payload: { digest: 'daily' },
    name: 'daily-digest', annotations: { owner: 'node' }, misfirePolicy: 'latest',
  });
  assert.match(task.id, /\S/);
  assert.deepEqual({ room: task.room, queue: task.queue, schedule: task.schedule, timezone: task.timezone },
    { room: name, queue: 'digest', schedule: '30 17 * * *', timezone: 'Europe/Berlin' });
  assert.deepEqual(task.payload, { digest: 'daily' });
  assert.deepEqual(task.annotations, { owner: 'node' });
  assert.equal(task.misfirePolicy, 'latest');
  assert.equal(task.active, true);
  assert.ok(task.nextFire instanceof Date && task.nextFire > new Date(Date.now() - 1000));
  assert.equal(task.lastOutcome, null);
  assert.equal((await sched.get(task.id)).name, 'daily-digest');
  assert.deepEqual((await sched.list({ room: name })).map((t) => t.id), [task.id]);

  const updated = await sched.update(task.id, { schedule: '0 9 * * 1', payload: ['weekly'], active: false, misfirePolicy: 'all' });
  assert.equal(updated.schedule, '0 9 * * 1');
  assert.deepEqual(updated.payload, ['weekly']);
  assert.equal(updated.active, false);
  assert.equal(updated.misfirePolicy, 'all');
  assert.equal(updated.timezone, 'Europe/Berlin'); // fields not given are kept
  assert.deepEqual(await sched.list({ room: name, activeOnly: true }), []);
  await assert.rejects(sched.update(task.id, { nonsense: 1 }), TypeError);
  await assert.rejects(sched.update(task.id, { timezone: 'Mars/Olympus' }), InvalidArgumentError);

  await sched.delete(task.id);
  await assert.rejects(sched.get(task.id), NotFoundError);
  await assert.rejects(sched.delete(task.id), NotFoundError);
});

test('preview gives the next instants from the code that fires', async () => {
  const from = Date.UTC(2026, 0, 1, 0, 0, 0);
  const preview = await ctx.client.scheduler.preview('0 12 * * *', { timezone: 'Europe/Berlin', from, count: 3 });
  assert.deepEqual(preview.instants.map((d) => d.toISOString()),
    ['2026-01-01T11:00:00.000Z', '2026-01-02T11:00:00.000Z', '2026-01-03T11:00:00.000Z']);
  assert.equal(preview.local.length, 3);
  assert.match(preview.local[0], /^2026-01-01T12:00:00/);
  await assert.rejects(ctx.client.scheduler.preview('61 * * * *'), InvalidArgumentError);
});

test('a triggered task enqueues now and its run is in the ledger', async () => {
  const name = await room();
  const sched = ctx.client.scheduler;
  const task = await sched.add({ room: name, queue: 'tick', schedule: '@yearly', payload: { manual: true } });
  const run = await sched.trigger(task.id);
  assert.equal(run.taskId, task.id);
  assert.equal(run.manual, true);
  assert.equal(run.outcome, 'enqueued');
  assert.match(run.messageId, /\S/);
  const runs = await sched.runs(task.id, { limit: 10 });
  assert.deepEqual(runs.map((r) => r.messageId), [run.messageId]);
  const [message] = await ctx.client.room(name).queues.receiveMessages('tick', { timeoutSeconds: 5 });
  assert.equal(message.messageId, run.messageId);
  assert.deepEqual(message.body, { manual: true });
  assert.equal(message.headers['x-meshq-task-id'], task.id);
  await message.ack();
  assert.equal((await sched.get(task.id)).lastOutcome, 'enqueued');
  await sched.delete(task.id);
});

test('a task added from Node fires on its schedule into its queue', async () => {
  const name = await room();
  const task = await ctx.client.scheduler.add({ room: name, queue: 'tick', schedule: '* * * * * *', payload: { digest: 'node' } });
  const sub = await ctx.client.room(name).queues.subscribe('tick');
  try {
    const message = (await sub.next()).value;
    assert.deepEqual(message.body, { digest: 'node' });
    assert.equal(message.headers['x-meshq-task-id'], task.id);
    await message.ack();
    const [latest] = await ctx.client.scheduler.runs(task.id, { limit: 1 });
    assert.equal(latest.manual, false);
    assert.ok(latest.scheduledAt instanceof Date);
  } finally {
    await sub.close();
    await ctx.client.scheduler.delete(task.id);
  }
});
