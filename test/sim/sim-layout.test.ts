// The data-path simulator with layout changes (docs/sim.md, "Layout
// changes"): seeds that add and remove nodes while clients write and delete
// under faults must run clean, with the real LayoutMover on every node, and
// must replay event for event. The 1,000-seed runs are `npm run sim --
// --seeds 1000 --layout`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSeed, type RunResult } from '../../src/sim/run.js';
import { describeConfig } from '../../src/sim/config.js';

const SEEDS = 12;

function verdict(r: RunResult): string {
  if (r.violations.length === 0) return 'clean';
  const v = r.violations[0]!;
  return `seed ${r.seed} (${describeConfig(r.config)}) failed ${v.checker}: ${v.message}`;
}

test(`${SEEDS} seeds with layout changes run clean, and every one of them changed its layout`, async () => {
  const failures: string[] = [];
  const kinds = new Set<string>();
  for (let seed = 1; seed <= SEEDS; seed++) {
    const r = await runSeed(seed, { layout: true });
    if (r.violations.length > 0) failures.push(verdict(r));
    const steps = r.config.layout?.steps ?? [];
    assert.ok(steps.length > 0, `seed ${seed} drew no layout change`);
    for (const s of steps) kinds.add(`${s.add.length > 0 ? 'add' : ''}${s.remove.length > 0 ? 'remove' : ''}`);
    // Every view the run recorded ends at one version: the history was retired.
    const last = [...r.history.layoutViews.values()].map((views) => views.at(-1)!.placement.liveVersions);
    assert.ok(last.every((n) => n === 1), `seed ${seed}: a node's last view still had several live versions`);
  }
  assert.deepEqual(failures, []);
  assert.deepEqual([...kinds].sort(), ['add', 'addremove', 'remove'], 'the seeds drew additions, removals and both at once');
});

test('a seed without --layout runs as before: no layout change, no view recorded', async () => {
  const r = await runSeed(3);
  assert.equal(r.config.layout, undefined);
  assert.equal(r.history.layoutViews.size, 0);
});

test('a seed with layout changes replays the same run, event for event', async () => {
  const a = await runSeed(3, { layout: true, traceAll: true });
  const b = await runSeed(3, { layout: true, traceAll: true });
  assert.ok((a.trace ?? []).some((l) => l.includes('LAYOUT apply version 3')), 'the run applied two versions');
  assert.ok((a.trace ?? []).some((l) => l.includes('stopped for good')), 'the removed node was stopped');
  assert.equal(a.fingerprint, b.fingerprint);
  assert.deepEqual(a.trace, b.trace);
});
