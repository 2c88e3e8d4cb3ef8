// The inter-node protocol as TypeScript types: one discriminated union of
// requests, each with its matching response. proto/ringstore.proto carries
// exactly these over gRPC (codec.ts maps between the two); the simulator's
// in-memory transport carries them as they are.

import type { NodeId, SiblingMeta, SiblingSet, VersionVector } from '../version/dvv.js';
import type { SwimMessage } from './swim-messages.js';
import type { AeRequest, AeResponse, AeResponseFor } from './antientropy-messages.js';
import type { RaftOkResp, RaftReq } from './raft-messages.js'; // raft: the control plane's messages

// Anti-entropy's messages (Merkle exchange, tombstone collection) and SWIM's
// packets have files of their own beside this one.
export type * from './antientropy-messages.js';
export type * from './raft-messages.js';

/** Apply a new write as its origin replica: mint the dot, merge, persist. */
export interface PutOriginReq {
  readonly type: 'putOrigin';
  readonly bucket: string;
  readonly key: string;
  readonly value: Uint8Array | null;
  readonly meta: Omit<SiblingMeta, 'ts'>;
  /** The causal context the client sent; null means "none". */
  readonly context: VersionVector | null;
  /** Supersede everything the origin holds too (S3 "replace" semantics; joined to the context if there is one). */
  readonly supersedeLocal: boolean;
  /** Set when the receiver stands in for this owner (sloppy quorum). */
  readonly hintFor: NodeId | null;
}

/** Merge a sibling set computed elsewhere into this replica and persist it. */
export interface PutReplicaReq {
  readonly type: 'putReplica';
  readonly bucket: string;
  readonly key: string;
  readonly set: SiblingSet;
  readonly hintFor: NodeId | null;
  /** When `set` was read, on the sender's clock; too old a copy is refused (antientropy/data-age.ts). */
  readonly asOf: number;
}

export interface GetReq {
  readonly type: 'get';
  readonly bucket: string;
  readonly key: string;
  /** The set without its values (live ones empty, tombstones null): its versions only. Absent: false. */
  readonly omitValues?: boolean;
}

/** Keys of one bucket held by this node, in key order, after `after`. */
export interface ListKeysReq {
  readonly type: 'listKeys';
  readonly bucket: string;
  readonly prefix: string;
  readonly after: string;
  readonly limit: number;
  /**
   * Siblings come back without their values (live ones empty, tombstones
   * null): enough to tell live keys and to see their clocks, without
   * shipping (or reading from disk) big values. Absent: false.
   */
  readonly omitValues?: boolean;
}

export interface PingReq {
  readonly type: 'ping';
}

/**
 * A SWIM packet (membership/messages.ts) carried as a request whose answer
 * (SwimOkResp, sent at once) the sender ignores: SWIM wants datagrams, and
 * this gives it best-effort delivery over the same connections, the same
 * fault filter and the same in-memory network as everything else.
 */
export interface SwimReq {
  readonly type: 'swim';
  readonly msg: SwimMessage;
}

export type Request = PutOriginReq | PutReplicaReq | GetReq | ListKeysReq | PingReq | SwimReq | AeRequest | RaftReq;

export interface PutOk {
  readonly type: 'putOk';
  /** The replica's sibling set after the write: its clock is reported to the client. */
  readonly set: SiblingSet;
}

export interface GetOk {
  readonly type: 'getOk';
  /** null: the replica holds nothing for the key. */
  readonly set: SiblingSet | null;
}

export interface ListKeysOk {
  readonly type: 'listKeysOk';
  readonly keys: readonly { readonly key: string; readonly set: SiblingSet }[];
  readonly truncated: boolean;
}

export interface Pong {
  readonly type: 'pong';
  readonly node: NodeId;
}

export interface SwimOkResp {
  readonly type: 'swimOk';
}

/** A handler-level failure on the remote node (its store failed, it is stopping...). */
export interface ErrorResp {
  readonly type: 'error';
  readonly code: string;
  readonly message: string;
}

export type Response = PutOk | GetOk | ListKeysOk | Pong | SwimOkResp | AeResponse | RaftOkResp | ErrorResp;

export interface ResponseFor extends AeResponseFor {
  putOrigin: PutOk;
  putReplica: PutOk;
  get: GetOk;
  listKeys: ListKeysOk;
  ping: Pong;
  swim: SwimOkResp;
  raft: RaftOkResp;
}

/** Everything that travels between nodes. */
export type Message = Request | Response;
export type MessageType = Message['type'];

/** The response type each request type is answered with (besides 'error'). */
export const RESPONSE_TYPE: { readonly [T in Request['type']]: ResponseFor[T]['type'] } = {
  putOrigin: 'putOk',
  putReplica: 'putOk',
  get: 'getOk',
  listKeys: 'listKeysOk',
  ping: 'pong',
  swim: 'swimOk',
  aeRoots: 'aeHashesOk',
  aeHashes: 'aeHashesOk',
  aeLeafKeys: 'aeKeysOk',
  aeFetch: 'aeSetsOk',
  aePush: 'aeCountOk',
  aeGcCheck: 'aeGcStatesOk',
  aeGcRemove: 'aeCountOk',
  raft: 'raftOk',
};

export function isRequest(msg: Message): msg is Request {
  return Object.prototype.hasOwnProperty.call(RESPONSE_TYPE, msg.type);
}
