// The course key-value store's causal payload and last-write-wins pick
// (seed 004; docs/kvs.md), apart from the routes so that they are tested
// alone.
//
// The payload is the version vector a client has seen (the coordinator's
// read or write context, Dynamo §4.4): a write carrying it supersedes what
// it covers, and a read is served only once a replica set covers it. Clients
// paste it into URLs without encoding it, so it is base64url of the vector's
// JSON: letters, digits, '-' and '_' only. It is not MACed: in this open
// mode anyone may send anything, and a forged payload can only make a read
// answer "not available" or a write supersede more of the key's history.

import { isNodeId, lwwWinner, vvJoin, vvNormalize, type Sibling, type SiblingSet, type VersionVector } from '../version/dvv.js';

/** Longest payload accepted: a vector of a few hundred actors. */
export const MAX_PAYLOAD_CHARS = 16 * 1024;

export class PayloadError extends Error {
  override name = 'PayloadError';
}

/** "" for the empty vector (a client that has seen nothing sends "" too). */
export function encodePayload(vv: VersionVector): string {
  const n = vvNormalize(vv);
  if (Object.keys(n).length === 0) return '';
  return Buffer.from(JSON.stringify(n), 'utf8').toString('base64url');
}

/** The vector a payload names; null for "" (or an absent one). Throws PayloadError for anything else malformed. */
export function decodePayload(text: string | undefined | null): VersionVector | null {
  if (text === undefined || text === null || text === '') return null;
  if (text.length > MAX_PAYLOAD_CHARS || !/^[A-Za-z0-9_-]+$/.test(text)) throw new PayloadError('causal_payload is not one this store gave out');
  let o: unknown;
  try {
    o = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw new PayloadError('causal_payload is not one this store gave out');
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new PayloadError('causal_payload is not one this store gave out');
  const out: Record<string, number> = {};
  for (const [node, c] of Object.entries(o as Record<string, unknown>)) {
    // An actor is a node id, or node~epoch after a crash (version/counter-lease.ts).
    const base = node.split('~')[0]!;
    if (!isNodeId(base) || typeof c !== 'number' || !Number.isSafeInteger(c) || c < 0) throw new PayloadError('causal_payload is not one this store gave out');
    out[node] = c;
  }
  return vvNormalize(out);
}

/** The payload to hand back: what the client had seen joined with what this answer adds, so it never goes back. */
export function nextPayload(seen: VersionVector | null, context: VersionVector): string {
  return encodePayload(seen === null ? context : vvJoin(seen, context));
}

/**
 * The value the course's API shows: the sibling with the latest timestamp,
 * ties broken by node identity (lwwWinner: timestamp, then dot). This mode
 * is last-write-wins by the course's spec, so a tombstone that wins hides
 * concurrent values instead of being shown beside them.
 */
export function winner(set: SiblingSet): Sibling | undefined {
  return lwwWinner(set);
}

/** The course's "timestamp": the winning write's time at the replica that first took it, in milliseconds, as a string of digits. */
export function timestampOf(s: Sibling | undefined, fallbackMs: number): string {
  return String(Math.floor(s?.meta.ts ?? fallbackMs));
}
