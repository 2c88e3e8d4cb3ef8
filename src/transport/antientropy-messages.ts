// The anti-entropy messages between replicas (Dynamo §4.7): compare Merkle
// roots of many partitions at once, descend into the subtrees that differ,
// list the keys under differing leaves, then fetch and push sibling sets,
// and the two-phase tombstone collection. Each request names the tree shape
// it assumes, so two nodes configured differently fail loudly instead of
// comparing unrelated hashes.
//
// It lives in transport, below antientropy, because the transport's message
// union and codec carry it; antientropy/protocol.ts re-exports it.

import type { SiblingSet } from '../version/dvv.js';

export interface AeShape {
  readonly fanout: number;
  readonly depth: number;
}

export interface AeKeyRef {
  readonly bucket: string;
  readonly key: string;
}

/** A key and the 64-bit digest of its sibling set (merkle.ts keyDigestHex), 16 hex digits. */
export interface AeKeyDigest extends AeKeyRef {
  readonly digest: string;
}

export interface AeKeySet extends AeKeyRef {
  /** null: the sender holds nothing for the key. */
  readonly set: SiblingSet | null;
}

/** The receiver's tree roots for these partitions, 8 bytes each in order (zeros: no data). */
export interface AeRootsReq {
  readonly type: 'aeRoots';
  readonly shape: AeShape;
  readonly partitions: readonly number[];
}

/** The hashes of the children of nodes `indices` of `level`: fanout x 8 bytes per index. */
export interface AeHashesReq {
  readonly type: 'aeHashes';
  readonly shape: AeShape;
  readonly partition: number;
  readonly level: number;
  readonly indices: readonly number[];
}

/**
 * The receiver's keys (with set digests) in the given leaves of a partition,
 * in scan order, starting strictly after `after` (paging), at most `limit`.
 */
export interface AeLeafKeysReq {
  readonly type: 'aeLeafKeys';
  readonly shape: AeShape;
  readonly partition: number;
  readonly leaves: readonly number[];
  readonly after: AeKeyRef | null;
  readonly limit: number;
}

/** The receiver's sets for these keys: a prefix of them, as many as fit in maxBytes (at least one). */
export interface AeFetchReq {
  readonly type: 'aeFetch';
  readonly partition: number;
  readonly keys: readonly AeKeyRef[];
  readonly maxBytes: number;
}

/** Merge these sets into the receiver (sync, as putReplica does). */
export interface AePushReq {
  readonly type: 'aePush';
  readonly partition: number;
  readonly entries: readonly AeKeySet[];
  /** When the sets were read, on the sender's clock; too old a copy is refused (data-age.ts). */
  readonly asOf: number;
}

/** Tombstone collection, phase 1: does the receiver hold exactly these tombstone sets? */
export interface AeGcCheckReq {
  readonly type: 'aeGcCheck';
  readonly partition: number;
  readonly entries: readonly AeKeyDigest[];
}

/** Phase 2: remove each key whose set still has exactly this digest and is tombstones only. */
export interface AeGcRemoveReq {
  readonly type: 'aeGcRemove';
  readonly partition: number;
  readonly entries: readonly AeKeyDigest[];
}

export type AeRequest = AeRootsReq | AeHashesReq | AeLeafKeysReq | AeFetchReq | AePushReq | AeGcCheckReq | AeGcRemoveReq;

export interface AeHashesOk {
  readonly type: 'aeHashesOk';
  /** Concatenated 64-bit hashes, big-endian (hi word, then lo word). */
  readonly hashes: Uint8Array;
}

export interface AeKeysOk {
  readonly type: 'aeKeysOk';
  readonly entries: readonly AeKeyDigest[];
  /** More keys follow the last one: ask again with `after` set to it. */
  readonly truncated: boolean;
}

export interface AeSetsOk {
  readonly type: 'aeSetsOk';
  readonly entries: readonly AeKeySet[];
}

export interface AeCountOk {
  readonly type: 'aeCountOk';
  readonly count: number;
}

/** Per entry of an aeGcCheck: what the receiver holds for it. */
export const GC_ABSENT = 0;
export const GC_SAME = 1;
export const GC_OTHER = 2;

export interface AeGcStatesOk {
  readonly type: 'aeGcStatesOk';
  /** GC_ABSENT, GC_SAME or GC_OTHER per entry, in order. */
  readonly states: readonly number[];
}

export type AeResponse = AeHashesOk | AeKeysOk | AeSetsOk | AeCountOk | AeGcStatesOk;

export interface AeResponseFor {
  aeRoots: AeHashesOk;
  aeHashes: AeHashesOk;
  aeLeafKeys: AeKeysOk;
  aeFetch: AeSetsOk;
  aePush: AeCountOk;
  aeGcCheck: AeGcStatesOk;
  aeGcRemove: AeCountOk;
}

export const AE_REQUEST_TYPES: ReadonlySet<string> = new Set<AeRequest['type']>(['aeRoots', 'aeHashes', 'aeLeafKeys', 'aeFetch', 'aePush', 'aeGcCheck', 'aeGcRemove']);

export function isAeRequest(req: { readonly type: string }): req is AeRequest {
  return AE_REQUEST_TYPES.has(req.type);
}
