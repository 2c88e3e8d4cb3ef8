// The layout simulator's checkers are shown to catch bugs: each switch
// (LayoutBugs in src/layout/history.ts, plus the simulator's own node
// behaviours in src/sim/layout/config.ts), all off in production, turns on
// one deliberately wrong behaviour, and the named checker must report it
// within a bounded number of seeds. Every checker has at least one switch it
// is proven to catch. The first seed found (with the simulator as committed)
// is recorded beside each case and in docs/layout.md; a change to the
// simulator's draws may move it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runLayoutSeed } from '../../src/sim/layout/run.js';
import type { LayoutSimBugs } from '../../src/sim/layout/config.js';

const MAX_SEEDS = 300;

const CASES: readonly { bug: keyof LayoutSimBugs; checker: string; what: string; firstSeed: number }[] = [
  { bug: 'writeNewestOnly', checker: 'lost-write', what: 'a write that skips the owners of older live versions', firstSeed: 1 },
  { bug: 'writeNewestOnly', checker: 'readable-quorum', what: 'a write that skips the owners of older live versions', firstSeed: 1 },
  { bug: 'readUnsynced', checker: 'readable-quorum', what: 'a read from a version whose owners have not synced', firstSeed: 1 },
  { bug: 'readUnsynced', checker: 'lost-write', what: 'a read from a version whose owners have not synced', firstSeed: 1 },
  { bug: 'retireBeforeSync', checker: 'readable-quorum', what: 'an old version retired before the new one is synced', firstSeed: 1 },
  { bug: 'retireOnSynced', checker: 'no-read-of-retired', what: 'an old version retired while nodes may still read it (no readSeen)', firstSeed: 1 },
  { bug: 'syncBeforeSeen', checker: 'readable-quorum', what: 'a sync started before every node writes to the new version', firstSeed: 6 },
  { bug: 'wipeOnRemove', checker: 'readable-quorum', what: 'a node dropping data it still holds in an older live version', firstSeed: 2 },
  { bug: 'wipeOnRemove', checker: 'lost-write', what: 'a node dropping data it still holds in an older live version', firstSeed: 2 },
  { bug: 'neverWipe', checker: 'removed-owns-nothing', what: 'a removed node keeping its data', firstSeed: 1 },
  { bug: 'neverWipe', checker: 'placement', what: 'a node keeping partitions it no longer owns', firstSeed: 1 },
  { bug: 'noReadSeenReports', checker: 'liveness', what: 'nodes that never report which version they read', firstSeed: 1 },
  { bug: 'collectIgnoringOldVersions', checker: 'no-resurrection', what: 'tombstone collection that waits only for the newest version\'s owners', firstSeed: 73 },
  { bug: 'collectWithStaleView', checker: 'no-resurrection', what: 'tombstone collection on an unconfirmed view that carries on across a new version', firstSeed: 22 },
  { bug: 'collectWaitsForRemoved', checker: 'collection-done', what: 'tombstone collection that waits for removed nodes too', firstSeed: 1 },
];

for (const { bug, checker, what, firstSeed } of CASES) {
  test(`the ${checker} checker catches ${what} (bugs.${bug}) within ${MAX_SEEDS} seeds`, (t) => {
    let found: number | undefined;
    for (let seed = 1; seed <= MAX_SEEDS && found === undefined; seed++) {
      const r = runLayoutSeed(seed, { bugs: { [bug]: true } });
      if (r.violations.some((v) => v.checker === checker)) found = seed;
    }
    assert.ok(found !== undefined, `no seed in 1..${MAX_SEEDS} made ${checker} catch bugs.${bug}`);
    t.diagnostic(`first seed ${found} (recorded: ${firstSeed})`);
  });
}
