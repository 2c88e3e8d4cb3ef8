// The Raft-backed control plane (ControlPlane, plane.ts): one RawNode, the
// control state machine it replicates, and the loop that drives them the way
// raw-node.ts demands (docs/raft.md, "How a driver uses it"):
//
//   1. persist the Ready's snapshot, entries and hard state (the storage's
//      save resolves once fsynced);
//   2. then send its messages;
//   3. then restore the state machine from its snapshot, apply its committed
//      entries in order, answer the proposals and ReadIndex reads they
//      complete;
//   4. then advance.
//
// Nothing may step, tick or propose between ready() and advance(), so while
// a Ready is being persisted, incoming messages, ticks and client calls wait
// in queues and are fed in one batch afterwards (the simulator's driver,
// sim/raft/cluster.ts, works the same way). Log compaction runs in the same
// slot, after applying, so that Raft never reads the log while it changes.
//
// Pure: time comes from the injected Clock (ticks are a timer), randomness
// from the injected Random (the election timeout), the disk from the
// injected storage and the network from the injected `send`; the node
// wiring (node/control-wiring.ts) gives it LMDB and gRPC.
//
// Proposals carry a request id (commands.ts envelope) and are answered when
// this node applies the entry with that id. A proposal Raft refuses because
// no leader is known is retried at each tick until its deadline; one the
// leader appended but lost to a new leader (another entry applied at its
// index) is proposed again; one forwarded to the leader may be lost with the
// message, and then only the deadline answers it (ControlUnavailable, outcome
// unknown): re-proposing it blindly could apply it twice.

import { RawNode, type Ready, type Status } from '../raft/raw-node.js';
import { decodeConfChange, describeConfState, type ConfChange } from '../raft/confchange.js';
import type { ConfState, HardState, Entry, Message, NodeId, Snapshot } from '../raft/messages.js';
import type { Storage } from '../raft/storage.js';
import type { Clock, Random, Timer } from '../util/runtime.js';
import { encodeCommand, type Command } from './commands.js';
import { ControlUnavailableError } from './driver-errors.js';
import type { ControlPlane } from './plane.js';
import { ControlState, type ApplyResult } from './state.js';
import { nextVoterStep } from './driver-voters.js';

/** What one Ready asks to persist (node/raft-log-lmdb.ts RaftWrite). */
export interface DriverWrite {
  readonly hardState?: HardState;
  readonly entries?: readonly Entry[];
  readonly snapshot?: Snapshot;
}

/** The log as the driver needs it: Raft's synchronous reads plus durable writes. */
export interface DriverStorage extends Storage {
  /** Persists one Ready in one transaction; resolves once it is on disk (fsynced). */
  save(w: DriverWrite): Promise<void> | void;
  /** Log compaction (§7): the state as of `index` (applied) becomes the snapshot. */
  createSnapshot(index: number, conf: ConfState, data: Uint8Array): Promise<unknown> | unknown;
}

export interface DriverHooks {
  /** Elections, leader changes, configuration changes, failures. */
  readonly log?: (level: 'info' | 'warn' | 'error', msg: string, fields?: Readonly<Record<string, unknown>>) => void;
  /** This node saw a new leader (NONE: none known) in `term`. */
  readonly leaderChanged?: (lead: NodeId, term: number) => void;
  /** A proposal through this node was answered (true: applied, whatever the state machine said) or failed. */
  readonly proposalDone?: (applied: boolean) => void;
  /** A configuration change was applied here; `conf` is the configuration after it. */
  readonly confApplied?: (cc: ConfChange, conf: ConfState) => void;
}

export interface RaftDriverOptions {
  readonly id: NodeId;
  readonly storage: DriverStorage;
  readonly clock: Clock;
  readonly random: Random;
  /** Hands messages to the network; fire and forget (Raft tolerates loss). */
  readonly send: (msgs: readonly Message[]) => void;
  /** Milliseconds per Raft tick. */
  readonly tickMs: number;
  /** Election timeout in ticks (drawn in [electionTick, 2*electionTick), §5.2). */
  readonly electionTick: number;
  readonly heartbeatTick: number;
  /** How long propose() and confirm() wait before failing with ControlUnavailable. */
  readonly timeoutMs: number;
  /** Compact the log once this many entries are applied past the last snapshot. */
  readonly compactEvery: number;
  readonly hooks?: DriverHooks;
}

interface PendingProposal {
  readonly requestId: string;
  readonly data: Uint8Array;
  readonly resolve: (r: ApplyResult) => void;
  readonly reject: (err: Error) => void;
  readonly timer: Timer;
  /** Whether Raft took it (appended at the leader, or forwarded); otherwise it is retried at the next tick. */
  submitted: boolean;
  /** Where the leader (this node) appended it; 0 when forwarded. */
  index: number;
  term: number;
  lastRefusal: string;
}

interface PendingRead {
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
  readonly timer: Timer;
  /** The ReadIndex contexts issued for this read (a lost request is issued again under a new one). */
  readonly ctxs: string[];
  /** Ticks since the last issue (or -1: not issued yet / refused, issue at the next tick). */
  age: number;
  /** The read point, once the leader answered. */
  index: number;
}

interface PendingConf {
  readonly index: number;
  readonly term: number;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

export interface MemberStatus {
  readonly id: NodeId;
  readonly voter: boolean;
  /** The leader's view (null on other nodes). */
  readonly match: number | null;
  readonly next: number | null;
  readonly progress: string | null;
  readonly recentActive: boolean | null;
  /** When this node last received a Raft message from that member (null: never, or itself). */
  readonly lastContactMs: number | null;
}

export interface DriverStatus {
  readonly id: NodeId;
  readonly role: Status['state'];
  readonly term: number;
  readonly vote: NodeId;
  readonly leader: NodeId;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  /** The snapshot's index (entries up to it are compacted away). */
  readonly snapshotIndex: number;
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
  readonly members: readonly MemberStatus[];
  readonly leaderChanges: number;
  readonly failed: string | null;
}

/** Ticks a ReadIndex request may go unanswered before it is issued again. */
const READ_RETRY_TICKS = 10;

export class RaftDriver implements ControlPlane {
  private readonly raw: RawNode;
  private sm: ControlState;
  /** The Raft index the state machine has applied (noops and conf changes included). */
  private appliedIndex: number;
  private busy = false;
  private stopped = false;
  private failure: string | null = null;
  private inbox: Message[] = [];
  private ticks = 0;
  private actions: (() => void)[] = [];
  private readonly proposals = new Map<string, PendingProposal>();
  private readonly reads = new Set<PendingRead>();
  private readonly readsByCtx = new Map<string, PendingRead>();
  private confs: PendingConf[] = [];
  private readonly listeners = new Set<(index: number) => void>();
  private readonly lastContact = new Map<NodeId, number>();
  private tickTimer: Timer | undefined;
  private seq = 0;
  /** Makes request ids unique across restarts of this node. */
  private readonly nonce: string;
  private lead: NodeId = '';
  private leaderChangeCount = 0;
  private readonly log: NonNullable<DriverHooks['log']>;
  /** When this node last became leader (clock ms), or null while it does not lead. */
  private leaderSince: number | null = null;
  private voterTimer: Timer | undefined;

  constructor(private readonly opts: RaftDriverOptions) {
    this.log = opts.hooks?.log ?? (() => {});
    this.nonce = Math.floor(opts.random.next() * 2 ** 48).toString(36);
    this.raw = new RawNode({
      id: opts.id,
      storage: opts.storage,
      random: opts.random,
      electionTick: opts.electionTick,
      heartbeatTick: opts.heartbeatTick,
      logger: (line) => this.log('info', line),
    });
    const snap = opts.storage.snapshot();
    this.sm = ControlState.restore(snap.data);
    this.appliedIndex = snap.meta.index;
  }

  // ------------------------------------------------------------ ControlPlane

  /** The state as applied here. A snapshot install replaces the object: read `plane.state` each time, do not keep it. */
  get state(): ControlState {
    return this.sm;
  }

  propose(cmd: Command): Promise<ApplyResult> {
    return new Promise<ApplyResult>((resolve, reject) => {
      if (this.stopped) return reject(this.unavailable('the control plane is stopped'));
      const requestId = `${this.opts.id}.${this.nonce}.${++this.seq}`;
      const data = encodeCommand({ id: requestId, at: this.opts.clock.now(), cmd });
      const timer = this.opts.clock.setTimer(this.opts.timeoutMs, () => {
        const p = this.proposals.get(requestId);
        if (p === undefined) return;
        this.proposals.delete(requestId);
        this.opts.hooks?.proposalDone?.(false);
        const why = !p.submitted ? `no leader took it (${p.lastRefusal})` : p.index > 0 ? `appended at ${p.index} but not applied here` : 'forwarded to the leader, no answer';
        p.reject(this.unavailable(`control command ${cmd.type} not applied within ${this.opts.timeoutMs} ms: ${why}; the outcome is unknown`, { requestId }));
      });
      const p: PendingProposal = { requestId, data, resolve, reject, timer, submitted: false, index: 0, term: 0, lastRefusal: 'not tried yet' };
      this.proposals.set(requestId, p);
      this.actions.push(() => this.submit(p));
      this.pump();
    });
  }

  confirm(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.stopped) return reject(this.unavailable('the control plane is stopped'));
      const r: PendingRead = {
        resolve,
        reject,
        ctxs: [],
        age: -1,
        index: -1,
        timer: this.opts.clock.setTimer(this.opts.timeoutMs, () => {
          if (!this.reads.has(r)) return;
          this.dropRead(r);
          r.reject(this.unavailable(`no read point (ReadIndex) from a leader within ${this.opts.timeoutMs} ms`));
        }),
      };
      this.reads.add(r);
      this.actions.push(() => this.issueRead(r));
      this.pump();
    });
  }

  onApplied(listener: (index: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ------------------------------------------------------------ life cycle

  start(): void {
    const loop = (): void => {
      if (this.stopped) return;
      this.ticks++;
      this.pump();
      this.tickTimer = this.opts.clock.setTimer(this.opts.tickMs, loop);
    };
    this.tickTimer = this.opts.clock.setTimer(this.opts.tickMs, loop);
  }

  /**
   * Keeps the voters healthy while this node leads (driver-voters.ts
   * nextVoterStep): every `intervalMs` it makes at most one membership
   * change and waits for it to apply before the next.
   */
  maintainVoters(policy: { readonly intervalMs: number; readonly maxVoters: number; readonly replaceAfterMs: number }): void {
    let busy = false;
    const round = (): void => {
      if (this.stopped) return;
      this.voterTimer = this.opts.clock.setTimer(policy.intervalMs, round);
      if (busy || this.leaderSince === null || this.raw.raft.state !== 'leader') return;
      const s = this.raw.status();
      const now = this.opts.clock.now();
      // A leader the member list no longer has hands leadership to a voter it hears from (dissertation §3.10),
      // so that the next leader takes it out of the configuration: nextVoterStep never removes the leader itself.
      const members = this.sm.layout().nodes;
      if (members.length > 0 && !members.some((m) => m.id === this.opts.id)) {
        const to = s.conf.voters.find((v) => {
          const t = this.lastContact.get(v);
          return v !== this.opts.id && t !== undefined && now - t <= policy.replaceAfterMs;
        });
        if (to !== undefined) {
          this.log('info', `raft: this node left the member list: handing leadership to ${to}`, { to });
          this.transferLeader(to);
        }
        return;
      }
      const step = nextVoterStep({
        self: this.opts.id,
        conf: s.conf,
        layout: this.sm.layout().nodes.map((n) => ({ id: n.id, zone: n.zone })),
        lastContactMs: (id) => {
          const t = this.lastContact.get(id);
          return t === undefined ? null : now - t;
        },
        match: (id) => s.progress.get(id)?.match ?? null,
        lastIndex: s.lastIndex,
        leaderForMs: now - this.leaderSince,
        maxVoters: policy.maxVoters,
        replaceAfterMs: policy.replaceAfterMs,
      });
      if (step === undefined) return;
      busy = true;
      this.log('info', `raft: membership: ${step.change.type} ${step.change.node}: ${step.why}`, { change: step.change.type, member: step.change.node });
      this.changeConf(step.change).then(
        () => (busy = false),
        (err: unknown) => {
          busy = false;
          this.log('warn', `raft: membership change ${step.change.type} ${step.change.node} not made: ${err instanceof Error ? err.message : String(err)}`);
        },
      );
    };
    this.voterTimer = this.opts.clock.setTimer(policy.intervalMs, round);
  }

  /** Stops ticking and fails everything waiting; a Ready being persisted finishes, nothing more is sent. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.tickTimer?.cancel();
    this.voterTimer?.cancel();
    this.failAll(this.unavailable('the control plane is stopping'));
  }

  /** A message from the network. */
  receive(m: Message): void {
    if (this.stopped) return;
    if (m.from !== this.opts.id) this.lastContact.set(m.from, this.opts.clock.now());
    this.inbox.push(m);
    this.pump();
  }

  /** The transport could not deliver to `id`: Raft stops streaming to it and probes. */
  unreachable(id: NodeId): void {
    if (this.stopped) return;
    this.actions.push(() => this.raw.reportUnreachable(id));
  }

  /**
   * A membership change (single-server, dissertation §4.1), proposed at this
   * node, which must lead; resolves once applied here. Refused at once when
   * this node does not lead or another change is pending.
   */
  changeConf(cc: ConfChange): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.stopped) return reject(this.unavailable('the control plane is stopped'));
      this.actions.push(() => {
        if (this.raw.raft.state !== 'leader') return reject(this.unavailable(`${this.opts.id} does not lead (leader: ${this.raw.raft.lead || 'unknown'})`, { leader: this.raw.raft.lead }));
        const r = this.raw.proposeConfChange(cc);
        if (!r.ok) return reject(this.unavailable(`configuration change ${cc.type} ${cc.node} refused: ${r.reason}`, { reason: r.reason }));
        if (!('index' in r)) return reject(this.unavailable('configuration change forwarded instead of proposed'));
        this.confs.push({ index: r.index, term: r.term, resolve, reject });
      });
      this.pump();
    });
  }

  /** Asks the leader (this node) to hand leadership to `to` (dissertation §3.10); the outcome shows in status(). */
  transferLeader(to: NodeId): void {
    if (this.stopped) return;
    this.actions.push(() => void this.raw.transferLeader(to));
    this.pump();
  }

  status(): DriverStatus {
    const s = this.raw.status();
    const now = this.opts.clock.now();
    const ids = [...s.conf.voters, ...s.conf.learners].sort();
    return {
      id: s.id,
      role: s.state,
      term: s.term,
      vote: s.vote,
      leader: s.lead,
      commit: s.commit,
      applied: this.appliedIndex,
      lastIndex: s.lastIndex,
      snapshotIndex: this.opts.storage.firstIndex() - 1,
      voters: s.conf.voters,
      learners: s.conf.learners,
      members: ids.map((id) => {
        const pr = s.progress.get(id);
        const seen = this.lastContact.get(id);
        return {
          id,
          voter: s.conf.voters.includes(id),
          match: pr?.match ?? null,
          next: pr?.next ?? null,
          progress: pr?.state ?? null,
          recentActive: pr?.recentActive ?? null,
          lastContactMs: id === s.id || seen === undefined ? null : now - seen,
        };
      }),
      leaderChanges: this.leaderChangeCount,
      failed: this.failure,
    };
  }

  /** The leader this node knows of ('' for none). */
  get leader(): NodeId {
    return this.raw.raft.lead;
  }

  get applied(): number {
    return this.appliedIndex;
  }

  // ------------------------------------------------------------ the loop

  private unavailable(message: string, details: Readonly<Record<string, unknown>> = {}): ControlUnavailableError {
    return new ControlUnavailableError(message, { node: this.opts.id, leader: this.raw.raft.lead || null, ...details });
  }

  private submit(p: PendingProposal): void {
    // A retry queued beside the first attempt must not append it twice.
    if (!this.proposals.has(p.requestId) || p.submitted) return;
    const r = this.raw.propose(p.data);
    if (!r.ok) {
      p.submitted = false;
      p.lastRefusal = r.reason;
      return;
    }
    p.submitted = true;
    if ('index' in r) {
      p.index = r.index;
      p.term = r.term;
    } else {
      p.index = 0;
      p.term = 0;
    }
  }

  private issueRead(r: PendingRead, again = false): void {
    if (!this.reads.has(r) || r.index >= 0 || (!again && r.age >= 0)) return;
    const ctx = `${this.opts.id}.${this.nonce}.r${++this.seq}`;
    if (!this.raw.readIndex(ctx)) {
      r.age = -1;
      return;
    }
    r.ctxs.push(ctx);
    this.readsByCtx.set(ctx, r);
    r.age = 0;
  }

  private dropRead(r: PendingRead): void {
    this.reads.delete(r);
    r.timer.cancel();
    for (const c of r.ctxs) this.readsByCtx.delete(c);
  }

  /** Once per tick: proposals and reads that found no leader try again; unanswered reads are issued again. */
  private retries(): void {
    for (const p of this.proposals.values()) if (!p.submitted) this.actions.push(() => this.submit(p));
    for (const r of this.reads) {
      if (r.index >= 0) continue;
      if (r.age < 0) this.actions.push(() => this.issueRead(r));
      else if (++r.age > READ_RETRY_TICKS) this.actions.push(() => this.issueRead(r, true));
    }
  }

  /** Feeds Raft what waits for it, then handles one Ready, unless one is being persisted. */
  private pump(): void {
    if (this.busy || this.stopped) return;
    const raw = this.raw;
    for (const m of this.inbox.splice(0)) {
      try {
        raw.step(m);
      } catch (err) {
        // The wire decoder checks shapes (raft/wire.ts); a message the state machine still cannot take is dropped, loudly.
        this.log('error', `raft: dropped a ${m.type} from ${m.from}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (this.ticks > 0) this.retries();
    for (; this.ticks > 0; this.ticks--) raw.tick();
    for (const a of this.actions.splice(0)) a();
    if (!raw.hasReady()) return;
    const rd = raw.ready();
    if (rd.softState !== undefined && rd.softState.lead !== this.lead) {
      this.lead = rd.softState.lead;
      this.leaderChangeCount++;
      this.log('info', this.lead === '' ? `raft: ${this.opts.id} knows no leader at term ${raw.raft.term}` : `raft: ${this.lead} leads at term ${raw.raft.term}`, { leader: this.lead, term: raw.raft.term, role: rd.softState.state });
      this.opts.hooks?.leaderChanged?.(this.lead, raw.raft.term);
    }
    if (rd.softState !== undefined) this.leaderSince = rd.softState.state === 'leader' ? (this.leaderSince ?? this.opts.clock.now()) : null;
    const mustPersist = rd.entries.length > 0 || rd.hardState !== undefined || rd.snapshot !== undefined;
    if (!mustPersist) {
      this.handled(rd);
      return;
    }
    this.busy = true;
    let saved: Promise<void> | void;
    try {
      saved = this.opts.storage.save({
        ...(rd.hardState !== undefined ? { hardState: rd.hardState } : {}),
        ...(rd.entries.length > 0 ? { entries: rd.entries } : {}),
        ...(rd.snapshot !== undefined ? { snapshot: rd.snapshot } : {}),
      });
    } catch (err) {
      this.fail(err);
      return;
    }
    Promise.resolve(saved).then(
      () => this.handled(rd),
      (err: unknown) => this.fail(err),
    );
  }

  /** After persisting: send, apply, advance, answer, compact. */
  private handled(rd: Ready): void {
    if (this.failure !== null) return;
    const raw = this.raw;
    if (!this.stopped && rd.messages.length > 0) this.opts.send(rd.messages);
    const answers: { requestId: string; result: ApplyResult }[] = [];
    const appliedIdx: number[] = [];
    try {
      if (rd.snapshot !== undefined) {
        this.sm = ControlState.restore(rd.snapshot.data);
        this.appliedIndex = rd.snapshot.meta.index;
        appliedIdx.push(this.appliedIndex);
        this.log('info', `raft: installed a snapshot at index ${rd.snapshot.meta.index} (${describeConfState(rd.snapshot.meta.conf)})`);
      }
      for (const e of rd.committedEntries) {
        this.appliedIndex = e.index;
        appliedIdx.push(e.index);
        if (e.kind === 'normal') {
          const r = this.sm.applyEntry(e.index, e.data);
          if (r !== undefined && r.requestId !== '') answers.push(r);
          this.lostAt(e.index, e.term, r?.requestId ?? '');
        } else {
          this.confAt(e);
          this.lostAt(e.index, e.term, '');
        }
      }
    } catch (err) {
      this.fail(err);
      return;
    }
    raw.advance();
    for (const e of rd.committedEntries) if (e.kind === 'conf') this.confAppliedHook(e);
    this.busy = false;
    for (const a of answers) {
      const p = this.proposals.get(a.requestId);
      if (p === undefined) continue;
      this.proposals.delete(a.requestId);
      p.timer.cancel();
      this.opts.hooks?.proposalDone?.(true);
      p.resolve(a.result);
    }
    for (const rs of rd.readStates) {
      const r = this.readsByCtx.get(rs.ctx);
      if (r !== undefined && r.index < 0) r.index = rs.index;
    }
    this.serveReads();
    for (const i of appliedIdx) for (const l of this.listeners) l(i);
    if (!this.maybeCompact()) this.pump();
  }

  /** A proposal this node appended as leader at `index` that lost its place to another entry can never commit: propose it again. */
  private lostAt(index: number, term: number, requestId: string): void {
    for (const p of this.proposals.values()) {
      if (p.index !== index || p.requestId === requestId) continue;
      if (p.term === term) continue;
      p.submitted = false;
      p.index = 0;
      p.lastRefusal = `lost its place at ${index} to a new leader`;
    }
  }

  private confAt(e: Entry): void {
    const waiting = this.confs.filter((c) => c.index === e.index);
    this.confs = this.confs.filter((c) => c.index !== e.index);
    for (const c of waiting) {
      if (c.term === e.term) c.resolve();
      else c.reject(this.unavailable(`configuration change at ${e.index} was replaced by a new leader's entry`));
    }
  }

  private confAppliedHook(e: Entry): void {
    let cc: ConfChange;
    try {
      cc = decodeConfChange(e.data);
    } catch {
      return;
    }
    const conf = this.raw.confState();
    this.log('info', `raft: configuration change ${cc.type} ${cc.node} applied at ${e.index}: ${describeConfState(conf)}`, { index: e.index, change: cc.type, member: cc.node });
    this.opts.hooks?.confApplied?.(cc, conf);
  }

  private serveReads(): void {
    for (const r of [...this.reads]) {
      if (r.index < 0 || r.index > this.appliedIndex) continue;
      this.dropRead(r);
      r.resolve();
    }
  }

  /** Compacts when enough is applied past the snapshot; says whether it did (the loop resumes when it is done). */
  private maybeCompact(): boolean {
    const base = this.opts.storage.firstIndex() - 1;
    if (this.stopped || this.appliedIndex - base < this.opts.compactEvery || this.appliedIndex > this.opts.storage.lastIndex()) return false;
    this.busy = true;
    const index = this.appliedIndex;
    let done: Promise<unknown> | unknown;
    try {
      done = this.opts.storage.createSnapshot(index, this.raw.confState(), this.sm.snapshot());
    } catch (err) {
      this.fail(err);
      return true;
    }
    Promise.resolve(done).then(
      () => {
        this.busy = false;
        this.log('info', `raft: compacted the log up to ${index}`);
        this.pump();
      },
      (err: unknown) => this.fail(err),
    );
    return true;
  }

  /** The disk failed, or an entry or snapshot cannot be read: this node stops taking part rather than risk acting on what is not persisted. */
  private fail(err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    this.failure = message;
    this.log('error', `raft: the control plane stopped on this node: ${message}`);
    this.stopped = true;
    this.tickTimer?.cancel();
    this.voterTimer?.cancel();
    this.failAll(this.unavailable(`the control plane failed on this node: ${message}`));
  }

  private failAll(err: ControlUnavailableError): void {
    for (const p of this.proposals.values()) {
      p.timer.cancel();
      p.reject(err);
    }
    this.proposals.clear();
    for (const r of [...this.reads]) {
      this.dropRead(r);
      r.reject(err);
    }
    for (const c of this.confs) c.reject(err);
    this.confs = [];
  }
}
