// The driver's face of Raft (etcd-io/raft's RawNode): feed it ticks and
// messages, then take a Ready, act on it in this order, and advance:
//
//   1. persist ready.snapshot, ready.entries and ready.hardState (fsynced
//      when ready.mustSync) — a vote or an acknowledged entry that is lost
//      in a crash breaks election safety or commitment;
//   2. only then send ready.messages (they may promise what step 1 wrote);
//   3. restore the state machine from ready.snapshot (if any), then apply
//      ready.committedEntries in order; serve ready.readStates once applied
//      reaches their index;
//   4. call advance().
//
// No tick, step or proposal may happen between ready() and advance().

import { assert } from '../util/assert.js';
import { decodeConfChange, type ConfChange } from './confchange.js';
import { hardStateEqual, NONE, type ConfState, type Entry, type EntryKind, type HardState, type Message, type NodeId, type ReadState, type Snapshot } from './messages.js';
import type { ProgressState } from './progress.js';
import { Raft, type ProposeResult, type RaftConfig, type StateType } from './raft.js';

export interface SoftState {
  readonly lead: NodeId;
  readonly state: StateType;
}

export interface Ready {
  /** Who leads and this node's role, when either changed (not persisted). */
  readonly softState?: SoftState;
  /** Term, vote and commit to persist, when changed. */
  readonly hardState?: HardState;
  /** Entries to append to stable storage (replacing any stored entries from entries[0].index on). */
  readonly entries: readonly Entry[];
  /** A snapshot to persist (replacing the stored log) and restore the state machine from. */
  readonly snapshot?: Snapshot;
  /** Messages to send once the above is persisted. */
  readonly messages: readonly Message[];
  /** Committed entries to apply, in order. */
  readonly committedEntries: readonly Entry[];
  /** Answers to ReadIndex requests. */
  readonly readStates: readonly ReadState[];
  /** Whether the persisted part must be fsynced before the messages leave (a new term, vote or entries). */
  readonly mustSync: boolean;
}

export interface Status {
  readonly id: NodeId;
  readonly term: number;
  readonly vote: NodeId;
  readonly lead: NodeId;
  readonly state: StateType;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  readonly conf: ConfState;
  readonly leadTransferee: NodeId;
  /** Per member, as the leader sees it (empty on followers). */
  readonly progress: ReadonlyMap<NodeId, { readonly match: number; readonly next: number; readonly state: ProgressState; readonly recentActive: boolean }>;
}

/** Committed entries handed out per Ready, so one Ready stays bounded after a long outage. */
const MAX_COMMITTED_PER_READY = 1024;

export class RawNode {
  readonly raft: Raft;
  private prevSoft: SoftState;
  private prevHard: HardState;
  private inFlight: Ready | undefined;

  constructor(config: RaftConfig) {
    this.raft = new Raft(config);
    this.prevSoft = this.softState();
    this.prevHard = this.hardState();
  }

  private softState(): SoftState {
    return { lead: this.raft.lead, state: this.raft.state };
  }

  private hardState(): HardState {
    return { term: this.raft.term, vote: this.raft.vote, commit: this.raft.log.committed };
  }

  private idle(): void {
    assert(this.inFlight === undefined, 'raft: tick, step or propose between ready() and advance()');
  }

  tick(): void {
    this.idle();
    this.raft.tick();
  }

  step(m: Message): void {
    this.idle();
    this.raft.step(m);
  }

  /** Campaigns now, as if the election timeout had fired. */
  campaign(): void {
    this.idle();
    this.raft.hup(false);
  }

  propose(data: Uint8Array, kind: EntryKind = 'normal'): ProposeResult {
    this.idle();
    return this.raft.propose([{ kind, data }], true);
  }

  proposeConfChange(cc: ConfChange): ProposeResult {
    this.idle();
    return this.raft.proposeConfChange(cc);
  }

  /** Requests a linearizable read point; it arrives as a ReadState tagged ctx (use a unique ctx per request). */
  readIndex(ctx: string): boolean {
    this.idle();
    return this.raft.readIndex(ctx);
  }

  transferLeader(to: NodeId): boolean {
    this.idle();
    return this.raft.transferLeader(to);
  }

  reportSnapshot(id: NodeId, ok: boolean): void {
    this.idle();
    this.raft.reportSnapshot(id, ok);
  }

  reportUnreachable(id: NodeId): void {
    this.idle();
    this.raft.reportUnreachable(id);
  }

  hasReady(): boolean {
    const r = this.raft;
    const soft = this.softState();
    if (soft.lead !== this.prevSoft.lead || soft.state !== this.prevSoft.state) return true;
    if (!hardStateEqual(this.hardState(), this.prevHard)) return true;
    if (r.log.unstableEntries().length > 0 || r.log.hasPendingSnapshot()) return true;
    if (r.msgs.length > 0 || r.readStates.length > 0) return true;
    return !r.log.hasPendingSnapshot() && r.log.committed > r.log.applied;
  }

  ready(): Ready {
    this.idle();
    const r = this.raft;
    const soft = this.softState();
    const hard = this.hardState();
    const softChanged = soft.lead !== this.prevSoft.lead || soft.state !== this.prevSoft.state;
    const hardChanged = !hardStateEqual(hard, this.prevHard);
    const entries = r.log.unstableEntries().slice();
    const snapshot = r.log.unstable.snapshot;
    const rd: Ready = {
      ...(softChanged ? { softState: soft } : {}),
      ...(hardChanged ? { hardState: hard } : {}),
      entries,
      ...(snapshot !== undefined ? { snapshot } : {}),
      messages: r.msgs,
      committedEntries: r.log.nextCommittedEntries(MAX_COMMITTED_PER_READY).slice(),
      readStates: r.readStates,
      mustSync: entries.length > 0 || hard.term !== this.prevHard.term || hard.vote !== this.prevHard.vote,
    };
    r.msgs = [];
    r.readStates = [];
    if (softChanged) this.prevSoft = soft;
    this.inFlight = rd;
    return rd;
  }

  /** Acknowledges the last Ready: its persisted parts are stable and its committed entries applied (conf changes take effect here). */
  advance(): void {
    const rd = this.inFlight;
    assert(rd !== undefined, 'raft: advance() without ready()');
    this.inFlight = undefined;
    const r = this.raft;
    if (rd.hardState !== undefined) this.prevHard = rd.hardState;
    const last = rd.entries[rd.entries.length - 1];
    if (last !== undefined) r.log.stableTo(last.index, last.term);
    if (rd.snapshot !== undefined) {
      r.log.stableSnapTo(rd.snapshot.meta.index);
      r.log.appliedTo(rd.snapshot.meta.index);
    }
    for (const e of rd.committedEntries) {
      if (e.kind === 'conf') {
        try {
          r.applyConfChange(decodeConfChange(e.data));
        } catch (err) {
          // A change the leader should have refused (proposal checks) is skipped identically by every node.
          if (!(err instanceof Error) || err.name !== 'ConfChangeError') throw err;
        }
      }
      r.log.appliedTo(e.index);
    }
  }

  /** The configuration as of the last applied entry (to store with a snapshot taken at that point). */
  confState(): ConfState {
    return this.raft.prs.confState();
  }

  status(): Status {
    const r = this.raft;
    const progress = new Map<NodeId, { match: number; next: number; state: ProgressState; recentActive: boolean }>();
    if (r.state === 'leader') for (const [id, pr] of r.prs.progress) progress.set(id, { match: pr.match, next: pr.next, state: pr.state, recentActive: pr.recentActive });
    return {
      id: r.id,
      term: r.term,
      vote: r.vote,
      lead: r.lead,
      state: r.state,
      commit: r.log.committed,
      applied: r.log.applied,
      lastIndex: r.log.lastIndex(),
      conf: r.prs.confState(),
      leadTransferee: r.leadTransferee,
      progress,
    };
  }

  /** Whether this node knows of no leader. */
  leaderless(): boolean {
    return this.raft.lead === NONE;
  }
}
