// The checkers are shown to catch bugs: each test-only switch in the
// coordinator (CoordinatorConfig.bugs), hinted handoff (HandoffDeps.bugs)
// and anti-entropy (AntiEntropyDeps.bugs), all off in production, turns on
// one deliberately wrong behaviour, and the simulator must find a failing
// seed for it within a bounded number of seeds, reported by a checker that
// explains it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSeed } from '../../src/sim/run.js';
import type { SimBugs } from '../../src/sim/config.js';

const MAX_SEEDS = 200;

const CASES: readonly { bug: keyof SimBugs; checkers: readonly string[]; what: string }[] = [
  { bug: 'ackBeforeStore', checkers: ['integrity', 'lost-write', 'siblings', 'read-your-writes', 'resurrection'], what: 'acknowledging a write before it is stored' },
  { bug: 'ignoreContext', checkers: ['siblings', 'resurrection'], what: 'ignoring the context on write' },
  { bug: 'overwriteOnReplica', checkers: ['lost-write', 'siblings', 'integrity'], what: 'replacing instead of merging on a replica' },
  { bug: 'quorumOffByOne', checkers: ['read-your-writes'], what: 'acknowledging after W-1 replicas' },
  { bug: 'dropHints', checkers: ['integrity', 'lost-write', 'siblings', 'convergence'], what: 'dropping hints' },
  { bug: 'deleteBeforeAck', checkers: ['integrity', 'lost-write', 'siblings'], what: 'handoff deleting a hint before the owner acknowledged it' },
  { bug: 'skipTombstones', checkers: ['lost-write', 'siblings', 'resurrection', 'convergence', 'delete-after-write'], what: 'anti-entropy skipping tombstones' },
  { bug: 'gcWithoutCheck', checkers: ['integrity', 'resurrection', 'siblings'], what: 'collecting a tombstone without all replicas holding it' },
  { bug: 'gcWithoutDotFloor', checkers: ['integrity'], what: 'collecting a tombstone without raising the dot floor (dot reuse)' },
  { bug: 'deleteFromOriginOnly', checkers: ['delete-after-write'], what: 'a context-less delete superseding only what its origin holds, not what a read quorum saw' },
  { bug: 'leaseNotPersisted', checkers: ['integrity'], what: 'minting with a counter lease that was never persisted (a restart reuses the actor and its counters)' },
  { bug: 'mintFromCommitted', checkers: ['integrity'], what: 'an origin minting without seeing its own uncommitted mints' },
  { bug: 'ignoreDataAge', checkers: ['siblings', 'resurrection', 'lost-write', 'integrity'], what: 'collecting a tombstone while an old copy is still in flight (merging copies of any age, one confirmation)' },
];

for (const { bug, checkers, what } of CASES) {
  test(`the simulator catches ${what} (bugs.${bug}) within ${MAX_SEEDS} seeds`, async () => {
    let found: { seed: number; checker: string } | undefined;
    for (let seed = 1; seed <= MAX_SEEDS && found === undefined; seed++) {
      const r = await runSeed(seed, { bugs: { [bug]: true } });
      const v = r.violations[0];
      if (v !== undefined) found = { seed, checker: v.checker };
    }
    assert.ok(found, `no seed in 1..${MAX_SEEDS} caught bugs.${bug}`);
    assert.ok(checkers.includes(found.checker), `bugs.${bug} was caught by ${found.checker} (seed ${found.seed}), expected one of ${checkers.join(', ')}`);
  });
}
