// LEGACY bucket metadata: before the Raft control plane (control/
// bucket-catalog.ts), bucket records were ordinary replicated keys in the
// system bucket `__ringstore`, concurrent creations resolved to the
// earliest, and each bucket's objects lived under its name. Nothing writes
// these records any more; their formats stay readable here so that a data
// folder written by that version is upgraded on its first start
// (control/legacy-import.ts).

import type { BucketAcl } from './buckets-types.js';
import type { Quorum } from './types.js';
import { liveSiblings, type SiblingSet } from '../version/dvv.js';

/** Not a valid user bucket name (underscores), so it cannot collide. Access keys still live here (s3/credentials.ts). */
export const SYSTEM_BUCKET = '__ringstore';
/** Keys of legacy bucket records in SYSTEM_BUCKET: this prefix and the bucket's name. */
export const BUCKET_KEY_PREFIX = 'bucket/';
/** Keys of legacy bucket ACL records in SYSTEM_BUCKET: this prefix and the bucket's name. */
export const BUCKET_ACL_KEY_PREFIX = 'bucketacl/';

/** A bucket record as the system bucket holds it. */
export interface LegacyBucketRecord {
  readonly name: string;
  readonly owner: string;
  readonly createdMs: number;
  readonly quorum: Quorum;
}

/** A bucket ACL record: tagged with its bucket's creation time, so a bucket made again started private. */
export interface LegacyAclRecord {
  readonly bucketCreatedMs: number;
  readonly acl: BucketAcl;
  readonly setMs: number;
}

const decoder = new TextDecoder();

function parse<T>(value: Uint8Array | null): T | undefined {
  if (value === null) return undefined;
  try {
    return JSON.parse(decoder.decode(value)) as T;
  } catch {
    return undefined;
  }
}

/** Among concurrent creations the earliest wins, deterministically (as that version decided). */
export function decide(set: SiblingSet): LegacyBucketRecord | undefined {
  let best: LegacyBucketRecord | undefined;
  for (const s of liveSiblings(set)) {
    const info = parse<LegacyBucketRecord>(s.value);
    if (info === undefined || typeof info.name !== 'string' || typeof info.owner !== 'string' || typeof info.createdMs !== 'number') continue;
    if (best === undefined || info.createdMs < best.createdMs || (info.createdMs === best.createdMs && info.owner < best.owner)) best = info;
  }
  return best;
}

/** Concurrent PutBucketAcl calls: the latest one won, on every node alike. */
export function latestAcl(set: SiblingSet): LegacyAclRecord | undefined {
  let best: LegacyAclRecord | undefined;
  for (const s of liveSiblings(set)) {
    const r = parse<LegacyAclRecord>(s.value);
    if (r === undefined || typeof r.setMs !== 'number') continue;
    if (best === undefined || r.setMs > best.setMs || (r.setMs === best.setMs && r.acl < best.acl)) best = r;
  }
  return best;
}
