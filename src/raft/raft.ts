// The Raft consensus algorithm (Ongaro & Ousterhout, "In Search of an
// Understandable Consensus Algorithm", and Ongaro's dissertation) as a pure
// state machine in the manner of etcd-io/raft: it takes messages (step) and
// logical time (tick) and records what to persist, send and apply; it has no
// clock, timer, network, disk or randomness of its own (the randomised
// election timeout draws from an injected Random). raw-node.ts packs its
// output into Ready batches for a driver.
//
// Beyond the paper's core: pre-vote and check-quorum (dissertation §9.6,
// §6.2), the leader lease that lets voters ignore disruptive candidates
// (§4.2.3), single-server membership changes with learners (§4.1, §4.2.1),
// ReadIndex reads (§6.4), leadership transfer (§3.10) and fast
// backtracking of nextIndex (§5.3).

import { assert } from '../util/assert.js';
import type { Random } from '../util/runtime.js';
import { applyConfChange, changes, ConfChangeError, decodeConfChange, describeConfState, encodeConfChange, type ConfChange } from './confchange.js';
import { RaftLog } from './log.js';
import { entry, NONE, type ConfState, type Entry, type EntryKind, type Message, type NodeId, type ReadState, type Snapshot } from './messages.js';
import { ProgressTracker, type Progress } from './progress.js';
import { hasQuorum } from './quorum.js';
import { ReadOnly } from './read-only.js';
import type { Storage } from './storage.js';

export type StateType = 'follower' | 'preCandidate' | 'candidate' | 'leader';

/**
 * Test-only switches, each turning on one deliberately wrong behaviour, all
 * off in production; the simulator's checkers must catch each one
 * (test/sim/raft-checkers-catch-bugs.test.ts).
 */
export interface RaftBugs {
  /** Grant a vote although this node already voted for another candidate in this term (breaks §5.2's one vote per term). */
  readonly voteTwice?: boolean;
  /** Commit an entry of an earlier term by counting its replicas (the Figure 8 mistake that §5.4.2 forbids). */
  readonly commitOldTerm?: boolean;
  /** Install a snapshot that is older than what the log already holds committed, discarding newer entries. */
  readonly snapshotOverNewer?: boolean;
  /** A new leader writes its first entry right after its commit index, dropping its uncommitted tail (breaks Leader Append-Only, §5.3). */
  readonly leaderDropsTail?: boolean;
  /** A leader answers ReadIndex at once, without a heartbeat round to confirm it still leads (stale reads, dissertation §6.4). */
  readonly readWithoutQuorum?: boolean;
}

export interface RaftConfig {
  readonly id: NodeId;
  readonly storage: Storage;
  /** Draws the randomised election timeout (§5.2). */
  readonly random: Random;
  /** Ticks a follower waits without hearing from a leader before campaigning; the actual timeout is drawn in [electionTick, 2*electionTick). Default 10. */
  readonly electionTick?: number;
  /** Ticks between a leader's heartbeats. Default 1. */
  readonly heartbeatTick?: number;
  /** Pre-vote (dissertation §9.6): a partitioned node cannot inflate its term. Default true. */
  readonly preVote?: boolean;
  /** Check-quorum (dissertation §6.2): a leader that has not heard from a majority for an election timeout steps down. Default true. */
  readonly checkQuorum?: boolean;
  /** Entries per AppendEntries. Default 64. */
  readonly maxMsgEntries?: number;
  /** AppendEntries in flight per follower in replicate state. Default 64. */
  readonly maxInflight?: number;
  /** Uncommitted entries a leader accepts before refusing proposals. Default 4096. */
  readonly maxUncommitted?: number;
  /** ReadIndex requests waiting for confirmation. Default 1024. */
  readonly maxPendingReads?: number;
  /** Receives one line per election, step-down and configuration change. */
  readonly logger?: (line: string) => void;
  readonly bugs?: RaftBugs;
}

export type ProposeResult = { readonly ok: true; readonly index: number; readonly term: number } | { readonly ok: true; readonly forwardedTo: NodeId } | { readonly ok: false; readonly reason: ProposeRefusal };

export type ProposeRefusal = 'noLeader' | 'transferring' | 'notMember' | 'tooManyUncommitted' | 'confChangePending' | 'confChangeInvalid';

type Out<M> = M extends Message ? Omit<M, 'from' | 'term'> & { term?: number } : never;
type Outgoing = Out<Message>;

const EMPTY = new Uint8Array(0);

export class Raft {
  readonly id: NodeId;
  term = 0;
  vote: NodeId = NONE;
  lead: NodeId = NONE;
  state: StateType = 'follower';
  readonly log: RaftLog;
  readonly prs: ProgressTracker;
  /** Messages waiting to be handed out in a Ready; sent only after that Ready is persisted. */
  msgs: Message[] = [];
  readStates: ReadState[] = [];
  leadTransferee: NodeId = NONE;
  /** The highest log index that may hold an uncommitted conf change: no new one until it is applied. */
  pendingConfIndex = 0;

  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  readonly electionTimeout: number;
  readonly heartbeatTimeout: number;
  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;
  private readonly maxMsgEntries: number;
  private readonly maxUncommitted: number;
  private readonly readOnly: ReadOnly;
  /** ReadIndex requests that arrived before this leader committed an entry of its own term (dissertation §6.4 step 1). */
  private pendingReads: { ctx: string; from: NodeId }[] = [];
  private readonly random: Random;
  private readonly logger: (line: string) => void;
  private readonly bugs: RaftBugs;

  constructor(c: RaftConfig) {
    this.id = c.id;
    assert(c.id !== NONE, 'a raft node needs an id');
    this.random = c.random;
    this.electionTimeout = c.electionTick ?? 10;
    this.heartbeatTimeout = c.heartbeatTick ?? 1;
    assert(this.heartbeatTimeout < this.electionTimeout, 'heartbeatTick must be below electionTick');
    this.preVote = c.preVote ?? true;
    this.checkQuorum = c.checkQuorum ?? true;
    this.maxMsgEntries = c.maxMsgEntries ?? 64;
    this.maxUncommitted = c.maxUncommitted ?? 4096;
    this.readOnly = new ReadOnly(c.maxPendingReads ?? 1024);
    this.logger = c.logger ?? (() => {});
    this.bugs = c.bugs ?? {};
    this.log = new RaftLog(c.storage);
    this.prs = new ProgressTracker(c.maxInflight ?? 64);
    const { hardState, conf } = c.storage.initialState();
    this.prs.setConf(conf, this.log.lastIndex() + 1);
    if (hardState.commit > 0 || hardState.term > 0) {
      assert(hardState.commit <= this.log.lastIndex(), `hard state commit ${hardState.commit} beyond the stored log (last ${this.log.lastIndex()})`);
      this.log.commitTo(hardState.commit);
      this.term = hardState.term;
      this.vote = hardState.vote;
    }
    this.becomeFollower(this.term, NONE);
  }

  // ------------------------------------------------------------ state changes

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.electionTimeout + this.random.int(this.electionTimeout);
    this.leadTransferee = NONE;
    this.prs.resetVotes();
    const last = this.log.lastIndex();
    for (const [id, pr] of this.prs.progress) {
      pr.becomeProbe();
      pr.match = id === this.id ? last : 0;
      pr.next = last + 1;
      pr.recentActive = false;
    }
    this.pendingConfIndex = 0;
    this.readOnly.reset();
    this.pendingReads = [];
  }

  becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.lead = lead;
    this.state = 'follower';
  }

  private becomePreCandidate(): void {
    assert(this.state !== 'leader', 'a leader cannot become a pre-candidate');
    // A pre-candidate changes neither term nor vote: that is the point of pre-vote (§9.6).
    this.prs.resetVotes();
    this.lead = NONE;
    this.state = 'preCandidate';
    this.logger(`${this.id} became pre-candidate at term ${this.term}`);
  }

  private becomeCandidate(): void {
    assert(this.state !== 'leader', 'a leader cannot become a candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.state = 'candidate';
    this.logger(`${this.id} became candidate at term ${this.term}`);
  }

  private becomeLeader(): void {
    assert(this.state !== 'follower', 'a follower cannot become leader without an election');
    this.reset(this.term);
    this.lead = this.id;
    this.state = 'leader';
    const self = this.prs.progress.get(this.id);
    if (self !== undefined) self.becomeReplicate();
    // Every entry in the log might be an uncommitted conf change: allow no new one until they are all applied.
    this.pendingConfIndex = this.log.lastIndex();
    this.logger(`${this.id} became leader at term ${this.term}`);
    // An entry of its own term lets the leader commit what earlier terms left (§5.4.2) and serve ReadIndex (dissertation §6.4).
    if (this.bugs.leaderDropsTail && this.log.lastIndex() > this.log.committed) {
      this.log.append([entry(this.term, this.log.committed + 1)]);
      this.prs.progress.get(this.id)?.maybeUpdate(this.log.lastIndex());
      return;
    }
    this.appendEntries([{ kind: 'normal', data: EMPTY }]);
  }

  /** A voter, present in the configuration: may campaign. */
  promotable(): boolean {
    return this.prs.isVoter(this.id);
  }

  // ------------------------------------------------------------------- ticks

  tick(): void {
    if (this.state === 'leader') this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup(false);
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum) {
        if (!this.prs.quorumActive(this.id)) {
          this.logger(`${this.id} stepped down at term ${this.term}: no quorum heard from in an election timeout`);
          this.becomeFollower(this.term, NONE);
          return;
        }
        for (const [id, pr] of this.prs.progress) pr.recentActive = id === this.id;
      }
      // A transfer that did not finish within an election timeout is abandoned (dissertation §3.10).
      if (this.leadTransferee !== NONE) this.abortLeaderTransfer();
    }
    for (const [id, pr] of this.prs.progress) {
      if (id === this.id || pr.state !== 'snapshot') continue;
      // The snapshot (or its answer) was lost: fall back to probing, which sends it again.
      if (++pr.snapshotTicks > this.electionTimeout) pr.becomeProbe();
    }
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat(this.readOnly.lastPendingCtx() ?? '');
    }
  }

  // --------------------------------------------------------------- elections

  /** Starts an election now (as when the election timeout fires), unless this node cannot or must not. */
  hup(transfer: boolean): void {
    if (this.state === 'leader') return;
    if (!this.promotable()) return;
    // A conf change committed but not applied may change who votes: wait for it (as etcd-io/raft does).
    const pending = this.log.entries(this.log.applied + 1, this.log.committed + 1);
    if (pending !== 'compacted' && pending.some((e) => e.kind === 'conf')) {
      this.logger(`${this.id} cannot campaign at term ${this.term}: configuration changes still to apply`);
      return;
    }
    this.campaign(this.preVote && !transfer ? 'pre' : 'election', transfer);
  }

  private campaign(kind: 'pre' | 'election', transfer: boolean): void {
    let term: number;
    if (kind === 'pre') {
      this.becomePreCandidate();
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      term = this.term;
    }
    const type = kind === 'pre' ? 'preVote' : 'vote';
    if (this.poll(this.id, true) === 'won') {
      // A single voter wins at once.
      if (kind === 'pre') this.campaign('election', transfer);
      else this.becomeLeader();
      return;
    }
    for (const id of this.prs.voters) {
      if (id === this.id) continue;
      this.logger(`${this.id} [logterm: ${this.log.lastTerm()}, index: ${this.log.lastIndex()}] sent ${type} request to ${id} at term ${term}`);
      this.send({ type, to: id, term, index: this.log.lastIndex(), logTerm: this.log.lastTerm(), transfer });
    }
  }

  private poll(id: NodeId, granted: boolean): 'won' | 'lost' | 'pending' {
    this.prs.recordVote(id, granted);
    return this.prs.tally();
  }

  // -------------------------------------------------------------------- step

  step(m: Message): void {
    if (m.term === 0) {
      // Forwarded proposals and read requests carry no term.
    } else if (m.term > this.term) {
      if (m.type === 'vote' || m.type === 'preVote') {
        // Leader lease (dissertation §4.2.3): a node that heard from a leader within the minimum election timeout ignores candidates, so that a removed or partitioned server cannot disrupt the cluster. A transfer overrides it.
        const inLease = this.checkQuorum && this.lead !== NONE && this.electionElapsed < this.electionTimeout;
        if (!m.transfer && inLease) {
          this.logger(`${this.id} [term ${this.term}] ignored ${m.type} from ${m.from} at term ${m.term}: lease not expired`);
          return;
        }
      }
      if (m.type === 'preVote') {
        // Answering a pre-vote changes nothing.
      } else if (m.type === 'preVoteResp' && !m.reject) {
        // Granted pre-votes carry the term we will campaign in; the term changes once a majority grants.
      } else {
        this.logger(`${this.id} [term ${this.term}] received ${m.type} from ${m.from} at higher term ${m.term}`);
        this.becomeFollower(m.term, m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap' ? m.from : NONE);
      }
    } else if (m.term < this.term) {
      if ((this.checkQuorum || this.preVote) && (m.type === 'app' || m.type === 'heartbeat')) {
        // A stale leader (say, healed from a partition) learns the new term from this answer and steps down; without it, with pre-vote on, it could keep the partition's other side from ever electing (etcd-io/raft issue 5451 describes the deadlock).
        this.send({ type: 'appResp', to: m.from, index: 0, reject: false, hintIndex: 0, hintTerm: 0 });
      } else if (m.type === 'preVote') {
        this.send({ type: 'preVoteResp', to: m.from, reject: true });
      }
      return;
    }

    switch (m.type) {
      case 'vote':
      case 'preVote': {
        // One vote per term (§5.2); a pre-vote for a future term promises nothing.
        let canVote = this.vote === m.from || (this.vote === NONE && this.lead === NONE) || (m.type === 'preVote' && m.term > this.term);
        if (this.bugs.voteTwice && m.type === 'vote' && this.lead === NONE) canVote = true;
        if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
          this.logger(`${this.id} [logterm: ${this.log.lastTerm()}, index: ${this.log.lastIndex()}, vote: ${this.vote || '-'}] cast ${m.type} for ${m.from} at term ${m.term}`);
          this.send({ type: m.type === 'vote' ? 'voteResp' : 'preVoteResp', to: m.from, term: m.term, reject: false });
          if (m.type === 'vote') {
            this.electionElapsed = 0;
            this.vote = m.from;
          }
        } else {
          this.logger(`${this.id} [logterm: ${this.log.lastTerm()}, index: ${this.log.lastIndex()}, vote: ${this.vote || '-'}] rejected ${m.type} from ${m.from} at term ${m.term}`);
          this.send({ type: m.type === 'vote' ? 'voteResp' : 'preVoteResp', to: m.from, reject: true });
        }
        return;
      }
      default:
        break;
    }
    switch (this.state) {
      case 'leader':
        this.stepLeader(m);
        break;
      case 'candidate':
      case 'preCandidate':
        this.stepCandidate(m);
        break;
      case 'follower':
        this.stepFollower(m);
        break;
    }
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case 'prop':
        this.propose(m.entries, false);
        return;
      case 'readIndex':
        this.leaderReadIndex(m.ctx, m.from);
        return;
      case 'appResp':
        this.handleAppendResponse(m.from, m.index, m.reject, m.hintIndex, m.hintTerm);
        return;
      case 'heartbeatResp':
        this.handleHeartbeatResponse(m.from, m.ctx);
        return;
      default:
        return;
    }
  }

  private stepCandidate(m: Message): void {
    const myResp = this.state === 'preCandidate' ? 'preVoteResp' : 'voteResp';
    switch (m.type) {
      case 'app':
        this.becomeFollower(m.term, m.from);
        this.handleAppend(m);
        return;
      case 'heartbeat':
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case 'snap':
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case 'voteResp':
      case 'preVoteResp': {
        if (m.type !== myResp) return;
        const res = this.poll(m.from, !m.reject);
        this.logger(`${this.id} has received ${this.countVotes(true)} ${m.type} votes and ${this.countVotes(false)} rejections`);
        if (res === 'won') {
          if (this.state === 'preCandidate') this.campaign('election', false);
          else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (res === 'lost') {
          this.becomeFollower(this.term, NONE);
        }
        return;
      }
      default:
        return;
    }
  }

  private countVotes(granted: boolean): number {
    let n = 0;
    for (const v of this.prs.votes.values()) if (v === granted) n++;
    return n;
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'prop':
        if (this.lead === NONE) return;
        this.send({ type: 'prop', to: this.lead, term: 0, entries: m.entries });
        return;
      case 'app':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppend(m);
        return;
      case 'heartbeat':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return;
      case 'snap':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return;
      case 'timeoutNow':
        // Leadership transfer (dissertation §3.10): campaign at once, skipping pre-vote and overriding leases.
        this.logger(`${this.id} [term ${this.term}] received timeoutNow from ${m.from}: campaigning`);
        this.hup(true);
        return;
      case 'readIndex':
        if (this.lead === NONE) return;
        this.send({ type: 'readIndex', to: this.lead, term: 0, ctx: m.ctx });
        return;
      case 'readIndexResp':
        this.readStates.push({ index: m.index, ctx: m.ctx });
        return;
      default:
        return;
    }
  }

  // ------------------------------------------------------------- proposals

  /**
   * Appends proposed entries to the leader's log (or forwards them to the
   * leader). Conf changes are held to one uncommitted at a time (§4.1):
   * while one is pending a local proposal is refused; a forwarded one, which
   * cannot be answered, becomes an empty entry.
   */
  propose(ents: readonly { kind: EntryKind; data: Uint8Array }[], local: boolean): ProposeResult {
    if (this.state !== 'leader') {
      if (this.lead === NONE) return { ok: false, reason: 'noLeader' };
      this.send({ type: 'prop', to: this.lead, term: 0, entries: ents });
      return { ok: true, forwardedTo: this.lead };
    }
    if (!this.prs.progress.has(this.id)) return { ok: false, reason: 'notMember' };
    if (this.leadTransferee !== NONE) return { ok: false, reason: 'transferring' };
    if (this.log.lastIndex() - this.log.committed + ents.length > this.maxUncommitted) return { ok: false, reason: 'tooManyUncommitted' };
    const out: { kind: EntryKind; data: Uint8Array }[] = [];
    for (let i = 0; i < ents.length; i++) {
      const e = ents[i] as { kind: EntryKind; data: Uint8Array };
      if (e.kind !== 'conf') {
        out.push(e);
        continue;
      }
      let refusal: ProposeRefusal | undefined;
      if (this.pendingConfIndex > this.log.applied) refusal = 'confChangePending';
      else {
        try {
          const cc = decodeConfChange(e.data);
          applyConfChange(this.prs.confState(), cc);
          if (!changes(this.prs.confState(), cc)) refusal = 'confChangeInvalid';
        } catch (err) {
          if (!(err instanceof ConfChangeError) && !(err instanceof SyntaxError)) throw err;
          refusal = 'confChangeInvalid';
        }
      }
      if (refusal !== undefined) {
        this.logger(`${this.id} refused a configuration change at term ${this.term}: ${refusal}`);
        if (local) return { ok: false, reason: refusal };
        out.push({ kind: 'normal', data: EMPTY });
        continue;
      }
      this.pendingConfIndex = this.log.lastIndex() + i + 1;
      out.push(e);
    }
    const first = this.log.lastIndex() + 1;
    this.appendEntries(out);
    this.bcastAppend();
    return { ok: true, index: first + out.length - 1, term: this.term };
  }

  proposeConfChange(cc: ConfChange): ProposeResult {
    return this.propose([{ kind: 'conf', data: encodeConfChange(cc) }], true);
  }

  private appendEntries(ents: readonly { kind: EntryKind; data: Uint8Array }[]): void {
    const li = this.log.lastIndex();
    const full: Entry[] = ents.map((e, i) => entry(this.term, li + 1 + i, e.data, e.kind));
    this.log.append(full);
    // The leader's own copy counts toward commitment once the driver persists it, which it does before sending anything (raw-node.ts).
    this.prs.progress.get(this.id)?.maybeUpdate(this.log.lastIndex());
    this.maybeCommit();
  }

  /**
   * Advances commit to the highest index a majority holds, but only if that
   * entry is of the current term (§5.4.2, Figure 8): an older entry is
   * committed indirectly, by the Log Matching property, once an entry of this
   * term above it is.
   */
  private maybeCommit(): boolean {
    const mci = this.prs.committed();
    if (mci <= this.log.committed) return false;
    if (!this.bugs.commitOldTerm && this.log.term(mci) !== this.term) return false;
    this.log.commitTo(mci);
    return true;
  }

  private committedEntryInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  // ----------------------------------------------------------- replication

  private send(m: Outgoing): void {
    const term = m.term ?? this.term;
    this.msgs.push({ ...m, from: this.id, term } as Message);
  }

  /** Sends the follower what it is missing, or a snapshot if that is compacted away (§7). Says whether it sent anything. */
  private sendAppend(to: NodeId, sendIfEmpty = true): boolean {
    const pr = this.prs.progress.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    const ents = this.log.entries(pr.next, this.log.lastIndex() + 1, this.maxMsgEntries);
    if (prevTerm === undefined || ents === 'compacted') return this.sendSnapshot(to, pr);
    if (ents.length === 0 && !sendIfEmpty) return false;
    this.send({ type: 'app', to, index: prevIndex, logTerm: prevTerm, entries: ents, commit: this.log.committed });
    if (ents.length > 0) {
      const last = (ents[ents.length - 1] as Entry).index;
      if (pr.state === 'replicate') {
        pr.next = last + 1;
        pr.inflights.add(last);
      } else {
        pr.probeSent = true;
      }
    } else if (pr.state === 'probe') {
      pr.probeSent = true;
    }
    return true;
  }

  private sendSnapshot(to: NodeId, pr: Progress): boolean {
    // Only to a follower known to be up: a snapshot is large.
    if (!pr.recentActive) return false;
    const snapshot = this.log.snapshot();
    pr.becomeSnapshot(snapshot.meta.index);
    this.logger(`${this.id} sent snapshot at index ${snapshot.meta.index} (term ${snapshot.meta.term}) to ${to}`);
    this.send({ type: 'snap', to, snapshot });
    return true;
  }

  private bcastAppend(): void {
    for (const id of this.prs.progress.keys()) if (id !== this.id) this.sendAppend(id);
  }

  private bcastHeartbeat(ctx: string): void {
    for (const [id, pr] of this.prs.progress) {
      if (id === this.id) continue;
      // Never tell a follower to commit beyond what it is known to hold.
      this.send({ type: 'heartbeat', to: id, commit: Math.min(pr.match, this.log.committed), ctx });
    }
  }

  private handleAppendResponse(from: NodeId, index: number, reject: boolean, hintIndex: number, hintTerm: number): void {
    const pr = this.prs.progress.get(from);
    if (pr === undefined) return;
    pr.recentActive = true;
    if (reject) {
      // Fast backtracking: skip every entry of ours whose term cannot match the follower's hint.
      const next = hintTerm > 0 ? this.log.findConflictByTerm(hintIndex, hintTerm).index : hintIndex;
      if (pr.maybeDecrTo(index, next)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.sendAppend(from);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    // A probe answered at the known match also proves the logs match there.
    if (!pr.maybeUpdate(index) && !(pr.state === 'probe' && index === pr.match)) return;
    if (pr.state === 'probe') pr.becomeReplicate();
    else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) {
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === 'replicate') pr.inflights.freeLE(index);
    if (this.maybeCommit()) {
      this.releasePendingReads();
      this.bcastAppend();
    } else if (wasPaused) {
      this.sendAppend(from);
    }
    // Stream on while there is more to send and room in the window.
    while (this.sendAppend(from, false)) {
      /* keep sending */
    }
    if (from === this.leadTransferee && pr.match === this.log.lastIndex()) {
      this.logger(`${this.id} sent timeoutNow to ${from}: its log is up to date`);
      this.send({ type: 'timeoutNow', to: from });
    }
  }

  private handleHeartbeatResponse(from: NodeId, ctx: string): void {
    const pr = this.prs.progress.get(from);
    if (pr === undefined) return;
    pr.recentActive = true;
    pr.probeSent = false;
    // A full window whose messages were lost would stall replication for good: free one slot per heartbeat round, so that what is sent next exposes the gap (a rejection) and the leader probes again.
    if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirst();
    if (pr.match < this.log.lastIndex()) this.sendAppend(from);
    if (ctx === '') return;
    const acks = this.readOnly.recvAck(from, ctx);
    if (acks === undefined || !hasQuorum(this.prs.voters, (id) => acks.has(id))) return;
    for (const r of this.readOnly.advance(ctx)) this.answerRead(r.index, r.ctx, r.from);
  }

  private handleAppend(m: Extract<Message, { type: 'app' }>): void {
    if (m.index < this.log.committed) {
      this.send({ type: 'appResp', to: m.from, index: this.log.committed, reject: false, hintIndex: 0, hintTerm: 0 });
      return;
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      this.send({ type: 'appResp', to: m.from, index: lastNew, reject: false, hintIndex: 0, hintTerm: 0 });
      return;
    }
    // Our log does not hold (m.index, m.logTerm): tell the leader where a match might be (§5.3 fast backtracking).
    const hint = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    this.send({ type: 'appResp', to: m.from, index: m.index, reject: true, hintIndex: hint.index, hintTerm: hint.term });
  }

  private handleHeartbeat(m: Extract<Message, { type: 'heartbeat' }>): void {
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.send({ type: 'heartbeatResp', to: m.from, ctx: m.ctx });
  }

  private handleSnapshot(m: Extract<Message, { type: 'snap' }>): void {
    const s = m.snapshot;
    if (this.restore(s)) {
      this.logger(`${this.id} installed snapshot at index ${s.meta.index} (term ${s.meta.term}) ${describeConfState(s.meta.conf)}`);
      this.send({ type: 'appResp', to: m.from, index: this.log.lastIndex(), reject: false, hintIndex: 0, hintTerm: 0 });
    } else {
      this.send({ type: 'appResp', to: m.from, index: this.log.committed, reject: false, hintIndex: 0, hintTerm: 0 });
    }
  }

  /** InstallSnapshot's receiver (§7). Says whether the snapshot replaced the log. */
  private restore(s: Snapshot): boolean {
    if (!this.bugs.snapshotOverNewer) {
      // Everything it covers is committed here already: installing it would throw away newer entries.
      if (s.meta.index <= this.log.committed) return false;
      // Our log already continues it (§7: "retain log entries following it"): just commit.
      if (this.log.matchTerm(s.meta.index, s.meta.term)) {
        this.log.commitTo(s.meta.index);
        return false;
      }
    }
    this.log.restore(s);
    this.prs.setConf(s.meta.conf, this.log.lastIndex() + 1);
    return true;
  }

  // ------------------------------------------------------------- ReadIndex

  /** Asks for a linearizable read point (dissertation §6.4); the answer arrives as a ReadState tagged ctx. Says whether the request went anywhere. */
  readIndex(ctx: string): boolean {
    if (this.state === 'leader') return this.leaderReadIndex(ctx, this.id);
    if (this.lead === NONE) return false;
    this.send({ type: 'readIndex', to: this.lead, term: 0, ctx });
    return true;
  }

  private leaderReadIndex(ctx: string, from: NodeId): boolean {
    if ((this.prs.voters.length === 1 && this.prs.isVoter(this.id)) || this.bugs.readWithoutQuorum) {
      this.answerRead(this.log.committed, ctx, from);
      return true;
    }
    // Until it commits an entry of its own term, the leader does not know the latest commit index (§6.4 step 1).
    if (!this.committedEntryInCurrentTerm()) {
      if (this.pendingReads.length >= this.readOnly.maxPending) return false;
      this.pendingReads.push({ ctx, from });
      return true;
    }
    if (!this.readOnly.add(this.log.committed, ctx, from)) return false;
    this.readOnly.recvAck(this.id, ctx);
    this.bcastHeartbeat(ctx);
    return true;
  }

  private releasePendingReads(): void {
    if (!this.committedEntryInCurrentTerm()) return;
    const reads = this.pendingReads;
    this.pendingReads = [];
    for (const r of reads) this.leaderReadIndex(r.ctx, r.from);
  }

  private answerRead(index: number, ctx: string, from: NodeId): void {
    if (from === this.id) this.readStates.push({ index, ctx });
    else this.send({ type: 'readIndexResp', to: from, ctx, index });
  }

  // ------------------------------------------------- leadership transfer

  /** Hands leadership to `to` (dissertation §3.10): bring its log up to date, then tell it to campaign. Only the leader can. */
  transferLeader(to: NodeId): boolean {
    if (this.state !== 'leader' || to === this.id) return false;
    const pr = this.prs.progress.get(to);
    if (pr === undefined || pr.isLearner) return false;
    if (this.leadTransferee === to) return true;
    if (this.leadTransferee !== NONE) this.abortLeaderTransfer();
    this.logger(`${this.id} [term ${this.term}] starts to transfer leadership to ${to}`);
    this.electionElapsed = 0;
    this.leadTransferee = to;
    if (pr.match === this.log.lastIndex()) {
      this.logger(`${this.id} sent timeoutNow to ${to}: its log is up to date`);
      this.send({ type: 'timeoutNow', to });
    } else {
      this.sendAppend(to);
    }
    return true;
  }

  private abortLeaderTransfer(): void {
    this.leadTransferee = NONE;
  }

  // ------------------------------------------------- configuration changes

  /**
   * Makes an applied conf change take effect (the driver applies entries in
   * order; raw-node.ts calls this as it advances past a conf entry). A leader
   * that is no longer a voter steps down (dissertation §4.2.2).
   */
  applyConfChange(cc: ConfChange): ConfState {
    const conf = applyConfChange(this.prs.confState(), cc);
    this.prs.setConf(conf, this.log.lastIndex() + 1);
    this.logger(`${this.id} applied ${cc.type} ${cc.node}: ${describeConfState(conf)}`);
    if (this.state === 'leader') {
      if (!this.prs.isVoter(this.id)) {
        this.logger(`${this.id} stepped down at term ${this.term}: no longer a voter`);
        this.becomeFollower(this.term, NONE);
      } else {
        if (this.leadTransferee !== NONE && !this.prs.isVoter(this.leadTransferee)) this.abortLeaderTransfer();
        // A smaller majority may commit more at once; new members need the log.
        if (this.maybeCommit()) this.releasePendingReads();
        this.bcastAppend();
      }
    }
    return conf;
  }

  /** The leader (only) learns that a snapshot it sent failed to arrive, and will probe again. */
  reportSnapshot(id: NodeId, ok: boolean): void {
    const pr = this.prs.progress.get(id);
    if (this.state !== 'leader' || pr === undefined || pr.state !== 'snapshot') return;
    if (!ok) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    pr.probeSent = true;
  }

  /** The driver could not reach `id`: stop streaming to it and probe. */
  reportUnreachable(id: NodeId): void {
    const pr = this.prs.progress.get(id);
    if (this.state === 'leader' && pr !== undefined && pr.state === 'replicate') pr.becomeProbe();
  }
}
