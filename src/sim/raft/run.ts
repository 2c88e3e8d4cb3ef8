// One seed, one Raft control-plane run (the shape of sim/run.ts): draw the
// configuration, run the workload under faults (safety phase), then heal
// every fault and restart every node (liveness phase): a leader must emerge
// and every member must apply the same state. The checkers watch
// throughout and look at the history and the final state at the end.

import { violationOfThrow, runUntilHolds, Scheduler } from '../scheduler.js';
import { SeededRandom } from '../../util/runtime.js';
import { RaftSimCluster } from './cluster.js';
import { describeRaftConfig, drawRaftConfig, type RaftDrawOptions, type RaftRunConfig } from './config.js';
import { makeCheckers, type Violation } from './checkers/index.js';
import { RaftFaultDriver } from './faults.js';
import { RaftHistory } from './history.js';
import { Operator, RaftClient } from './workload.js';
import type { RawNode } from '../../raft/raw-node.js';

export interface RaftRunOptions extends RaftDrawOptions {
  readonly traceAll?: boolean;
}

export interface RaftRunResult {
  readonly seed: number;
  readonly config: RaftRunConfig;
  readonly violations: readonly Violation[];
  readonly fingerprint: string;
  readonly events: number;
  readonly simulatedMs: number;
  readonly ops: number;
  readonly opsOk: number;
  /** Elections won over the run (distinct leader terms). */
  readonly leaders: number;
  readonly traceTail: readonly string[];
  readonly trace: readonly string[] | undefined;
}

/** Bound on how long after healing a leader must exist and every member must have applied the same state. */
const CONVERGE_MS = 30_000;
const CHECK_EVERY_MS = 100;

export async function runRaftSeed(seed: number, opts: RaftRunOptions = {}): Promise<RaftRunResult> {
  const config = drawRaftConfig(seed, opts);
  const sched = new Scheduler({ traceAll: opts.traceAll ?? false, maxEvents: 2_000_000 });
  sched.note(`RAFT seed=${seed} ${describeRaftConfig(config)}`);
  const checkers = makeCheckers();
  const history = new RaftHistory();
  const runErrors: string[] = [];
  let violations: Violation[] = [];
  const leaderTerms = new Set<number>();
  let cluster: RaftSimCluster | undefined;
  try {
    cluster = new RaftSimCluster(sched, config, checkers, new SeededRandom(seed ^ 0x2a17));
    const c = cluster;
    const faults = new RaftFaultDriver(c, sched, new SeededRandom(seed ^ 0xfa0172));
    const workRandom = new SeededRandom(seed ^ 0x3010ad);
    const clients = Array.from({ length: config.clients }, (_, i) => new RaftClient(i + 1, c, sched, history, config, new SeededRandom(workRandom.int(2 ** 31))));
    const operator = new Operator(c, sched, config, new SeededRandom(workRandom.int(2 ** 31)));
    // ----------------------------------------------------- safety phase
    faults.start();
    operator.start();
    for (const cl of clients) cl.start();
    await sched.runUntil(config.safetyMs);
    // ---------------------------------------------------- healing phase
    for (const cl of clients) cl.stop();
    faults.stop();
    c.faultsOn = false;
    c.heal();
    for (const n of c.nodes.values()) c.restart(n);
    const pending = () => history.ops.some((o) => o.outcome === 'pending');
    await runUntilHolds(sched, () => !pending() && converged(c), sched.now + CONVERGE_MS, CHECK_EVERY_MS);
    if (!converged(c)) runErrors.push(`liveness: ${CONVERGE_MS / 1000} s after healing ${describeState(c)}`);
    for (const n of c.nodes.values()) {
      const r = n.raw?.raft;
      if (r?.state === 'leader') leaderTerms.add(r.term);
    }
    const members = memberIds(c);
    const states = new Map<string, Uint8Array>();
    for (const id of members) states.set(id, c.node(id).sm.snapshot());
    const storages = new Map([...c.nodes].map(([id, n]) => [id, n.storage]));
    for (const ch of checkers) ch.finish({ ops: history.ops, storages, contested: config.contested, states, runErrors });
    for (const ch of checkers) violations.push(...ch.violations());
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
    leaders: leaderTerms.size,
    traceTail: sched.traceTail(),
    trace: sched.traceAll(),
  };
}

/** The members of the configuration as the leader sees it (a removed node need not follow the log any more). */
function memberIds(c: RaftSimCluster): string[] {
  const l = c.leader();
  if (l === undefined) return c.ids;
  const conf = (l.raw as RawNode).confState();
  return [...conf.voters, ...conf.learners].filter((id) => c.nodes.has(id));
}

function converged(c: RaftSimCluster): boolean {
  const l = c.leader();
  if (l === undefined) return false;
  const lr = (l.raw as RawNode).raft;
  // The leader has committed an entry of its term (its noop), and every member applied exactly that far, to the same state.
  if (lr.log.term(lr.log.committed) !== lr.term) return false;
  const want = new TextDecoder().decode(l.sm.snapshot());
  for (const id of memberIds(c)) {
    const n = c.node(id);
    if (n.raw === undefined || n.busy || n.applied !== lr.log.committed) return false;
    if (new TextDecoder().decode(n.sm.snapshot()) !== want) return false;
  }
  return true;
}

function describeState(c: RaftSimCluster): string {
  return [...c.nodes.values()]
    .map((n) => {
      const s = n.raw?.status();
      return s === undefined ? `${n.id}:down` : `${n.id}:${s.state}/t${s.term}/c${s.commit}/a${n.applied}`;
    })
    .join(' ');
}
