'use strict';
// A real meshq server for the tests: the one named by $MESHQ_SERVER / $MESHQ_TOKEN, or a
// `meshq up` started here on a free port with a temporary data dir. The meshq command is
// $MESHQ_BIN, else the repository's .venv/bin/meshq (what `make test` installs), else `meshq`
// on PATH. Starting fails loudly: a test run without a server is a failed run, never a skip.

const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const REPO = path.resolve(__dirname, '..', '..', '..');
const START_TIMEOUT_MS = 90000;

function meshqCommand() {
  if (process.env.MESHQ_BIN) return process.env.MESHQ_BIN;
  const venv = path.join(REPO, '.venv', 'bin', 'meshq');
  return fs.existsSync(venv) ? venv : 'meshq';
}

/** The `meshq up` options that turn off what the tests do not use (metrics; the Studio web
 * console, on versions of meshq that have one). */
function quietOptions(command) {
  const options = ['--metrics-listen', '', '--pool-backend', 'asyncio'];
  const help = spawnSync(command, ['up', '--help'], { encoding: 'utf8', timeout: 60000 });
  if ((help.stdout || '').includes('--studio-listen')) options.push('--studio-listen', '');
  return options;
}

/** Starts `meshq up` on 127.0.0.1:0 with a temporary data dir; resolves once it listens. */
function startServer({ command = meshqCommand(), timeoutMs = START_TIMEOUT_MS } = {}) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'meshq-node-'));
  const args = ['up', '--data-dir', dataDir, '--listen', '127.0.0.1:0', ...quietOptions(command)];
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MESHQ_SERVER: '' } });
  let output = '';
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const cleanup = () => fs.rmSync(dataDir, { recursive: true, force: true });

  async function stop() {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15000);
      await exited;
      clearTimeout(timer);
    }
    cleanup();
  }

  return new Promise((resolve, reject) => {
    const fail = (why) => {
      clearTimeout(timer);
      stop().finally(() => reject(new Error(`cannot start a meshq server with \`${command} ${args.join(' ')}\`: ${why}\n${output}`)));
    };
    const timer = setTimeout(() => fail(`not listening after ${timeoutMs / 1000}s`), timeoutMs);
    child.once('error', (err) => fail(err.message));
    const early = (code, signal) => fail(`it exited (${signal || code}) before listening`);
    child.once('exit', early);
    child.stderr.on('data', (chunk) => { output += chunk; });
    child.stdout.on('data', (chunk) => {
      output += chunk;
      const match = /meshq up: listening on (\S+)/.exec(output);
      if (!match) return;
      clearTimeout(timer);
      child.removeListener('exit', early);
      child.stdout.removeAllListeners('data');
      child.stdout.resume();
      child.stderr.removeAllListeners('data');
      child.stderr.resume();
      const token = fs.readFileSync(path.join(dataDir, 'admin.token'), 'utf8').trim();
      resolve({ address: match[1], token, dataDir, pid: child.pid, stop });
    });
  });
}

/** The server the tests use: the one handed in $MESHQ_SERVER, else one started here. */
async function testServer() {
  if (process.env.MESHQ_SERVER) {
    return { address: process.env.MESHQ_SERVER, token: process.env.MESHQ_TOKEN || '', stop: async () => {} };
  }
  return startServer();
}

module.exports = { startServer, testServer, meshqCommand };
