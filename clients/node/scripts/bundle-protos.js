'use strict';
// Run by `npm pack` / `npm publish`: copies the repository's protos/meshq/v1/*.proto into the
// package (prepack) and removes the copy afterwards (postpack, `--remove`), so a checkout never
// keeps a stale copy and the published package loads the protos it was packed with.

const fs = require('node:fs');
const path = require('node:path');

const source = path.resolve(__dirname, '..', '..', '..', 'protos', 'meshq', 'v1');
const target = path.resolve(__dirname, '..', 'protos');

fs.rmSync(target, { recursive: true, force: true });
if (!process.argv.includes('--remove')) {
  const dest = path.join(target, 'meshq', 'v1');
  fs.mkdirSync(dest, { recursive: true });
  for (const file of fs.readdirSync(source).filter((f) => f.endsWith('.proto'))) {
    fs.copyFileSync(path.join(source, file), path.join(dest, file));
  }
}
