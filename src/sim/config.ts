// One seed -> one run configuration: cluster size, quorum, workload shape and
// fault mix (TigerBeetle's simulator randomises its cluster and fault
// schedule the same way, so that every seed explores a different corner).

import { SeededRandom, type Random } from '../util/runtime.js';
import type { CoordinatorBugs } from '../coordinator/coordinator.js';

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
  readonly bugs: CoordinatorBugs;
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
  readonly bugs?: CoordinatorBugs;
  /** Force a fault-free run (e.g. to exercise read-your-writes). */
  readonly faulty?: boolean;
}

function pick<T>(random: Random, items: readonly T[]): T {
  return items[random.int(items.length)] as T;
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
      driftMax: chance(random, 0.3) ? random.next() * 0.05 : 0,
      // Drawn last so that adding it did not change the earlier draws of existing seeds.
      slowDisks: chance(random, 0.4),
    };
  }
  return {
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
    membership: random.next() < 0.5 ? 'passive' : 'swim',
    safetyMs: 30_000,
    bugs: opts.bugs ?? {},
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
  if (f.skewMs > 0) on.push(`skew=${f.skewMs}ms`);
  if (f.driftMax > 0) on.push(`drift=${(f.driftMax * 100).toFixed(1)}%`);
  const bugs = Object.entries(c.bugs).filter(([, v]) => v === true).map(([k]) => k);
  return (
    `nodes=${c.nodes} N=${c.n} R=${c.r} W=${c.w} keys=${c.keys} clients=${c.clients}x${c.opsPerClient} ` +
    `${c.membership} timeout=${c.replicaTimeoutMs}ms latency=${c.latencyMs}+${c.baseJitterMs}ms faults=${on.length > 0 ? on.join(',') : 'none'}` +
    (bugs.length > 0 ? ` bugs=${bugs.join(',')}` : '')
  );
}
