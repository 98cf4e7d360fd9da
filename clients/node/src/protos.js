'use strict';
// The protos are loaded at run time with @grpc/proto-loader, so the .proto files stay the one
// source of truth (no generated code to go stale). A published package carries its own copy
// in protos/ (scripts/bundle-protos.js, run by `npm pack`); in the repository they are read
// from the top-level protos/.

const path = require('node:path');
const fs = require('node:fs');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const FILES = ['rooms', 'queues', 'scheduler', 'storage'].map((n) => `meshq/v1/${n}.proto`);

function protoRoot() {
  const candidates = [
    process.env.MESHQ_PROTO_ROOT,
    path.resolve(__dirname, '..', 'protos'),
    path.resolve(__dirname, '..', '..', '..', 'protos'),
  ].filter(Boolean);
  const root = candidates.find((dir) => fs.existsSync(path.join(dir, 'meshq', 'v1', 'queues.proto')));
  if (!root) throw new Error(`meshq protos not found in ${candidates.join(', ')}; set MESHQ_PROTO_ROOT`);
  return root;
}

let cached;

/** The meshq.v1 package: service constructors and message types. */
function loadPackage() {
  if (!cached) {
    const definition = protoLoader.loadSync(FILES, {
      includeDirs: [protoRoot()], keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true,
    });
    cached = grpc.loadPackageDefinition(definition).meshq.v1;
  }
  return cached;
}

module.exports = { loadPackage, protoRoot };
