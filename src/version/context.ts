// The opaque causal context a read hands out and a write carries back
// (Dynamo §4.4 "context"). It is a version vector bound to one key, encoded
// compactly, with a check value so that a truncated or edited token is
// rejected instead of silently superseding the wrong siblings.

import { hash64hex, murmur3 } from '../util/hash.js';
import { vvNormalize, type VersionVector } from './dvv.js';
import { isActorId } from './counter-lease.js';
import { RingstoreError } from '../util/errors.js';

export const CONTEXT_MAX_ENTRIES = 64;
export const CONTEXT_MAX_CHARS = 4096;
const FORMAT = 'c1';

/** A context token that is malformed, edited, or for another key. */
export class ContextError extends RingstoreError {
  constructor(message: string) {
    super('InvalidContext', message);
  }
}

function keyTag(bucket: string, key: string): string {
  return murmur3(`${bucket}\u0000${key}`, 0x51ed).toString(36);
}

/** token = base64url("c1|<keytag>|node=counter,...|<check>") */
export function encodeContext(vv: VersionVector, bucket: string, key: string): string {
  const entries = Object.entries(vvNormalize(vv));
  const body = `${FORMAT}|${keyTag(bucket, key)}|${entries.map(([n, c]) => `${encodeURIComponent(n)}=${c}`).join(',')}`;
  return Buffer.from(`${body}|${hash64hex(body)}`, 'utf8').toString('base64url');
}

export function decodeContext(token: string, bucket: string, key: string): VersionVector {
  if (token.length > CONTEXT_MAX_CHARS) throw new ContextError(`context is longer than ${CONTEXT_MAX_CHARS} characters`);
  if (!/^[A-Za-z0-9_-]*$/.test(token)) throw new ContextError('context is not base64url');
  const text = Buffer.from(token, 'base64url').toString('utf8');
  const cut = text.lastIndexOf('|');
  if (cut < 0) throw new ContextError('context is malformed');
  const body = text.slice(0, cut);
  if (hash64hex(body) !== text.slice(cut + 1)) throw new ContextError('context check value does not match (corrupt or edited)');
  const [format, tag, list] = body.split('|');
  if (format !== FORMAT || list === undefined) throw new ContextError('context has an unknown format');
  if (tag !== keyTag(bucket, key)) throw new ContextError('context belongs to another key');
  const vv: Record<string, number> = {};
  if (list.length > 0) {
    const parts = list.split(',');
    if (parts.length > CONTEXT_MAX_ENTRIES) throw new ContextError(`context has more than ${CONTEXT_MAX_ENTRIES} entries`);
    for (const p of parts) {
      const eq = p.lastIndexOf('=');
      const counter = Number(p.slice(eq + 1));
      if (eq <= 0 || !Number.isSafeInteger(counter) || counter <= 0) throw new ContextError('context has a bad entry');
      const node = decodeURIComponent(p.slice(0, eq));
      // The check value is not a secret, so a client can forge a token: refuse
      // names no node can have (among them `__proto__`) instead of letting
      // them reach a version vector.
      if (!isActorId(node)) throw new ContextError('context names something that is not a node id');
      vv[node] = counter;
    }
  }
  return vv;
}
