// What every API knows of a bucket, and the one mapping from a bucket to the
// name its objects are stored under. The catalog itself (control/
// bucket-catalog.ts) lives above the coordinator: the Raft control state
// holds bucket metadata (docs/raft.md), this layer only names its shape.

import type { Quorum } from './types.js';

/** The canned ACLs a bucket may have (s3/acl.ts gives them their meaning). */
export type BucketAcl = 'private' | 'public-read' | 'authenticated-read';

export interface BucketInfo {
  readonly name: string;
  /** Never reused: the Raft index of the entry that created it. */
  readonly id: number;
  readonly owner: string;
  readonly createdMs: number;
  readonly quorum: Quorum;
  readonly acl: BucketAcl;
  /** Set only for a bucket made before bucket ids (an upgraded data folder): its objects stay under its old name. */
  readonly legacyStorage?: string;
}

/**
 * The bucket name the store, the ring and the coordinator see for a user
 * bucket's objects: its id, never its name, so a bucket deleted while a node
 * is down and then made again under the same name (perhaps by another user)
 * never shows the objects that node still holds. `#` is in no valid bucket
 * name and in no system bucket's (`__...`, which keep their names).
 * Every API maps a bucket to stored keys through this function only.
 */
export function storageBucket(b: Pick<BucketInfo, 'id' | 'legacyStorage'>): string {
  return b.legacyStorage ?? `#${b.id}`;
}

export interface CreateBucketOptions {
  readonly owner?: string;
  readonly quorum?: Partial<Quorum>;
  readonly acl?: BucketAcl;
}

/**
 * The bucket catalog as the APIs use it. Reads are answered from the
 * node's applied control state; a name not found there is confirmed with
 * one linearizable read before it is reported missing.
 */
export interface BucketCatalogApi {
  /** Linearizable: of concurrent creations of one name, exactly one has created=true; the others get the winner's bucket. */
  create(name: string, opts?: CreateBucketOptions): Promise<{ created: boolean; bucket: BucketInfo }>;
  get(name: string): Promise<BucketInfo | undefined>;
  /** Refused with BucketNotEmpty while the bucket holds objects, NoSuchBucket when it does not exist. */
  remove(name: string): Promise<void>;
  /** Sorted by name. `confirmed` waits for a linearizable read first (a collector that must see every bucket). */
  list(opts?: { readonly confirmed?: boolean }): Promise<BucketInfo[]>;
  /** Sets the canned ACL of exactly this bucket (not a later one of the same name). */
  setAcl(bucket: BucketInfo, acl: BucketAcl): Promise<void>;
}
