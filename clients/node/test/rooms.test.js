'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { AlreadyExistsError, FailedPreconditionError, NotFoundError } = require('../src');
const { useServer, unique } = require('./fixtures');

const ctx = useServer();

test('a room is created, got, listed and deleted', async () => {
  const name = unique('room');
  const created = await ctx.client.rooms.create(name);
  assert.equal(created.name, name);
  assert.ok(created.createdAt instanceof Date);
  assert.equal(created.queueCount, 0);
  assert.equal((await ctx.client.rooms.get(name)).name, name);
  assert.ok((await ctx.client.rooms.list()).some((r) => r.name === name));
  await ctx.client.rooms.delete(name);
  await assert.rejects(ctx.client.rooms.get(name), NotFoundError);
  assert.ok(!(await ctx.client.rooms.list()).some((r) => r.name === name));
});

test('creating an existing room is ALREADY_EXISTS unless ifNotExists', async () => {
  const name = unique('room');
  await ctx.client.rooms.create(name);
  await assert.rejects(ctx.client.rooms.create(name), (err) => err instanceof AlreadyExistsError
    && err.codeName === 'ALREADY_EXISTS' && err.details.includes(name));
  assert.equal((await ctx.client.rooms.create(name, { ifNotExists: true })).name, name);
});

test('a room with queues is deleted only with force', async () => {
  const name = unique('room');
  await ctx.client.room(name).queues.send('jobs', { n: 1 });
  assert.equal((await ctx.client.rooms.get(name)).queueCount, 1);
  await assert.rejects(ctx.client.rooms.delete(name), FailedPreconditionError);
  await ctx.client.rooms.delete(name, { force: true });
  await assert.rejects(ctx.client.rooms.get(name), NotFoundError);
});
