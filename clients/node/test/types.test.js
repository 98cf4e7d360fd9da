'use strict';
// The hand-written declarations (src/index.d.ts) compile, are found through the package's
// "exports", accept the README's usage and refuse misuse, and declare every runtime export.

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const ts = require('typescript');

const PKG_DIR = path.resolve(__dirname, '..');
const USAGE = path.join(__dirname, 'types', 'usage.ts');

let cached;
function program() {
  cached ||= ts.createProgram([USAGE], {
    noEmit: true, strict: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.Node16,
    moduleResolution: ts.ModuleResolutionKind.Node16, types: ['node'], typeRoots: [path.join(PKG_DIR, 'node_modules', '@types')],
  });
  return cached;
}

/** Diagnostics of the options and of our own two files (not of @types/node, which is slow). */
function diagnosticsOf(p) {
  const ours = [USAGE, path.join(PKG_DIR, 'src', 'index.d.ts')].map((f) => p.getSourceFile(f));
  return [...p.getOptionsDiagnostics(), ...p.getGlobalDiagnostics(),
    ...ours.flatMap((f) => (f ? [...p.getSyntacticDiagnostics(f), ...p.getSemanticDiagnostics(f)] : []))];
}

test('the declarations compile and type the usage (misuse is refused)', () => {
  const p = program();
  const diagnostics = diagnosticsOf(p);
  const text = ts.formatDiagnostics(diagnostics, {
    getCanonicalFileName: (f) => f, getCurrentDirectory: () => PKG_DIR, getNewLine: () => '\n',
  });
  assert.equal(diagnostics.length, 0, text);
  const resolved = p.getSourceFiles().map((f) => path.relative(PKG_DIR, f.fileName));
  assert.ok(resolved.includes(path.join('src', 'index.d.ts')), `exports did not lead to src/index.d.ts: ${resolved}`);
});

test('every runtime export is declared', () => {
  const p = program();
  const checker = p.getTypeChecker();
  const source = p.getSourceFile(path.join(PKG_DIR, 'src', 'index.d.ts'));
  const declared = new Set(checker.getExportsOfModule(checker.getSymbolAtLocation(source)).map((s) => s.name));
  const missing = Object.keys(require('../src')).filter((name) => !declared.has(name));
  assert.deepEqual(missing, []);
});

test('every public method of the client classes is declared', () => {
  const p = program();
  const checker = p.getTypeChecker();
  const source = p.getSourceFile(path.join(PKG_DIR, 'src', 'index.d.ts'));
  const exported = new Map(checker.getExportsOfModule(checker.getSymbolAtLocation(source)).map((s) => [s.name, s]));
  const runtime = require('../src');
  const missing = [];
  for (const name of ['MeshqClient', 'RoomsClient', 'QueuesClient', 'Subscription', 'StorageClient',
    'SchedulerClient', 'ReceivedMessage', 'Connection']) {
    const declared = new Set(checker.getPropertiesOfType(checker.getDeclaredTypeOfSymbol(exported.get(name))).map((s) => s.name));
    const methods = Object.getOwnPropertyNames(runtime[name].prototype).filter((m) => m !== 'constructor' && !m.startsWith('_'));
    for (const method of methods) if (!declared.has(method)) missing.push(`${name}.${method}`);
  }
  assert.deepEqual(missing, []);
});
