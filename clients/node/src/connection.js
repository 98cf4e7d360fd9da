'use strict';
// One gRPC channel to a meshq server, with the token and deadline every call carries. Every
// service client (rooms, queues, storage, scheduler) takes a Connection; nothing else opens
// channels. The token comes from, in order: the `token` option, $MESHQ_TOKEN, the admin token
// that `meshq up` / `meshq setup` wrote into the local data dir.

const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const { loadPackage } = require('./protos');
const { InsecureChannelRefusedError, fromGrpc } = require('./errors');

const DEFAULT_SERVER = '127.0.0.1:50051';
const DEFAULT_TIMEOUT_MS = 30000;
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024; // gRPC frame limit, above any configured message size

/** $MESHQ_DATA_DIR, else $XDG_DATA_HOME/meshq, else ~/.local/share/meshq. */
function defaultDataDir() {
  if (process.env.MESHQ_DATA_DIR) return process.env.MESHQ_DATA_DIR;
  const base = process.env.XDG_DATA_HOME || path.join(os.homedir(), '.local', 'share');
  return path.join(base, 'meshq');
}

/** $MESHQ_TOKEN, else the local admin token file, else ''. */
function discoverToken(dataDir) {
  if (process.env.MESHQ_TOKEN) return process.env.MESHQ_TOKEN.trim();
  try {
    return fs.readFileSync(path.join(dataDir || defaultDataDir(), 'admin.token'), 'utf8').trim();
  } catch {
    return '';
  }
}

/** True when the host part of host:port is a loopback address or localhost. */
function isLoopback(server) {
  const host = server.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  if (host === '' || host === 'localhost') return true;
  if (net.isIPv4(host)) return host.startsWith('127.');
  if (net.isIPv6(host)) return host === '::1' || /^(0*:)*:?0*1$/.test(host);
  return false;
}

class Connection {
  constructor({ server, token, tlsCa, insecure = false, timeoutMs = DEFAULT_TIMEOUT_MS, dataDir } = {}) {
    this.server = server || process.env.MESHQ_SERVER || DEFAULT_SERVER;
    this.token = token || discoverToken(dataDir);
    this.tlsCa = tlsCa || process.env.MESHQ_TLS_CA || null;
    this.insecure = insecure;
    this.timeoutMs = timeoutMs;
    this._grpcChannel = null;
    this._stubs = new Map();
  }

  _credentials() {
    if (this.tlsCa) {
      const ca = Buffer.isBuffer(this.tlsCa) ? this.tlsCa : fs.readFileSync(this.tlsCa);
      return grpc.credentials.createSsl(ca);
    }
    if (!(this.insecure || isLoopback(this.server))) {
      throw new InsecureChannelRefusedError(
        `refusing plaintext to ${this.server}: pass tlsCa (or MESHQ_TLS_CA) or insecure: true`);
    }
    return grpc.credentials.createInsecure();
  }

  _channel() {
    if (!this._grpcChannel) {
      this._grpcChannel = new grpc.Channel(this.server, this._credentials(), {
        'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
        'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
      });
    }
    return this._grpcChannel;
  }

  /** The client of one service (e.g. 'QueueService'); every service shares one channel. */
  stub(service) {
    let stub = this._stubs.get(service);
    if (!stub) {
      const channel = this._channel();
      const Service = loadPackage()[service];
      stub = new Service(this.server, grpc.credentials.createInsecure(), { channelOverride: channel });
      this._stubs.set(service, stub);
    }
    return stub;
  }

  /** The call metadata: the bearer token, when there is one. */
  metadata() {
    const md = new grpc.Metadata();
    if (this.token) md.set('authorization', `Bearer ${this.token}`);
    return md;
  }

  /** A deadline `timeoutMs` from now (this connection's default when not given). */
  deadline(timeoutMs) {
    return new Date(Date.now() + (timeoutMs === undefined || timeoutMs === null ? this.timeoutMs : timeoutMs));
  }

  /** One unary call; rejects with the typed error of its status. */
  unary(service, method, request, timeoutMs) {
    const stub = this.stub(service);
    return new Promise((resolve, reject) => {
      stub[method](request, this.metadata(), { deadline: this.deadline(timeoutMs) },
        (err, reply) => (err ? reject(fromGrpc(err)) : resolve(reply)));
    });
  }

  /** Closes the channel; calls in progress fail with CANCELLED / UNAVAILABLE. */
  close() {
    if (this._grpcChannel) this._grpcChannel.close();
    this._grpcChannel = null;
    this._stubs.clear();
  }
}

module.exports = { Connection, discoverToken, defaultDataDir, isLoopback, DEFAULT_SERVER, DEFAULT_TIMEOUT_MS };
