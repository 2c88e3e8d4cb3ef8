// The values Raft exchanges and persists (Raft §5, Figure 2), as plain data:
// a driver can encode them for any transport or disk. Messages form one
// discriminated union on `type`, with matching request/response pairs.

/** A node's id: the same string the rest of ringstore names nodes by. */
export type NodeId = string;

/** No node: no vote cast, no leader known. */
export const NONE: NodeId = '';

/**
 * The on-disk and on-wire format of a log entry. A node that finds an entry
 * of a version it does not know refuses it rather than guess (see
 * `checkEntryVersion`).
 */
export const ENTRY_FORMAT_VERSION = 1;

export type EntryKind = 'normal' | 'conf';

export interface Entry {
  /** Entry format version (ENTRY_FORMAT_VERSION). */
  readonly v: number;
  readonly term: number;
  readonly index: number;
  /** 'conf' entries carry an encoded ConfChange (confchange.ts); 'normal' ones carry application data (empty: the leader's noop). */
  readonly kind: EntryKind;
  readonly data: Uint8Array;
}

/** What must be on disk before any message that depends on it leaves (Figure 2, "Persistent state"). */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
}

/** The membership: voters decide elections and commitment; learners only follow the log. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export interface SnapshotMeta {
  /** The last index the snapshot covers, and its term (Raft §7: "last included index/term"). */
  readonly index: number;
  readonly term: number;
  /** The configuration as of `index`. */
  readonly conf: ConfState;
}

export interface Snapshot {
  readonly meta: SnapshotMeta;
  /** The application's state as of meta.index (for ringstore: the control state, control/state.ts). */
  readonly data: Uint8Array;
}

/** An answer to a ReadIndex request: once the state machine has applied `index`, a read tagged `ctx` is linearizable (dissertation §6.4). */
export interface ReadState {
  readonly index: number;
  readonly ctx: string;
}

interface Base {
  readonly from: NodeId;
  readonly to: NodeId;
  /** The sender's term; 0 marks a message a follower forwards to its leader (proposals, read requests), which carries no term. */
  readonly term: number;
}

/** AppendEntries (Figure 2): entries after (index, logTerm), and the leader's commit index. */
export interface AppendReq extends Base {
  readonly type: 'app';
  readonly index: number;
  readonly logTerm: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
}

/**
 * The answer to AppendEntries or InstallSnapshot. On success `index` is the
 * last index now known to match. On a rejection `index` is the rejected
 * prevIndex and (hintIndex, hintTerm) let the leader skip a whole
 * conflicting term at once (the fast backtracking of Raft §5.3, last
 * paragraphs).
 */
export interface AppendResp extends Base {
  readonly type: 'appResp';
  readonly index: number;
  readonly reject: boolean;
  readonly hintIndex: number;
  readonly hintTerm: number;
}

/** RequestVote, or its pre-vote twin (dissertation §9.6), which asks "would you vote for me in `term`?" without anyone changing term. */
export interface VoteReq extends Base {
  readonly type: 'vote' | 'preVote';
  readonly index: number;
  readonly logTerm: number;
  /** Set when a leadership transfer asked for this election: it overrides the leader lease (dissertation §3.10). */
  readonly transfer: boolean;
}

export interface VoteResp extends Base {
  readonly type: 'voteResp' | 'preVoteResp';
  readonly reject: boolean;
}

/** An empty AppendEntries: keeps followers from campaigning, and (with a ctx) confirms leadership for ReadIndex. */
export interface HeartbeatReq extends Base {
  readonly type: 'heartbeat';
  readonly commit: number;
  readonly ctx: string;
}

export interface HeartbeatResp extends Base {
  readonly type: 'heartbeatResp';
  readonly ctx: string;
}

/** InstallSnapshot (Raft §7), sent whole. */
export interface SnapshotReq extends Base {
  readonly type: 'snap';
  readonly snapshot: Snapshot;
}

/** Leadership transfer (dissertation §3.10): "start an election now". */
export interface TimeoutNow extends Base {
  readonly type: 'timeoutNow';
}

/** A proposal a follower forwards to its leader. */
export interface ProposeReq extends Base {
  readonly type: 'prop';
  readonly entries: readonly { readonly kind: EntryKind; readonly data: Uint8Array }[];
}

/** A read request a follower forwards to its leader, and the leader's answer (dissertation §6.4). */
export interface ReadIndexReq extends Base {
  readonly type: 'readIndex';
  readonly ctx: string;
}

export interface ReadIndexResp extends Base {
  readonly type: 'readIndexResp';
  readonly ctx: string;
  readonly index: number;
}

export type Message = AppendReq | AppendResp | VoteReq | VoteResp | HeartbeatReq | HeartbeatResp | SnapshotReq | TimeoutNow | ProposeReq | ReadIndexReq | ReadIndexResp;
export type MessageType = Message['type'];

const EMPTY = new Uint8Array(0);

export function entry(term: number, index: number, data: Uint8Array = EMPTY, kind: EntryKind = 'normal'): Entry {
  return { v: ENTRY_FORMAT_VERSION, term, index, kind, data };
}

export const EMPTY_CONF: ConfState = { voters: [], learners: [] };

export function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

export class EntryVersionError extends Error {
  override name = 'EntryVersionError';
}

/** Refuses an entry of a format this build does not know: upgrade the node first. */
export function checkEntryVersion(e: Entry): void {
  if (e.v !== ENTRY_FORMAT_VERSION) throw new EntryVersionError(`raft entry ${e.index} has format version ${e.v}, this build reads ${ENTRY_FORMAT_VERSION}: upgrade this node`);
}
