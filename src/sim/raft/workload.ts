// The control-plane workload: clients create the same few bucket names as
// different owners, read them back by ReadIndex, create and delete scratch
// buckets, and put users and access keys, each through a random node; an
// operator grows the cluster (a learner joins, then is promoted) and
// shrinks it (a voter is removed), as later work will do on its own.

import type { Random } from '../../util/runtime.js';
import type { Scheduler } from '../scheduler.js';
import type { Command } from '../../control/index.js';
import type { ConfChange } from '../../raft/confchange.js';
import type { RaftSimCluster, NodeAnswer } from './cluster.js';
import type { RaftRunConfig } from './config.js';
import type { ClientOp, RaftHistory } from './history.js';

/** How long a client waits for an answer before it calls the outcome unknown. */
const OP_TIMEOUT_MS = 4000;

export class RaftClient {
  finished = false;
  private stopped = false;
  private done = 0;
  private scratch = 0;

  constructor(
    readonly index: number,
    private readonly cluster: RaftSimCluster,
    private readonly sched: Scheduler,
    private readonly history: RaftHistory,
    private readonly config: RaftRunConfig,
    private readonly random: Random,
  ) {}

  start(): void {
    this.next();
  }

  stop(): void {
    this.stopped = true;
  }

  private next(): void {
    if (this.stopped || this.done >= this.config.opsPerClient) {
      this.finished = true;
      return;
    }
    this.done++;
    this.sched.schedule(20 + this.random.int(400), '', () => this.issue());
  }

  private issue(): void {
    if (this.stopped) {
      this.finished = true;
      return;
    }
    const ids = this.cluster.ids;
    const node = ids[this.random.int(ids.length)] as string;
    const owner = `u${this.index}`;
    const name = this.config.contested[this.random.int(this.config.contested.length)] as string;
    const p = this.random.next();
    if (p < 0.35) this.command(node, 'create', name, owner, { type: 'createBucket', name, owner });
    else if (p < 0.7) this.read(node, name);
    else if (p < 0.85) {
      const scratch = `s${this.index}-${this.scratch}`;
      if (this.random.next() < 0.5) this.command(node, 'create', scratch, owner, { type: 'createBucket', name: scratch, owner });
      else {
        this.command(node, 'delete', scratch, owner, { type: 'deleteBucket', name: scratch });
        this.scratch++;
      }
    } else if (p < 0.93) this.command(node, 'putUser', owner, owner, { type: 'putUser', user: owner });
    else this.command(node, 'putKey', `k${this.index}`, owner, { type: 'putAccessKey', accessKeyId: `AK${this.index}`, secret: `secret-${this.done}`, user: owner });
  }

  private withTimeout(op: ClientOp): () => boolean {
    let open = true;
    this.sched.schedule(OP_TIMEOUT_MS, '', () => {
      if (!open) return;
      open = false;
      this.history.end(op, this.sched.now, 'unknown', 'timeout');
      this.sched.note(`${op.id} ${op.kind} ${op.name} -> unknown (timeout)`);
      this.next();
    });
    return () => {
      if (!open) return false;
      open = false;
      return true;
    };
  }

  private command(node: string, kind: ClientOp['kind'], name: string, owner: string, cmd: Command): void {
    const op = this.history.begin(this.index, node, kind, name, owner, this.sched.now);
    const claim = this.withTimeout(op);
    this.cluster.propose(node, op.id, cmd, (a: NodeAnswer) => {
      if (!claim()) return;
      if (a.kind === 'applied') {
        const r = a.result;
        const b = r.bucket;
        const seen = b === undefined ? null : { owner: b.owner, id: b.id };
        if (r.ok) this.history.end(op, this.sched.now, 'ok', '', kind === 'create' ? seen : null);
        else this.history.end(op, this.sched.now, 'refused', r.code, r.code === 'BucketAlreadyExists' ? seen : null);
      } else if (a.kind === 'refused') {
        this.history.end(op, this.sched.now, 'refused', a.reason);
      } else {
        this.history.end(op, this.sched.now, 'unknown', a.reason);
      }
      this.sched.note(`${op.id} ${kind} ${name} via ${node} -> ${op.outcome}${op.code !== '' ? ` ${op.code}` : ''}${op.seen !== null ? ` owner=${op.seen.owner} id=${op.seen.id}` : ''}`);
      this.next();
    });
  }

  private read(node: string, name: string): void {
    const op = this.history.begin(this.index, node, 'read', name, '', this.sched.now);
    const claim = this.withTimeout(op);
    this.cluster.readBucket(node, name, (a) => {
      if (!claim()) return;
      if (a.kind === 'read') this.history.end(op, this.sched.now, 'ok', '', a.bucket);
      else this.history.end(op, this.sched.now, 'unknown', a.reason);
      this.sched.note(`${op.id} read ${name} via ${node} -> ${op.outcome}${op.seen !== null ? ` owner=${op.seen.owner} id=${op.seen.id}` : op.outcome === 'ok' ? ' none' : ''}`);
      this.next();
    });
  }
}

/**
 * The operator's membership changes, each retried at the current leader
 * until applied: the joiner is added as a learner, later promoted; with
 * conf changes on, one founding voter is removed (never below three voters)
 * and later comes back as a learner.
 */
export class Operator {
  private readonly plan: { atMs: number; cc: ConfChange }[] = [];

  constructor(
    private readonly cluster: RaftSimCluster,
    private readonly sched: Scheduler,
    config: RaftRunConfig,
    random: Random,
  ) {
    const T = config.safetyMs;
    if (config.joiner !== undefined) {
      this.plan.push({ atMs: T * 0.15, cc: { type: 'addLearner', node: config.joiner } });
      this.plan.push({ atMs: T * 0.4, cc: { type: 'addVoter', node: config.joiner } });
    }
    if (config.confChanges) {
      const victim = config.voters[random.int(config.voters.length)] as string;
      const votersAfter = config.voters.length - 1 + (config.joiner !== undefined ? 1 : 0);
      if (votersAfter >= 3) {
        this.plan.push({ atMs: T * 0.6, cc: { type: 'removeNode', node: victim } });
        this.plan.push({ atMs: T * 0.8, cc: { type: 'addLearner', node: victim } });
      }
    }
  }

  start(): void {
    let at = 0;
    const step = (i: number): void => {
      const p = this.plan[i];
      if (p === undefined) return;
      this.sched.schedule(Math.max(0, p.atMs - at), '', () => {
        at = this.sched.now;
        this.attempt(p.cc, 0, () => step(i + 1));
      });
    };
    step(0);
  }

  private attempt(cc: ConfChange, tries: number, then: () => void): void {
    if (tries > 40) return then();
    const leader = this.cluster.leader();
    const retry = () => this.sched.schedule(500, '', () => this.attempt(cc, tries + 1, then));
    if (leader === undefined) return void retry();
    this.cluster.changeConf(leader.id, cc, (a) => {
      this.sched.note(`operator ${cc.type} ${cc.node} via ${leader.id} -> ${a.kind}${a.kind !== 'applied' ? ` ${a.reason}` : ''}`);
      if (a.kind === 'applied') then();
      else retry();
    });
  }
}
