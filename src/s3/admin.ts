// Administration of the S3 layer over a node's HTTP API (mounted at /_s3),
// for the `ringstore s3-key` and `ringstore s3-gc` commands:
//
//   POST   /_s3/keys?owner=NAME   a new access key for NAME: {access_key, secret_key, owner}
//   GET    /_s3/keys              the keys in the control state (no secrets)
//   DELETE /_s3/keys/ID           removes a key
//   POST   /_s3/gc                runs a chunk collection now, answers its report
//   GET    /_s3/gc                the settings and the last report
//   GET    /_s3/cache             the read cache's counters
//
// Like every admin route, these need an admin token (api/http.ts). A secret
// key is shown once, when it is made; the control state keeps it sealed.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson, type ParsedUrl, type RouteHandler } from '../api/http.js';
import type { ChunkStore } from './chunks.js';
import type { AuthDirectory } from '../auth/directory.js';
import type { ChunkCollector } from './gc.js';
import type { ObjectCache } from './cache.js';

export interface S3AdminDeps {
  readonly credentials: AuthDirectory;
  readonly collector: ChunkCollector;
  readonly chunks: ChunkStore;
  readonly objects?: ObjectCache | undefined;
}

const OWNER_RE = /^[A-Za-z0-9][A-Za-z0-9._@+=-]{0,63}$/;

export function createS3AdminApi(deps: S3AdminDeps): RouteHandler {
  return async (req: IncomingMessage, res: ServerResponse, url: ParsedUrl): Promise<void> => {
    const parts = url.path.split('/').filter((p) => p !== ''); // ['_s3', ...]
    const what = parts[1];
    const method = req.method ?? 'GET';
    if (what === 'keys') {
      if (parts.length === 2 && method === 'POST') {
        const owner = url.query.get('owner') ?? '';
        if (!OWNER_RE.test(owner)) return sendJson(res, 400, { ok: false, error: 'InvalidOwner', message: 'owner: 1-64 characters of letters, digits and ._@+=-' });
        const k = await deps.credentials.createAccessKey(owner);
        return sendJson(res, 201, { ok: true, access_key: k.accessKey, secret_key: k.secretKey, owner: k.user, created: new Date(k.createdMs).toISOString() });
      }
      if (parts.length === 2 && method === 'GET') {
        const keys = deps.credentials.listAccessKeys();
        return sendJson(res, 200, { ok: true, keys: keys.map((k) => ({ access_key: k.accessKey, owner: k.user, created: new Date(k.createdMs).toISOString() })) });
      }
      if (parts.length === 3 && method === 'DELETE') {
        const id = decodeURIComponent(parts[2]!);
        if (deps.credentials.listAccessKeys().every((k) => k.accessKey !== id)) return sendJson(res, 404, { ok: false, error: 'NoSuchKey', message: `no access key ${id}` });
        await deps.credentials.deleteAccessKey(id);
        return sendJson(res, 200, { ok: true });
      }
    }
    if (what === 'gc' && parts.length === 2) {
      if (method === 'POST') {
        const report = await deps.collector.run();
        return sendJson(res, report.ok ? 200 : 503, { ...report, settings: deps.collector.settings });
      }
      if (method === 'GET') return sendJson(res, 200, { ok: true, settings: deps.collector.settings, last: deps.collector.lastReport ?? null });
    }
    if (what === 'cache' && parts.length === 2 && method === 'GET') {
      return sendJson(res, 200, { ok: true, chunks: deps.chunks.stats, objects: deps.objects?.stats ?? null });
    }
    return sendJson(res, 404, { ok: false, error: 'NotFound', message: `no ${method} ${url.path}` });
  };
}
