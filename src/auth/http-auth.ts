// Who an HTTP request to the native API or an admin route is (issue 11
// §2-3). The native API takes the same access keys as S3, signed with SigV4
// (header or presigned URL: SDKs), or a user's API token as
// `Authorization: Bearer rsu_...` (what a person types with curl). Admin
// routes take only admin tokens (`Bearer rsa_...`), scoped and expiring.
//
// A SigV4 request that signs its payload's SHA-256 has its body checked
// against it as the body is read (payloadHashOf, used by api/http.ts
// readBody), so a captured signature cannot carry another body.

import type { IncomingMessage } from 'node:http';
import type { AdminScope } from '../control/commands.js';
import type { AuthDirectory } from './directory.js';
import { AuthError } from './errors.js';
import { authenticate, UNSIGNED_PAYLOAD } from './sigv4.js';
import { bearerToken } from './tokens.js';

/** Who made a request that proved who it is. */
export interface Principal {
  readonly user: string;
  readonly via: 'token' | 'sigv4';
}

/** What the HTTP front needs to let requests in (api/http.ts). */
export interface HttpAuth {
  /** The user a request proves it is, or undefined for a request with no credentials at all (anonymous). */
  user(req: IncomingMessage, rawPath: string, rawQuery: string): Promise<Principal | undefined>;
  /** Refuses (throws AuthError) a request without an admin token that holds `scope`. */
  admin(req: IncomingMessage, scope: AdminScope): Promise<void>;
}

const signedPayload = new WeakMap<IncomingMessage, string>();

/** The hex SHA-256 a SigV4 request signed for its body, if it signed one: the body reader must check it. */
export function payloadHashOf(req: IncomingMessage): string | undefined {
  return signedPayload.get(req);
}

function isSigV4(req: IncomingMessage, rawQuery: string): boolean {
  const a = req.headers.authorization;
  if (a !== undefined) return a.startsWith('AWS4-HMAC-SHA256 ') || a.startsWith('AWS ');
  return rawQuery.includes('X-Amz-Signature=');
}

export function directoryAuth(dir: AuthDirectory, now: () => number): HttpAuth {
  return {
    async user(req, rawPath, rawQuery) {
      const authz = req.headers.authorization;
      if (authz !== undefined && /^bearer\s/i.test(authz)) {
        const token = bearerToken(authz);
        if (token === undefined) throw new AuthError('InvalidToken', 'Authorization: Bearer needs exactly one token');
        return { user: await dir.verifyUserToken(token), via: 'token' };
      }
      if (isSigV4(req, rawQuery)) {
        if (req.headers.authorization !== undefined && req.headers['x-amz-content-sha256'] === undefined) {
          // What curl --aws-sigv4 (7.88) sends: say how to make it work.
          throw new AuthError('InvalidRequest', 'Missing required header for this request: x-amz-content-sha256 (with curl --aws-sigv4, add -H "x-amz-content-sha256: UNSIGNED-PAYLOAD", or use a token: Authorization: Bearer)');
        }
        const r = await authenticate(req, { rawPath, rawQuery }, dir, now());
        if (r.anonymous === true) return undefined;
        if (r.payloadHash.startsWith('STREAMING-')) throw new AuthError('InvalidRequest', 'the native API takes whole bodies: sign the payload hash or UNSIGNED-PAYLOAD, not aws-chunked streaming');
        if (r.payloadHash !== UNSIGNED_PAYLOAD) signedPayload.set(req, r.payloadHash);
        return { user: r.owner, via: 'sigv4' };
      }
      if (authz !== undefined) throw new AuthError('InvalidToken', 'unsupported Authorization scheme: use "Bearer <token>" or AWS4-HMAC-SHA256');
      return undefined;
    },
    async admin(req, scope) {
      const authz = req.headers.authorization;
      if (authz === undefined) {
        throw new AuthError('MissingAuthentication', 'this route needs an admin token: Authorization: Bearer rsa_... (ringstore admin-token create; ringstore dev writes one to cluster.json)');
      }
      const token = bearerToken(authz);
      if (token === undefined) throw new AuthError('InvalidToken', 'admin routes take Authorization: Bearer <admin token>');
      await dir.verifyAdminToken(token, scope);
    },
  };
}
