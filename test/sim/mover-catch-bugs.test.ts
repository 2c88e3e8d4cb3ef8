// The simulator catches the real layout mover's bugs (src/layout/mover.ts,
// LayoutMoverConfig.bugs, never set in production): with the switch on, a
// seed (which then always draws layout changes) must fail within a bounded
// number of seeds, reported by a checker that explains it, as in
// checkers-catch-bugs.test.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSeed } from '../../src/sim/run.js';
import type { SimBugs } from '../../src/sim/config.js';

const MAX_SEEDS = 100;

const CASES: readonly { bug: keyof SimBugs; checkers: readonly string[]; what: string }[] = [
  // First caught at seed 6: a node that lost partitions in the newest version
  // dropped them while older versions were still live, so an origin minted
  // past events it no longer held (integrity), or values went missing.
  { bug: 'dropNotNewest', checkers: ['integrity', 'lost-write', 'siblings', 'read-your-writes', 'resurrection', 'convergence'], what: 'dropping a partition as soon as the newest version does not give it, before the others synced it' },
  // First caught at seed 32: with R = 1 a new owner of the newest version
  // needs no peer of that version (it counts as its own read quorum), so it
  // reported synced having pulled nothing, and a read of the new read
  // version missed an acknowledged write.
  { bug: 'syncNewestOnly', checkers: ['read-your-writes', 'lost-write', 'siblings'], what: 'reporting synced after pulling from the newest version only' },
];

for (const { bug, checkers, what } of CASES) {
  test(`the simulator catches the mover ${what} (bugs.${bug}) within ${MAX_SEEDS} seeds`, async () => {
    let found: { seed: number; checker: string } | undefined;
    for (let seed = 1; seed <= MAX_SEEDS && found === undefined; seed++) {
      const r = await runSeed(seed, { bugs: { [bug]: true } });
      assert.ok(r.config.layout !== undefined, 'a mover bug implies layout changes');
      const v = r.violations[0];
      if (v !== undefined) found = { seed, checker: v.checker };
    }
    assert.ok(found, `no seed in 1..${MAX_SEEDS} caught bugs.${bug}`);
    assert.ok(checkers.includes(found.checker), `bugs.${bug} was caught by ${found.checker} (seed ${found.seed}), expected one of ${checkers.join(', ')}`);
  });
}
