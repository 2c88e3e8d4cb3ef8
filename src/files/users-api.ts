// A user's files on the native API (seed 003's "list all of a user's files"
// and search), answered from the per-user index (coordinator/user-index.ts):
//
//   GET /users/{user}/files                  every file, in path order (?prefix=&after=&limit=)
//   GET /users/{user}/files?search=QUERY     files whose bucket/key matches (substring or glob)
//
// The caller is who the request proved it is (api/http.ts, a user route):
// `me` is that user, and another user's files are theirs alone (403).

import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError } from '../api/errors.js';
import { methodNotAllowed, sendJson, type ParsedUrl, type RequestCtx, type RouteHandler } from '../api/http.js';
import type { FileEntry, UserIndex } from '../coordinator/user-index.js';

export const FILES_LIMIT_DEFAULT = 1000;
export const FILES_LIMIT_MAX = 10_000;

export interface UsersApiDeps {
  readonly index: Pick<UserIndex, 'list' | 'search'>;
}

export function fileJson(f: FileEntry): Record<string, unknown> {
  return {
    bucket: f.bucket,
    key: f.key,
    path: `${f.bucket}/${f.key}`,
    owner: f.owner,
    size: f.size,
    content_type: f.contentType,
    last_modified: new Date(f.mtimeMs).toISOString(),
    etag: f.etag ?? null,
  };
}

export function parseLimit(raw: string | null): number {
  if (raw === null || raw === '') return FILES_LIMIT_DEFAULT;
  const n = /^\d{1,9}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= 1 && n <= FILES_LIMIT_MAX)) throw new ApiError('InvalidArgument', `limit must be an integer from 1 to ${FILES_LIMIT_MAX}`, { limit: raw });
  return n;
}

export function createUsersApi(deps: UsersApiDeps): RouteHandler {
  return async (req: IncomingMessage, res: ServerResponse, url: ParsedUrl, ctx: RequestCtx): Promise<void> => {
    ctx.route = 'user_files';
    const m = /^\/users\/([^/]+)\/files\/?$/.exec(url.path);
    if (m === null) throw new ApiError('NotFound', `no such endpoint: ${url.path} (try /users/me/files or /users/me/files?search=...)`);
    if (req.method !== 'GET' && req.method !== 'HEAD') throw methodNotAllowed('GET, HEAD');
    let user: string;
    try {
      user = decodeURIComponent(m[1]!);
    } catch {
      throw new ApiError('InvalidArgument', `bad percent-encoding in the user name ${JSON.stringify(m[1])}`);
    }
    const me = ctx.principal?.user;
    if (me === undefined) throw new ApiError('MissingAuthentication', 'a user\'s files need credentials: Authorization: Bearer <user token>, or a SigV4 signature');
    if (user === 'me') user = me;
    if (user === '') throw new ApiError('InvalidArgument', 'the user name is empty');
    if (user !== me) throw new ApiError('AccessDenied', `the files of ${JSON.stringify(user)} are theirs alone`, { user });
    const limit = parseLimit(url.query.get('limit'));
    const prefix = url.query.get('prefix') ?? '';
    const search = url.query.get('search');
    const head = req.method === 'HEAD';
    if (search !== null) {
      if (search === '') throw new ApiError('InvalidArgument', 'search must not be empty (a substring of bucket/key, or a glob such as *.pdf)');
      const r = await deps.index.search(user, search, { limit, ...(prefix !== '' ? { prefix } : {}) });
      sendJson(res, 200, { ok: true, user, search, files: r.files.map(fileJson), truncated: r.truncated, scanned: r.scanned, replicas: r.replicas }, {}, head);
      return;
    }
    const after = url.query.get('after') ?? undefined;
    const r = await deps.index.list(user, { limit, prefix, ...(after !== undefined && after !== '' ? { after } : {}) });
    const last = r.files[r.files.length - 1];
    sendJson(
      res,
      200,
      { ok: true, user, prefix, files: r.files.map(fileJson), truncated: r.truncated, next_after: r.truncated && last !== undefined ? `${last.bucket}/${last.key}` : null, replicas: r.replicas },
      {},
      head,
    );
  };
}
