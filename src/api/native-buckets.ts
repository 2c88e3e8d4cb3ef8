// The native API's bucket routes:
//
//   GET    /buckets                       list buckets
//   POST   /buckets/{bucket}              create (PUT too; JSON body or ?n=&r=&w= for defaults)
//   GET    /buckets/{bucket}              bucket info + keys (?prefix=&after=&limit=)
//   DELETE /buckets/{bucket}              delete an empty bucket

import type { IncomingMessage, ServerResponse } from 'node:http';
import { storageBucket, type BucketInfo } from '../coordinator/buckets-types.js';
import { liveSiblings, type Sibling } from '../version/dvv.js';
import { ApiError } from './errors.js';
import { readBody, sendJson, type ParsedUrl } from './http.js';
import { bucketJson } from './native-answers.js';
import type { NativeApiDeps } from './native-deps.js';
import { LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX, parseQuorumParams, resolveQuorum, type QuorumParams } from './native-params.js';

/** The bucket's settings, or NoSuchBucket. */
/** The bucket the request's authorization found (native.ts authorize), or NoSuchBucket. */
export function requireBucket(name: string, found: BucketInfo | undefined): BucketInfo {
  if (found === undefined) throw new ApiError('NoSuchBucket', `bucket ${JSON.stringify(name)} does not exist`, { bucket: name });
  return found;
}

/** The caller's own buckets, as S3's ListBuckets answers. */
export async function listBuckets(deps: NativeApiDeps, req: IncomingMessage, res: ServerResponse, user: string): Promise<void> {
  const all = (await deps.buckets.list()).filter((b) => b.owner === user);
  all.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  sendJson(res, 200, { ok: true, buckets: all.map(bucketJson) }, {}, req.method === 'HEAD');
}

export async function createBucket(deps: NativeApiDeps, req: IncomingMessage, res: ServerResponse, url: ParsedUrl, bucket: string, owner: string): Promise<void> {
  let body: Record<string, unknown> = {};
  const raw = await readBody(req, 64 * 1024);
  if (raw.length > 0 && raw.toString('utf8').trim().length > 0) {
    try {
      const parsed: unknown = JSON.parse(raw.toString('utf8'));
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      body = parsed as Record<string, unknown>;
    } catch (err) {
      throw new ApiError('MalformedRequest', `the body must be a JSON object: ${(err as Error).message}`);
    }
  }
  const fromBody = body['quorum'] !== undefined && typeof body['quorum'] === 'object' && body['quorum'] !== null ? (body['quorum'] as Record<string, unknown>) : body;
  const given: QuorumParams = {
    ...parseQuorumParams({ get: (k: string) => fromBody[k] }),
    ...parseQuorumParams(url.query),
  };
  const quorum = resolveQuorum(deps.defaultQuorum, given, deps.clusterSize());
  // One proposal through the control plane: of concurrent creations of one name, exactly one creates it.
  // A bucket belongs to its creator (as on S3): an owner given in the body must be the caller.
  if (body['owner'] !== undefined && body['owner'] !== owner) throw new ApiError('AccessDenied', 'a bucket belongs to the user who creates it; "owner" must be you or absent', { owner: body['owner'] });
  const { created, bucket: info } = await deps.buckets.create(bucket, { owner, quorum });
  if (!created && info.owner !== owner) throw new ApiError('BucketAlreadyExists', `bucket ${JSON.stringify(bucket)} belongs to another user`, { bucket });
  sendJson(res, 200, { ok: true, created, bucket: bucketJson(info), is_bucket_created: created });
}

export async function deleteBucket(deps: NativeApiDeps, res: ServerResponse, bucket: string): Promise<void> {
  await deps.buckets.remove(bucket);
  sendJson(res, 200, { ok: true, bucket, deleted: true, is_bucket_deleted: true });
}

export async function bucketInfo(deps: NativeApiDeps, req: IncomingMessage, res: ServerResponse, url: ParsedUrl, bucket: string, found: BucketInfo | undefined): Promise<void> {
  const info = requireBucket(bucket, found);
  if (req.method === 'HEAD') {
    sendJson(res, 200, { ok: true }, {}, true);
    return;
  }
  const limitRaw = url.query.get('limit');
  let limit = LIST_LIMIT_DEFAULT;
  if (limitRaw !== null && limitRaw !== '') {
    limit = /^\d{1,9}$/.test(limitRaw) ? Number(limitRaw) : NaN;
    if (!(limit >= 1 && limit <= LIST_LIMIT_MAX)) throw new ApiError('InvalidArgument', `limit must be an integer from 1 to ${LIST_LIMIT_MAX}`, { limit: limitRaw });
  }
  const prefix = url.query.get('prefix') ?? '';
  const after = url.query.get('after') ?? '';
  const listed = await deps.coordinator.list({ bucket: storageBucket(info), limit, ...(prefix ? { prefix } : {}), ...(after ? { after } : {}) });
  const keys: Record<string, unknown>[] = [];
  for (const k of listed.keys) {
    const live = liveSiblings(k.set);
    if (live.length === 0) continue;
    let newest = live[0] as Sibling;
    for (const s of live) if (s.meta.ts > newest.meta.ts) newest = s;
    keys.push({
      key: k.key,
      siblings: live.length,
      size: newest.value?.byteLength ?? 0,
      content_type: newest.meta.contentType ?? null,
      last_modified: new Date(newest.meta.ts).toISOString(),
    });
  }
  const last = listed.keys[listed.keys.length - 1];
  sendJson(res, 200, {
    ok: true,
    ...bucketJson(info),
    bucket: info.name,
    prefix,
    keys,
    truncated: listed.truncated,
    next_after: listed.truncated && last !== undefined ? last.key : null,
  });
}
