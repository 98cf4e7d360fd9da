'use strict';
// client.rooms: create, get, list and delete rooms.

const { toDate } = require('./messages');

function room(r) {
  return { name: r.name, createdAt: toDate(r.created_at_unix_ms), queueCount: r.queue_count };
}

class RoomsClient {
  constructor(conn) {
    this._conn = conn;
  }

  _call(method, request) {
    return this._conn.unary('RoomService', method, request);
  }

  /** Creates a room; an existing one is ALREADY_EXISTS unless ifNotExists. */
  async create(name, { ifNotExists = false } = {}) {
    return room((await this._call('CreateRoom', { name, if_not_exists: ifNotExists })).room);
  }

  /** One room, or NotFoundError. */
  async get(name) {
    return room((await this._call('GetRoom', { name })).room);
  }

  /** The rooms the token may see, by name. */
  async list() {
    return (await this._call('ListRooms', {})).rooms.map(room);
  }

  /** Deletes an empty room; with force its queues and messages go too (otherwise a room that
   * still holds queues is FailedPreconditionError). */
  async delete(name, { force = false } = {}) {
    await this._call('DeleteRoom', { name, force });
  }
}

module.exports = { RoomsClient };
