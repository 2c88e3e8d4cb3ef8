// Bucket metadata, kept as ordinary replicated keys in a system bucket on the
// ring until the Raft control plane takes it over (docs/architecture.md,
// "The control plane").
// Reads and writes use quorums like any key; concurrent creates of one name
// resolve to the earliest creation, so every node picks the same owner.

import type { Coordinator } from './coordinator.js';
import type { BucketInfo } from './buckets-types.js';
import { BucketNotEmptyError, NoSuchBucketError } from './errors.js';
import { DEFAULT_QUORUM, type Quorum } from './types.js';
import type { Clock } from '../util/runtime.js';
import { liveSiblings, type SiblingSet } from '../version/dvv.js';

/** Not a valid user bucket name (underscores), so it cannot collide. */
export const SYSTEM_BUCKET = '__ringstore';
/** Keys of bucket records in SYSTEM_BUCKET: this prefix and the bucket's name. */
export const BUCKET_KEY_PREFIX = 'bucket/';
const PREFIX = BUCKET_KEY_PREFIX;

export interface BucketCatalogOptions {
  /** How long a node trusts its cached copy of a bucket's metadata. */
  readonly cacheMs: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class BucketCatalog {
  private readonly cache = new Map<string, { info: BucketInfo; expiresMs: number }>();

  constructor(
    private readonly coordinator: Coordinator,
    private readonly clock: Clock,
    private readonly opts: BucketCatalogOptions = { cacheMs: 2000 },
  ) {}

  async create(name: string, opts: { owner?: string; quorum?: Partial<Quorum> } = {}): Promise<{ created: boolean; bucket: BucketInfo }> {
    const read = await this.coordinator.get({ bucket: SYSTEM_BUCKET, key: PREFIX + name });
    const existing = decide(read.set);
    if (existing !== undefined) return { created: false, bucket: existing };
    const info: BucketInfo = {
      name,
      owner: opts.owner ?? 'dev',
      createdMs: this.clock.now(),
      quorum: { ...DEFAULT_QUORUM, ...opts.quorum },
    };
    const written = await this.coordinator.put({
      bucket: SYSTEM_BUCKET,
      key: PREFIX + name,
      value: encoder.encode(JSON.stringify(info)),
      meta: { contentType: 'application/json' },
      context: read.context,
    });
    const winner = decide(written.set) ?? info;
    this.remember(winner);
    return { created: winner.createdMs === info.createdMs && winner.owner === info.owner, bucket: winner };
  }

  async get(name: string): Promise<BucketInfo | undefined> {
    const hit = this.cache.get(name);
    if (hit !== undefined && hit.expiresMs > this.clock.now()) return hit.info;
    const read = await this.coordinator.get({ bucket: SYSTEM_BUCKET, key: PREFIX + name });
    const info = decide(read.set);
    if (info === undefined) this.cache.delete(name);
    else this.remember(info);
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
  }

  async list(): Promise<BucketInfo[]> {
    const out: BucketInfo[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await this.coordinator.list({ bucket: SYSTEM_BUCKET, prefix: PREFIX, after, limit: 1000 });
      for (const k of page.keys) {
        const info = decide(k.set);
        if (info !== undefined) out.push(info);
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

/** Among concurrent creations the earliest wins, deterministically. */
function decide(set: SiblingSet): BucketInfo | undefined {
  let best: BucketInfo | undefined;
  for (const s of liveSiblings(set)) {
    const info = JSON.parse(decoder.decode(s.value as Uint8Array)) as BucketInfo;
    if (best === undefined || info.createdMs < best.createdMs || (info.createdMs === best.createdMs && info.owner < best.owner)) best = info;
  }
  return best;
}
