// Bearer tokens: per-user API tokens for the native API (rsu_) and admin
// tokens for the admin routes (rsa_). A token is its public id and 32 random
// bytes; only SHA-256 of the whole token is stored (Garage keeps admin
// tokens hashed the same way). 256 random bits make a plain hash enough: no
// dictionary reaches them, and an unkeyed hash survives cluster-key rotation.
//
//   rsu_<16 hex: id>_<43 base64url: secret>

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export type TokenKind = 'user' | 'admin';

const PREFIX: Record<TokenKind, string> = { user: 'rsu', admin: 'rsa' };
const TOKEN_RE = /^(rsu|rsa)_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export interface MintedToken {
  readonly token: string;
  readonly tokenId: string;
  readonly tokenHash: string;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function mintToken(kind: TokenKind): MintedToken {
  const tokenId = randomBytes(8).toString('hex');
  const token = `${PREFIX[kind]}_${tokenId}_${randomBytes(32).toString('base64url')}`;
  return { token, tokenId, tokenHash: hashToken(token) };
}

/** The token's kind and id, or undefined when it is not a ringstore token at all. */
export function parseToken(token: string): { kind: TokenKind; tokenId: string } | undefined {
  const m = TOKEN_RE.exec(token);
  if (m === null) return undefined;
  return { kind: m[1] === 'rsu' ? 'user' : 'admin', tokenId: m[2]! };
}

export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** `Authorization: Bearer <token>` -> the token; undefined when the header is another scheme or absent. */
export function bearerToken(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  return m === null ? undefined : m[1];
}

/** A lifetime such as 30d, 12h, 90m, 3600s or "never" -> milliseconds (0 for never). */
export function parseTtl(v: string): number {
  if (v === 'never' || v === '0') return 0;
  const m = /^(\d{1,6})([smhd])$/.exec(v);
  if (m === null) throw new Error(`a lifetime is a number and a unit (s, m, h, d), e.g. 30d, or "never"; got ${JSON.stringify(v)}`);
  return Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd'];
}
