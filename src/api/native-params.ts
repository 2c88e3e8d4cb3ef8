// Reading a native API request: bucket and key names, quorum parameters,
// the sloppy switch, the causal context, and what answer the client wants.
// Each bad input is a precise 4xx ApiError.

import type { IncomingMessage } from 'node:http';
import { decodeContext, type ContextMac } from '../version/context.js';
import { bucketNameProblem, keyProblem, MAX_KEY_BYTES } from '../store/names.js';
import type { VersionVector } from '../version/dvv.js';
import { ApiError } from './errors.js';
import type { ParsedUrl } from './http.js';
import { resolveQuorum } from '../coordinator/quorum.js';

export const LIST_LIMIT_DEFAULT = 1000;
export const LIST_LIMIT_MAX = 10_000;

/** The header (or ?context=) that carries the causal context token. */
export const CONTEXT_HEADER = 'x-ringstore-context';

/** S3's bucket naming rules (store/names.ts). */
export function validateBucketName(name: string): void {
  const why = bucketNameProblem(name);
  if (why !== undefined) throw new ApiError('InvalidBucketName', `bucket name ${JSON.stringify(name)} ${why}`, { bucket: name });
}

/** 1 to MAX_KEY_BYTES bytes of UTF-8 the store keeps faithfully (store/names.ts). */
export function validateKey(key: string): void {
  const problem = keyProblem(key);
  if (problem === undefined) return;
  switch (problem.kind) {
    case 'empty':
      throw new ApiError('InvalidKey', 'the key is empty');
    case 'tooLong':
      throw new ApiError('KeyTooLong', `the key is ${problem.bytes} bytes of UTF-8; at most ${MAX_KEY_BYTES} are allowed`, { max_bytes: MAX_KEY_BYTES, key_bytes: problem.bytes });
    case 'unstorable':
      throw new ApiError('InvalidKey', `the key ${problem.why}`);
  }
}

export function decodeSegment(raw: string, code: 'InvalidBucketName' | 'InvalidKey'): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new ApiError(code, `bad percent-encoding in ${JSON.stringify(raw.slice(0, 100))}`);
  }
}

export interface QuorumParams {
  n?: number;
  r?: number;
  w?: number;
}

function parseQuorumValue(name: string, raw: unknown): number | undefined {
  if (raw === undefined || raw === null || raw === '') return undefined;
  const v = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d{1,6}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(v) || v < 1) throw new ApiError('InvalidQuorum', `${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return v;
}

export function parseQuorumParams(src: { get(name: string): unknown }): QuorumParams {
  const out: QuorumParams = {};
  for (const name of ['n', 'r', 'w'] as const) {
    const v = parseQuorumValue(name, src.get(name) ?? undefined);
    if (v !== undefined) out[name] = v;
  }
  return out;
}

/**
 * `?sloppy=false` forbids fallback nodes for this write (strict quorum, like
 * Riak's pw): owners the membership view holds down count as failed instead
 * of being replaced by a hinted stand-in. Default: sloppy (Dynamo §4.6).
 */
export function parseSloppy(query: URLSearchParams): { sloppy?: boolean } {
  const v = query.get('sloppy');
  if (v === null) return {};
  if (v === 'false' || v === '0') return { sloppy: false };
  if (v === 'true' || v === '1' || v === '') return { sloppy: true };
  throw new ApiError('InvalidArgument', `sloppy must be true or false, got ${JSON.stringify(v)}`);
}

/** The quorum a request runs with (coordinator/quorum.ts). */
export { resolveQuorum };

/** The client's context token, checked against the cluster keys' MAC (version/context.ts): a forged, oversized or out-of-range token is a 400 InvalidContext. */
export function parseContext(token: string | undefined, bucket: string, key: string, mac: ContextMac): VersionVector | null {
  if (token === undefined || token === '') return null;
  return decodeContext(token, bucket, key, mac);
}

export function headerValue(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export function wantsJson(req: IncomingMessage, url: ParsedUrl): boolean {
  const q = url.query.get('json');
  if (q !== null && q !== '0' && q !== 'false') return true;
  const accept = req.headers.accept;
  return accept !== undefined && accept.includes('application/json');
}
