// One seed, one run (TigerBeetle's VOPR shape): draw the configuration, run
// the workload under faults (safety phase), turn every fault off and let the
// cluster heal (liveness phase), then hand the history and every node's final
// state to the checkers.
//
// Healing: all links restored, every node restarted, time passes so liveness
// views recover and hints are delivered; then a healer reads every key with
// R = N, whose read repair brings every owner to the merged state. When
// Merkle anti-entropy lands (issue 3) it becomes one more per-node driver in
// World.boot(), and this explicit read sweep can shrink to a check.

import { CHECKERS, type FinalState, type Violation } from './checkers/index.js';
import { describeConfig, drawConfig, type DrawOptions, type RunConfig } from './config.js';
import { FaultDriver } from './faults.js';
import { History } from './history.js';
import { EventLimitError, Scheduler } from './scheduler.js';
import { SeededRandom } from '../util/runtime.js';
import { Client, keyName, OpRunner } from './workload.js';
import { World } from './world.js';
import type { KeyState } from './world.js';

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
}

/** How long the cluster gets to settle after the faults stop, before and after the healing reads. */
const SETTLE_MS = 3000;
const HEAL_READ_ATTEMPTS = 10;
/** Bound on how long membership views may take to see every node alive again after the faults stop. */
const VIEW_HEAL_MS = 60_000;

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
    const clients = Array.from({ length: config.clients }, (_, i) => new Client(i + 1, config, world, sched, runner, new SeededRandom(workloadRandom.int(2 ** 31))));
    for (const c of clients) c.start();
    const pendingOps = () => history.ops.some((o) => o.outcome === 'pending');
    await sched.runUntil(config.safetyMs, () => clients.every((c) => c.finished) && !pendingOps());

    // --------------------------------------------------- healing phase
    faults.stop();
    world.heal();
    await sched.runUntil(sched.now + SETTLE_MS);
    // Liveness: once the faults are gone every node's view must heal, or sloppy quorums never end.
    const viewsBy = sched.now + VIEW_HEAL_MS;
    await sched.runUntil(viewsBy, () => world.allViewsAlive());
    if (!world.allViewsAlive()) runErrors.push(`liveness: some node still held a peer down ${VIEW_HEAL_MS / 1000} s after healing`);
    const keys = Array.from({ length: config.keys }, (_, i) => keyName(i));
    // Two sweeps: the first may still route around a node some view holds down.
    for (let sweep = 0; sweep < 2; sweep++) {
      let done = false;
      const healer = healingSweep(world, runner, keys, workloadRandom, runErrors, sweep === 1).then(() => {
        done = true;
      });
      await sched.runUntil(sched.now + 120_000, () => done);
      if (!done) runErrors.push(`healing sweep ${sweep + 1} did not finish within 120 s of virtual time`);
      void healer;
      await sched.runUntil(sched.now + SETTLE_MS);
    }

    const byKey = new Map<string, KeyState>();
    for (const k of keys) byKey.set(k, world.keyState(k));
    const final: FinalState = { keys, byKey, pendingHints: world.pendingHints() };
    for (const c of CHECKERS) violations.push(...c.check({ config, history, final, runErrors }));
  } catch (err) {
    if (err instanceof EventLimitError) violations = [{ checker: 'livelock', message: err.message }];
    else violations = [{ checker: 'crash', message: err instanceof Error ? (err.stack ?? err.message) : String(err) }];
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
  };
}

/** Reads every key with R = N through a random node, retrying; a key that never reads is a liveness failure. */
async function healingSweep(world: World, runner: OpRunner, keys: readonly string[], random: SeededRandom, errors: string[], last: boolean): Promise<void> {
  for (const key of keys) {
    let ok = false;
    for (let attempt = 0; attempt < HEAL_READ_ATTEMPTS && !ok; attempt++) {
      const node = world.nodeIds[random.int(world.nodeIds.length)] as string;
      const op = await runner.read(0, node, key, world.config.n, 'heal');
      ok = op.outcome === 'ok';
      if (!ok) await new Promise<void>((resolve) => world.sched.schedule(500, 'healer retry', resolve));
    }
    if (!ok && last) errors.push(`liveness: ${key} could not be read with R=N after healing (${HEAL_READ_ATTEMPTS} attempts)`);
  }
}
