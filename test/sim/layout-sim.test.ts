// The layout simulator (src/sim/layout/): seeds pass with every bug switch
// off, every seed draws the layout changes the issue asks for, and a seed
// replays to the same fingerprint. (10,000 seeds: docs/layout.md, "Simulator".)

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { coverage, runLayoutSeed } from '../../src/sim/layout/run.js';

const SEEDS = 150;

test(`${SEEDS} layout simulator seeds pass: no acknowledged write lost and no deleted value back across adds, removes, replacements and back-to-back changes; every old version retires; data ends on the final owners only`, () => {
  const failed: string[] = [];
  const uncovered: string[] = [];
  let changes = 0;
  let retired = 0;
  let maxLive = 0;
  let whileDown = 0;
  let replacements = 0;
  let deletes = 0;
  let collections = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    const r = runLayoutSeed(seed);
    // The issue asks it of every seed with more nodes than N: each seed here starts with N to N + 2 and adds before it removes.
    const c = coverage(r.stats);
    if (!c.all) uncovered.push(`seed ${seed}: ${JSON.stringify(c)}`);
    deletes += r.stats.deletesOk;
    collections += r.stats.collections;
    changes += r.stats.changes;
    whileDown += r.stats.changesWhileDown;
    replacements += r.stats.replacements;
    retired += r.stats.retired;
    maxLive = Math.max(maxLive, r.stats.maxLive);
    if (r.violations.length > 0) failed.push(`seed ${seed}: ${r.violations[0]!.checker}: ${r.violations[0]!.message}`);
  }
  assert.deepEqual(failed, []);
  assert.deepEqual(uncovered, [], 'every seed draws an add, a remove, a replacement, a change while a node is down and a change before the previous one synced');
  assert.ok(deletes > SEEDS && collections > SEEDS, `the seeds acknowledged ${deletes} deletes and collected ${collections} tombstones`);
  assert.ok(changes >= 2 * SEEDS, `the seeds made ${changes} layout changes`);
  assert.equal(retired, changes, 'every version but the last retired');
  assert.ok(maxLive >= 3, 'some seed had three or more versions live at once');
  assert.ok(whileDown > 0, 'some change was applied while a node was down');
  assert.ok(replacements > 0, 'some node died for good and was replaced');
});

test('a seed replays to the same fingerprint, in this process and through the command', () => {
  const a = runLayoutSeed(4711);
  const b = runLayoutSeed(4711);
  assert.equal(a.fingerprint, b.fingerprint);
  assert.deepEqual(a.trace, b.trace);
  const main = fileURLToPath(new URL('../../src/sim/layout/main.js', import.meta.url));
  const out = execFileSync(process.execPath, [main, '--seed', '4711'], { encoding: 'utf8' });
  assert.match(out, new RegExp(`fingerprint=${a.fingerprint}`));
});
