// One seed -> one run of the layout simulator: cluster shape, how many
// layout changes and of which kinds, and the fault mix. Drawn from its own
// seeded stream, so the data-path and Raft simulators' draws are untouched.

import { SeededRandom } from '../../util/runtime.js';
import type { LayoutBugs } from '../../layout/history.js';

/** The simulator's own switches besides the history's (LayoutBugs): what a node does with its data and its reports. */
export interface LayoutSimBugs extends LayoutBugs {
  /** A node drops every partition it does not own in the NEWEST version of its view (not every live one). */
  readonly wipeOnRemove?: boolean;
  /** A node never drops data it no longer holds (a removed node keeps its data folder). */
  readonly neverWipe?: boolean;
  /** Nodes never report readSeen, so no version can retire. */
  readonly noReadSeenReports?: boolean;
  /** Tombstone collection waits only for the owners of the NEWEST version of the collector's view, not of every live one. */
  readonly collectIgnoringOldVersions?: boolean;
  /** Tombstone collection runs on the collector's view as it is (no ReadIndex confirming it current), and carries on when the collector sees a new version. */
  readonly collectWithStaleView?: boolean;
  /** Tombstone collection also waits for every node that ever owned the partition, removed ones included. */
  readonly collectWaitsForRemoved?: boolean;
}

export const LAYOUT_SIM_BUG_NAMES: readonly (keyof LayoutSimBugs)[] = ['writeNewestOnly', 'readUnsynced', 'retireBeforeSync', 'retireOnSynced', 'syncBeforeSeen', 'wipeOnRemove', 'neverWipe', 'noReadSeenReports', 'collectIgnoringOldVersions', 'collectWithStaleView', 'collectWaitsForRemoved'];

export type ChangeKind = 'add' | 'remove' | 'replace' | 'resize' | 'rezone';

export interface LayoutSimConfig {
  readonly seed: number;
  readonly partitions: number;
  readonly replicas: number;
  readonly writeQuorum: number;
  readonly readQuorum: number;
  readonly keys: number;
  readonly zones: number;
  /** Founding storage nodes. */
  readonly initialNodes: number;
  /** One founding gateway (coordinates, holds nothing). */
  readonly gateway: boolean;
  /**
   * The layout changes the operator makes, in order. Every seed has at
   * least one add, one remove and one replace (an add comes first whenever a
   * removal would otherwise leave N storage nodes or fewer).
   */
  readonly changes: readonly ChangeKind[];
  /** The change (index into changes) applied while a node is down: the operator crashes one first if none is. */
  readonly changeWhileDown: number;
  /** The change (index) applied one step after the previous one, so before the previous one can have synced. */
  readonly backToBackAt: number;
  /** Probability that a change follows the previous one at once, before it has synced. */
  readonly backToBack: number;
  /** Steps of the safety phase. */
  readonly steps: number;
  /** Probability per step that a node crashes or restarts. */
  readonly crashRate: number;
  /** Whether anti-entropy runs in the safety phase: without it, sync alone must carry every acknowledged write to the new owners. */
  readonly antiEntropy: boolean;
  /** How far a node's view of the control state may lag (entries learned per step at most). */
  readonly learnBatch: number;
  readonly bugs: LayoutSimBugs;
}

export function drawLayoutConfig(seed: number, bugs: LayoutSimBugs = {}): LayoutSimConfig {
  const r = new SeededRandom(seed ^ 0x1a7007);
  const kinds: ChangeKind[] = ['add', 'remove', 'replace', 'resize', 'rezone'];
  // Up to two more of any kind beside the three every seed has (guaranteeKinds).
  const extras = Array.from({ length: r.int(3) }, () => kinds[r.int(kinds.length)]!);
  // Mostly the cluster's defaults; sometimes read-one/write-all or write-one/read-all, where a missing copy shows at once.
  const q = r.next();
  const [readQuorum, writeQuorum] = q < 0.6 ? [2, 2] : q < 0.85 ? [1, 3] : [3, 1];
  const partitions = [4, 8, 16][r.int(3)]!;
  const keys = 8 + r.int(24);
  const zones = 1 + r.int(3);
  const initialNodes = 3 + r.int(3);
  const gateway = r.next() < 0.3;
  const backToBack = r.next() < 0.5 ? 0.6 : 0.1;
  const changes = guaranteeKinds(extras, initialNodes, 3, r);
  return {
    seed,
    partitions,
    replicas: 3,
    writeQuorum,
    readQuorum,
    keys,
    zones,
    initialNodes,
    gateway,
    changes,
    changeWhileDown: r.int(changes.length),
    backToBackAt: 1 + r.int(changes.length - 1),
    backToBack,
    steps: 300 + r.int(500),
    crashRate: r.next() < 0.7 ? 0.02 + r.next() * 0.05 : 0,
    learnBatch: 1 + r.int(4),
    antiEntropy: r.next() < 0.6,
    bugs,
  };
}

/**
 * The drawn changes with one add, one remove and one replace mixed in at
 * drawn places (a later replace may still become an add in the run if an
 * earlier victim is still tracked); then an add is put before every remove
 * or replace that would find N storage nodes or fewer (the run turns those
 * into adds), so that none is turned into an add.
 */
function guaranteeKinds(extras: readonly ChangeKind[], initial: number, n: number, r: SeededRandom): ChangeKind[] {
  const drawn: ChangeKind[] = [...extras];
  for (const k of ['add', 'remove', 'replace'] as const) drawn.splice(r.int(drawn.length + 1), 0, k);
  const out: ChangeKind[] = [];
  let storage = initial;
  for (const k of drawn) {
    if ((k === 'remove' || k === 'replace') && storage <= n) {
      out.push('add');
      storage++;
    }
    out.push(k);
    if (k === 'add') storage++;
    if (k === 'remove') storage--;
  }
  return out;
}

export function describeLayoutConfig(c: LayoutSimConfig): string {
  const bugs = Object.entries(c.bugs).filter(([, on]) => on === true).map(([k]) => k);
  return `P=${c.partitions} N=${c.replicas} W=${c.writeQuorum} R=${c.readQuorum} keys=${c.keys} nodes=${c.initialNodes}${c.gateway ? '+gw' : ''} zones=${c.zones} changes=${c.changes.join(',')} down@${c.changeWhileDown} b2b@${c.backToBackAt} backToBack=${c.backToBack} steps=${c.steps} crash=${c.crashRate.toFixed(3)} learn<=${c.learnBatch}${c.antiEntropy ? '' : ' no-ae'}${bugs.length > 0 ? ` bugs=${bugs.join(',')}` : ''}`;
}
