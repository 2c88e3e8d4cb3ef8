// The keyed MAC of context tokens (version/context.ts): HMAC-SHA256 under a
// subkey of each cluster key, cut to 128 bits. The node derives the subkeys
// (node/cluster-keys.ts deriveKey(k, 'context-mac')) and hands them here.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ContextMac } from '../version/context.js';

export interface ContextMacKey {
  readonly id: string;
  /** The derived subkey, never the cluster key itself. */
  readonly key: Buffer;
}

const TAG_BYTES = 16;

/** Signs with keys[0]; verifies with any of them. */
export function contextMac(keys: readonly ContextMacKey[]): ContextMac {
  const first = keys[0];
  if (first === undefined) throw new Error('contextMac: at least one key');
  const byId = new Map(keys.map((k) => [k.id, k.key] as const));
  const tagOf = (key: Buffer, data: string): Buffer => createHmac('sha256', key).update(data, 'utf8').digest().subarray(0, TAG_BYTES);
  return {
    keyId: first.id,
    sign: (data) => tagOf(first.key, data).toString('base64url'),
    verify: (keyId, data, tag) => {
      const key = byId.get(keyId);
      if (key === undefined) return false;
      const given = Buffer.from(tag, 'base64url');
      return given.length === TAG_BYTES && timingSafeEqual(given, tagOf(key, data));
    },
  };
}

/** A key for this process only (unit tests, or an API built without cluster keys): its tokens are refused by every other process. */
export function ephemeralContextMac(): ContextMac {
  return contextMac([{ id: 'local', key: randomBytes(32) }]);
}
