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

// gcWithoutDotFloor (collection forgetting a key without raising the dot
// floor) is no longer among them: since counters come from the node's
// persisted lease (version/counter-lease.ts), every new dot is above every
// counter the node ever minted, so forgetting a key cannot make a dot repeat
// and the switch changes nothing a checker could see (0 of 1,000 seeds). The
// lease's own switches (leaseNotPersisted, mintFromCommitted) show the
// integrity checker still catches a reused dot.
//
// `from`: where the search starts when the first catch lies past MAX_SEEDS
// (the search still covers at most MAX_SEEDS seeds).
const CASES: readonly { bug: keyof SimBugs; checkers: readonly string[]; what: string; from?: number }[] = [
  { bug: 'ackBeforeStore', checkers: ['integrity', 'lost-write', 'siblings', 'read-your-writes', 'resurrection'], what: 'acknowledging a write before it is stored' },
  { bug: 'ignoreContext', checkers: ['siblings', 'resurrection'], what: 'ignoring the context on write' },
  { bug: 'overwriteOnReplica', checkers: ['lost-write', 'siblings', 'integrity'], what: 'replacing instead of merging on a replica' },
  { bug: 'quorumOffByOne', checkers: ['read-your-writes'], what: 'acknowledging after W-1 replicas' },
  { bug: 'dropHints', checkers: ['integrity', 'lost-write', 'siblings', 'convergence'], what: 'dropping hints' },
  { bug: 'deleteBeforeAck', checkers: ['integrity', 'lost-write', 'siblings'], what: 'handoff deleting a hint before the owner acknowledged it' },
  { bug: 'skipTombstones', checkers: ['lost-write', 'siblings', 'resurrection', 'convergence', 'delete-after-write'], what: 'anti-entropy skipping tombstones' },
  { bug: 'gcWithoutCheck', checkers: ['integrity', 'resurrection', 'siblings'], what: 'collecting a tombstone without all replicas holding it' },
  { bug: 'deleteFromOriginOnly', checkers: ['delete-after-write'], what: 'a context-less delete superseding only what its origin holds, not what a read quorum saw' },
  { bug: 'leaseNotPersisted', checkers: ['integrity'], what: 'minting with a counter lease that was never persisted (a restart reuses the actor and its counters)' },
  { bug: 'mintFromCommitted', checkers: ['integrity'], what: 'an origin minting without seeing its own uncommitted mints' },
  // Rarer since a write ships before its origin commits (fewer old copies in flight): first caught at seed 565.
  { bug: 'ignoreDataAge', checkers: ['siblings', 'resurrection', 'lost-write', 'integrity'], what: 'collecting a tombstone while an old copy is still in flight (merging copies of any age, one confirmation)', from: 501 },
];

for (const { bug, checkers, what, from = 1 } of CASES) {
  test(`the simulator catches ${what} (bugs.${bug}) within ${MAX_SEEDS} seeds`, async () => {
    let found: { seed: number; checker: string } | undefined;
    for (let seed = from; seed < from + MAX_SEEDS && found === undefined; seed++) {
      const r = await runSeed(seed, { bugs: { [bug]: true } });
      const v = r.violations[0];
      if (v !== undefined) found = { seed, checker: v.checker };
    }
    assert.ok(found, `no seed in ${from}..${from + MAX_SEEDS - 1} caught bugs.${bug}`);
    assert.ok(checkers.includes(found.checker), `bugs.${bug} was caught by ${found.checker} (seed ${found.seed}), expected one of ${checkers.join(', ')}`);
  });
}
