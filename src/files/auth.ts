// Authentication of the public gRPC file API (docs/grpc-files.md), with the
// same access keys as S3. Each call carries four metadata entries:
//
//   x-ringstore-access-key   the access key id
//   x-ringstore-date         the time of the call, ISO 8601 in UTC (2026-12-02T05:12:56Z or with .sss)
//   x-ringstore-nonce        16 to 64 characters of [A-Za-z0-9_-], fresh for every call
//   x-ringstore-signature    lowercase hex HMAC-SHA256(secret key, method "\n" date "\n" nonce)
//
// where method is the full gRPC method path, e.g.
// /ringstore.files.v1.FileService/Upload. The date must be within 15 minutes
// of the node's clock (as S3's RequestTimeTooSkewed), and a node refuses a
// nonce it has seen from that key within the window, so a captured call
// cannot be replayed to it. Both sides of the scheme live here: the client
// module and the tests sign with signCall().

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { CredentialStore } from '../auth/credential-store.js';
import { MAX_SKEW_MS } from '../auth/sigv4.js';

export const H_ACCESS_KEY = 'x-ringstore-access-key';
export const H_DATE = 'x-ringstore-date';
export const H_NONCE = 'x-ringstore-nonce';
export const H_SIGNATURE = 'x-ringstore-signature';

/** The clock skew a signed call may have: the same bound as SigV4's (auth/sigv4.ts). */
export { MAX_SKEW_MS };
/** Nonces remembered at once per node; beyond it calls are refused until old ones expire. */
export const MAX_NONCES = 1_000_000;

const DATE_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;
const NONCE_RE = /^[A-Za-z0-9_-]{16,64}$/;

export interface AccessCredentials {
  readonly accessKey: string;
  readonly secretKey: string;
}

export function stringToSign(method: string, date: string, nonce: string): string {
  return `${method}\n${date}\n${nonce}`;
}

export function signature(secretKey: string, method: string, date: string, nonce: string): string {
  return createHmac('sha256', secretKey).update(stringToSign(method, date, nonce)).digest('hex');
}

/** The four metadata entries of one call. */
export function signCall(creds: AccessCredentials, method: string, now: Date = new Date(), nonce: string = randomBytes(16).toString('hex')): Record<string, string> {
  const date = now.toISOString();
  return { [H_ACCESS_KEY]: creds.accessKey, [H_DATE]: date, [H_NONCE]: nonce, [H_SIGNATURE]: signature(creds.secretKey, method, date, nonce) };
}

/** Why a call was refused: the code is machine-readable, the message says what to fix. */
export class AuthError extends Error {
  override name = 'AuthError';
  constructor(
    readonly code: 'MissingAuthentication' | 'MalformedAuthentication' | 'InvalidAccessKeyId' | 'SignatureDoesNotMatch' | 'RequestTimeTooSkewed' | 'ReplayedNonce' | 'TooManyNonces',
    message: string,
  ) {
    super(message);
  }
}

/**
 * Nonces seen per access key, each kept for twice the skew window (a call
 * dated D is accepted until D + skew, and the first use of its nonce may
 * have come as early as D - skew). Kept in arrival order, so expiry is a
 * walk from the oldest.
 */
export class NonceCache {
  private readonly seen = new Map<string, number>();
  constructor(private readonly max = MAX_NONCES) {}

  /** Records the nonce; false if it was already seen and has not expired. */
  use(accessKey: string, nonce: string, nowMs: number): boolean {
    for (const [k, expires] of this.seen) {
      if (expires > nowMs) break;
      this.seen.delete(k);
    }
    const id = `${accessKey}\u0000${nonce}`;
    if (this.seen.has(id)) return false;
    if (this.seen.size >= this.max) throw new AuthError('TooManyNonces', 'this node is holding too many recent nonces; retry later');
    this.seen.set(id, nowMs + 2 * MAX_SKEW_MS);
    return true;
  }

  get size(): number {
    return this.seen.size;
  }
}

/** Reads one metadata entry (gRPC metadata values are arrays). */
export type MetadataGetter = (name: string) => string | undefined;

/** Checks a call's metadata; resolves with the key's owner, or rejects with an AuthError. */
export async function verifyCall(get: MetadataGetter, method: string, credentials: CredentialStore, nonces: NonceCache, nowMs: number): Promise<{ accessKey: string; owner: string }> {
  const accessKey = get(H_ACCESS_KEY);
  const date = get(H_DATE);
  const nonce = get(H_NONCE);
  const sig = get(H_SIGNATURE);
  if (accessKey === undefined && date === undefined && nonce === undefined && sig === undefined) {
    throw new AuthError('MissingAuthentication', `this API needs an access key: send ${H_ACCESS_KEY}, ${H_DATE}, ${H_NONCE} and ${H_SIGNATURE} (docs/grpc-files.md)`);
  }
  const missing = [
    [H_ACCESS_KEY, accessKey],
    [H_DATE, date],
    [H_NONCE, nonce],
    [H_SIGNATURE, sig],
  ]
    .filter(([, v]) => v === undefined || v === '')
    .map(([k]) => k);
  if (missing.length > 0) throw new AuthError('MalformedAuthentication', `missing metadata: ${missing.join(', ')}`);
  if (!DATE_RE.test(date!) || Number.isNaN(Date.parse(date!))) throw new AuthError('MalformedAuthentication', `${H_DATE} must be an ISO 8601 UTC time such as 2026-12-02T05:12:56Z, got ${JSON.stringify(date)}`);
  if (!NONCE_RE.test(nonce!)) throw new AuthError('MalformedAuthentication', `${H_NONCE} must be 16 to 64 characters of A-Z a-z 0-9 _ -`);
  if (!/^[0-9a-f]{64}$/.test(sig!)) throw new AuthError('MalformedAuthentication', `${H_SIGNATURE} must be 64 lowercase hex digits (HMAC-SHA256)`);
  const skew = Math.abs(Date.parse(date!) - nowMs);
  if (skew > MAX_SKEW_MS) throw new AuthError('RequestTimeTooSkewed', `${H_DATE} ${date} is ${Math.round(skew / 1000)} s away from the node's time ${new Date(nowMs).toISOString()} (at most ${MAX_SKEW_MS / 60000} minutes)`);
  const key = await credentials.lookup(accessKey!);
  if (key === undefined) throw new AuthError('InvalidAccessKeyId', `the access key ${JSON.stringify(accessKey)} does not exist`);
  const want = Buffer.from(signature(key.secretKey, method, date!, nonce!), 'hex');
  if (!timingSafeEqual(want, Buffer.from(sig!, 'hex'))) {
    throw new AuthError('SignatureDoesNotMatch', `the signature does not match: sign the string ${JSON.stringify(stringToSign(method, '<date>', '<nonce>'))} with HMAC-SHA256 and the secret key, as lowercase hex`);
  }
  // Only a valid signature consumes its nonce: garbage cannot fill the cache for a key.
  if (!nonces.use(accessKey!, nonce!, nowMs)) throw new AuthError('ReplayedNonce', `the nonce ${nonce} was already used with this key in the last ${(2 * MAX_SKEW_MS) / 60000} minutes`);
  return { accessKey: accessKey!, owner: key.owner };
}
