// The Raft control-plane simulator over the landed code: seeds run clean
// under partitions, crashes, loss, duplication, reordering and clock drift,
// and a seed replays event for event.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runRaftSeed, type RaftRunResult } from '../../src/sim/raft/run.js';
import { describeRaftConfig } from '../../src/sim/raft/config.js';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../src/sim/main.js', import.meta.url));

function verdict(r: RaftRunResult): string {
  if (r.violations.length === 0) return 'clean';
  const v = r.violations[0]!;
  return `seed ${r.seed} (${describeRaftConfig(r.config)}) failed ${v.checker}: ${v.message}`;
}

test('two hundred Raft seeds run clean: every checker passes and the healed cluster converges', async () => {
  const failures: string[] = [];
  let opsOk = 0;
  for (let seed = 1; seed <= 200; seed++) {
    const r = await runRaftSeed(seed);
    if (r.violations.length > 0) failures.push(verdict(r));
    opsOk += r.opsOk;
  }
  assert.deepEqual(failures, []);
  assert.ok(opsOk > 2000, `clients got ${opsOk} answers: the workload did something`);
});

test('the same Raft seed replays the same run, event for event', async () => {
  for (const seed of [7, 42]) {
    const a = await runRaftSeed(seed, { traceAll: true });
    const b = await runRaftSeed(seed, { traceAll: true });
    assert.ok(a.events > 500, 'the run did something');
    assert.equal(a.fingerprint, b.fingerprint);
    assert.deepEqual(a.trace, b.trace);
  }
});

test('npm run sim -- --seed S replays the Raft run of S in a fresh process with the same fingerprint', async () => {
  const seed = 11;
  const inProcess = await runRaftSeed(seed);
  const out = execFileSync(process.execPath, [MAIN, '--seed', String(seed), '--raft-only'], { encoding: 'utf8' });
  const m = /raftFp=(\S+)/.exec(out);
  assert.ok(m, out);
  assert.equal(m[1], inProcess.fingerprint);
  assert.match(out, /raft PASS/);
});
