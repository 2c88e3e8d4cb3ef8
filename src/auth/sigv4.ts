// AWS Signature Version 4 verification (header and presigned-URL forms), as
// S3 defines it: canonical request -> string to sign -> HMAC chain. Both the
// S3 API (s3/sigv4.ts renders the refusals as S3 errors) and the native API
// use it, with the same access keys. The seed signature and signing key of a
// streaming upload are handed on to the aws-chunked decoder
// (s3/aws-chunked.ts), which checks every chunk's signature.

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { AuthError } from './errors.js';
import type { CredentialStore } from './credential-store.js';

export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
export const STREAMING_SIGNED = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD';
export const STREAMING_SIGNED_TRAILER = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER';
export const STREAMING_UNSIGNED_TRAILER = 'STREAMING-UNSIGNED-PAYLOAD-TRAILER';
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** Largest clock difference accepted between client and server (S3: 15 minutes). */
export const MAX_SKEW_MS = 15 * 60 * 1000;
/** Longest presigned-URL validity S3 accepts: 7 days. */
export const MAX_PRESIGN_EXPIRES_S = 604800;

export interface AuthResult {
  readonly accessKey: string;
  /** The user the key belongs to; bucket ownership is checked against it. */
  readonly owner: string;
  /** x-amz-content-sha256 as signed: a hex digest, UNSIGNED-PAYLOAD or a STREAMING-* marker. */
  readonly payloadHash: string;
  readonly signingKey: Buffer;
  readonly scope: string;
  readonly amzDate: string;
  readonly signature: string;
  /** No signature at all: only reads an ACL allows are served (acl.ts). */
  readonly anonymous?: boolean;
}

/** Who an unsigned request is: nobody, with an unsigned body. */
export const ANONYMOUS: AuthResult = { accessKey: '', owner: '', payloadHash: UNSIGNED_PAYLOAD, signingKey: Buffer.alloc(0), scope: '', amzDate: '', signature: '', anonymous: true };

export interface ParsedRequestTarget {
  /** Raw (percent-encoded) path. */
  readonly rawPath: string;
  /** Raw query string without '?'. */
  readonly rawQuery: string;
}

/** RFC 3986 encoding as SigV4 wants it: unreserved characters stay, the rest is %XX uppercase. */
export function uriEncode(s: string, keepSlash: boolean): string {
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(byte);
    if ((byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x30 && byte <= 0x39) || c === '-' || c === '_' || c === '.' || c === '~' || (keepSlash && c === '/')) out += c;
    else out += '%' + byte.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

export function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new AuthError('InvalidArgument', 'malformed percent-encoding in the request URI');
  }
}

/** Query parameters in order, decoded, without treating '+' as a space (S3 clients encode spaces as %20). */
export function parseQuery(rawQuery: string): [string, string][] {
  if (rawQuery === '') return [];
  return rawQuery
    .split('&')
    .filter((p) => p !== '')
    .map((p) => {
      const eq = p.indexOf('=');
      return eq < 0 ? [safeDecode(p), ''] : [safeDecode(p.slice(0, eq)), safeDecode(p.slice(eq + 1))];
    });
}

export function canonicalUri(rawPath: string): string {
  return rawPath
    .split('/')
    .map((seg) => uriEncode(safeDecode(seg), false))
    .join('/');
}

export function canonicalQuery(params: readonly [string, string][]): string {
  return params
    .map(([k, v]) => [uriEncode(k, false), uriEncode(v, false)] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

/**
 * Node reads header bytes as latin-1; clients sign the characters those bytes
 * mean in UTF-8 (botocore sends non-ASCII metadata as UTF-8). A value whose
 * bytes are valid UTF-8 is read as UTF-8, so the canonical request hashes the
 * bytes that were sent; any other value stays as it came.
 */
function utf8Header(v: string): string {
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(v)) return v;
  const bytes = Buffer.from(v, 'latin1');
  const text = bytes.toString('utf8');
  return Buffer.from(text, 'utf8').equals(bytes) ? text : v;
}

/** Header values from rawHeaders (node would join duplicates with ', '; SigV4 joins with ','). */
function headerValues(req: IncomingMessage): Map<string, string> {
  const out = new Map<string, string>();
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = utf8Header(raw[i + 1]!).trim().replace(/\s+/g, ' ');
    const prev = out.get(name);
    out.set(name, prev === undefined ? value : `${prev},${value}`);
  }
  return out;
}

const sha256hex = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex');
const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data).digest();

const keyCache = new Map<string, Buffer>();
export function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  const id = `${date}/${region}/${service}/${secret}`;
  let k = keyCache.get(id);
  if (k === undefined) {
    k = hmac(hmac(hmac(hmac('AWS4' + secret, date), region), service), 'aws4_request');
    if (keyCache.size >= 1024) keyCache.clear();
    keyCache.set(id, k);
  }
  return k;
}

export function stringToSign(amzDate: string, scope: string, canonicalRequest: string): string {
  return `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${sha256hex(canonicalRequest)}`;
}

export function sign(key: Buffer, data: string): string {
  return createHmac('sha256', key).update(data).digest('hex');
}

export function sameSignature(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * The request time SigV4 signed: x-amz-date (when a client also set one of its own by hand, the
 * values arrive joined: the ISO 8601 basic one is the signer's), else the Date header.
 */
function requestDate(headers: ReadonlyMap<string, string>): string {
  const amz = headers.get('x-amz-date');
  if (amz !== undefined) return amz.split(',').map((s) => s.trim()).find((s) => /^\d{8}T\d{6}Z$/.test(s)) ?? amz;
  const date = Date.parse(headers.get('date') ?? '');
  return Number.isNaN(date) ? '' : new Date(date).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

/** 20240102T030405Z -> ms since the epoch, or NaN. */
export function parseAmzDate(s: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (m === null) return NaN;
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
}

interface SignedParts {
  readonly accessKey: string;
  readonly date: string;
  readonly region: string;
  readonly service: string;
  readonly signedHeaders: string[];
  readonly signature: string;
}

function parseCredential(cred: string, malformed: 'AuthorizationHeaderMalformed' | 'AuthorizationQueryParametersError'): Omit<SignedParts, 'signedHeaders' | 'signature'> {
  const parts = cred.split('/');
  if (parts.length !== 5 || parts[4] !== 'aws4_request' || !/^\d{8}$/.test(parts[1]!)) {
    throw new AuthError(malformed as 'AuthorizationHeaderMalformed', `malformed credential scope ${JSON.stringify(cred)}`);
  }
  return { accessKey: parts[0]!, date: parts[1]!, region: parts[2]!, service: parts[3]! };
}

function parseAuthorizationHeader(h: string): SignedParts {
  if (h.startsWith('AWS ')) throw new AuthError('InvalidRequest', 'Signature Version 2 is not supported; use AWS4-HMAC-SHA256');
  if (!h.startsWith('AWS4-HMAC-SHA256 ')) throw new AuthError('AuthorizationHeaderMalformed', 'unsupported authorization algorithm; use AWS4-HMAC-SHA256');
  const fields = new Map<string, string>();
  for (const part of h.slice('AWS4-HMAC-SHA256 '.length).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const cred = fields.get('Credential');
  const signed = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (cred === undefined || signed === undefined || signature === undefined) {
    throw new AuthError('AuthorizationHeaderMalformed', 'the Authorization header needs Credential, SignedHeaders and Signature');
  }
  return { ...parseCredential(cred, 'AuthorizationHeaderMalformed'), signedHeaders: signed.split(';'), signature };
}

/**
 * Verifies the request's SigV4 signature (Authorization header or presigned
 * query) and returns who signed it, or ANONYMOUS when the request carries no
 * signature at all. Throws the S3 error a client expects.
 * Does not read the body: a signed payload hash is checked by the body
 * readers against what actually arrives.
 */
export async function authenticate(
  req: IncomingMessage,
  target: ParsedRequestTarget,
  credentials: CredentialStore,
  nowMs: number,
): Promise<AuthResult> {
  const headers = headerValues(req);
  const query = parseQuery(target.rawQuery);
  const authz = headers.get('authorization');
  const presigned = query.some(([k]) => k === 'X-Amz-Signature');
  let parts: SignedParts;
  let amzDate: string;
  let payloadHash: string;
  let params = query;
  if (authz !== undefined) {
    parts = parseAuthorizationHeader(authz);
    amzDate = requestDate(headers);
    const p = headers.get('x-amz-content-sha256');
    if (p === undefined) throw new AuthError('InvalidRequest', 'Missing required header for this request: x-amz-content-sha256');
    payloadHash = p;
    if (payloadHash !== UNSIGNED_PAYLOAD && !payloadHash.startsWith('STREAMING-') && !/^[0-9a-f]{64}$/.test(payloadHash)) {
      throw new AuthError('InvalidArgument', 'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-* or a hex SHA-256 digest');
    }
  } else if (presigned) {
    const q = new Map(query);
    if (q.get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256') throw new AuthError('AuthorizationQueryParametersError', 'X-Amz-Algorithm must be AWS4-HMAC-SHA256');
    const cred = q.get('X-Amz-Credential');
    const signed = q.get('X-Amz-SignedHeaders');
    const signature = q.get('X-Amz-Signature');
    const expires = q.get('X-Amz-Expires');
    amzDate = q.get('X-Amz-Date') ?? '';
    if (cred === undefined || signed === undefined || signature === undefined || expires === undefined) {
      throw new AuthError('AuthorizationQueryParametersError', 'a presigned URL needs X-Amz-Credential, X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders and X-Amz-Signature');
    }
    const exp = Number(expires);
    // A negative lifetime is an URL that expired before it was made.
    if (/^-\d+$/.test(expires)) throw new AuthError('AccessDenied', 'Request has expired');
    if (!/^\d+$/.test(expires) || exp > MAX_PRESIGN_EXPIRES_S) throw new AuthError('AuthorizationQueryParametersError', 'X-Amz-Expires must be an integer between 0 and 604800');
    parts = { ...parseCredential(cred, 'AuthorizationQueryParametersError'), signedHeaders: signed.split(';'), signature };
    const t = parseAmzDate(amzDate);
    if (Number.isNaN(t)) throw new AuthError('AuthorizationQueryParametersError', 'X-Amz-Date must be in the ISO8601 basic format');
    if (nowMs >= t + exp * 1000) throw new AuthError('AccessDenied', 'Request has expired');
    if (t - nowMs > MAX_SKEW_MS) throw new AuthError('RequestTimeTooSkewed', 'The difference between the request time and the server\'s time is too large.');
    payloadHash = q.get('X-Amz-Content-Sha256') ?? UNSIGNED_PAYLOAD;
    params = query.filter(([k]) => k !== 'X-Amz-Signature');
  } else if (query.some(([k]) => k === 'Signature') && query.some(([k]) => k === 'AWSAccessKeyId')) {
    // A Signature Version 2 presigned URL is a signed request ringstore cannot check, not an anonymous one.
    throw new AuthError('InvalidRequest', 'Signature Version 2 is not supported; presign with AWS4-HMAC-SHA256');
  } else {
    // Unsigned: the caller decides what an anonymous request may do (public-read ACLs).
    return ANONYMOUS;
  }

  const secret = await credentials.lookup(parts.accessKey);
  if (secret === undefined) throw new AuthError('InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.');

  if (authz !== undefined) {
    const t = parseAmzDate(amzDate);
    if (Number.isNaN(t)) throw new AuthError('AccessDenied', 'AWS authentication requires a valid x-amz-date header');
    if (Math.abs(t - nowMs) > MAX_SKEW_MS) throw new AuthError('RequestTimeTooSkewed', 'The difference between the request time and the server\'s time is too large.');
  }
  if (!amzDate.startsWith(parts.date)) throw new AuthError('SignatureDoesNotMatch', 'the credential scope date does not match the request date');
  if (!parts.signedHeaders.includes('host')) throw new AuthError('SignatureDoesNotMatch', 'the host header must be signed');

  const canonicalHeaders = parts.signedHeaders.map((h) => `${h}:${headers.get(h) ?? ''}\n`).join('');
  const canonicalRequest = [
    req.method ?? 'GET',
    canonicalUri(target.rawPath),
    canonicalQuery(params),
    canonicalHeaders,
    parts.signedHeaders.join(';'),
    payloadHash,
  ].join('\n');
  const scope = `${parts.date}/${parts.region}/${parts.service}/aws4_request`;
  const key = signingKey(secret.secretKey, parts.date, parts.region, parts.service);
  const expected = sign(key, stringToSign(amzDate, scope, canonicalRequest));
  if (!sameSignature(expected, parts.signature)) {
    throw new AuthError('SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.', {
      AWSAccessKeyId: parts.accessKey,
      CanonicalRequest: canonicalRequest,
    });
  }
  return { accessKey: parts.accessKey, owner: secret.owner, payloadHash, signingKey: key, scope, amzDate, signature: parts.signature };
}

export { sha256hex };
