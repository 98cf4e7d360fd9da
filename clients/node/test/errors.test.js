'use strict';
// Every gRPC status maps to its own error class, carrying code, name, details and metadata;
// the server's refusals arrive as those classes.

const test = require('node:test');
const assert = require('node:assert/strict');
const grpc = require('@grpc/grpc-js');
const meshq = require('../src');
const { useServer, unique } = require('./fixtures');

const ctx = useServer();

const FAMILIES = {
  CANCELLED: 'CancelledError', UNKNOWN: 'UnknownError', INVALID_ARGUMENT: 'InvalidArgumentError',
  DEADLINE_EXCEEDED: 'DeadlineExceededError', NOT_FOUND: 'NotFoundError', ALREADY_EXISTS: 'AlreadyExistsError',
  PERMISSION_DENIED: 'PermissionDeniedError', RESOURCE_EXHAUSTED: 'ResourceExhaustedError',
  FAILED_PRECONDITION: 'FailedPreconditionError', ABORTED: 'AbortedError', OUT_OF_RANGE: 'OutOfRangeError',
  UNIMPLEMENTED: 'UnimplementedError', INTERNAL: 'InternalError', UNAVAILABLE: 'UnavailableError',
  DATA_LOSS: 'DataLossError', UNAUTHENTICATED: 'UnauthenticatedError',
};

test('each gRPC status becomes its own class with code, details and metadata', () => {
  for (const [codeName, className] of Object.entries(FAMILIES)) {
    const metadata = new grpc.Metadata();
    metadata.set('x-why', 'because');
    const raw = Object.assign(new Error('raw'), { code: grpc.status[codeName], details: `${codeName} details`, metadata });
    const err = meshq.fromGrpc(raw);
    assert.ok(err instanceof meshq[className], className);
    assert.ok(err instanceof meshq.GrpcError && err instanceof meshq.MeshqError && err instanceof Error);
    assert.equal(err.name, className);
    assert.equal(err.code, grpc.status[codeName]);
    assert.equal(err.codeName, codeName);
    assert.equal(err.details, `${codeName} details`);
    assert.equal(err.message, `${codeName}: ${codeName} details`);
    assert.deepEqual(err.metadata, { 'x-why': 'because' });
    assert.equal(err.cause, raw);
  }
  const plain = new TypeError('not a gRPC error');
  assert.equal(meshq.fromGrpc(plain), plain);
});

test('an unknown room is NOT_FOUND, saying which', async () => {
  const name = unique('missing');
  const err = await ctx.client.rooms.get(name).catch((e) => e);
  assert.ok(err instanceof meshq.NotFoundError, String(err));
  assert.equal(err.code, grpc.status.NOT_FOUND);
  assert.match(err.details, new RegExp(name));
  await assert.rejects(ctx.client.room(name).queues.send('q', 1, { create: false }), meshq.NotFoundError);
  await assert.rejects(ctx.client.room(name).storage.read('a.txt'), meshq.NotFoundError);
  await assert.rejects(ctx.client.scheduler.add({ room: name, queue: 'q', schedule: '@daily' }), meshq.NotFoundError);
});

test('bad JSON is INVALID_ARGUMENT from the server, and not sent at all from a value', async () => {
  const queues = ctx.client.room(unique('room')).queues;
  const err = await queues.sendBatch('q', [{ json: '{"unclosed": ' }]).catch((e) => e);
  assert.ok(err instanceof meshq.InvalidArgumentError, String(err));
  assert.equal(err.codeName, 'INVALID_ARGUMENT');
  assert.ok(err.details.length > 0);
  await assert.rejects(queues.send('q', undefined), TypeError);
  await assert.rejects(queues.send('q', { n: 1n }), TypeError);
  const name = unique('room');
  await ctx.client.rooms.create(name);
  await assert.rejects(ctx.client.scheduler.add({ room: name, queue: 'q', schedule: '@daily', payloadJson: 'nope' }),
    (e) => e instanceof meshq.InvalidArgumentError && /payload/i.test(e.details));
  await assert.rejects(ctx.client.scheduler.add({ room: name, queue: 'q', schedule: 'not cron' }),
    (e) => e instanceof meshq.InvalidArgumentError && /schedule/i.test(e.details));
});

test('a wrong token is UNAUTHENTICATED', async () => {
  const client = new meshq.MeshqClient({ server: ctx.server.address, token: 'not-a-token', timeoutMs: 5000 });
  try {
    await assert.rejects(client.rooms.list(), meshq.UnauthenticatedError);
  } finally {
    client.close();
  }
});

test('a server that is not there is UNAVAILABLE; a short deadline is DEADLINE_EXCEEDED', async () => {
  const nobody = new meshq.MeshqClient({ server: '127.0.0.1:1', token: 'x', timeoutMs: 5000 });
  try {
    await assert.rejects(nobody.rooms.list(), meshq.UnavailableError);
  } finally {
    nobody.close();
  }
  const hurried = new meshq.MeshqClient({ server: ctx.server.address, token: ctx.server.token, timeoutMs: 10000 });
  try {
    // The wait (5 s) is far beyond the call's own deadline (1 ms).
    await assert.rejects(hurried.connection.unary('QueueService', 'Receive',
      { room: unique('room'), queue: 'q', create: true, wait: true, timeout_seconds: 5 }, 1), meshq.DeadlineExceededError);
  } finally {
    hurried.close();
  }
});

test('plaintext to a non-loopback server is refused before anything is sent', async () => {
  const client = new meshq.MeshqClient({ server: '203.0.113.7:50051', token: 'x' });
  await assert.rejects(client.rooms.list(), meshq.InsecureChannelRefusedError);
  client.close();
  for (const host of ['127.0.0.1:1', 'localhost:1', '[::1]:1']) {
    assert.ok(require('../src/connection').isLoopback(host), host);
  }
  assert.ok(!require('../src/connection').isLoopback('10.0.0.1:1'));
});
