// The correctness workload: a few clients hammering a small key set through
// random coordinators, so that concurrent writes, conflicts, deletes and
// stale contexts are common. Each client remembers the context of its last
// read of each key and uses it for most later writes to that key (Dynamo
// §4.4: read, then write with the context), sometimes writes blind (no
// context: a new sibling), sometimes as the native API and S3 do without a
// context (read first, then supersede the deletes read, or everything read
// and what the origin holds), and deletes with or without a context, often
// right after one of its puts was acknowledged.
//
// Every operation is recorded in the History with its outcome:
//   ok       the coordinator answered success;
//   failed   QuorumError 'not_applied' (or 'none' for reads), or the chosen
//            coordinator was down (connection refused);
//   unknown  QuorumError 'unknown', the client's own deadline passed, or the
//            coordinator crashed with the operation in flight.

import type { Coordinator } from '../coordinator/coordinator.js';
import { QuorumError } from '../coordinator/types.js';
import { writeAfterRead, type Supersede } from '../coordinator/read-first.js';
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
    opts: { supersedeVisible?: boolean; w?: number; sloppy?: boolean; readFirst?: Supersede; r?: number } = {},
  ): Promise<WriteOp> {
    const supersedeVisible = opts.supersedeVisible ?? false;
    const readFirst = context === null ? (opts.readFirst ?? null) : null;
    const readR = readFirst === null ? null : (opts.r ?? this.world.config.r);
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
      supersedeVisible: context === null && readFirst === null && supersedeVisible,
      readFirst,
      readR,
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
    this.sched.note(`c${client} invoke ${value} w${writeId} ${key} via ${node} ctx=${context === null ? (readFirst !== null ? `read:${readFirst} r=${readR}` : op.supersedeVisible ? 'origin' : 'none') : JSON.stringify(context)} w=${w}${sloppy ? '' : ' strict'}`);
    return this.track(
      op,
      node,
      `c${client} deadline w${writeId}`,
      (outcome, why) => `c${client} ${value} w${writeId} ${key} -> ${outcome}${outcome === 'ok' ? ' dots=' + op.dots.map(dotKey).join(',') : ': ' + why.slice(0, 120)}`,
      (coordinator) => {
        const req = {
          bucket: BUCKET,
          key,
          value: value === 'put' ? encodeValue(writeId, key) : null,
          meta: { headers: { [WRITE_HEADER]: String(writeId) } },
          w,
          sloppy,
        };
        if (readFirst !== null) return writeAfterRead(coordinator, { ...req, supersede: readFirst, r: readR ?? this.world.config.r }, this.world.config.bugs);
        return coordinator.put({ ...req, context, supersedeVisible: op.supersedeVisible });
      },
      (res) => {
        op.dots = seen(res.set)
          .filter((s) => s.writeId === writeId)
          .map((s) => s.dot);
        op.replicas = [...res.replicasWritten];
        op.resultContext = res.context;
      },
      (err) => {
        // A read-first delete whose read failed wrote nothing (a put whose read failed is written without it).
        if (err instanceof QuorumError) return [err.outcome === 'not_applied' || err.op === 'read' ? 'failed' : 'unknown', err.message];
        this.history.anomalies.push({ what: `put w${writeId} threw a non-quorum error: ${String(err)}`, at: this.sched.now });
        return ['unknown', String(err)];
      },
    );
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
    return this.track(
      op,
      node,
      `c${client} deadline get ${key}`,
      (outcome, why) => {
        const sibs = op.siblings.map((s) => `${s.tombstone ? 'del' : 'w'}${s.writeId}`).join(',');
        return `c${client} get ${key} -> ${outcome}${outcome === 'ok' ? ` [${sibs}]` : ': ' + why.slice(0, 120)}`;
      },
      (coordinator) => coordinator.get({ bucket: BUCKET, key, r }),
      (res) => {
        op.siblings = seen(res.set);
        op.context = res.context;
        op.replicas = [...res.replicasRead];
      },
      (err) => {
        if (!(err instanceof QuorumError)) this.history.anomalies.push({ what: `get ${key} threw a non-quorum error: ${String(err)}`, at: this.sched.now });
        return ['failed', err instanceof Error ? err.message : String(err)];
      },
    );
  }

  /**
   * Runs one client call through `node`'s coordinator and settles `op`
   * exactly once: ok when `call` resolves (`onOk` records the answer, unless
   * the op was settled meanwhile), the outcome and reason `onError` gives
   * when it rejects, failed when the
   * coordinator is down (connection refused), unknown when the client
   * deadline passes or the coordinator crashes with the call in flight.
   */
  private track<Op extends WriteOp | ReadOp, T>(
    op: Op,
    node: NodeId,
    deadlineLabel: string,
    done: (outcome: 'ok' | 'failed' | 'unknown', why: string) => string,
    call: (coordinator: Coordinator) => Promise<T>,
    onOk: (res: T) => void,
    onError: (err: unknown) => ['failed' | 'unknown', string],
  ): Promise<Op> {
    const coordinator = this.world.coordinator(node);
    return new Promise<Op>((resolve) => {
      let settled = false;
      const deadline: { timer?: { cancel(): void } } = {};
      const finish = (outcome: 'ok' | 'failed' | 'unknown', why: string): void => {
        if (settled) return;
        settled = true;
        deadline.timer?.cancel();
        this.inFlight.delete(flight);
        op.outcome = outcome;
        op.completedAt = this.sched.now;
        if (outcome !== 'ok') op.error = why;
        this.sched.note(done(outcome, why));
        resolve(op);
      };
      const flight: InFlight = { node, settle: finish };
      if (coordinator === undefined) {
        finish('failed', `coordinator ${node} is down (connection refused)`);
        return;
      }
      this.inFlight.add(flight);
      deadline.timer = this.sched.schedule(this.clientDeadlineMs, deadlineLabel, () => finish('unknown', 'client deadline passed'));
      call(coordinator).then(
        (res) => {
          if (settled) return;
          onOk(res);
          finish('ok', '');
        },
        (err: unknown) => finish(...onError(err)),
      );
    });
  }
}

/** What a client does next. */
type Action = { readonly kind: 'op' } | { readonly kind: 'cleanup'; readonly key: string } | { readonly kind: 'pause'; readonly ms: number };

/**
 * One client of the safety phase: `ops` operations, one at a time, with
 * think time between. With config.cleanup the client works in two sessions:
 * half its operations, then it reads and deletes every key (a lifecycle
 * rule emptying a bucket), pauses long enough for the tombstones' grace
 * period to pass (so that collection runs while faults are still on), and
 * then does the other half, writing keys that may have been collected;
 * with config.finalCleanup it deletes every key once more at the end, so
 * that healing must spread and collect the tombstones.
 */
export class Client {
  private readonly contexts = new Map<string, VersionVector>();
  private plan: Action[] = [];
  private busy = false;

  constructor(
    readonly id: number,
    private readonly config: RunConfig,
    private readonly world: World,
    private readonly sched: Scheduler,
    private readonly runner: OpRunner,
    private readonly random: Random,
  ) {}

  /** Every operation issued and completed (the last one may still be thinking or in flight otherwise). */
  get finished(): boolean {
    return this.plan.length === 0 && !this.busy;
  }

  /** Issues no further operation, not even one already scheduled (the safety phase is over); the one in flight completes. */
  stop(): void {
    this.plan = [];
    this.stopped = true;
  }

  private stopped = false;

  start(): void {
    const ops = this.config.opsPerClient;
    const op: Action = { kind: 'op' };
    if (this.config.cleanup) {
      const first = Math.floor(ops / 2);
      const cleanup = Array.from({ length: this.config.keys }, (_, i): Action => ({ kind: 'cleanup', key: keyName(i) }));
      this.plan = [
        ...Array.from({ length: first }, () => op),
        ...cleanup,
        { kind: 'pause', ms: this.config.cleanupPauseMs },
        ...Array.from({ length: ops - first }, () => op),
        ...(this.config.finalCleanup ? cleanup : []),
      ];
    } else {
      this.plan = Array.from({ length: ops }, () => op);
    }
    this.next();
  }

  /** Set after an acknowledged write: read that key back at once (through any node), the sharpest read-your-writes probe. */
  private readBack: string | undefined;
  /** Set after an acknowledged put: delete that key at once, without a context (through any node), the sharpest delete-after-write probe. */
  private deleteAfter: { key: string; sloppy: boolean; w: number } | undefined;

  private next(): void {
    this.busy = false;
    const a = this.plan.shift();
    if (a === undefined) return;
    this.busy = true;
    const then = (p: () => Promise<void>): void => {
      if (this.stopped) this.busy = false;
      else void p().then(() => this.next());
    };
    switch (a.kind) {
      case 'pause':
        this.sched.schedule(a.ms, '', () => this.next());
        return;
      case 'cleanup':
        this.sched.schedule(this.random.int(2 * this.config.thinkMs + 1), '', () => then(() => this.cleanupKey(a.key)));
        return;
      case 'op': {
        const think = this.readBack !== undefined || this.deleteAfter !== undefined ? 0 : this.random.int(2 * this.config.thinkMs + 1);
        this.sched.schedule(think, '', () => then(() => this.step()));
        return;
      }
    }
  }

  private async step(): Promise<void> {
    const r = this.random;
    const after = this.deleteAfter;
    const key = this.readBack ?? after?.key ?? keyName(r.int(this.config.keys));
    const node = this.world.nodeIds[r.int(this.world.nodeIds.length)] as NodeId;
    const roll = this.readBack !== undefined ? 0 : r.next();
    this.readBack = undefined;
    this.deleteAfter = undefined;
    const ctx = this.contexts.get(key) ?? null;
    // Mostly the run's quorum; sometimes a per-request override, or a strict (non-sloppy) write.
    const n = this.config.n;
    const rq = r.next() < 0.3 ? 1 + r.int(n) : this.config.r;
    const wopts = this.writeOptions();
    let op: WriteOp;
    if (after !== undefined) {
      // The user deletes the key they just wrote, through any node, with no
      // context and as strict as the write was: the delete must cover it
      // (checkers/delete-after-write.ts).
      // Half the time with an R that meets the write's W (R + W > N): the case the README promises.
      const r2 = r.next() < 0.5 ? Math.min(n, n + 1 - after.w) : rq;
      op = await this.runner.write(this.id, node, key, 'delete', null, 'safety', { ...wopts, sloppy: after.sloppy, readFirst: 'everything', r: r2 });
    } else if (roll < 0.4) {
      const read = await this.runner.read(this.id, node, key, rq, 'safety');
      if (read.outcome === 'ok' && read.context !== undefined) this.contexts.set(key, read.context);
      return;
    } else if (roll < 0.66) {
      op = await this.runner.write(this.id, node, key, 'put', ctx, 'safety', wopts);
    } else if (roll < 0.72) {
      // The coordinator's blind write: a new sibling of everything.
      op = await this.runner.write(this.id, node, key, 'put', null, 'safety', wopts);
    } else if (roll < 0.76) {
      // A native PUT without a context: supersedes the deletes its read saw.
      op = await this.runner.write(this.id, node, key, 'put', null, 'safety', { ...wopts, readFirst: 'tombstones', r: rq });
    } else if (roll < 0.79) {
      // An S3 PUT: no context, replaces whatever a read quorum and the origin replica hold.
      op = await this.runner.write(this.id, node, key, 'put', null, 'safety', { ...wopts, readFirst: 'everything', r: rq });
    } else if (roll < 0.81) {
      // The coordinator's replace without a read (system records, content-addressed chunks).
      op = await this.runner.write(this.id, node, key, 'put', null, 'safety', { ...wopts, supersedeVisible: true });
    } else if (roll < 0.93) {
      op = await this.runner.write(this.id, node, key, 'delete', ctx, 'safety', wopts);
    } else if (roll < 0.95) {
      // The coordinator's blind tombstone: concurrent with everything.
      op = await this.runner.write(this.id, node, key, 'delete', null, 'safety', wopts);
    } else {
      // A native DELETE without a context: reads first.
      op = await this.runner.write(this.id, node, key, 'delete', null, 'safety', { ...wopts, readFirst: 'everything', r: rq });
    }
    this.afterWrite(key, op);
  }

  /** Mostly the run's W; sometimes a per-request override, or a strict (non-sloppy) write: no fallbacks, no hints. */
  private writeOptions(): { w: number; sloppy: boolean } {
    const r = this.random;
    return { w: r.next() < 0.3 ? 1 + r.int(this.config.n) : this.config.w, sloppy: r.next() >= this.config.strictShare };
  }

  /** Reads a key and deletes what it read (a lifecycle rule emptying a bucket). */
  private async cleanupKey(key: string): Promise<void> {
    const node = () => this.world.nodeIds[this.random.int(this.world.nodeIds.length)] as NodeId;
    const read = await this.runner.read(this.id, node(), key, this.config.r, 'safety');
    if (read.outcome !== 'ok' || read.context === undefined || read.siblings.every((s) => s.tombstone)) return;
    await this.runner.write(this.id, node(), key, 'delete', read.context, 'safety', this.writeOptions());
  }

  private afterWrite(key: string, op: WriteOp): void {
    // A write's answer carries a context too (the merged state of the
    // acknowledging replicas). Use it half the time; otherwise keep the
    // older context, so that stale contexts get exercised as well.
    if (op.outcome === 'ok' && op.resultContext !== undefined && this.random.next() < 0.5) this.contexts.set(key, op.resultContext);
    if (op.outcome !== 'ok') return;
    const roll = this.random.next();
    if (roll < 0.3) this.readBack = key;
    else if (op.kind === 'put' && roll < (op.sloppy ? 0.45 : 0.7)) this.deleteAfter = { key, sloppy: op.sloppy, w: op.w };
  }
}
