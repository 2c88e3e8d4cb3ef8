// One seed -> one run configuration: cluster size, quorum, workload shape and
// fault mix (TigerBeetle's simulator randomises its cluster and fault
// schedule the same way, so that every seed explores a different corner).

import { pick, SeededRandom, type Random } from '../util/runtime.js';
import type { CoordinatorBugs } from '../coordinator/coordinator.js';
import type { HandoffBugs, HandoffConfig } from '../handoff/handoff.js';
import type { AntiEntropyBugs, AntiEntropyConfig } from '../antientropy/antientropy.js';
import { confirmGapMs } from '../antientropy/data-age.js';
import type { TreeShape } from '../antientropy/merkle.js';
import type { ReadFirstBugs } from '../coordinator/read-first.js';
import { LAYOUT_MOVER_BUG_NAMES, type LayoutMoverBugs } from '../layout/mover.js';

/**
 * Every deliberate bug the simulator can switch on (BUGGIFY): the
 * coordinator's, read-first writes', hinted handoff's and anti-entropy's,
 * each off unless set.
 */
export type SimBugs = CoordinatorBugs & HandoffBugs & AntiEntropyBugs & ReadFirstBugs & LayoutMoverBugs;

/** Every switch's name (for --bug). */
export const BUG_NAMES: readonly (keyof SimBugs)[] = [
  'ackBeforeStore',
  'ignoreContext',
  'overwriteOnReplica',
  'quorumOffByOne',
  'dropHints',
  'deleteBeforeAck',
  'skipTombstones',
  'gcWithoutCheck',
  'gcWithoutDotFloor',
  'ignoreDataAge',
  'deleteFromOriginOnly',
  'leaseNotPersisted',
  'mintFromCommitted',
  ...LAYOUT_MOVER_BUG_NAMES,
];

/** The layout mover's switches: they need a layout change to show, so a run with one always draws one. */
export function hasMoverBug(bugs: SimBugs): boolean {
  return LAYOUT_MOVER_BUG_NAMES.some((b) => bugs[b] === true);
}

/** One layout change: nodes started empty and added, nodes removed (each stopped once it owns nothing), as one version. */
export interface LayoutStep {
  /** Virtual ms after the start of the run. */
  readonly atMs: number;
  readonly add: readonly string[];
  readonly remove: readonly string[];
}

/**
 * The layout changes a run makes (docs/sim.md, "Layout changes") and the
 * knobs of the real mover (src/layout/mover.ts) every node runs.
 */
export interface LayoutScript {
  readonly steps: readonly LayoutStep[];
  /** How late a node's view of the control state may be behind the committed one, ms (a model of Raft's replication and apply). */
  readonly viewLagMaxMs: number;
  readonly moverIntervalMs: number;
  readonly partitionsInFlight: number;
  readonly bytesPerSecond: number;
  /**
   * Anti-entropy's round interval in this run when slower than drawn
   * (production rounds are far apart): then what only the mover's sync
   * brings to a new owner is not brought by a round first.
   */
  readonly aeIntervalMs: number | undefined;
}

/** Hinted handoff's knobs for one run, and the coordinator's hint-table bounds. */
export interface HandoffKnobs {
  readonly config: HandoffConfig;
  readonly maxHints: number;
  readonly maxHintBytes: number;
}

/** Anti-entropy's knobs for one run: every node runs the same (the tree shape must be equal). */
export interface AntiEntropyKnobs {
  readonly config: AntiEntropyConfig;
  readonly shape: TreeShape;
}

export interface FaultMix {
  /** Message loss probability while faults are on. */
  readonly lossP: number;
  readonly dupP: number;
  /** Latency jitter (reordering), ms. */
  readonly jitterMs: number;
  readonly partitions: boolean;
  readonly oneWay: boolean;
  /** Cut links one by one, restore them in random order (FoundationDB's "swizzle"). */
  readonly swizzle: boolean;
  readonly crashes: boolean;
  readonly slowNodes: boolean;
  /** Store updates stall (each waits its turn, then a delay): crashes then catch writes in flight to disk. */
  readonly slowDisks: boolean;
  /**
   * Copies of replica data a node sends (putReplica, aePush) are sometimes
   * held in the network for seconds (FoundationDB's clogging), so that old
   * versions arrive long after they were read.
   */
  readonly stragglers: boolean;
  /** Max clock offset between nodes, ms, and max oscillator drift (fraction). */
  readonly skewMs: number;
  readonly driftMax: number;
}

export const NO_FAULTS: FaultMix = {
  lossP: 0,
  dupP: 0,
  jitterMs: 0,
  partitions: false,
  oneWay: false,
  swizzle: false,
  crashes: false,
  slowNodes: false,
  slowDisks: false,
  stragglers: false,
  skewMs: 0,
  driftMax: 0,
};

export interface RunConfig {
  readonly seed: number;
  readonly nodes: number;
  readonly n: number;
  readonly r: number;
  readonly w: number;
  readonly keys: number;
  readonly clients: number;
  readonly opsPerClient: number;
  /** Mean client think time between operations, ms. */
  readonly thinkMs: number;
  readonly replicaTimeoutMs: number;
  readonly latencyMs: number;
  /** Ordinary latency variation, faults or not (a real network's latency varies; it is not a fault). */
  readonly baseJitterMs: number;
  readonly faulty: boolean;
  readonly faults: FaultMix;
  /** Which failure detector feeds the coordinators' sloppy quorum. */
  readonly membership: 'passive' | 'swim';
  /** Virtual-time bound on the safety phase, ms. */
  readonly safetyMs: number;
  readonly handoff: HandoffKnobs;
  readonly antiEntropy: AntiEntropyKnobs;
  /** Coordinators repair stale replicas after reads (off: handoff and anti-entropy alone converge the cluster). */
  readonly readRepair: boolean;
  /**
   * Clients work in two sessions: between them each reads and deletes every
   * key, then pauses `cleanupPauseMs` (past the tombstones' grace period),
   * so that fully deleted keys are collected while faults are on, and
   * written again afterwards (workload.ts).
   */
  readonly cleanup: boolean;
  readonly cleanupPauseMs: number;
  /** With cleanup: the clients delete every key once more at the end. */
  readonly finalCleanup: boolean;
  /** Share of writes that are strict (no fallbacks, so no hints: what they miss only anti-entropy or read repair bring). */
  readonly strictShare: number;
  /**
   * Every store update takes this long (ms), as an fsync does, so that a
   * crash catches writes an origin shipped before its own commit was done
   * (coordinator/origin.ts). Drawn in runs with crashes; not a fault, so
   * healing keeps it.
   */
  readonly commitMs: number;
  /** Layout changes during the safety phase (undefined: the founding layout stays, as a fixed ring). */
  readonly layout: LayoutScript | undefined;
  readonly bugs: SimBugs;
}

export const QUORUMS: readonly (readonly [number, number])[] = [
  [2, 2],
  [1, 3],
  [3, 1],
  [1, 1],
  [2, 1],
  [1, 2],
  [3, 3],
  [2, 3],
  [3, 2],
];

export interface DrawOptions {
  readonly bugs?: SimBugs;
  /** Force a fault-free run (e.g. to exercise read-your-writes). */
  readonly faulty?: boolean;
  /** Every seed draws layout changes (a stream of its own, so the rest of its draws are what they were); a mover bug implies it. */
  readonly layout?: boolean;
}

function chance(random: Random, p: number): boolean {
  return random.next() < p;
}

export function drawConfig(seed: number, opts: DrawOptions = {}): RunConfig {
  // A stream of its own, so that drawing the configuration does not shift the
  // run's random stream when the configuration code changes.
  const random = new SeededRandom(seed ^ 0x0c0ff1e);
  const nodes = 3 + random.int(5);
  const [r, w] = pick(random, QUORUMS);
  const faulty = opts.faulty ?? random.next() >= 0.25;
  let faults = NO_FAULTS;
  if (faulty) {
    faults = {
      lossP: chance(random, 0.5) ? random.next() * 0.1 : 0,
      dupP: chance(random, 0.4) ? random.next() * 0.1 : 0,
      jitterMs: chance(random, 0.6) ? random.int(80) : 0,
      partitions: chance(random, 0.4),
      oneWay: chance(random, 0.3),
      swizzle: chance(random, 0.3),
      crashes: chance(random, 0.5),
      slowNodes: chance(random, 0.3),
      skewMs: chance(random, 0.5) ? random.int(10_000) : 0,
      // Up to 1%: a hundred times a poor crystal's, and bounded so that the
      // clock spread over the longest run stays a small multiple of the skew.
      driftMax: chance(random, 0.3) ? random.next() * 0.01 : 0,
      // Drawn last so that adding it did not change the earlier draws of existing seeds.
      slowDisks: chance(random, 0.4),
      // A stream of its own, so that the draws after this are what they were.
      stragglers: chance(new SeededRandom(seed ^ 0x5e7a661), 0.3),
    };
  }
  const base = {
    seed,
    nodes,
    n: 3,
    r,
    w,
    keys: 1 + random.int(4),
    clients: 2 + random.int(4),
    opsPerClient: 10 + random.int(30),
    thinkMs: 5 + random.int(100),
    replicaTimeoutMs: 200 + random.int(1300),
    latencyMs: 1 + random.int(10),
    baseJitterMs: random.int(20),
    faulty,
    faults,
    // Drawn last so that adding it did not change the earlier draws of existing seeds.
    membership: (random.next() < 0.5 ? 'passive' : 'swim') as RunConfig['membership'],
    safetyMs: 30_000,
    bugs: opts.bugs ?? {},
  };
  const more = new SeededRandom(seed ^ 0x3011ab);
  // Some runs have slow clients, so that the safety phase lasts longer than
  // a tombstone's grace period and collection runs while faults are on and
  // writes still arrive.
  const slowClients = chance(more, 0.3);
  // Some runs use many keys, so that partitions and Merkle leaves hold
  // several and anti-entropy's paging and batching have work.
  const keys = chance(more, 0.15) ? 8 + more.int(17) : base.keys;
  const layout = opts.layout === true || hasMoverBug(opts.bugs ?? {}) ? drawLayout(seed, nodes, base.opsPerClient * ((slowClients ? 500 : base.thinkMs) + 4 * base.latencyMs)) : undefined;
  const drawnAe = drawAntiEntropy(seed, nodes, base.replicaTimeoutMs, faults);
  const antiEntropy = layout?.aeIntervalMs === undefined ? drawnAe : { ...drawnAe, config: { ...drawnAe.config, intervalMs: layout.aeIntervalMs } };
  const cleanup = chance(more, 0.4);
  const cleanupPauseMs = antiEntropy.config.tombstoneGraceMs + antiEntropy.config.gcIntervalMs + more.int(3000) + (chance(more, 0.5) ? confirmGapMs(antiEntropy.config) : 0);
  return {
    ...base,
    keys,
    thinkMs: slowClients ? 200 + more.int(600) : base.thinkMs,
    safetyMs: base.safetyMs + (cleanup ? cleanupPauseMs : 0),
    handoff: drawHandoff(seed, base.replicaTimeoutMs),
    antiEntropy,
    readRepair: chance(more, 0.7),
    cleanup,
    cleanupPauseMs,
    finalCleanup: cleanup && chance(more, 0.5),
    strictShare: chance(more, 0.3) ? 0.6 : 0.15,
    commitMs: drawCommitMs(seed, faults),
    layout,
  };
}

/**
 * Layout changes, a stream of their own: an added node, a removed node, or
 * both (in one version, or as two versions applied while the first still
 * moves data, so that three versions are live). Times fall within the first
 * 60% of a client's expected working time, so that clients write and delete
 * while data moves; the run's safety phase waits for every step anyway. At
 * least three storage nodes remain (N = 3).
 */
function drawLayout(seed: number, nodes: number, clientMs: number): LayoutScript {
  const r = new SeededRandom(seed ^ 0x1a7047);
  const at = (): number => 50 + r.int(Math.max(200, Math.floor(clientMs * 0.6)));
  const fresh = `n${nodes + 1}`;
  const victim = `n${1 + r.int(nodes)}`;
  const kind = nodes <= 3 ? pick(r, ['add', 'both', 'both-apart'] as const) : pick(r, ['add', 'remove', 'both', 'both-apart'] as const);
  const steps: LayoutStep[] = [];
  if (kind === 'add') steps.push({ atMs: at(), add: [fresh], remove: [] });
  else if (kind === 'remove') steps.push({ atMs: at(), add: [], remove: [victim] });
  else if (kind === 'both') steps.push({ atMs: at(), add: [fresh], remove: [victim] });
  else {
    const a = at();
    const b = at();
    // Either order: a removal first leaves N = 3 nodes for a while only when the cluster had 4 or more.
    if (nodes > 3 && chance(r, 0.5)) steps.push({ atMs: Math.min(a, b), add: [], remove: [victim] }, { atMs: Math.max(a, b) + 1, add: [fresh], remove: [] });
    else steps.push({ atMs: Math.min(a, b), add: [fresh], remove: [] }, { atMs: Math.max(a, b) + 1, add: [], remove: [victim] });
  }
  return {
    steps,
    viewLagMaxMs: pick(r, [0, 20, 200, 1000]),
    moverIntervalMs: 50 + r.int(950),
    partitionsInFlight: 1 + r.int(4),
    bytesPerSecond: pick(r, [2000, 64 * 1024, 64 * 1024 * 1024]),
    aeIntervalMs: chance(r, 0.4) ? 3000 + r.int(12_000) : undefined,
  };
}

export function describeLayout(l: LayoutScript): string {
  const steps = l.steps.map((s) => `@${s.atMs}${s.add.map((x) => `+${x}`).join('')}${s.remove.map((x) => `-${x}`).join('')}`);
  return `layout=${steps.join(',')},lag=${l.viewLagMaxMs}ms,mover=${l.moverIntervalMs}ms${l.aeIntervalMs !== undefined ? `,slow-ae` : ''}`;
}

/** A stream of its own, so that the draws of existing seeds stay what they were. */
function drawCommitMs(seed: number, faults: FaultMix): number {
  const r = new SeededRandom(seed ^ 0xc0441d);
  return faults.crashes && chance(r, 0.7) ? 1 + r.int(6) : 0;
}

/**
 * The bound on how far two nodes' clocks can be apart during a run: twice
 * the skew, plus twice the drift accumulated over the longest run (safety
 * phase, healing and the wait for collection, with room to spare).
 */
export function clockSpreadMs(f: FaultMix): number {
  return 2 * (f.skewMs + f.driftMax * MAX_RUN_MS);
}

/** No run lasts longer than this in virtual time (run.ts bounds each phase). */
export const MAX_RUN_MS = 400_000;

/** Longest a message can be on its way: latency, jitter and two slow nodes (faults.ts). */
const IN_FLIGHT_MAX_MS = 11 + 19 + 80 + 2 * 820;
/** Longest a write can wait in a slow disk's queue: the longest slow-disk fault plus one delay (faults.ts), and a backlog of commits (commitMs). */
const DISK_QUEUE_MAX_MS = 3100 + 405 + 1000;

/**
 * Hinted handoff, randomised around fast values (FoundationDB randomises
 * its knobs in simulation): slow throttles and tiny hint tables are drawn
 * too, so that a backlog and a full table happen. A stream of its own, so
 * that adding a knob here does not change the rest of a seed's draws.
 */
function drawHandoff(seed: number, replicaTimeoutMs: number): HandoffKnobs {
  const r = new SeededRandom(seed ^ 0x4a4d0ff);
  const backoffInitialMs = 50 + r.int(400);
  return {
    config: {
      intervalMs: 50 + r.int(450),
      keysPerSecond: pick(r, [5, 50, 1000]),
      bytesPerSecond: pick(r, [300, 10_000, 16 * 1024 * 1024]),
      maxInFlight: 1 + r.int(8),
      timeoutMs: replicaTimeoutMs * (1 + r.int(3)),
      backoffInitialMs,
      backoffMaxMs: backoffInitialMs * (1 + r.int(8)),
    },
    maxHints: chance(r, 0.2) ? 1 + r.int(4) : 1_000_000,
    maxHintBytes: chance(r, 0.1) ? 200 + r.int(400) : 1024 ** 3,
  };
}

/**
 * Anti-entropy, randomised: fast rounds, small pages, batches and messages
 * (so that paging and batching run), a few tree shapes, and tombstone
 * collection with a short grace period. The grace period is what the design
 * says it must cover (README, "What the grace period must still cover"):
 * messages in flight, bounded by request deadlines and the network, and, as
 * the age of a tombstone is judged on one node's clock from a timestamp
 * another node's clock wrote, the spread between the nodes' clocks.
 */
function drawAntiEntropy(seed: number, nodes: number, replicaTimeoutMs: number, faults: FaultMix): AntiEntropyKnobs {
  const r = new SeededRandom(seed ^ 0xae0ae);
  const shape = pick(r, [
    { fanout: 2, depth: 1 },
    { fanout: 4, depth: 2 },
    { fanout: 16, depth: 2 },
    { fanout: 2, depth: 4 },
    { fanout: 8, depth: 1 },
  ]);
  const config = {
    intervalMs: 50 + r.int(450),
    keysPerSec: pick(r, [20, 200, 5000]),
    maxPartitionsInFlight: 1 + r.int(4),
    requestTimeoutMs: replicaTimeoutMs * (1 + r.int(3)),
    keysPerPage: chance(r, 0.5) ? 1 + r.int(3) : 1000,
    keysPerBatch: chance(r, 0.5) ? 1 + r.int(3) : 128,
    maxBatchBytes: chance(r, 0.3) ? 64 : 1024 * 1024,
    graceExtraMs: r.int(2000),
    gcIntervalMs: 100 + r.int(2000),
    gcBatch: chance(r, 0.5) ? 1 + r.int(3) : 256,
    gcEnabled: chance(r, 0.85),
  };
  // How long a copy of an old version can legitimately be on its way: the
  // coordinator keeps sending a write's set to stand-ins, one replica
  // timeout each, through every fallback (coordinator/write.ts sendReplica), then
  // the message travels and may wait in a slow disk's queue; a read repair
  // is sent within one replica timeout of its read; an anti-entropy batch
  // takes a few request deadlines. Receivers judge a copy's age on their
  // own clock against the sender's, so the clocks' spread comes on top.
  const spreadMs = Math.ceil(clockSpreadMs(faults));
  const inFlightMs = (nodes - 3 + 1) * replicaTimeoutMs + IN_FLIGHT_MAX_MS + DISK_QUEUE_MAX_MS;
  // The grace period once had to cover that (seed 1308 with a 116 ms grace
  // period: a stand-in received a write's old set 1.3 s after the write,
  // after its tombstone had been collected, and handed the value back). Now
  // collection confirms twice and receivers refuse old copies
  // (antientropy/data-age.ts), so half the runs draw a tiny grace period:
  // collection then races the exchanges, handoffs and repairs still
  // carrying old versions. A stream of its own, so that the draws above are
  // what they were.
  const r2 = new SeededRandom(seed ^ 0x57a1e);
  const tinyGrace = chance(r2, 0.5);
  const { graceExtraMs, ...rest } = config;
  return {
    shape,
    config: {
      ...rest,
      tombstoneGraceMs: tinyGrace ? r2.int(300) : Math.ceil(spreadMs + inFlightMs + graceExtraMs),
      maxDataAgeMs: spreadMs + inFlightMs + 4 * config.requestTimeoutMs + r2.int(2000),
      maxClockSkewMs: spreadMs,
    },
  };
}

export function describeConfig(c: RunConfig): string {
  const f = c.faults;
  const on: string[] = [];
  if (f.lossP > 0) on.push(`loss=${f.lossP.toFixed(3)}`);
  if (f.dupP > 0) on.push(`dup=${f.dupP.toFixed(3)}`);
  if (f.jitterMs > 0) on.push(`jitter=${f.jitterMs}ms`);
  if (f.partitions) on.push('partitions');
  if (f.oneWay) on.push('one-way');
  if (f.swizzle) on.push('swizzle');
  if (f.crashes) on.push('crashes');
  if (f.slowNodes) on.push('slow');
  if (f.slowDisks) on.push('slow-disk');
  if (c.commitMs > 0) on.push(`commit=${c.commitMs}ms`);
  if (f.stragglers) on.push('stragglers');
  if (f.skewMs > 0) on.push(`skew=${f.skewMs}ms`);
  if (f.driftMax > 0) on.push(`drift=${(f.driftMax * 100).toFixed(1)}%`);
  const bugs = Object.entries(c.bugs).filter(([, v]) => v === true).map(([k]) => k);
  const ae = c.antiEntropy.config;
  const h = c.handoff.config;
  return (
    `nodes=${c.nodes} N=${c.n} R=${c.r} W=${c.w} keys=${c.keys} clients=${c.clients}x${c.opsPerClient} ` +
    `${c.membership} timeout=${c.replicaTimeoutMs}ms latency=${c.latencyMs}+${c.baseJitterMs}ms faults=${on.length > 0 ? on.join(',') : 'none'} ` +
    `ae=${ae.intervalMs}ms,${c.antiEntropy.shape.fanout}^${c.antiEntropy.shape.depth},${ae.keysPerSec}keys/s,` +
    (ae.gcEnabled ? `grace=${ae.tombstoneGraceMs}ms,gc=${ae.gcIntervalMs}ms,maxAge=${ae.maxDataAgeMs}ms` : 'nogc') +
    ` handoff=${h.intervalMs}ms,${h.keysPerSecond}keys/s${c.handoff.maxHints < 1000 ? `,maxHints=${c.handoff.maxHints}` : ''}` +
    (c.handoff.maxHintBytes < 1024 ? `,maxHintBytes=${c.handoff.maxHintBytes}` : '') +
    (c.readRepair ? '' : ' no-read-repair') +
    (c.cleanup ? ` cleanup${c.finalCleanup ? 'x2' : ''}` : '') +
    (c.layout !== undefined ? ` ${describeLayout(c.layout)}` : '') +
    (bugs.length > 0 ? ` bugs=${bugs.join(',')}` : '')
  );
}
