// One seed, one run (TigerBeetle's VOPR shape): draw the configuration, run
// the workload under faults (safety phase), turn every fault off and let the
// cluster heal (liveness phase), then hand the history and every node's final
// state to the checkers.
//
// Healing: all links restored, every node restarted; then time passes and
// nothing else: liveness views must recover, hinted handoff must empty every
// hint table, anti-entropy must bring every partition's owners to equal
// Merkle roots, and (when the run collects tombstones) collection must
// remove every tombstone once its grace period is over. No read drives
// convergence: read repair would hide what handoff and anti-entropy failed
// to do. The final state is taken at the first instant the cluster is
// converged; then one read per key with R = N checks that the cluster
// answers, and answers exactly what its owners hold.

import { CHECKERS, type FinalState, type Violation } from './checkers/index.js';
import { clockSpreadMs, describeConfig, drawConfig, type DrawOptions, type RunConfig } from './config.js';
import { confirmGapMs } from '../antientropy/data-age.js';
import { FaultDriver } from './faults.js';
import { History } from './history.js';
import { violationOfThrow, runUntilHolds, Scheduler } from './scheduler.js';
import { SeededRandom } from '../util/runtime.js';
import { Client, keyName, OpRunner } from './workload.js';
import { BUCKET, World } from './world.js';
import type { KeyState, MechanismStats } from './world.js';
import { dotKey } from '../version/dvv.js';

export interface RunOptions extends DrawOptions {
  readonly traceAll?: boolean;
}

export interface RunResult {
  readonly seed: number;
  readonly config: RunConfig;
  readonly violations: readonly Violation[];
  readonly fingerprint: string;
  readonly events: number;
  /** Virtual time the run covered, ms. */
  readonly simulatedMs: number;
  readonly ops: number;
  readonly opsOk: number;
  readonly traceTail: readonly string[];
  readonly trace: readonly string[] | undefined;
  readonly history: History;
  /** What handoff, anti-entropy and collection did. */
  readonly stats: MechanismStats;
}

/** Bound on how long membership views may take to see every node alive again after the faults stop. */
const VIEW_HEAL_MS = 60_000;
/** Bound on how long handoff and anti-entropy may take to converge once the views healed. */
const CONVERGE_MS = 60_000;
/** How often (virtual ms) the healing phase looks at whether the cluster has converged. */
const CHECK_EVERY_MS = 50;
const FINAL_READ_ATTEMPTS = 5;
/** Pause between final read attempts: a passive detector may still hold a node down after a late timeout of a request sent before healing. */
const FINAL_READ_RETRY_MS = 1000;

export async function runSeed(seed: number, opts: RunOptions = {}): Promise<RunResult> {
  const config = drawConfig(seed, opts);
  const sched = new Scheduler({ traceAll: opts.traceAll ?? false });
  const history = new History();
  sched.note(`RUN seed=${seed} ${describeConfig(config)}`);
  const world = new World(sched, config, history);
  const runner = new OpRunner(world, sched, history);
  const workloadRandom = new SeededRandom(seed ^ 0x3c1e47);
  const faults = new FaultDriver(sched, new SeededRandom(seed ^ 0xfa017), config.faults, world);
  const runErrors: string[] = [];
  let violations: Violation[] = [];

  try {
    // ---------------------------------------------------- safety phase
    if (config.faulty) world.faultyNetwork();
    faults.start();
    world.startLayoutChanges();
    const clients = Array.from({ length: config.clients }, (_, i) => new Client(i + 1, config, world, sched, runner, new SeededRandom(workloadRandom.int(2 ** 31))));
    for (const c of clients) c.start();
    const pendingOps = () => history.ops.some((o) => o.outcome === 'pending');
    // Every layout step is applied while faults are on, however early the clients finish.
    await sched.runUntil(config.safetyMs, () => clients.every((c) => c.finished) && !pendingOps() && world.layoutStepsLeft() === 0);

    // --------------------------------------------------- healing phase
    // Clients that did not finish within the bound issue nothing more; what they have in flight completes.
    for (const c of clients) c.stop();
    faults.stop();
    world.heal();
    // Liveness: once the faults are gone every node's view must heal, or sloppy quorums never end.
    const viewsBy = sched.now + VIEW_HEAL_MS;
    await sched.runUntil(viewsBy, () => world.allViewsAlive());
    if (!world.allViewsAlive()) runErrors.push(`liveness: some node still held a peer down ${VIEW_HEAL_MS / 1000} s after healing`);
    const keys = Array.from({ length: config.keys }, (_, i) => keyName(i));
    // Convergence through handoff and anti-entropy alone, then (when the
    // run collects tombstones) collection of every tombstone.
    const gc = config.antiEntropy.config;
    const collect = gc.gcEnabled;
    const healedAt = sched.now;
    const boundMs = CONVERGE_MS + (collect ? gcBoundMs(config) : 0);
    const done = (): boolean => clients.every((c) => c.finished) && !pendingOps() && world.allViewsAlive() && world.converged() && (!collect || world.tombstoneKeys() === 0);
    await waitFor(sched, done, healedAt + boundMs);
    if (!world.converged()) {
      const layout = world.layout === undefined || world.layoutSettled() ? '' : `, layout not settled (live versions ${world.layout.history.versions.map((v) => v.version).join(',')})`;
      runErrors.push(`convergence: not converged ${(boundMs / 1000).toFixed(0)} s after the views healed: ${world.pendingHints()} hints pending, ${world.differingPartitions().length} partitions with differing Merkle roots${layout}`);
    } else if (collect && world.tombstoneKeys() > 0) {
      runErrors.push(`collection: ${world.tombstoneKeys()} tombstone-only keys still held ${(boundMs / 1000).toFixed(1)} s after the views healed (grace ${gc.tombstoneGraceMs} ms, sweep every ${gc.gcIntervalMs} ms)`);
    }

    const byKey = new Map<string, KeyState>();
    for (const k of keys) byKey.set(k, world.keyState(k));
    const final: FinalState = { keys, byKey, pendingHints: world.pendingHints(), problems: world.stateProblems() };
    await finalReads(world, runner, byKey, workloadRandom, runErrors);
    for (const c of CHECKERS) violations.push(...c.check({ config, history, final, runErrors }));
  } catch (err) {
    violations = [violationOfThrow(err)];
  }
  return {
    seed,
    config,
    violations,
    fingerprint: sched.fingerprint,
    events: sched.events,
    simulatedMs: sched.now,
    ops: history.ops.length,
    opsOk: history.ops.filter((o) => o.outcome === 'ok').length,
    traceTail: sched.traceTail(),
    trace: sched.traceAll(),
    history,
    stats: world.stats(),
  };
}

/**
 * How long after convergence every tombstone must be gone: the grace period
 * (judged on the primary's clock against a timestamp from the origin's, so
 * plus the spread of the clocks), the gap between a key's two
 * confirmations, three sweep intervals (the sweep that confirms first, the
 * one that confirms again, and slack), two rounds, and time for the sweeps.
 */
function gcBoundMs(config: RunConfig): number {
  const gc = config.antiEntropy.config;
  return gc.tombstoneGraceMs + clockSpreadMs(config.faults) + confirmGapMs(gc) + 3 * gc.gcIntervalMs + 2 * gc.intervalMs + 10_000;
}

/** Runs the world until `pred` holds (looked at every CHECK_EVERY_MS) or `untilMs`; says whether it holds. */
function waitFor(sched: Scheduler, pred: () => boolean, untilMs: number): Promise<boolean> {
  return runUntilHolds(sched, pred, untilMs, CHECK_EVERY_MS);
}

/**
 * The final check, after the final state was taken (so that its read repair
 * cannot hide anything): every key reads with R = N through a random node,
 * and the read returns exactly the live values the owners hold (tombstones
 * may have been collected meanwhile). A key that never reads is a liveness
 * failure.
 */
async function finalReads(world: World, runner: OpRunner, byKey: ReadonlyMap<string, KeyState>, random: SeededRandom, errors: string[]): Promise<void> {
  for (const [key, state] of byKey) {
    let done = false;
    let op: Awaited<ReturnType<OpRunner['read']>> | undefined;
    const reading = (async () => {
      for (let attempt = 0; attempt < FINAL_READ_ATTEMPTS; attempt++) {
        const node = world.nodeIds[random.int(world.nodeIds.length)] as string;
        op = await runner.read(0, node, key, world.config.n, 'heal');
        if (op.outcome === 'ok') return;
        await new Promise<void>((resolve) => world.sched.schedule(FINAL_READ_RETRY_MS, 'final read retry', resolve));
      }
    })().then(() => {
      done = true;
    });
    await world.sched.runUntil(world.sched.now + 60_000, () => done);
    void reading;
    if (op?.outcome !== 'ok') {
      errors.push(`liveness: ${key} could not be read with R=N after convergence (${FINAL_READ_ATTEMPTS} attempts): ${op?.error ?? 'no answer'}`);
      continue;
    }
    const owner = state.owners[0];
    const held = owner === undefined ? undefined : state.byNode.get(owner);
    const live = (dots: string[]) => dots.sort().join(' ');
    const want = live((held?.siblings ?? []).filter((s) => s.value !== null).map((s) => dotKey(s.dot)));
    const got = live(op.siblings.filter((s) => !s.tombstone).map((s) => dotKey(s.dot)));
    const wantDel = new Set((held?.siblings ?? []).filter((s) => s.value === null).map((s) => dotKey(s.dot)));
    const extraDel = op.siblings.filter((s) => s.tombstone && !wantDel.has(dotKey(s.dot))).map((s) => dotKey(s.dot));
    if (want !== got || extraDel.length > 0) {
      errors.push(`final read of ${BUCKET}/${key} with R=N via ${op.node} returned [${op.siblings.map((s) => `${s.tombstone ? 'del' : 'val'}:${dotKey(s.dot)}`).join(' ')}], but the converged owners hold live [${want}] and tombstones [${[...wantDel].join(' ')}]`);
    }
  }
}
