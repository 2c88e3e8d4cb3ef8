// The correctness workload: a few clients hammering a small key set through
// random coordinators, so that concurrent writes, conflicts, deletes and
// stale contexts are common. Each client remembers the context of its last
// read of each key and uses it for most later writes to that key (Dynamo
// §4.4: read, then write with the context), sometimes writes blind (no
// context: a new sibling), sometimes as S3 does (no context, replacing what
// the origin replica holds), and deletes with or without a context.
//
// Every operation is recorded in the History with its outcome:
//   ok       the coordinator answered success;
//   failed   QuorumError 'not_applied' (or 'none' for reads), or the chosen
//            coordinator was down (connection refused);
//   unknown  QuorumError 'unknown', the client's own deadline passed, or the
//            coordinator crashed with the operation in flight.

import { QuorumError } from '../coordinator/types.js';
import type { Random } from '../util/runtime.js';
import { dotKey, type NodeId, type VersionVector } from '../version/dvv.js';
import type { RunConfig } from './config.js';
import { encodeValue, seen, WRITE_HEADER, type History, type Phase, type ReadOp, type WriteOp } from './history.js';
import type { Scheduler } from './scheduler.js';
import { BUCKET, type World } from './world.js';

export function keyName(i: number): string {
  return `k${i}`;
}

interface InFlight {
  readonly node: NodeId;
  settle(outcome: 'unknown', why: string): void;
}

/** Runs one operation at a time per client and records it. Shared by the workload clients and the healer. */
export class OpRunner {
  private readonly inFlight = new Set<InFlight>();

  constructor(
    private readonly world: World,
    private readonly sched: Scheduler,
    private readonly history: History,
  ) {
    // A coordinator that crashes takes its in-flight requests with it: the client sees a reset connection.
    world.onCrash((node) => {
      for (const f of [...this.inFlight]) if (f.node === node) f.settle('unknown', `coordinator ${node} crashed`);
    });
  }

  /** The client-side deadline: generous, so that it fires only when the coordinator is gone or stuck. */
  private get clientDeadlineMs(): number {
    return this.world.config.replicaTimeoutMs * 6 + 1000;
  }

  write(
    client: number,
    node: NodeId,
    key: string,
    value: 'put' | 'delete',
    context: VersionVector | null,
    phase: Phase,
    opts: { supersedeVisible?: boolean; w?: number; sloppy?: boolean } = {},
  ): Promise<WriteOp> {
    const supersedeVisible = opts.supersedeVisible ?? false;
    const w = opts.w ?? this.world.config.w;
    const sloppy = opts.sloppy ?? true;
    const writeId = this.history.newWriteId();
    const op: WriteOp = {
      kind: value,
      opId: this.history.newOpId(),
      writeId,
      client,
      node,
      key,
      context,
      supersedeVisible: context === null && supersedeVisible,
      w,
      sloppy,
      phase,
      invokedAt: this.sched.now,
      completedAt: -1,
      outcome: 'pending',
      dots: [],
      replicas: [],
      resultContext: undefined,
      error: undefined,
    };
    this.history.addWrite(op);
    this.sched.note(`c${client} invoke ${value} w${writeId} ${key} via ${node} ctx=${context === null ? (op.supersedeVisible ? 'origin' : 'none') : JSON.stringify(context)} w=${w}${sloppy ? '' : ' strict'}`);
    const coordinator = this.world.coordinator(node);
    return new Promise<WriteOp>((resolve) => {
      let done = false;
      const deadline: { timer?: { cancel(): void } } = {};
      const finish = (outcome: 'ok' | 'failed' | 'unknown', why: string): void => {
        if (done) return;
        done = true;
        deadline.timer?.cancel();
        this.inFlight.delete(flight);
        op.outcome = outcome;
        op.completedAt = this.sched.now;
        if (outcome !== 'ok') op.error = why;
        this.sched.note(`c${client} ${value} w${writeId} ${key} -> ${outcome}${outcome === 'ok' ? ' dots=' + op.dots.map(dotKey).join(',') : ': ' + why.slice(0, 120)}`);
        resolve(op);
      };
      const flight: InFlight = { node, settle: finish };
      if (coordinator === undefined) {
        finish('failed', `coordinator ${node} is down (connection refused)`);
        return;
      }
      this.inFlight.add(flight);
      deadline.timer = this.sched.schedule(this.clientDeadlineMs, `c${client} deadline w${writeId}`, () => finish('unknown', 'client deadline passed'));
      coordinator
        .put({
          bucket: BUCKET,
          key,
          value: value === 'put' ? encodeValue(writeId, key) : null,
          meta: { headers: { [WRITE_HEADER]: String(writeId) } },
          context,
          supersedeVisible: op.supersedeVisible,
          w,
          sloppy,
        })
        .then(
          (res) => {
            if (done) return;
            op.dots = seen(res.set)
              .filter((s) => s.writeId === writeId)
              .map((s) => s.dot);
            op.replicas = [...res.replicasWritten];
            op.resultContext = res.context;
            finish('ok', '');
          },
          (err: unknown) => {
            if (err instanceof QuorumError) finish(err.outcome === 'not_applied' ? 'failed' : 'unknown', err.message);
            else {
              this.history.anomalies.push({ what: `put w${writeId} threw a non-quorum error: ${String(err)}`, at: this.sched.now });
              finish('unknown', String(err));
            }
          },
        );
    });
  }

  read(client: number, node: NodeId, key: string, r: number, phase: Phase): Promise<ReadOp> {
    const op: ReadOp = {
      kind: 'get',
      opId: this.history.newOpId(),
      client,
      node,
      key,
      r,
      phase,
      invokedAt: this.sched.now,
      completedAt: -1,
      outcome: 'pending',
      siblings: [],
      context: undefined,
      replicas: [],
      error: undefined,
    };
    this.history.addRead(op);
    this.sched.note(`c${client} invoke get ${key} r=${r} via ${node}`);
    const coordinator = this.world.coordinator(node);
    return new Promise<ReadOp>((resolve) => {
      let done = false;
      const deadline: { timer?: { cancel(): void } } = {};
      const finish = (outcome: 'ok' | 'failed' | 'unknown', why: string): void => {
        if (done) return;
        done = true;
        deadline.timer?.cancel();
        this.inFlight.delete(flight);
        op.outcome = outcome;
        op.completedAt = this.sched.now;
        if (outcome !== 'ok') op.error = why;
        const sibs = op.siblings.map((s) => `${s.tombstone ? 'del' : 'w'}${s.writeId}`).join(',');
        this.sched.note(`c${client} get ${key} -> ${outcome}${outcome === 'ok' ? ` [${sibs}]` : ': ' + why.slice(0, 120)}`);
        resolve(op);
      };
      const flight: InFlight = { node, settle: finish };
      if (coordinator === undefined) {
        finish('failed', `coordinator ${node} is down (connection refused)`);
        return;
      }
      this.inFlight.add(flight);
      deadline.timer = this.sched.schedule(this.clientDeadlineMs, `c${client} deadline get ${key}`, () => finish('unknown', 'client deadline passed'));
      coordinator.get({ bucket: BUCKET, key, r }).then(
        (res) => {
          if (done) return;
          op.siblings = seen(res.set);
          op.context = res.context;
          op.replicas = [...res.replicasRead];
          finish('ok', '');
        },
        (err: unknown) => {
          if (!(err instanceof QuorumError)) this.history.anomalies.push({ what: `get ${key} threw a non-quorum error: ${String(err)}`, at: this.sched.now });
          finish('failed', err instanceof Error ? err.message : String(err));
        },
      );
    });
  }
}

/** One client of the safety phase: `ops` operations, one at a time, with think time between. */
export class Client {
  private readonly contexts = new Map<string, VersionVector>();
  private remaining: number;

  constructor(
    readonly id: number,
    private readonly config: RunConfig,
    private readonly world: World,
    private readonly sched: Scheduler,
    private readonly runner: OpRunner,
    private readonly random: Random,
  ) {
    this.remaining = config.opsPerClient;
  }

  get finished(): boolean {
    return this.remaining <= 0;
  }

  start(): void {
    this.next();
  }

  /** Set after an acknowledged write: read that key back at once (through any node), the sharpest read-your-writes probe. */
  private readBack: string | undefined;

  private next(): void {
    if (this.remaining <= 0) return;
    this.remaining--;
    const think = this.readBack !== undefined ? 0 : this.random.int(2 * this.config.thinkMs + 1);
    this.sched.schedule(think, '', () => void this.step().then(() => this.next()));
  }

  private async step(): Promise<void> {
    const r = this.random;
    const key = this.readBack ?? keyName(r.int(this.config.keys));
    const node = this.world.nodeIds[r.int(this.world.nodeIds.length)] as NodeId;
    const roll = this.readBack !== undefined ? 0 : r.next();
    this.readBack = undefined;
    const ctx = this.contexts.get(key) ?? null;
    // Mostly the run's quorum; sometimes a per-request override, or a strict (non-sloppy) write.
    const n = this.config.n;
    const rq = r.next() < 0.3 ? 1 + r.int(n) : this.config.r;
    const wopts = { w: r.next() < 0.3 ? 1 + r.int(n) : this.config.w, sloppy: r.next() >= 0.15 };
    if (roll < 0.4) {
      const op = await this.runner.read(this.id, node, key, rq, 'safety');
      if (op.outcome === 'ok' && op.context !== undefined) this.contexts.set(key, op.context);
    } else if (roll < 0.7) {
      const op = await this.runner.write(this.id, node, key, 'put', ctx, 'safety', wopts);
      this.afterWrite(key, op);
    } else if (roll < 0.78) {
      const op = await this.runner.write(this.id, node, key, 'put', null, 'safety', wopts);
      this.afterWrite(key, op);
    } else if (roll < 0.82) {
      // An S3 PUT: no context, replaces whatever the origin replica holds.
      const op = await this.runner.write(this.id, node, key, 'put', null, 'safety', { ...wopts, supersedeVisible: true });
      this.afterWrite(key, op);
    } else if (roll < 0.96) {
      const op = await this.runner.write(this.id, node, key, 'delete', ctx, 'safety', wopts);
      this.afterWrite(key, op);
    } else {
      const op = await this.runner.write(this.id, node, key, 'delete', null, 'safety', wopts);
      this.afterWrite(key, op);
    }
  }

  private afterWrite(key: string, op: WriteOp): void {
    // A write's answer carries a context too (the merged state of the
    // acknowledging replicas). Use it half the time; otherwise keep the
    // older context, so that stale contexts get exercised as well.
    if (op.outcome === 'ok' && op.resultContext !== undefined && this.random.next() < 0.5) this.contexts.set(key, op.resultContext);
    if (op.outcome === 'ok' && this.random.next() < 0.3) this.readBack = key;
  }
}
