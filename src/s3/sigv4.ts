// SigV4 as the S3 API uses it: the verification itself lives in
// auth/sigv4.ts (the native API checks the same signatures with the same
// keys); this module renders its refusals as the S3 errors clients expect,
// particulars (AWSAccessKeyId, CanonicalRequest) included.

import type { IncomingMessage } from 'node:http';
import * as core from '../auth/sigv4.js';
import { AuthError } from '../auth/errors.js';
import type { CredentialStore } from '../auth/credential-store.js';
import { S3Error } from './errors.js';

export {
  ANONYMOUS,
  EMPTY_SHA256,
  MAX_PRESIGN_EXPIRES_S,
  MAX_SKEW_MS,
  STREAMING_SIGNED,
  STREAMING_SIGNED_TRAILER,
  STREAMING_UNSIGNED_TRAILER,
  UNSIGNED_PAYLOAD,
  canonicalQuery,
  canonicalUri,
  parseAmzDate,
  sameSignature,
  sha256hex,
  sign,
  signingKey,
  stringToSign,
  uriEncode,
  type AuthResult,
  type ParsedRequestTarget,
} from '../auth/sigv4.js';

function asS3<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw toS3(err);
  }
}

function toS3(err: unknown): unknown {
  if (!(err instanceof AuthError)) return err;
  const extra: Record<string, string | number> = {};
  for (const [k, v] of Object.entries(err.details)) if (typeof v === 'string' || typeof v === 'number') extra[k] = v;
  return new S3Error(err.code, err.message, extra);
}

export const safeDecode = (s: string): string => asS3(() => core.safeDecode(s));
export const parseQuery = (rawQuery: string): [string, string][] => asS3(() => core.parseQuery(rawQuery));

export async function authenticate(req: IncomingMessage, target: core.ParsedRequestTarget, credentials: CredentialStore, nowMs: number): Promise<core.AuthResult> {
  try {
    return await core.authenticate(req, target, credentials, nowMs);
  } catch (err) {
    throw toS3(err);
  }
}
