// One seed -> one Raft control-plane run: cluster shape, Raft knobs,
// workload and fault mix. Drawn from its own seeded stream, so that the
// data-path simulator's draws (sim/config.ts) are untouched.

import { pick, SeededRandom } from '../../util/runtime.js';
import type { RaftBugs } from '../../raft/raft.js';

/** Raft's bug switches plus the driver's own. */
export interface RaftSimBugs extends RaftBugs {
  /** The driver sends a Ready's messages before its entries and hard state are on disk. */
  readonly sendBeforePersist?: boolean;
}

export const RAFT_BUG_NAMES: readonly (keyof RaftSimBugs)[] = ['voteTwice', 'commitOldTerm', 'sendBeforePersist', 'snapshotOverNewer', 'leaderDropsTail', 'readWithoutQuorum'];

export interface RaftFaults {
  readonly lossP: number;
  readonly dupP: number;
  /** Extra random delay per message (reordering), ms. */
  readonly jitterMs: number;
  readonly partitions: boolean;
  readonly crashes: boolean;
  /** Faults every few hundred ms, aimed at the leader half the time: many short terms, each leaving uncommitted entries behind (Figure 8's raw material). */
  readonly churn: boolean;
  /** Each node's tick oscillator runs at a rate in [1 - drift, 1 + drift]. */
  readonly drift: number;
}

export interface RaftRunConfig {
  readonly seed: number;
  /** Founding voters, in order. */
  readonly voters: readonly string[];
  /** Founding learners. */
  readonly learners: readonly string[];
  /** A node that starts empty; the operator adds it as a learner, then promotes it. */
  readonly joiner: string | undefined;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly electionTick: number;
  readonly heartbeatTick: number;
  /** Nominal milliseconds per tick. */
  readonly tickMs: number;
  readonly maxMsgEntries: number;
  readonly maxInflight: number;
  /** Compact the log once this many applied entries sit above the snapshot. */
  readonly compactEvery: number;
  readonly netDelayMs: readonly [number, number];
  /** Time to persist one Ready, ms (crashes land inside it). */
  readonly diskMs: readonly [number, number];
  readonly faults: RaftFaults;
  readonly clients: number;
  /** Names every client tries to create (linearizable creation: exactly one owner). */
  readonly contested: readonly string[];
  readonly opsPerClient: number;
  /** Conf changes the operator makes (promotion and removal of voters). */
  readonly confChanges: boolean;
  readonly safetyMs: number;
  readonly bugs: RaftSimBugs;
}

export interface RaftDrawOptions {
  readonly bugs?: RaftSimBugs;
}

export function drawRaftConfig(seed: number, opts: RaftDrawOptions = {}): RaftRunConfig {
  const r = new SeededRandom(seed ^ 0x4af7c0de);
  const size = pick(r, [3, 3, 5]);
  const ids = Array.from({ length: size + 2 }, (_, i) => `n${i + 1}`);
  const voters = ids.slice(0, size);
  const learners = r.next() < 0.3 ? [ids[size] as string] : [];
  const joiner = r.next() < 0.6 ? (ids[size + 1] as string) : undefined;
  const faulty = r.next() < 0.9;
  const faults: RaftFaults = faulty
    ? {
        lossP: pick(r, [0, 0.01, 0.05, 0.15]),
        dupP: pick(r, [0, 0.01, 0.05]),
        jitterMs: pick(r, [0, 5, 40, 200]),
        partitions: r.next() < 0.7,
        crashes: r.next() < 0.7,
        churn: r.next() < 0.4,
        drift: pick(r, [0, 0.05, 0.2]),
      }
    : { lossP: 0, dupP: 0, jitterMs: 0, partitions: false, crashes: false, churn: false, drift: 0 };
  return {
    seed,
    voters,
    learners,
    joiner,
    preVote: r.next() < 0.8,
    checkQuorum: r.next() < 0.8,
    electionTick: 10,
    heartbeatTick: pick(r, [1, 2]),
    tickMs: 100,
    maxMsgEntries: pick(r, [1, 1, 2, 8, 64]),
    maxInflight: pick(r, [1, 4, 64]),
    compactEvery: pick(r, [4, 16, 1000]),
    netDelayMs: pick(r, [[1, 5] as const, [1, 30] as const, [5, 80] as const]),
    diskMs: pick(r, [[0, 2] as const, [1, 10] as const, [5, 40] as const]),
    faults,
    clients: pick(r, [2, 3, 4]),
    contested: ['alpha', 'beta', 'gamma'].slice(0, 1 + r.int(3)),
    opsPerClient: 20 + r.int(30),
    confChanges: r.next() < 0.5,
    safetyMs: 20_000 + r.int(20_000),
    bugs: opts.bugs ?? {},
  };
}

export function describeRaftConfig(c: RaftRunConfig): string {
  const f = c.faults;
  const on: string[] = [];
  if (f.lossP > 0) on.push(`loss=${f.lossP}`);
  if (f.dupP > 0) on.push(`dup=${f.dupP}`);
  if (f.jitterMs > 0) on.push(`jitter=${f.jitterMs}ms`);
  if (f.partitions) on.push('partitions');
  if (f.crashes) on.push('crashes');
  if (f.churn) on.push('churn');
  if (f.drift > 0) on.push(`drift=${f.drift}`);
  const bugs = Object.entries(c.bugs)
    .filter(([, v]) => v === true)
    .map(([k]) => k);
  return (
    `voters=${c.voters.length}${c.learners.length > 0 ? ` learners=${c.learners.length}` : ''}${c.joiner !== undefined ? ' joiner' : ''} ` +
    `prevote=${c.preVote} checkquorum=${c.checkQuorum} hb=${c.heartbeatTick} msg=${c.maxMsgEntries} inflight=${c.maxInflight} compact=${c.compactEvery} ` +
    `net=${c.netDelayMs[0]}-${c.netDelayMs[1]}ms disk=${c.diskMs[0]}-${c.diskMs[1]}ms clients=${c.clients} names=${c.contested.length} ` +
    `conf=${c.confChanges} faults=[${on.join(' ')}]` +
    (bugs.length > 0 ? ` bugs=${bugs.join(',')}` : '')
  );
}
