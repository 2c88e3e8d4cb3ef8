// What the leader knows about each follower's log (Raft §5.3: nextIndex and
// matchIndex, Figure 2 "Volatile state on leaders"), and how it paces
// replication to it:
//
// - probe: the leader does not know where the follower's log matches; it
//   sends one AppendEntries at a time and waits for the answer (or a
//   heartbeat round) before the next, backing nextIndex off on rejections.
// - replicate: the logs match up to `match`; the leader streams entries
//   optimistically, bounded by a window of messages in flight.
// - snapshot: the entries the follower needs are compacted (§7); the leader
//   sent a snapshot and sends nothing else until it is acknowledged.

import { assert } from '../util/assert.js';
import { committedIndex, hasQuorum, voteResult, type VoteResult } from './quorum.js';
import type { ConfState, NodeId } from './messages.js';

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/** The bounded window of AppendEntries in flight to one follower, by the last index each carried. */
export class Inflights {
  private readonly lasts: number[] = [];
  constructor(readonly max: number) {}

  get count(): number {
    return this.lasts.length;
  }

  full(): boolean {
    return this.lasts.length >= this.max;
  }

  add(lastIndex: number): void {
    assert(!this.full(), 'inflight window overflow');
    this.lasts.push(lastIndex);
  }

  /** Frees every message whose entries the follower has acknowledged (up to `index`). */
  freeLE(index: number): void {
    let n = 0;
    while (n < this.lasts.length && (this.lasts[n] as number) <= index) n++;
    this.lasts.splice(0, n);
  }

  freeFirst(): void {
    this.lasts.shift();
  }

  reset(): void {
    this.lasts.length = 0;
  }
}

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** In state snapshot: the index of the snapshot sent. */
  pendingSnapshot = 0;
  /** Ticks spent in state snapshot: a lost snapshot is re-sent after an election timeout. */
  snapshotTicks = 0;
  /** Heard from since the last check-quorum round (dissertation §6.2). */
  recentActive = false;
  /** In state probe: one probe is in flight; wait for its answer or the next heartbeat. */
  probeSent = false;
  readonly inflights: Inflights;

  constructor(
    next: number,
    maxInflight: number,
    public isLearner: boolean,
  ) {
    this.next = next;
    this.inflights = new Inflights(maxInflight);
  }

  private resetState(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.snapshotTicks = 0;
    this.inflights.reset();
  }

  becomeProbe(): void {
    // Coming back from a snapshot, the follower holds at least the snapshot.
    const after = this.state === 'snapshot' ? Math.max(this.match + 1, this.pendingSnapshot + 1) : this.match + 1;
    this.resetState('probe');
    this.next = after;
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(index: number): void {
    this.resetState('snapshot');
    this.pendingSnapshot = index;
  }

  /** An acknowledgement up to n; says whether it told the leader anything new. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /**
   * A rejection of the AppendEntries sent after `rejected`; `hint` is the
   * highest index that may still match. Says whether nextIndex moved (a stale
   * rejection, from before the logs matched further, moves nothing).
   */
  maybeDecrTo(rejected: number, hint: number): boolean {
    if (this.state === 'replicate') {
      // In replicate state next is ahead of match; a rejection at or below match is stale.
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    // In probe state only the rejection of the last probe (sent at next-1) counts.
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1, 1);
    this.probeSent = false;
    return true;
  }

  /** Whether the leader must hold back further AppendEntries to this follower for now. */
  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }
}

/** The configuration and every member's progress, plus the votes of the current election. */
export class ProgressTracker {
  voters: NodeId[] = [];
  learners: NodeId[] = [];
  readonly progress = new Map<NodeId, Progress>();
  readonly votes = new Map<NodeId, boolean>();

  constructor(readonly maxInflight: number) {}

  confState(): ConfState {
    return { voters: [...this.voters].sort(), learners: [...this.learners].sort() };
  }

  /** Installs a configuration, keeping the progress of members that stay; new members start probing at `next`. */
  setConf(conf: ConfState, next: number): void {
    this.voters = [...conf.voters].sort();
    this.learners = [...conf.learners].sort();
    const members = new Set([...this.voters, ...this.learners]);
    for (const id of [...this.progress.keys()]) if (!members.has(id)) this.progress.delete(id);
    for (const id of members) {
      const learner = this.learners.includes(id);
      const pr = this.progress.get(id);
      if (pr === undefined) {
        const p = new Progress(next, this.maxInflight, learner);
        // A new member counts as active, or check-quorum could step the leader down before it ever answered.
        p.recentActive = true;
        this.progress.set(id, p);
      } else {
        pr.isLearner = learner;
      }
    }
  }

  isVoter(id: NodeId): boolean {
    return this.voters.includes(id);
  }

  /** The highest index replicated on a majority of voters (§5.3). */
  committed(): number {
    return committedIndex(this.voters, (id) => this.progress.get(id)?.match ?? 0);
  }

  resetVotes(): void {
    this.votes.clear();
  }

  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  tally(): VoteResult {
    return voteResult(this.voters, this.votes);
  }

  /** Whether a majority of voters were heard from recently (check-quorum, dissertation §6.2). */
  quorumActive(self: NodeId): boolean {
    return hasQuorum(this.voters, (id) => id === self || this.progress.get(id)?.recentActive === true);
  }
}
