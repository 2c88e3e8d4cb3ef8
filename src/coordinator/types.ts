// The coordinator's contract with the APIs above it (native JSON, S3, KV):
// what a request asks for and everything it reports back, so that the API
// can show what Dynamo usually hides (who coordinated, where a write landed,
// every replica's clock, the siblings, the context).

import type { NodeId, SiblingMeta, SiblingSet, VersionVector } from '../version/dvv.js';
import { RingstoreError } from '../util/errors.js';

export { DEFAULT_QUORUM, type Quorum } from './quorum.js';

export interface PutRequest {
  readonly bucket: string;
  readonly key: string;
  /** null writes a tombstone (delete). */
  readonly value: Uint8Array | null;
  readonly meta?: Omit<SiblingMeta, 'ts'>;
  /** The causal context from a read; null: the client has seen nothing. */
  readonly context: VersionVector | null;
  /**
   * Also supersede every version the origin replica holds, as an S3 PUT
   * "replace" must: with no context, the origin's clock is the context; with
   * one, it is joined to it (read-first.ts: a context-less delete).
   */
  readonly supersedeVisible?: boolean;
  readonly n?: number;
  readonly w?: number;
  /** false forbids fallback nodes (strict quorum, like Riak's pw). */
  readonly sloppy?: boolean;
}

export interface HintedWrite {
  /** The fallback node that took the write. */
  readonly node: NodeId;
  /** The preference-list owner it stands in for. */
  readonly for: NodeId;
}

export interface PutResult {
  readonly coordinator: NodeId;
  /** The replica that minted the write's dot. */
  readonly origin: NodeId;
  readonly partition: number;
  readonly preferenceList: readonly NodeId[];
  /** Replicas (owners or fallbacks) that acknowledged before the answer. */
  readonly replicasWritten: readonly NodeId[];
  readonly hinted: readonly HintedWrite[];
  /** The clock of every replica that answered, after the write. */
  readonly vectorClocks: Readonly<Record<NodeId, VersionVector>>;
  /** The merged state of the acknowledging replicas. */
  readonly set: SiblingSet;
  /** Context for a follow-up write that supersedes this one. */
  readonly context: VersionVector;
}

export interface GetRequest {
  readonly bucket: string;
  readonly key: string;
  /**
   * Versions only: live siblings come back with empty values (tombstones
   * null). For callers that hold values by dot (the S3 read cache). Replicas
   * found to disagree are repaired by a full read in the background.
   */
  readonly omitValues?: boolean;
  readonly n?: number;
  readonly r?: number;
  /** false asks the owners only, never a fallback (a strict read: read-first.ts). */
  readonly sloppy?: boolean;
  /** With r=1 and omitValues: ask one replica at a time, this node first, instead of all N (read-first.ts's light read before a put). */
  readonly oneAtATime?: boolean;
}

export interface GetResult {
  readonly coordinator: NodeId;
  readonly partition: number;
  readonly preferenceList: readonly NodeId[];
  readonly replicasRead: readonly NodeId[];
  /** Per replica that answered: its clock, or null when it held nothing. */
  readonly vectorClocks: Readonly<Record<NodeId, VersionVector | null>>;
  /** Reconciled siblings, tombstones included (an all-tombstone set reads as not found). */
  readonly set: SiblingSet;
  readonly context: VersionVector;
}

export interface ListRequest {
  readonly bucket: string;
  readonly prefix?: string;
  /** Start strictly after this key. */
  readonly after?: string;
  readonly limit: number;
  /** Live siblings come back with empty values (see ListKeysReq.omitValues). */
  readonly omitValues?: boolean;
  /**
   * Fail (QuorumError) unless every member answered, rather than merging
   * what the live ones said: for callers that must not miss a key (the
   * chunk collector's mark phase).
   */
  readonly strict?: boolean;
  /** Also return keys whose siblings are all tombstones (S3 ListObjectVersions shows them as delete markers). */
  readonly includeTombstones?: boolean;
}

export interface ListResult {
  readonly keys: readonly { readonly key: string; readonly set: SiblingSet }[];
  readonly truncated: boolean;
}

/** Why one replica did not answer: a stable code (see replicaFailure in targets.ts) and the words. */
export interface ReplicaFailure {
  readonly node: NodeId;
  /** NodeDown, Unreachable, Timeout, or the code the replica answered with (HintsFull, StaleData...). */
  readonly code: string;
  readonly reason: string;
}

/**
 * A request that could not gather its quorum. For writes, `outcome` says
 * whether the write may have been applied on some replica ('unknown') or was
 * certainly applied nowhere ('not_applied'). `failed` holds every replica
 * that did not answer, each with its own code and reason; the API answers
 * carry them as they are (details).
 */
export class QuorumError extends RingstoreError {
  constructor(
    readonly op: 'read' | 'write',
    readonly needed: number,
    readonly answered: readonly NodeId[],
    readonly failed: readonly ReplicaFailure[],
    readonly outcome: 'not_applied' | 'unknown' | 'none',
  ) {
    const names = answered.length > 0 ? answered.join(', ') : 'none';
    const why = failed.map((f) => `${f.node}: ${f.reason} [${f.code}]`).join('; ');
    super(
      'QuorumNotReached',
      `${op} needed ${needed} replicas, ${answered.length} answered (${names})` +
        (why ? `; failed: ${why}` : '') +
        (op === 'write' ? `; outcome ${outcome === 'unknown' ? 'unknown: the write may have been applied on some replicas' : 'not applied'}` : ''),
      { op, needed, answered, failed, outcome },
    );
  }
}
