// Access keys. One comes from configuration or the environment
// (RINGSTORE_ACCESS_KEY / RINGSTORE_SECRET_KEY, with a development default);
// more are created at run time and kept, like bucket metadata, as replicated
// keys in the system bucket until the Raft control plane takes them over.

import { randomBytes } from 'node:crypto';
import type { Coordinator } from '../coordinator/coordinator.js';
import { SYSTEM_BUCKET } from '../coordinator/buckets.js';
import type { Clock } from '../util/runtime.js';
import { liveSiblings, type SiblingSet } from '../version/dvv.js';

export interface AccessKey {
  readonly accessKey: string;
  readonly secretKey: string;
  /** The user the key acts as: buckets it creates belong to this user. */
  readonly owner: string;
  readonly createdMs: number;
}

export interface CredentialStore {
  lookup(accessKey: string): Promise<Pick<AccessKey, 'secretKey' | 'owner'> | undefined>;
}

export const DEV_ACCESS_KEY = 'RSDEVACCESSKEY000001';
export const DEV_SECRET_KEY = 'ringstore-dev-secret-key-not-for-production';
/** The owner of the configured key: the bucket catalog's default owner. */
export const DEFAULT_OWNER = 'dev';

/** The configured key: RINGSTORE_ACCESS_KEY / RINGSTORE_SECRET_KEY, or the development default. */
export function credentialsFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): AccessKey {
  return {
    accessKey: env['RINGSTORE_ACCESS_KEY'] || DEV_ACCESS_KEY,
    secretKey: env['RINGSTORE_SECRET_KEY'] || DEV_SECRET_KEY,
    owner: env['RINGSTORE_KEY_OWNER'] || DEFAULT_OWNER,
    createdMs: 0,
  };
}

export class StaticCredentials implements CredentialStore {
  private readonly keys: Map<string, AccessKey>;
  constructor(keys: readonly AccessKey[]) {
    this.keys = new Map(keys.map((k) => [k.accessKey, k]));
  }
  lookup(accessKey: string): Promise<AccessKey | undefined> {
    return Promise.resolve(this.keys.get(accessKey));
  }
}

const PREFIX = 'accesskey/';
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Configured keys first, then keys stored on the ring (cached briefly). */
export class RingCredentialStore implements CredentialStore {
  private readonly fixed: StaticCredentials;
  private readonly cache = new Map<string, { key: AccessKey | undefined; expiresMs: number }>();

  constructor(
    private readonly coordinator: Coordinator,
    private readonly clock: Clock,
    configured: readonly AccessKey[],
    private readonly cacheMs = 5000,
  ) {
    this.fixed = new StaticCredentials(configured);
  }

  async lookup(accessKey: string): Promise<AccessKey | undefined> {
    const fixed = await this.fixed.lookup(accessKey);
    if (fixed !== undefined) return fixed;
    const hit = this.cache.get(accessKey);
    if (hit !== undefined && hit.expiresMs > this.clock.now()) return hit.key;
    const read = await this.coordinator.get({ bucket: SYSTEM_BUCKET, key: PREFIX + accessKey });
    const key = decide(read.set);
    if (this.cache.size >= 10_000) this.cache.clear();
    this.cache.set(accessKey, { key, expiresMs: this.clock.now() + this.cacheMs });
    return key;
  }

  /** Creates a new key pair for `owner` (random unless given). */
  async create(owner: string, given?: { accessKey: string; secretKey: string }): Promise<AccessKey> {
    const key: AccessKey = {
      accessKey: given?.accessKey ?? 'RS' + randomBytes(9).toString('hex').toUpperCase(),
      secretKey: given?.secretKey ?? randomBytes(30).toString('base64url'),
      owner,
      createdMs: this.clock.now(),
    };
    await this.coordinator.put({
      bucket: SYSTEM_BUCKET,
      key: PREFIX + key.accessKey,
      value: encoder.encode(JSON.stringify(key)),
      meta: { contentType: 'application/json' },
      context: null,
      supersedeVisible: true,
    });
    this.cache.delete(key.accessKey);
    return key;
  }

  async remove(accessKey: string): Promise<boolean> {
    const read = await this.coordinator.get({ bucket: SYSTEM_BUCKET, key: PREFIX + accessKey });
    if (decide(read.set) === undefined) return false;
    await this.coordinator.put({ bucket: SYSTEM_BUCKET, key: PREFIX + accessKey, value: null, context: read.context });
    this.cache.delete(accessKey);
    return true;
  }

  async list(): Promise<AccessKey[]> {
    const out: AccessKey[] = [];
    let after: string | undefined;
    for (let page = 0; page < 1000; page++) {
      const res = await this.coordinator.list({ bucket: SYSTEM_BUCKET, prefix: PREFIX, after, limit: 1000 });
      for (const k of res.keys) {
        const key = decide(k.set);
        if (key !== undefined) out.push(key);
      }
      if (!res.truncated || res.keys.length === 0) break;
      after = res.keys[res.keys.length - 1]!.key;
    }
    return out;
  }
}

/** Concurrent writes of one key id: the earliest creation wins on every node. */
function decide(set: SiblingSet): AccessKey | undefined {
  let best: AccessKey | undefined;
  for (const s of liveSiblings(set)) {
    const k = JSON.parse(decoder.decode(s.value as Uint8Array)) as AccessKey;
    if (best === undefined || k.createdMs < best.createdMs) best = k;
  }
  return best;
}
