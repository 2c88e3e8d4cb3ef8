// Credentials over HTTP (issue 11 §2-3), for `ringstore token`,
// `ringstore admin-token` and `ringstore user`. No answer ever carries a
// stored secret: a token or secret key is shown once, in the answer that
// creates it, and only its hash (tokens) or sealed form (keys) is kept.
//
// Admin routes (an admin token):
//   GET    /_auth/users                       users, with their key ids and token ids
//   POST   /_auth/users/{user}                create a user (idempotent)
//   POST   /_auth/users/{user}/keys           a new access key: {access_key, secret_key}
//   DELETE /_auth/keys/{access key}           delete an access key
//   POST   /_auth/users/{user}/tokens         a new API token for the user ({"ttl": "30d", "name": "..."})
//   GET    /_auth/tokens                      every user token (no secrets)
//   DELETE /_auth/tokens/{id}                 revoke a user token
//   POST   /_auth/admin-tokens                a new admin token ({"scope": "admin"|"metrics-read", "ttl": "30d"})
//   GET    /_auth/admin-tokens                admin tokens (no secrets)
//   DELETE /_auth/admin-tokens/{id}           revoke an admin token
//
// User routes (the caller's own, with SigV4 or a user token):
//   POST   /tokens                            a new token for yourself ({"ttl": "30d", "name": "..."})
//   GET    /tokens                            your tokens
//   DELETE /tokens/{id}                       revoke one of yours

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthDirectory, AdminTokenInfo, UserTokenInfo } from '../auth/directory.js';
import { USER_RE } from '../auth/directory.js';
import { parseTtl } from '../auth/tokens.js';
import { ADMIN_SCOPES, type AdminScope } from '../control/commands.js';
import { ApiError } from './errors.js';
import { methodNotAllowed, readBody, sendJson, type ParsedUrl, type RequestCtx, type RouteHandler } from './http.js';

/** Longest token lifetime one may ask for: a year. */
const MAX_TTL_MS = 366 * 86_400_000;

const iso = (ms: number): string | null => (ms === 0 ? null : new Date(ms).toISOString());

function userTokenJson(t: UserTokenInfo): Record<string, unknown> {
  return { id: t.tokenId, user: t.user, name: t.name, created: iso(t.createdMs), expires: iso(t.expiresMs) };
}

function adminTokenJson(t: AdminTokenInfo): Record<string, unknown> {
  return { id: t.tokenId, scope: t.scope, created: iso(t.createdMs), expires: iso(t.expiresMs) };
}

async function jsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const raw = await readBody(req, 16 * 1024);
  if (raw.toString('utf8').trim() === '') return {};
  try {
    const v: unknown = JSON.parse(raw.toString('utf8'));
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch (err) {
    throw new ApiError('MalformedRequest', `the body must be a JSON object: ${(err as Error).message}`);
  }
}

/** A token's lifetime from the body: "30d", "12h", "never"; default 90 days, at most a year. */
function ttlOf(body: Record<string, unknown>, fallbackMs: number): number {
  const v = body['ttl'];
  if (v === undefined) return fallbackMs;
  if (typeof v !== 'string') throw new ApiError('InvalidArgument', 'ttl is a string such as "30d", "12h" or "never"');
  let ms: number;
  try {
    ms = parseTtl(v);
  } catch (err) {
    throw new ApiError('InvalidArgument', (err as Error).message);
  }
  if (ms > MAX_TTL_MS) throw new ApiError('InvalidArgument', 'ttl is at most 366d (or "never")');
  return ms;
}

function nameOf(body: Record<string, unknown>): string {
  const n = body['name'] ?? '';
  if (typeof n !== 'string' || n.length > 128) throw new ApiError('InvalidArgument', 'name is a string of at most 128 characters');
  return n;
}

function segment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new ApiError('InvalidArgument', `bad percent-encoding in ${JSON.stringify(s)}`);
  }
}

function userName(s: string): string {
  const u = segment(s);
  if (!USER_RE.test(u)) throw new ApiError('InvalidArgument', 'a user name is 1-64 characters of letters, digits and ._@+=-', { user: u });
  return u;
}

export const DEFAULT_TOKEN_TTL_MS = 90 * 86_400_000;

export function createAuthAdminApi(dir: AuthDirectory): RouteHandler {
  return async (req: IncomingMessage, res: ServerResponse, url: ParsedUrl, ctx: RequestCtx): Promise<void> => {
    ctx.route = 'auth_admin';
    const p = url.path.split('/').filter((s) => s !== '').slice(1); // drop '_auth'
    const method = req.method ?? 'GET';
    if (p[0] === 'users') {
      if (p.length === 1) {
        if (method !== 'GET') throw methodNotAllowed('GET');
        const keys = dir.listAccessKeys();
        const tokens = dir.listUserTokens();
        const users = dir.users().map((u) => ({
          user: u,
          access_keys: keys.filter((k) => k.user === u).map((k) => k.accessKey),
          tokens: tokens.filter((t) => t.user === u).map((t) => t.tokenId),
        }));
        return sendJson(res, 200, { ok: true, users });
      }
      const user = userName(p[1]!);
      if (p.length === 2) {
        if (method !== 'POST' && method !== 'PUT') throw methodNotAllowed('POST, PUT');
        await dir.ensureUser(user);
        return sendJson(res, 200, { ok: true, user });
      }
      if (p.length === 3 && p[2] === 'keys') {
        if (method !== 'POST') throw methodNotAllowed('POST');
        const k = await dir.createAccessKey(user);
        return sendJson(res, 201, { ok: true, access_key: k.accessKey, secret_key: k.secretKey, user: k.user, created: iso(k.createdMs) });
      }
      if (p.length === 3 && p[2] === 'tokens') {
        if (method !== 'POST') throw methodNotAllowed('POST');
        const body = await jsonBody(req);
        const t = await dir.createUserToken(user, ttlOf(body, DEFAULT_TOKEN_TTL_MS), nameOf(body));
        return sendJson(res, 201, { ok: true, token: t.token, ...userTokenJson(t) });
      }
    }
    if (p[0] === 'keys' && p.length === 2) {
      if (method !== 'DELETE') throw methodNotAllowed('DELETE');
      await dir.deleteAccessKey(segment(p[1]!));
      return sendJson(res, 200, { ok: true, deleted: segment(p[1]!) });
    }
    if (p[0] === 'keys' && p.length === 1) {
      if (method !== 'GET') throw methodNotAllowed('GET');
      return sendJson(res, 200, { ok: true, keys: dir.listAccessKeys().map((k) => ({ access_key: k.accessKey, user: k.user, created: iso(k.createdMs) })) });
    }
    if (p[0] === 'tokens') {
      if (p.length === 1) {
        if (method !== 'GET') throw methodNotAllowed('GET');
        const user = url.query.get('user') ?? undefined;
        return sendJson(res, 200, { ok: true, tokens: dir.listUserTokens(user).map(userTokenJson) });
      }
      if (p.length === 2) {
        if (method !== 'DELETE') throw methodNotAllowed('DELETE');
        await dir.revokeUserToken(segment(p[1]!));
        return sendJson(res, 200, { ok: true, revoked: segment(p[1]!) });
      }
    }
    if (p[0] === 'admin-tokens') {
      if (p.length === 1 && method === 'GET') return sendJson(res, 200, { ok: true, tokens: dir.listAdminTokens().map(adminTokenJson) });
      if (p.length === 1 && method === 'POST') {
        const body = await jsonBody(req);
        const scope = body['scope'] ?? 'admin';
        if (!ADMIN_SCOPES.includes(scope as AdminScope)) throw new ApiError('InvalidArgument', `scope is one of ${ADMIN_SCOPES.join(', ')}`, { scope });
        const t = await dir.createAdminToken(scope as AdminScope, ttlOf(body, DEFAULT_TOKEN_TTL_MS));
        return sendJson(res, 201, { ok: true, token: t.token, ...adminTokenJson(t) });
      }
      if (p.length === 2 && method === 'DELETE') {
        await dir.revokeAdminToken(segment(p[1]!));
        return sendJson(res, 200, { ok: true, revoked: segment(p[1]!) });
      }
      throw methodNotAllowed(p.length === 1 ? 'GET, POST' : 'DELETE');
    }
    throw new ApiError('NotFound', `no such endpoint: ${url.path}`);
  };
}

/** A user's own tokens, on the native API's port (mounted with access 'user'). */
export function createTokensApi(dir: AuthDirectory): RouteHandler {
  return async (req: IncomingMessage, res: ServerResponse, url: ParsedUrl, ctx: RequestCtx): Promise<void> => {
    ctx.route = 'tokens';
    const who = ctx.principal;
    if (who === undefined) throw new ApiError('MissingAuthentication', 'managing your tokens needs credentials: a SigV4 signature with your access key, or one of your tokens');
    const p = url.path.split('/').filter((s) => s !== '');
    const method = req.method ?? 'GET';
    if (p.length === 1) {
      if (method === 'GET') return sendJson(res, 200, { ok: true, user: who.user, tokens: dir.listUserTokens(who.user).map(userTokenJson) });
      if (method === 'POST') {
        const body = await jsonBody(req);
        const t = await dir.createUserToken(who.user, ttlOf(body, DEFAULT_TOKEN_TTL_MS), nameOf(body));
        return sendJson(res, 201, { ok: true, token: t.token, ...userTokenJson(t) });
      }
      throw methodNotAllowed('GET, POST');
    }
    if (p.length === 2) {
      if (method !== 'DELETE') throw methodNotAllowed('DELETE');
      await dir.revokeUserToken(segment(p[1]!), who.user);
      return sendJson(res, 200, { ok: true, revoked: segment(p[1]!) });
    }
    throw new ApiError('NotFound', `no such endpoint: ${url.path}`);
  };
}
