'use strict';
// `npm test`: runs test/*.test.js with node's test runner against one real meshq server (the
// one handed in $MESHQ_SERVER / $MESHQ_TOKEN, else a `meshq up` started for the run), and
// fails when a test fails, when a test was skipped or left todo, or when no test ran.

const fs = require('node:fs');
const path = require('node:path');
const { run } = require('node:test');
const { spec } = require('node:test/reporters');
const { testServer } = require('./meshq-server');

const FILE_TIMEOUT_MS = 5 * 60 * 1000; // a test file that hangs fails instead of stalling the run

async function main() {
  const dir = path.join(__dirname, '..', 'test');
  const only = process.argv.slice(2);
  const files = (only.length ? only.map((f) => path.resolve(f))
    : fs.readdirSync(dir).filter((f) => f.endsWith('.test.js')).sort().map((f) => path.join(dir, f)));
  let server;
  try {
    server = await testServer();
  } catch (err) {
    console.error(err.message);
    console.log('node client: 0 passed, 1 failed, 0 skipped (no meshq server)');
    return 1;
  }
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => { server.stop().finally(() => process.exit(130)); });
  }
  process.env.MESHQ_SERVER = server.address;
  process.env.MESHQ_TOKEN = server.token;
  const counts = { passed: 0, failed: 0, skipped: 0 };
  try {
    const stream = run({ files, concurrency: 1, timeout: FILE_TIMEOUT_MS });
    stream.on('test:pass', (t) => {
      if (t.skip || t.todo) counts.skipped += 1;
      else counts.passed += 1;
    });
    stream.on('test:fail', (t) => {
      if (t.todo) counts.skipped += 1;
      else counts.failed += 1;
    });
    await new Promise((resolve, reject) => {
      stream.compose(spec).pipe(process.stdout, { end: false }).on('error', reject);
      stream.on('end', resolve);
      stream.on('error', reject);
    });
  } finally {
    await server.stop();
  }
  console.log(`node client: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`);
  if (counts.skipped) console.error('a skipped or todo test fails the run: every test must run');
  if (!counts.passed) console.error('no test ran');
  return counts.failed || counts.skipped || !counts.passed ? 1 : 0;
}

process.exitCode = 1; // until main() says otherwise: a run that stops early fails
main().then((code) => { process.exitCode = code; }, (err) => {
  console.error(err);
  process.exitCode = 1;
});
