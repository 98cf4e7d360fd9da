'use strict';
// MeshqClient: one connection to a meshq server and every service's client on it, in the
// Python SDK's shape: client.rooms, client.room(name).queues / .storage, client.scheduler.

const { Connection } = require('./connection');
const { RoomsClient } = require('./rooms');
const { QueuesClient } = require('./queues');
const { StorageClient } = require('./storage');
const { SchedulerClient } = require('./scheduler');

/** One room on a connection: its queues and its files. */
class RoomClient {
  constructor(conn, name) {
    if (!name) throw new TypeError('a room needs a name');
    this.name = name;
    this.queues = new QueuesClient(conn, name);
    this.storage = new StorageClient(conn, name);
  }
}

class MeshqClient {
  /** server: host:port (default $MESHQ_SERVER, else 127.0.0.1:50051); token (default
   * $MESHQ_TOKEN, else the local admin token); tlsCa: a CA file or Buffer (default
   * $MESHQ_TLS_CA); insecure: allow plaintext to a non-loopback server; timeoutMs: the
   * deadline of every unary call (default 30 s). */
  constructor(options = {}) {
    this.connection = new Connection(options);
    this.rooms = new RoomsClient(this.connection);
    this.scheduler = new SchedulerClient(this.connection);
  }

  get server() {
    return this.connection.server;
  }

  /** A client for one room on this connection. */
  room(name) {
    return new RoomClient(this.connection, name);
  }

  /** Closes the connection. */
  close() {
    this.connection.close();
  }
}

module.exports = { MeshqClient, RoomClient };
