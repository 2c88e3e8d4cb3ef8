// A simulated Raft control plane: every node runs the real RawNode and the
// real control state machine, driven the way a production driver must drive
// them (raw-node.ts: persist, then send, then apply, then advance), over a
// simulated network (delay, jitter, loss, duplication, partitions) and a
// simulated disk (each Ready takes time to persist; a crash loses what was
// not yet persisted). Ticks come from each node's own drifting clock.

import { ControlState, encodeCommand, type ApplyResult, type Command } from '../../control/index.js';
import { RawNode, type Ready } from '../../raft/raw-node.js';
import { MemoryStorage } from '../../raft/storage.js';
import type { ConfChange } from '../../raft/confchange.js';
import type { Message, NodeId } from '../../raft/messages.js';
import type { Random } from '../../util/runtime.js';
import { NodeClock, type Scheduler } from '../scheduler.js';
import type { RaftChecker } from './checkers/index.js';
import type { RaftRunConfig } from './config.js';

/** What a client hears back from a node: applied (with the state machine's answer), refused by Raft, or nothing (node down or crashed). */
export type NodeAnswer = { readonly kind: 'applied'; readonly result: ApplyResult } | { readonly kind: 'refused'; readonly reason: string } | { readonly kind: 'lost'; readonly reason: string };

export type ReadAnswer = { readonly kind: 'read'; readonly bucket: { owner: string; id: number } | null } | { readonly kind: 'lost'; readonly reason: string };

interface PendingConf {
  readonly index: number;
  readonly term: number;
  readonly cb: (a: NodeAnswer) => void;
}

export class SimRaftNode {
  raw: RawNode | undefined;
  clock: NodeClock | undefined;
  incarnation = 0;
  sm = new ControlState();
  /** The Raft index the state machine has applied (the control state's own index lags it by noops only). */
  applied = 0;
  busy = false;
  inbox: Message[] = [];
  ticks = 0;
  actions: (() => void)[] = [];
  proposals = new Map<string, (a: NodeAnswer) => void>();
  confs: PendingConf[] = [];
  reads = new Map<string, { name: string; cb: (a: ReadAnswer) => void }>();
  readStates: { index: number; ctx: string }[] = [];

  constructor(
    readonly id: NodeId,
    /** The disk: only what a handled Ready wrote here survives a crash. */
    readonly storage: MemoryStorage,
  ) {}

  get up(): boolean {
    return this.raw !== undefined;
  }
}

export class RaftSimCluster {
  readonly nodes = new Map<NodeId, SimRaftNode>();
  /** node -> partition group while partitioned. */
  private groups: Map<NodeId, number> | undefined;
  faultsOn = true;
  private nextCtx = 1;
  /** Called once per (node, term) a node is first seen leading (the fault driver's hook for targeted faults). */
  onNewLeader: ((n: SimRaftNode, term: number) => void) | undefined;
  private readonly leadersSeen = new Set<string>();
  /** Called when a leader's Ready advances its commit index, before that Ready is persisted and sent (a hook for targeted faults). */
  onLeaderCommit: ((n: SimRaftNode) => void) | undefined;
  /** Called when a node starts persisting a Ready that took `ms` to write (a hook for crashes in the middle of a write). */
  onDiskWrite: ((n: SimRaftNode, ms: number) => void) | undefined;

  constructor(
    readonly sched: Scheduler,
    readonly config: RaftRunConfig,
    private readonly checkers: readonly RaftChecker[],
    private readonly random: Random,
  ) {
    const conf = { voters: [...config.voters], learners: [...config.learners] };
    for (const id of [...config.voters, ...config.learners]) this.nodes.set(id, new SimRaftNode(id, MemoryStorage.bootstrap(conf)));
    if (config.joiner !== undefined) this.nodes.set(config.joiner, new SimRaftNode(config.joiner, new MemoryStorage()));
    for (const n of this.nodes.values()) this.start(n);
  }

  get ids(): NodeId[] {
    return [...this.nodes.keys()];
  }

  node(id: NodeId): SimRaftNode {
    return this.nodes.get(id) as SimRaftNode;
  }

  // ------------------------------------------------------------ lifecycle

  /** Starts (or restarts) a node from what its disk holds. */
  start(n: SimRaftNode): void {
    n.incarnation++;
    const drift = this.faultsOn ? this.config.faults.drift : 0;
    const rate = 1 + (this.random.next() * 2 - 1) * drift;
    n.clock = new NodeClock(this.sched, n.id, 0, rate);
    n.raw = new RawNode({
      id: n.id,
      storage: n.storage,
      random: this.random,
      electionTick: this.config.electionTick,
      heartbeatTick: this.config.heartbeatTick,
      preVote: this.config.preVote,
      checkQuorum: this.config.checkQuorum,
      maxMsgEntries: this.config.maxMsgEntries,
      maxInflight: this.config.maxInflight,
      bugs: this.config.bugs,
    });
    const snap = n.storage.snapshot();
    n.sm = ControlState.restore(snap.data);
    n.applied = snap.meta.index;
    for (const c of this.checkers) c.onRestore(n.id, n.incarnation, snap.meta.index, snap.data);
    n.busy = false;
    n.inbox = [];
    n.ticks = 0;
    n.actions = [];
    this.scheduleTick(n, n.clock, n.incarnation);
  }

  private scheduleTick(n: SimRaftNode, clock: NodeClock, incarnation: number): void {
    clock.setTimer(this.config.tickMs, () => {
      if (n.incarnation !== incarnation || n.raw === undefined) return;
      n.ticks++;
      this.pump(n);
      this.scheduleTick(n, clock, incarnation);
    });
  }

  /** A crash: memory is gone, the disk keeps what was persisted; every waiting client hears nothing. */
  crash(n: SimRaftNode): void {
    if (n.raw === undefined) return;
    this.sched.note(`${n.id} CRASH`);
    n.raw = undefined;
    n.clock?.kill();
    n.incarnation++;
    const proposals = [...n.proposals.values()];
    const confs = n.confs;
    const reads = [...n.reads.values()];
    n.proposals = new Map();
    n.confs = [];
    n.reads = new Map();
    n.readStates = [];
    for (const cb of proposals) cb({ kind: 'lost', reason: 'node crashed' });
    for (const c of confs) c.cb({ kind: 'lost', reason: 'node crashed' });
    for (const r of reads) r.cb({ kind: 'lost', reason: 'node crashed' });
  }

  restart(n: SimRaftNode): void {
    if (n.raw !== undefined) return;
    this.sched.note(`${n.id} RESTART`);
    this.start(n);
  }

  // -------------------------------------------------------------- network

  partition(groups: readonly (readonly NodeId[])[]): void {
    this.groups = new Map();
    groups.forEach((g, i) => g.forEach((id) => this.groups?.set(id, i)));
    this.sched.note(`PARTITION ${groups.map((g) => g.join(',')).join(' | ')}`);
  }

  heal(): void {
    if (this.groups !== undefined) this.sched.note('HEAL');
    this.groups = undefined;
  }

  private cut(from: NodeId, to: NodeId): boolean {
    return this.groups !== undefined && this.groups.get(from) !== this.groups.get(to);
  }

  private send(m: Message): void {
    if (this.cut(m.from, m.to)) return;
    const f = this.config.faults;
    if (this.faultsOn && this.random.next() < f.lossP) return;
    const copies = this.faultsOn && this.random.next() < f.dupP ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const [lo, hi] = this.config.netDelayMs;
      const delay = lo + this.random.next() * (hi - lo) + (this.faultsOn ? this.random.next() * f.jitterMs : 0);
      this.sched.schedule(delay, `${m.from}>${m.to} ${m.type}`, () => this.deliver(m));
    }
  }

  private deliver(m: Message): void {
    const n = this.nodes.get(m.to);
    if (n === undefined || n.raw === undefined || this.cut(m.from, m.to)) return;
    n.inbox.push(m);
    this.pump(n);
  }

  // --------------------------------------------------------------- driver

  private observe(n: SimRaftNode): void {
    const raft = (n.raw as RawNode).raft;
    for (const c of this.checkers) c.afterStep(n.id, raft);
    if (raft.state === 'leader' && this.onNewLeader !== undefined) {
      const key = `${n.id}@${raft.term}`;
      if (!this.leadersSeen.has(key)) {
        this.leadersSeen.add(key);
        this.onNewLeader(n, raft.term);
      }
    }
  }

  /** Feeds a node what is waiting for it, then handles its Ready, unless a Ready is still being persisted. */
  pump(n: SimRaftNode): void {
    const raw = n.raw;
    if (raw === undefined || n.busy) return;
    for (const m of n.inbox.splice(0)) {
      raw.step(m);
      this.observe(n);
    }
    for (; n.ticks > 0; n.ticks--) {
      raw.tick();
      this.observe(n);
    }
    for (const a of n.actions.splice(0)) {
      a();
      this.observe(n);
    }
    if (!raw.hasReady()) return;
    const rd = raw.ready();
    for (const c of this.checkers) c.onReady(n.id, rd, raw.raft);
    if (rd.hardState !== undefined && raw.raft.state === 'leader' && rd.hardState.commit > n.storage.hardState().commit) this.onLeaderCommit?.(n);
    const mustPersist = rd.entries.length > 0 || rd.hardState !== undefined || rd.snapshot !== undefined;
    if (!mustPersist) {
      this.handled(n, rd);
      return;
    }
    n.busy = true;
    const incarnation = n.incarnation;
    if (this.config.bugs.sendBeforePersist) for (const m of rd.messages) this.send(m);
    const [lo, hi] = this.config.diskMs;
    const diskMs = lo + this.random.next() * (hi - lo);
    this.onDiskWrite?.(n, diskMs);
    this.sched.schedule(diskMs, `${n.id} disk`, () => {
      // A crash while the write was in flight: none of it reached the disk.
      if (n.incarnation !== incarnation) return;
      if (rd.snapshot !== undefined) n.storage.applySnapshot(rd.snapshot);
      n.storage.append(rd.entries);
      if (rd.hardState !== undefined) n.storage.setHardState(rd.hardState);
      this.handled(n, rd);
    });
  }

  /** After persisting: send, apply, advance. */
  private handled(n: SimRaftNode, rd: Ready): void {
    const raw = n.raw as RawNode;
    if (!this.config.bugs.sendBeforePersist || (rd.entries.length === 0 && rd.hardState === undefined && rd.snapshot === undefined)) {
      for (const m of rd.messages) this.send(m);
    }
    if (rd.snapshot !== undefined) {
      n.sm = ControlState.restore(rd.snapshot.data);
      n.applied = rd.snapshot.meta.index;
      for (const c of this.checkers) c.onRestore(n.id, n.incarnation, rd.snapshot.meta.index, rd.snapshot.data);
    }
    const applied: { requestId: string; result: ApplyResult }[] = [];
    for (const e of rd.committedEntries) {
      for (const c of this.checkers) c.onApply(n.id, n.incarnation, e);
      n.applied = e.index;
      if (e.kind === 'normal') {
        const r = n.sm.applyEntry(e.index, e.data);
        if (r !== undefined && r.requestId !== '') applied.push(r);
      }
      for (const p of n.confs.filter((c) => c.index === e.index)) p.cb(p.term === e.term ? { kind: 'applied', result: { ok: true } } : { kind: 'lost', reason: 'conf change overwritten' });
      n.confs = n.confs.filter((c) => c.index !== e.index);
    }
    raw.advance();
    n.busy = false;
    for (const a of applied) {
      const cb = n.proposals.get(a.requestId);
      if (cb === undefined) continue;
      n.proposals.delete(a.requestId);
      cb({ kind: 'applied', result: a.result });
    }
    n.readStates.push(...rd.readStates);
    this.serveReads(n);
    this.maybeCompact(n);
    this.pump(n);
  }

  private serveReads(n: SimRaftNode): void {
    const ready = n.readStates.filter((r) => r.index <= n.applied);
    if (ready.length === 0) return;
    n.readStates = n.readStates.filter((r) => r.index > n.applied);
    for (const rs of ready) {
      const r = n.reads.get(rs.ctx);
      if (r === undefined) continue;
      n.reads.delete(rs.ctx);
      const b = n.sm.bucket(r.name);
      r.cb({ kind: 'read', bucket: b === undefined ? null : { owner: b.owner, id: b.id } });
    }
  }

  private maybeCompact(n: SimRaftNode): void {
    const raw = n.raw;
    if (raw === undefined || n.busy) return;
    const base = n.storage.firstIndex() - 1;
    if (n.applied - base < this.config.compactEvery || n.applied > n.storage.lastIndex()) return;
    const data = n.sm.snapshot();
    n.storage.createSnapshot(n.applied, raw.confState(), data);
    for (const c of this.checkers) c.onCompact(n.id, n.applied, data);
  }

  // --------------------------------------------------------- client calls

  /** Proposes a control command through node `id`; the answer comes when that node applies it. */
  propose(id: NodeId, requestId: string, cmd: Command, cb: (a: NodeAnswer) => void): void {
    const n = this.node(id);
    if (n.raw === undefined) return cb({ kind: 'lost', reason: 'node down' });
    n.actions.push(() => {
      const raw = n.raw as RawNode;
      const r = raw.propose(encodeCommand({ id: requestId, at: (n.clock as NodeClock).now(), cmd }));
      if (!r.ok) cb({ kind: 'refused', reason: r.reason });
      else n.proposals.set(requestId, cb);
    });
    this.pump(n);
  }

  /** A linearizable read of one bucket through node `id` (ReadIndex, then the local state once applied). */
  readBucket(id: NodeId, name: string, cb: (a: ReadAnswer) => void): void {
    const n = this.node(id);
    if (n.raw === undefined) return cb({ kind: 'lost', reason: 'node down' });
    const ctx = `${id}/${this.nextCtx++}`;
    n.actions.push(() => {
      if (!(n.raw as RawNode).readIndex(ctx)) cb({ kind: 'lost', reason: 'no leader' });
      else n.reads.set(ctx, { name, cb });
    });
    this.pump(n);
  }

  /** A membership change proposed at node `id` (which must lead); answered when that node applies it. */
  changeConf(id: NodeId, cc: ConfChange, cb: (a: NodeAnswer) => void): void {
    const n = this.node(id);
    if (n.raw === undefined) return cb({ kind: 'lost', reason: 'node down' });
    n.actions.push(() => {
      // Only at the leader, so that a refusal means nothing was proposed.
      if ((n.raw as RawNode).raft.state !== 'leader') return cb({ kind: 'refused', reason: 'not leader' });
      const r = (n.raw as RawNode).proposeConfChange(cc);
      if (!r.ok) cb({ kind: 'refused', reason: r.reason });
      else if ('index' in r) n.confs.push({ index: r.index, term: r.term, cb });
      else cb({ kind: 'refused', reason: 'not leader' });
    });
    this.pump(n);
  }

  /** The live leader with the highest term (what an operator would find by asking around). */
  leader(): SimRaftNode | undefined {
    let best: SimRaftNode | undefined;
    for (const n of this.nodes.values()) {
      const r = n.raw?.raft;
      if (r?.state === 'leader' && (best === undefined || r.term > (best.raw as RawNode).raft.term)) best = n;
    }
    return best;
  }
}
