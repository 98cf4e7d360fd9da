'use strict';
// Every gRPC status maps to its own error class, carrying code, name, details and metadata;
// the server's refusals arrive as those classes.

const test = require('node:test');
const assert = require('node:assert/strict');
const grpc = require('@grpc/grpc-js');
const meshq = require('../src');
const { useServer, unique } = require('./fixtures');

const ctx = useServer();

// The Python SDK's table (meshq.api.errors.STATUS_ERRORS), status -> [class, family base].
const TABLE = {
  INVALID_ARGUMENT: ['InvalidArgumentError'], OUT_OF_RANGE: ['InvalidArgumentError'],
  NOT_FOUND: ['NotFoundError'], ALREADY_EXISTS: ['AlreadyExistsError'],
  FAILED_PRECONDITION: ['FailedPreconditionError'], RESOURCE_EXHAUSTED: ['ResourceExhaustedError'],
  ABORTED: ['AbortedError'], UNAUTHENTICATED: ['UnauthenticatedError', 'DeniedError'],
  PERMISSION_DENIED: ['PermissionDeniedError', 'DeniedError'], UNAVAILABLE: ['UnavailableError', 'UnreachableError'],
  DEADLINE_EXCEEDED: ['DeadlineExceededError', 'UnreachableError'], CANCELLED: ['CancelledError'],
  UNIMPLEMENTED: ['UnimplementedError'], INTERNAL: ['InternalError'], DATA_LOSS: ['InternalError'],
  UNKNOWN: ['InternalError'],
};

test('each gRPC status becomes the class of its family, carrying code, details and metadata', () => {
  assert.deepEqual(Object.keys(TABLE).sort(), Object.keys(grpc.status).filter((n) => /^[A-Z_]+$/.test(n) && n !== 'OK').sort());
  for (const [codeName, [className, family]] of Object.entries(TABLE)) {
    const metadata = new grpc.Metadata();
    metadata.set('x-why', 'because');
    const raw = Object.assign(new Error('raw'), { code: grpc.status[codeName], details: `${codeName} details`, metadata });
    const err = meshq.fromGrpc(raw);
    assert.ok(err instanceof meshq[className], `${codeName} -> ${className}`);
    if (family) assert.ok(err instanceof meshq[family], `${className} is a ${family}`);
    assert.ok(err instanceof meshq.MeshqRpcError && err instanceof meshq.MeshqError && err instanceof Error);
    assert.equal(err.name, className);
    assert.equal(err.code, grpc.status[codeName]);
    assert.equal(err.codeName, codeName);
    assert.equal(err.details, `${codeName} details`);
    assert.equal(err.message, `${codeName}: ${codeName} details`);
    assert.deepEqual(err.metadata, { 'x-why': 'because' });
    assert.equal(err.cause, raw);
    assert.ok(meshq.makeError(grpc.status[codeName], 'x') instanceof meshq[className]);
    assert.equal(meshq.STATUS_ERRORS.get(grpc.status[codeName]), meshq[className]);
  }
  const plain = new TypeError('not a gRPC error');
  assert.equal(meshq.fromGrpc(plain), plain);
  assert.equal(meshq.fromGrpc(meshq.fromGrpc(Object.assign(new Error(), { code: 5 }))).codeName, 'NOT_FOUND');
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
    await assert.rejects(client.rooms.list(), (e) => e instanceof meshq.UnauthenticatedError && e instanceof meshq.DeniedError);
  } finally {
    client.close();
  }
});

test('a server that is not there is UNAVAILABLE; a short deadline is DEADLINE_EXCEEDED', async () => {
  const nobody = new meshq.MeshqClient({ server: '127.0.0.1:1', token: 'x', timeoutMs: 5000 });
  try {
    await assert.rejects(nobody.rooms.list(), (e) => e instanceof meshq.UnavailableError && e instanceof meshq.UnreachableError);
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
