'use strict';
// Shared by the test files: the server (handed by `npm test` in $MESHQ_SERVER, else started
// for this file) and a client on it.

const { before, after } = require('node:test');
const { randomUUID } = require('node:crypto');
const { testServer } = require('../scripts/meshq-server');
const { MeshqClient } = require('../src');

/** Call at the top of a test file: `const ctx = useServer();` then `ctx.client` in tests. */
function useServer() {
  const ctx = {};
  before(async () => {
    ctx.server = await testServer();
    ctx.client = new MeshqClient({ server: ctx.server.address, token: ctx.server.token, timeoutMs: 10000 });
  });
  after(async () => {
    if (ctx.client) ctx.client.close();
    if (ctx.server) await ctx.server.stop();
  });
  return ctx;
}

/** A fresh room or queue name. */
function unique(prefix = 't') {
  return `${prefix}-${randomUUID().replace(/-/g, '').slice(0, 12)}`;
}

module.exports = { useServer, unique };
