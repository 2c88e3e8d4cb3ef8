// The opaque causal context a read hands out and a write carries back
// (Dynamo §4.4 "context"). It is a version vector bound to one key, encoded
// compactly, and MACed with a cluster key (api/context-mac.ts supplies the
// MAC, so this layer stays free of I/O): a client can hand back only a
// context some node of the cluster made, for that key, unedited. The id of
// the key that made the MAC travels in the token, so cluster keys rotate
// without refusing the tokens clients hold.

import { vvNormalize, type VersionVector } from './dvv.js';
import { isActorId } from './counter-lease.js';
import { RingstoreError } from '../util/errors.js';
import { murmur3 } from '../util/hash.js';

export const CONTEXT_MAX_ENTRIES = 64;
export const CONTEXT_MAX_CHARS = 4096;
/**
 * The largest counter a context may carry: half the safe-integer range. A
 * write with a context raises the counters it names by one; past 2^53 that
 * `+1` is lost and every later write to the key would vanish under the
 * context's dot. No node gets anywhere near 2^52 events on one key.
 */
export const CONTEXT_MAX_COUNTER = 2 ** 52;
const FORMAT = 'c2';

/** Keyed MACs for context tokens: the first key signs, every key it knows verifies (node/cluster-keys.ts). */
export interface ContextMac {
  /** The id of the signing key, written in the token. */
  readonly keyId: string;
  /** The MAC of `data` under the signing key (base64url). */
  sign(data: string): string;
  /** True when `tag` is the MAC of `data` under the key `keyId`; false for an unknown key. */
  verify(keyId: string, data: string, tag: string): boolean;
}

/** A context token that is malformed, forged, edited, oversized, or for another key. */
export class ContextError extends RingstoreError {
  constructor(message: string) {
    super('InvalidContext', message);
  }
}

function keyTag(bucket: string, key: string): string {
  return murmur3(`${bucket}\u0000${key}`, 0x51ed).toString(36);
}

/** What the MAC covers: the token's body and the key it is bound to. */
function macInput(body: string, bucket: string, key: string): string {
  return `${body}\u0000${bucket}\u0000${key}`;
}

/** token = base64url("c2|<keyid>|<keytag>|node=counter,...|<mac>") */
export function encodeContext(vv: VersionVector, bucket: string, key: string, mac: ContextMac): string {
  const entries = Object.entries(vvNormalize(vv)).map(([n, c]) => `${encodeURIComponent(n)}=${c}`).join(',');
  const body = `${FORMAT}|${mac.keyId}|${keyTag(bucket, key)}|${entries}`;
  return Buffer.from(`${body}|${mac.sign(macInput(body, bucket, key))}`, 'utf8').toString('base64url');
}

export function decodeContext(token: string, bucket: string, key: string, mac: ContextMac): VersionVector {
  if (token.length > CONTEXT_MAX_CHARS) throw new ContextError(`context is longer than ${CONTEXT_MAX_CHARS} characters`);
  if (!/^[A-Za-z0-9_-]*$/.test(token)) throw new ContextError('context is not base64url');
  const text = Buffer.from(token, 'base64url').toString('utf8');
  const cut = text.lastIndexOf('|');
  if (cut < 0) throw new ContextError('context is malformed');
  const body = text.slice(0, cut);
  const [format, keyId, tag, list, extra] = body.split('|');
  if (format !== FORMAT || keyId === undefined || tag === undefined || list === undefined || extra !== undefined) {
    throw new ContextError('context has an unknown format (read the key again for a fresh one)');
  }
  if (!mac.verify(keyId, macInput(body, bucket, key), text.slice(cut + 1))) {
    throw new ContextError(tag !== keyTag(bucket, key) ? 'context belongs to another key' : 'context MAC does not match (forged, edited, or signed with a retired cluster key)');
  }
  const vv: Record<string, number> = {};
  if (list.length > 0) {
    const parts = list.split(',');
    if (parts.length > CONTEXT_MAX_ENTRIES) throw new ContextError(`context has more than ${CONTEXT_MAX_ENTRIES} entries`);
    for (const p of parts) {
      const eq = p.lastIndexOf('=');
      const raw = p.slice(eq + 1);
      const counter = /^[1-9][0-9]{0,15}$/.test(raw) ? Number(raw) : NaN;
      if (eq <= 0 || !Number.isSafeInteger(counter)) throw new ContextError('context has a bad entry');
      if (counter > CONTEXT_MAX_COUNTER) throw new ContextError(`context has a counter above ${CONTEXT_MAX_COUNTER}`);
      let node: string;
      try {
        node = decodeURIComponent(p.slice(0, eq));
      } catch {
        throw new ContextError('context has a bad entry');
      }
      if (!isActorId(node)) throw new ContextError('context names something that is not a node id');
      vv[node] = counter;
    }
  }
  return vv;
}
