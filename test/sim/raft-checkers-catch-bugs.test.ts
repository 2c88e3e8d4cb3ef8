// The Raft simulator's checkers are shown to catch bugs: each test-only
// switch (RaftBugs in src/raft/raft.ts, plus the driver's sendBeforePersist),
// all off in production, turns on one deliberately wrong behaviour, and the
// named checker must report it within a bounded number of seeds. Every
// checker has at least one switch it is proven to catch. The first seed
// found (with the simulator as committed) is recorded beside each case and
// in docs/raft.md; a change to the simulator's draws may move it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runRaftSeed } from '../../src/sim/raft/run.js';
import type { RaftSimBugs } from '../../src/sim/raft/config.js';

const MAX_SEEDS = 600;

const CASES: readonly { bug: keyof RaftSimBugs; checker: string; what: string; firstSeed: number }[] = [
  { bug: 'voteTwice', checker: 'election-safety', what: 'a node voting twice in one term', firstSeed: 2 },
  { bug: 'voteTwice', checker: 'log-matching', what: 'two leaders of one term writing different entries at one index', firstSeed: 2 },
  { bug: 'leaderDropsTail', checker: 'leader-append-only', what: 'a new leader dropping its uncommitted tail', firstSeed: 3 },
  { bug: 'sendBeforePersist', checker: 'leader-completeness', what: 'a message sent before its entry and vote are persisted', firstSeed: 15 },
  { bug: 'snapshotOverNewer', checker: 'state-machine-safety', what: 'a snapshot installed over newer entries', firstSeed: 42 },
  { bug: 'readWithoutQuorum', checker: 'linearizable-buckets', what: 'a leader answering ReadIndex without confirming it still leads', firstSeed: 172 },
  { bug: 'commitOldTerm', checker: 'leader-completeness', what: 'a leader committing an old-term entry by counting replicas (Figure 8)', firstSeed: 446 },
];

for (const { bug, checker, what, firstSeed } of CASES) {
  test(`the ${checker} checker catches ${what} (bugs.${bug}) within ${MAX_SEEDS} seeds`, async (t) => {
    let found: number | undefined;
    for (let seed = 1; seed <= MAX_SEEDS && found === undefined; seed++) {
      const r = await runRaftSeed(seed, { bugs: { [bug]: true } });
      if (r.violations.some((v) => v.checker === checker)) found = seed;
    }
    assert.ok(found !== undefined, `no seed in 1..${MAX_SEEDS} made ${checker} catch bugs.${bug}`);
    t.diagnostic(`first seed ${found} (recorded: ${firstSeed})`);
  });
}
