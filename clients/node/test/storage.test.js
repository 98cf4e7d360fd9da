'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError, NotFoundError } = require('../src');
const { FRAME_BYTES } = require('../src/storage');
const { useServer, unique } = require('./fixtures');

const ctx = useServer();

async function storage() {
  const name = unique('room');
  await ctx.client.rooms.create(name);
  return ctx.client.room(name).storage;
}

test('text and bytes round-trip; list, stat, exists, move and delete', async () => {
  const files = await storage();
  const poem = 'Roses are red,\nqueues are durable — ✓\n';
  const info = await files.write('poems/poem.txt', poem);
  assert.deepEqual({ path: info.path, size: info.size, isDir: info.isDir },
    { path: 'poems/poem.txt', size: Buffer.byteLength(poem), isDir: false });
  assert.ok(info.modifiedAt instanceof Date);
  assert.equal((await files.read('poems/poem.txt')).toString('utf8'), poem);
  assert.equal((await files.read('poems/poem.txt', { offset: 6, length: 3 })).toString(), 'are');

  const bytes = Buffer.from([0, 255, 1, 254, 10, 13]);
  await files.write('data.bin', bytes);
  assert.deepEqual(await files.read('data.bin'), bytes);

  assert.deepEqual((await files.list()).map((f) => [f.path, f.isDir]), [['data.bin', false], ['poems', true]]);
  assert.deepEqual((await files.list('', { recursive: true })).map((f) => f.path), ['data.bin', 'poems', 'poems/poem.txt']);
  assert.equal((await files.stat('poems')).isDir, true);
  assert.equal(await files.exists('poems/poem.txt'), true);
  assert.equal(await files.exists('poems/nope.txt'), false);

  const moved = await files.move('poems/poem.txt', 'archive/2026/poem.txt');
  assert.equal(moved.path, 'archive/2026/poem.txt');
  assert.equal((await files.read('archive/2026/poem.txt')).toString('utf8'), poem);
  await assert.rejects(files.read('poems/poem.txt'), NotFoundError);

  await assert.rejects(files.delete('archive'), FailedPreconditionError);
  await files.delete('archive', { recursive: true });
  await files.delete('data.bin');
  assert.deepEqual((await files.list()).map((f) => f.path), ['poems']);
});

test('a file larger than one frame streams in and out intact', async () => {
  const files = await storage();
  const big = Buffer.alloc(FRAME_BYTES * 2 + 12345);
  for (let i = 0; i < big.length; i += 1) big[i] = (i * 31 + 7) % 256;
  async function* pieces() {
    for (let start = 0; start < big.length; start += 700000) yield big.subarray(start, start + 700000);
  }
  assert.equal((await files.write('big.bin', pieces())).size, big.length);
  const chunks = [];
  for await (const chunk of files.readStream('big.bin')) chunks.push(chunk);
  assert.ok(chunks.length > 1);
  assert.ok(Buffer.concat(chunks).equals(big));
  assert.ok((await files.read('big.bin', { offset: FRAME_BYTES, length: 10 })).equals(big.subarray(FRAME_BYTES, FRAME_BYTES + 10)));
});

test('storage refusals arrive typed: no overwrite, escaping path, missing file', async () => {
  const files = await storage();
  await files.write('a.txt', 'one');
  await assert.rejects(files.write('a.txt', 'two', { overwrite: false }), AlreadyExistsError);
  assert.equal((await files.read('a.txt')).toString(), 'one');
  await files.write('a.txt', 'two');
  assert.equal((await files.read('a.txt')).toString(), 'two');
  await assert.rejects(files.write('../escape.txt', 'x'), InvalidArgumentError);
  await assert.rejects(files.read('missing.txt'), (err) => err instanceof NotFoundError && /missing\.txt/.test(err.details));
  await assert.rejects(files.move('a.txt', '/abs.txt'), InvalidArgumentError);
  await assert.rejects(files.write('b.txt', 42), TypeError);
  await assert.rejects(files.write('b.txt', [Buffer.from('ok'), 42]), TypeError);
  assert.equal(await files.exists('b.txt'), false); // a failed write leaves nothing behind
  await files.write('c.txt', ['several ', Buffer.from('pieces')]);
  assert.equal((await files.read('c.txt')).toString(), 'several pieces');
});
