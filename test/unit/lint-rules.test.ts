// `npm run lint` guards the architecture (docs/architecture.md, "Layers"):
// these tests plant the mistakes it must catch and check that it does. The
// eslint rules run on virtual files; dependency-cruiser needs real ones, so
// the planted imports are written under src/ for the length of one run and
// removed afterwards.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DEPCRUISE = path.join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');

interface Violation {
  readonly from: string;
  readonly to: string;
  readonly rule: { readonly name: string; readonly severity: string };
}

/** Runs dependency-cruiser with the lint configuration on the given files only. */
function depcruise(files: readonly string[], outputType: 'err' | 'json'): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [DEPCRUISE, '--config', '.dependency-cruiser.cjs', '--output-type', outputType, ...files],
      { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout) => resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout }),
    );
  });
}

async function eslintMessages(filePath: string, code: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: ROOT });
  const [result] = await eslint.lintText(code, { filePath: path.join(ROOT, filePath) });
  return (result?.messages ?? []).map((m) => m.ruleId ?? m.message);
}

describe('the layer rule (dependency-cruiser)', () => {
  const tag = `lint-probe-${process.pid}`;
  /** path under the repository -> source */
  const planted: Record<string, string> = {
    [`src/store/${tag}-upward.ts`]: "import type { Coordinator } from '../coordinator/coordinator.js';\nexport type X = Coordinator;\n",
    [`src/handoff/${tag}-sideways.ts`]: "import { MerkleTree } from '../antientropy/merkle.js';\nexport const x = MerkleTree;\n",
    [`src/node/${tag}-twin.ts`]: "import { MemoryStore } from '../store/memory-store.js';\nexport const x = MemoryStore;\n",
    [`src/api/${tag}-sim.ts`]: "import { BUCKET } from '../sim/world.js';\nexport const x = BUCKET;\n",
    [`src/coordinator/${tag}-io.ts`]: "import { LmdbStore } from '../store/lmdb-store.js';\nexport const x = LmdbStore;\n",
    [`src/membership/${tag}-package.ts`]: "import * as grpc from '@grpc/grpc-js';\nexport const x = grpc;\n",
    [`src/s3/${tag}-network.ts`]: "import type { Transport } from '../transport/transport.js';\nexport type X = Transport;\n",
    [`src/ring/${tag}-fine.ts`]: "import { hash64hex } from '../util/hash.js';\nexport const x = hash64hex;\n",
  };
  /** The exit code of the run as `npm run lint` makes it (the 'err' report). */
  let lintExitCode: number;
  let violations: Violation[];

  before(async () => {
    for (const [file, source] of Object.entries(planted)) {
      mkdirSync(path.dirname(path.join(ROOT, file)), { recursive: true });
      writeFileSync(path.join(ROOT, file), source);
    }
    try {
      const [asLint, asJson] = await Promise.all([depcruise(Object.keys(planted), 'err'), depcruise(Object.keys(planted), 'json')]);
      lintExitCode = asLint.code;
      violations = (JSON.parse(asJson.stdout) as { summary: { violations: Violation[] } }).summary.violations;
    } finally {
      for (const file of Object.keys(planted)) rmSync(path.join(ROOT, file), { force: true });
    }
  });
  after(() => {
    for (const file of Object.keys(planted)) rmSync(path.join(ROOT, file), { force: true });
  });

  const rulesFrom = (suffix: string): string[] =>
    violations.filter((v) => v.from === `src/${suffix.split(':')[0]}/${tag}-${suffix.split(':')[1]}.ts`).map((v) => v.rule.name);

  it('fails the run when any planted import breaks a rule', () => {
    assert.notEqual(lintExitCode, 0);
  });

  it('reports a store module importing the coordinator, a higher layer', () => {
    assert.deepEqual(rulesFrom('store:upward'), ['layer-store']);
  });

  it('reports handoff importing its sibling antientropy', () => {
    assert.deepEqual(rulesFrom('handoff:sideways'), ['layer-handoff']);
  });

  it('reports production code importing the in-memory store twin', () => {
    assert.deepEqual(rulesFrom('node:twin'), ['no-twins-in-production']);
  });

  it('reports production code importing the simulator', () => {
    assert.ok(rulesFrom('api:sim').includes('no-twins-in-production'), JSON.stringify(violations));
  });

  it('reports protocol code importing the LMDB store', () => {
    assert.deepEqual(rulesFrom('coordinator:io'), ['protocol-does-no-io']);
  });

  it('reports protocol code importing an npm package', () => {
    assert.deepEqual(rulesFrom('membership:package'), ['protocol-imports-no-packages']);
  });

  it('reports the S3 front end importing the transport', () => {
    assert.deepEqual(rulesFrom('s3:network'), ['api-holds-no-protocol']);
  });

  it('lets a ring module import util, a lower layer', () => {
    assert.deepEqual(rulesFrom('ring:fine'), []);
  });
});

describe('the protocol purity rule (eslint)', () => {
  it('reports Date.now() in a protocol folder', async () => {
    assert.deepEqual(await eslintMessages('src/coordinator/probe.ts', 'export const t = Date.now();\n'), ['no-restricted-properties']);
  });

  it('reports Math.random() and new Date() in the coming raft and layout folders', async () => {
    assert.deepEqual(await eslintMessages('src/raft/probe.ts', 'export const r = Math.random();\n'), ['no-restricted-properties']);
    assert.deepEqual(await eslintMessages('src/layout/probe.ts', 'export const d = new Date();\n'), ['no-restricted-syntax']);
  });

  it('reports timers and node built-ins in a protocol folder', async () => {
    assert.deepEqual(await eslintMessages('src/control/probe.ts', 'setTimeout(() => {}, 1);\n'), ['no-restricted-globals']);
    assert.deepEqual(await eslintMessages('src/membership/probe.ts', "import { readFileSync } from 'node:fs';\nexport const f = readFileSync;\n"), [
      'no-restricted-imports',
    ]);
  });

  it('allows the clock outside protocol code', async () => {
    assert.deepEqual(await eslintMessages('src/node/probe.ts', 'export const t = Date.now();\n'), []);
  });
});
