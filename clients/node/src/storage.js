'use strict';
// room.storage: the files of one room. Every call carries the connection's token and a
// deadline (the connection's timeout unless the call passes timeoutMs; streaming a large file
// may need a longer one). Failures: InvalidArgumentError for a bad or escaping path,
// NotFoundError, AlreadyExistsError (no overwrite), FailedPreconditionError (a folder where a
// file is expected, or a non-empty folder deleted without recursive), ResourceExhaustedError.

const { once } = require('node:events');
const { fromGrpc } = require('./errors');
const { toDate } = require('./messages');

const FRAME_BYTES = 1024 * 1024; // one WriteFile frame: well under gRPC's default 4 MiB limit

function fileInfo(f) {
  return { path: f.path, size: f.size, modifiedAt: toDate(f.modified_at_unix_ms), isDir: f.is_dir };
}

function checkData(data) {
  const iterable = data && (typeof data[Symbol.asyncIterator] === 'function' || typeof data[Symbol.iterator] === 'function');
  if (!(typeof data === 'string' || data instanceof Uint8Array || iterable)) {
    throw new TypeError('data must be a string, a Buffer / Uint8Array, or an (async) iterable of them');
  }
}

async function* chunks(data) {
  if (typeof data === 'string') data = Buffer.from(data, 'utf8');
  if (data instanceof Uint8Array) {
    yield* slices(data);
    return;
  }
  for await (const chunk of data) {
    if (typeof chunk === 'string') yield* slices(Buffer.from(chunk, 'utf8'));
    else if (chunk instanceof Uint8Array) yield* slices(chunk);
    else throw new TypeError('each chunk must be a string or a Buffer / Uint8Array');
  }
}

function* slices(bytes) {
  for (let start = 0; start < bytes.length; start += FRAME_BYTES) {
    yield Buffer.from(bytes.buffer, bytes.byteOffset + start, Math.min(FRAME_BYTES, bytes.length - start));
  }
}

class StorageClient {
  constructor(conn, room) {
    this._conn = conn;
    this.room = room;
  }

  _call(method, request) {
    return this._conn.unary('StorageService', method, { room: this.room, ...request });
  }

  /** Stores data (a string is UTF-8) at path atomically; parent folders are created. */
  async write(path, data, { overwrite = true, timeoutMs } = {}) {
    checkData(data);
    const stub = this._conn.stub('StorageService');
    let call;
    const reply = new Promise((resolve, reject) => {
      call = stub.WriteFile(this._conn.metadata(), { deadline: this._conn.deadline(timeoutMs) },
        (err, response) => (err ? reject(fromGrpc(err)) : resolve(response)));
    });
    try {
      call.write({ room: this.room, path, overwrite });
      for await (const chunk of chunks(data)) {
        if (!call.write({ data: chunk })) await Promise.race([once(call, 'drain'), reply]);
      }
      call.end();
    } catch (err) {
      call.cancel();
      reply.catch(() => {});
      throw err;
    }
    return fileInfo((await reply).file);
  }

  /** The file's bytes from offset (at most length; 0: to the end), in chunks. */
  async* readStream(path, { offset = 0, length = 0, timeoutMs } = {}) {
    const call = this._conn.stub('StorageService').ReadFile(
      { room: this.room, path, offset, length }, this._conn.metadata(), { deadline: this._conn.deadline(timeoutMs) });
    try {
      for await (const frame of call) yield frame.data;
    } catch (err) {
      throw fromGrpc(err);
    } finally {
      call.cancel(); // a no-op once the stream has ended; frees it if the caller stops early
    }
  }

  /** The file's bytes from offset (at most length; 0: to the end) as one Buffer. */
  async read(path, options = {}) {
    const parts = [];
    for await (const chunk of this.readStream(path, options)) parts.push(chunk);
    return Buffer.concat(parts);
  }

  /** The entries of a folder ('' is the room), sorted by path; a file lists as itself. */
  async list(path = '', { recursive = false } = {}) {
    return (await this._call('ListFiles', { path, recursive })).files.map(fileInfo);
  }

  /** One file or folder, or NotFoundError. */
  async stat(path) {
    return fileInfo((await this._call('StatFile', { path })).file);
  }

  async exists(path) {
    try {
      await this.stat(path);
      return true;
    } catch (err) {
      if (err.codeName === 'NOT_FOUND') return false;
      throw err;
    }
  }

  /** Removes a file, or a folder (a non-empty one only with recursive). */
  async delete(path, { recursive = false } = {}) {
    await this._call('DeleteFile', { path, recursive });
  }

  /** Renames within the room; the destination's parent folders are created. */
  async move(source, destination, { overwrite = false } = {}) {
    return fileInfo((await this._call('MoveFile', { source, destination, overwrite })).file);
  }
}

module.exports = { StorageClient, FRAME_BYTES };
