// The cluster keys: secrets every node of one cluster shares, from which the
// node derives what it signs, MACs and encrypts (context tokens, stored
// secrets, the node-to-node handshake). Each key has an id that travels with
// whatever it protected, so keys rotate without downtime: the first key signs
// and encrypts, every listed key still verifies and decrypts (Garage's
// rpc_secret, with rotation).

import { createHmac, randomBytes } from 'node:crypto';

export interface ClusterKey {
  /** Short and public: written next to what the key protected. */
  readonly id: string;
  /** 32 secret bytes. */
  readonly key: Buffer;
}

export class ClusterKeyError extends Error {
  override name = 'ClusterKeyError';
}

const ID = /^[A-Za-z0-9_-]{1,32}$/;
const HEX64 = /^[0-9a-fA-F]{64}$/;

/** A fresh key with a random id. */
export function generateClusterKey(): { id: string; key: string } {
  return { id: `k${randomBytes(4).toString('hex')}`, key: randomBytes(32).toString('hex') };
}

/**
 * Parses the `clusterKeys` setting: a JSON array of { id, key } (key as 64 hex
 * digits), or the same as text "id:hex,id:hex" (an environment variable).
 */
export function parseClusterKeys(v: unknown): ClusterKey[] {
  let items: unknown = v;
  if (typeof v === 'string') {
    const t = v.trim();
    items = t.startsWith('[')
      ? (JSON.parse(t) as unknown)
      : t
          .split(',')
          .filter((s) => s.trim() !== '')
          .map((s) => {
            const [id, key] = s.trim().split(':');
            return { id, key };
          });
  }
  if (!Array.isArray(items) || items.length === 0) throw new ClusterKeyError('clusterKeys: a non-empty list of { "id", "key" } (key: 64 hex digits)');
  const seen = new Set<string>();
  return items.map((it: unknown, i) => {
    const o = it as { id?: unknown; key?: unknown };
    if (typeof o?.id !== 'string' || !ID.test(o.id)) throw new ClusterKeyError(`clusterKeys[${i}].id: 1-32 letters, digits, _ or -`);
    if (typeof o.key !== 'string' || !HEX64.test(o.key)) throw new ClusterKeyError(`clusterKeys[${i}].key: 64 hex digits (32 bytes; generate with: openssl rand -hex 32)`);
    if (seen.has(o.id)) throw new ClusterKeyError(`clusterKeys: id ${o.id} appears twice`);
    seen.add(o.id);
    return { id: o.id, key: Buffer.from(o.key, 'hex') };
  });
}

/** A subkey for one purpose ("context-mac", "secret-at-rest", ...), so one cluster key never serves two uses directly. */
export function deriveKey(k: ClusterKey, purpose: string): Buffer {
  return createHmac('sha256', k.key).update(`ringstore/${purpose}`).digest();
}
