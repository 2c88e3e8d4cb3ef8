// LEGACY: bucket metadata as ordinary replicated keys in a system bucket on
// the ring, as node processes kept it before the Raft control plane
// (control/bucket-catalog.ts) took it over. Kept only until node processes
// run the Raft-backed plane; its buckets have no ids (id 0) and store their
// objects under their names. The record formats stay readable for the
// upgrade of an old data folder (control/legacy-import.ts).
// Reads and writes use quorums like any key; concurrent creates of one name
// resolve to the earliest creation, so every node picks the same owner.

import type { Coordinator } from './coordinator.js';
import type { BucketAcl, BucketCatalogApi, BucketInfo, CreateBucketOptions } from './buckets-types.js';
import { BucketNotEmptyError, NoSuchBucketError } from './errors.js';
import { DEFAULT_QUORUM, type Quorum } from './types.js';
import type { Clock } from '../util/runtime.js';
import { liveSiblings, type SiblingSet } from '../version/dvv.js';

/** Not a valid user bucket name (underscores), so it cannot collide. */
export const SYSTEM_BUCKET = '__ringstore';
/** Keys of bucket records in SYSTEM_BUCKET: this prefix and the bucket's name. */
export const BUCKET_KEY_PREFIX = 'bucket/';
/** Keys of bucket ACL records in SYSTEM_BUCKET: this prefix and the bucket's name. */
export const BUCKET_ACL_KEY_PREFIX = 'bucketacl/';

/** A bucket record as the system bucket holds it. */
export interface LegacyBucketRecord {
  readonly name: string;
  readonly owner: string;
  readonly createdMs: number;
  readonly quorum: Quorum;
}

/** A bucket ACL record: tagged with its bucket's creation time, so a bucket made again starts private. */
export interface LegacyAclRecord {
  readonly bucketCreatedMs: number;
  readonly acl: BucketAcl;
  readonly setMs: number;
}
const PREFIX = BUCKET_KEY_PREFIX;

export interface BucketCatalogOptions {
  /** How long a node trusts its cached copy of a bucket's metadata. */
  readonly cacheMs: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class BucketCatalog implements BucketCatalogApi {
  private readonly cache = new Map<string, { info: BucketInfo; expiresMs: number }>();

  constructor(
    private readonly coordinator: Coordinator,
    private readonly clock: Clock,
    private readonly opts: BucketCatalogOptions = { cacheMs: 2000 },
  ) {}

  async create(name: string, opts: CreateBucketOptions = {}): Promise<{ created: boolean; bucket: BucketInfo }> {
    const read = await this.coordinator.get({ bucket: SYSTEM_BUCKET, key: PREFIX + name });
    const existing = decide(read.set);
    if (existing !== undefined) return { created: false, bucket: await this.withAcl(existing) };
    const rec: LegacyBucketRecord = {
      name,
      owner: opts.owner ?? 'dev',
      createdMs: this.clock.now(),
      quorum: { ...DEFAULT_QUORUM, ...opts.quorum },
    };
    const written = await this.coordinator.put({
      bucket: SYSTEM_BUCKET,
      key: PREFIX + name,
      value: encoder.encode(JSON.stringify(rec)),
      meta: { contentType: 'application/json' },
      context: read.context,
    });
    const winner = decide(written.set) ?? rec;
    const created = winner.createdMs === rec.createdMs && winner.owner === rec.owner;
    if (created && opts.acl !== undefined && opts.acl !== 'private') await this.setAcl(legacyInfo(winner, 'private'), opts.acl);
    const info = await this.withAcl(winner);
    this.remember(info);
    return { created, bucket: info };
  }

  async get(name: string): Promise<BucketInfo | undefined> {
    const hit = this.cache.get(name);
    if (hit !== undefined && hit.expiresMs > this.clock.now()) return hit.info;
    const read = await this.coordinator.get({ bucket: SYSTEM_BUCKET, key: PREFIX + name });
    const rec = decide(read.set);
    if (rec === undefined) {
      this.cache.delete(name);
      return undefined;
    }
    const info = await this.withAcl(rec);
    this.remember(info);
    return info;
  }

  async require(name: string): Promise<BucketInfo> {
    const info = await this.get(name);
    if (info === undefined) throw new NoSuchBucketError(name);
    return info;
  }

  async remove(name: string): Promise<void> {
    const read = await this.coordinator.get({ bucket: SYSTEM_BUCKET, key: PREFIX + name });
    if (decide(read.set) === undefined) throw new NoSuchBucketError(name);
    const page = await this.coordinator.list({ bucket: name, limit: 1 });
    if (page.keys.length > 0) throw new BucketNotEmptyError(name);
    await this.coordinator.put({ bucket: SYSTEM_BUCKET, key: PREFIX + name, value: null, context: read.context });
    this.cache.delete(name);
    await this.coordinator.put({ bucket: SYSTEM_BUCKET, key: BUCKET_ACL_KEY_PREFIX + name, value: null, context: null, supersedeVisible: true }).catch(() => undefined);
  }

  async setAcl(bucket: BucketInfo, acl: BucketAcl): Promise<void> {
    const record: LegacyAclRecord = { bucketCreatedMs: bucket.createdMs, acl, setMs: this.clock.now() };
    await this.coordinator.put({
      bucket: SYSTEM_BUCKET,
      key: BUCKET_ACL_KEY_PREFIX + bucket.name,
      value: encoder.encode(JSON.stringify(record)),
      meta: { contentType: 'application/json' },
      context: null,
      supersedeVisible: true,
    });
    this.cache.delete(bucket.name);
  }

  private async withAcl(rec: LegacyBucketRecord): Promise<BucketInfo> {
    const read = await this.coordinator.get({ bucket: SYSTEM_BUCKET, key: BUCKET_ACL_KEY_PREFIX + rec.name });
    const acl = latestAcl(read.set);
    return legacyInfo(rec, acl !== undefined && acl.bucketCreatedMs === rec.createdMs ? acl.acl : 'private');
  }

  async list(): Promise<BucketInfo[]> {
    const out: BucketInfo[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await this.coordinator.list({ bucket: SYSTEM_BUCKET, prefix: PREFIX, after, limit: 1000 });
      for (const k of page.keys) {
        const rec = decide(k.set);
        if (rec !== undefined) out.push(await this.withAcl(rec));
      }
      if (!page.truncated || page.keys.length === 0) break;
      after = page.keys[page.keys.length - 1]!.key;
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  private remember(info: BucketInfo): void {
    this.cache.set(info.name, { info, expiresMs: this.clock.now() + this.opts.cacheMs });
  }
}

/** A legacy bucket as the APIs see it: no id, its objects under its name. */
export function legacyInfo(rec: LegacyBucketRecord, acl: BucketAcl): BucketInfo {
  return { name: rec.name, id: 0, owner: rec.owner, createdMs: rec.createdMs, quorum: rec.quorum, acl, legacyStorage: rec.name };
}

/** Among concurrent creations the earliest wins, deterministically. */
export function decide(set: SiblingSet): LegacyBucketRecord | undefined {
  let best: LegacyBucketRecord | undefined;
  for (const s of liveSiblings(set)) {
    const info = JSON.parse(decoder.decode(s.value as Uint8Array)) as LegacyBucketRecord;
    if (best === undefined || info.createdMs < best.createdMs || (info.createdMs === best.createdMs && info.owner < best.owner)) best = info;
  }
  return best;
}

/** Concurrent PutBucketAcl calls: the latest one wins, on every node alike. */
export function latestAcl(set: SiblingSet): LegacyAclRecord | undefined {
  let best: LegacyAclRecord | undefined;
  for (const s of liveSiblings(set)) {
    const r = JSON.parse(decoder.decode(s.value as Uint8Array)) as LegacyAclRecord;
    if (best === undefined || r.setMs > best.setMs || (r.setMs === best.setMs && r.acl < best.acl)) best = r;
  }
  return best;
}
