'use strict';
// The package as npm would publish it: its manifest, its files, and a round trip made by the
// packed tarball (which must load the protos it carries, not the repository's).

const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { useServer, unique } = require('./fixtures');

const ctx = useServer();
const PKG_DIR = path.resolve(__dirname, '..');
const pkg = require('../package.json');

test('the manifest is ready to publish', () => {
  assert.equal(pkg.name, '@meshq/client');
  assert.match(pkg.version, /^\d+\.\d+\.\d+$/);
  assert.equal(pkg.license, 'Apache-2.0');
  assert.equal(pkg.exports['.'].types, './src/index.d.ts');
  assert.equal(pkg.exports['.'].default, './src/index.js');
  assert.equal(pkg.types, './src/index.d.ts');
  assert.match(pkg.engines.node, /^>=\d+/);
  assert.deepEqual(pkg.files, ['src/', 'protos/', 'README.md']);
  assert.equal(pkg.publishConfig.access, 'public');
});

test('the packed tarball carries its protos and works against a server', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'meshq-pack-'));
  try {
    const [packed] = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', work],
      { cwd: PKG_DIR, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
    const files = packed.files.map((f) => f.path);
    for (const name of ['package.json', 'README.md', 'src/index.js', 'src/index.d.ts',
      'protos/meshq/v1/queues.proto', 'protos/meshq/v1/rooms.proto', 'protos/meshq/v1/scheduler.proto',
      'protos/meshq/v1/storage.proto']) {
      assert.ok(files.includes(name), `${name} is missing from the package: ${files.join(', ')}`);
    }
    assert.ok(!files.some((f) => f.startsWith('test/') || f.startsWith('scripts/') || f.startsWith('node_modules/')), files.join(', '));
    assert.ok(!fs.existsSync(path.join(PKG_DIR, 'protos')), 'postpack left the protos copy behind');

    const installed = path.join(work, 'node_modules', '@meshq', 'client');
    fs.mkdirSync(installed, { recursive: true });
    execFileSync('tar', ['-xzf', path.join(work, packed.filename), '-C', installed, '--strip-components=1']);
    const room = unique('packed');
    const script = `
      const { MeshqClient, NotFoundError } = require('@meshq/client');
      const client = new MeshqClient({ timeoutMs: 10000 });
      (async () => {
        await client.room(${JSON.stringify(room)}).queues.send('q', { from: 'tarball' });
        const body = await client.room(${JSON.stringify(room)}).queues.receive('q', { timeoutSeconds: 5 });
        const missing = await client.rooms.get('no-such-room-${room}').catch((e) => e instanceof NotFoundError);
        console.log(JSON.stringify({ body, missing }));
        client.close();
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const env = { ...process.env, NODE_PATH: path.join(PKG_DIR, 'node_modules'), MESHQ_PROTO_ROOT: '',
      MESHQ_SERVER: ctx.server.address, MESHQ_TOKEN: ctx.server.token };
    const out = execFileSync(process.execPath, ['-e', script], { cwd: work, env, encoding: 'utf8' });
    assert.deepEqual(JSON.parse(out), { body: { from: 'tarball' }, missing: true });
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});
