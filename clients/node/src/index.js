'use strict';
// meshq Node.js client: the protos are loaded at run time with @grpc/proto-loader, so the
// .proto files in protos/ stay the single source of truth (no generated code to go stale).

const path = require('node:path');
const fs = require('node:fs');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const DEFAULT_SERVER = '127.0.0.1:50051';
const DEFAULT_TIMEOUT_MS = 30000;

function findProtoRoot() {
  const candidates = [
    process.env.MESHQ_PROTO_ROOT,
    path.resolve(__dirname, '..', '..', '..', 'protos'),
    path.resolve(__dirname, '..', 'protos'),
  ].filter(Boolean);
  const root = candidates.find((dir) => fs.existsSync(path.join(dir, 'meshq', 'v1', 'queues.proto')));
  if (!root) throw new Error(`meshq protos not found in ${candidates.join(', ')}; set MESHQ_PROTO_ROOT`);
  return root;
}

let cachedPackage;
function loadPackage() {
  if (!cachedPackage) {
    const root = findProtoRoot();
    const files = ['rooms', 'queues', 'scheduler', 'storage', 'workers'].map((n) => `meshq/v1/${n}.proto`);
    const definition = protoLoader.loadSync(files, {
      includeDirs: [root], keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true,
    });
    cachedPackage = grpc.loadPackageDefinition(definition).meshq.v1;
  }
  return cachedPackage;
}

function defaultToken() {
  if (process.env.MESHQ_TOKEN) return process.env.MESHQ_TOKEN.trim();
  const home = process.env.HOME || '';
  const dataDir = process.env.MESHQ_DATA_DIR
    || path.join(process.env.XDG_DATA_HOME || path.join(home, '.local', 'share'), 'meshq');
  try {
    return fs.readFileSync(path.join(dataDir, 'admin.token'), 'utf8').trim();
  } catch {
    return '';
  }
}

/** A message received from a queue, settled with ack() or nack(). */
class Delivery {
  constructor(proto, settle) {
    this.messageId = proto.message_id;
    this.json = proto.json;
    this.body = JSON.parse(proto.json);
    this.headers = proto.headers || {};
    this.attempt = proto.attempt;
    this.leaseToken = proto.lease_token;
    this.queue = proto.queue;
    this._settle = settle;
  }

  ack() { return this._settle({ ack_tokens: [this.leaseToken] }); }

  nack({ delaySeconds = 0, error = '' } = {}) {
    return this._settle({ nacks: [{ lease_token: this.leaseToken, delay_seconds: delaySeconds, error }] });
  }
}

/** A Subscribe stream: iterate with `for await`, settle each delivery, then close(). */
class Subscription {
  constructor(call) {
    this._call = call;
    this._buffer = [];
    this._waiters = [];
    this._pending = new Map();
    this._ended = false;
    this._error = null;
    call.on('data', (frame) => this._onFrame(frame));
    call.on('error', (err) => this._finish(err.code === grpc.status.CANCELLED ? null : err));
    call.on('end', () => this._finish(null));
  }

  _onFrame(frame) {
    for (const result of frame.results || []) {
      const waiter = this._pending.get(result.lease_token);
      if (waiter) {
        this._pending.delete(result.lease_token);
        if (result.outcome === 'SETTLE_OUTCOME_OK') waiter.resolve();
        else waiter.reject(new Error(`stale lease ${result.lease_token}: the message may be with another consumer`));
      }
    }
    for (const proto of frame.deliveries || []) {
      const delivery = new Delivery(proto, (req) => this._send(req, proto.lease_token));
      const waiter = this._waiters.shift();
      if (waiter) waiter.resolve({ value: delivery, done: false });
      else this._buffer.push(delivery);
    }
  }

  _send(request, token) {
    return new Promise((resolve, reject) => {
      this._pending.set(token, { resolve, reject });
      this._call.write(request);
    });
  }

  _finish(err) {
    this._ended = true;
    this._error = err;
    for (const waiter of this._waiters.splice(0)) {
      if (err) waiter.reject(err); else waiter.resolve({ value: undefined, done: true });
    }
    for (const waiter of this._pending.values()) waiter.reject(err || new Error('stream closed'));
    this._pending.clear();
  }

  next() {
    if (this._buffer.length) return Promise.resolve({ value: this._buffer.shift(), done: false });
    if (this._ended) return this._error ? Promise.reject(this._error) : Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => this._waiters.push({ resolve, reject }));
  }

  [Symbol.asyncIterator]() { return this; }

  /** Ends the stream; the server hands unsettled deliveries back at once. */
  close() {
    if (!this._ended) this._call.cancel();
    this._finish(null);
  }
}

/** A connection to a meshq server. */
class MeshqClient {
  constructor({ server, token, timeoutMs = DEFAULT_TIMEOUT_MS, credentials } = {}) {
    const pkg = loadPackage();
    this.server = server || process.env.MESHQ_SERVER || DEFAULT_SERVER;
    this.token = token !== undefined ? token : defaultToken();
    this.timeoutMs = timeoutMs;
    const creds = credentials || grpc.credentials.createInsecure();
    this.rooms = new pkg.RoomService(this.server, creds);
    this.queues = new pkg.QueueService(this.server, creds, { channelOverride: this.rooms.getChannel() });
    this.scheduler = new pkg.SchedulerService(this.server, creds, { channelOverride: this.rooms.getChannel() });
  }

  _metadata() {
    const md = new grpc.Metadata();
    if (this.token) md.set('authorization', `Bearer ${this.token}`);
    return md;
  }

  _unary(client, method, request) {
    const deadline = new Date(Date.now() + this.timeoutMs);
    return new Promise((resolve, reject) => {
      client[method](request, this._metadata(), { deadline }, (err, reply) => (err ? reject(err) : resolve(reply)));
    });
  }

  /** Creates a room (an existing one is fine). */
  async createRoom(name) {
    const reply = await this._unary(this.rooms, 'CreateRoom', { name, if_not_exists: true });
    return reply.room;
  }

  /** Sends one JSON value; resolves with the message id once it is on disk. */
  async send(room, queue, message, { headers = {}, delaySeconds = 0, dedupId = '', create = true } = {}) {
    const ids = await this.sendMany(room, queue, [message], { headers, delaySeconds, dedupId, create });
    return ids[0];
  }

  /** Sends many JSON values in one call; resolves with their ids in order. */
  async sendMany(room, queue, messages, { headers = {}, delaySeconds = 0, dedupId = '', create = true } = {}) {
    const request = {
      room, queue, create,
      messages: messages.map((m) => ({ json: JSON.stringify(m), headers, delay_seconds: delaySeconds, dedup_id: dedupId })),
    };
    const reply = await this._unary(this.queues, 'Send', request);
    return reply.results.map((r) => r.message_id);
  }

  /** Opens a Subscribe stream with a credit window of maxInFlight deliveries. */
  subscribe(room, queue, { maxInFlight = 1, leaseSeconds = 30, create = true } = {}) {
    const call = this.queues.Subscribe(this._metadata());
    call.write({ open: { room, queue, create, max_in_flight: maxInFlight, lease_seconds: leaseSeconds } });
    return new Subscription(call);
  }

  /** Adds a scheduled task; resolves with the stored task. */
  async addScheduledTask({ room, queue, schedule, payload, timezone = '', name = '', active = true }) {
    const spec = { room, queue, schedule, timezone, name, active, payload_json: JSON.stringify(payload) };
    const reply = await this._unary(this.scheduler, 'AddTask', { spec });
    return reply.task;
  }

  /** Lists scheduled tasks, optionally of one room. */
  async listScheduledTasks({ room = '', activeOnly = false } = {}) {
    const reply = await this._unary(this.scheduler, 'ListTasks', { room, active_only: activeOnly });
    return reply.tasks;
  }

  /** Deletes a scheduled task. */
  async deleteScheduledTask(taskId) {
    await this._unary(this.scheduler, 'DeleteTask', { task_id: taskId });
  }

  close() {
    this.rooms.close();
  }
}

module.exports = { MeshqClient, Subscription, Delivery, loadPackage };
