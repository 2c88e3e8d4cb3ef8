// The native JSON API (docs/api.md): buckets, files and JSON answers, showing
// everything Dynamo hides: who coordinated, the preference list, the replicas
// a write landed on (and the hinted ones), every replica's vector clock, the
// siblings and the causal context.
//
//   GET    /buckets                       list buckets
//   POST   /buckets/{bucket}              create (PUT too; JSON body or ?n=&r=&w= for defaults)
//   GET    /buckets/{bucket}              bucket info + keys (?prefix=&after=&limit=)
//   DELETE /buckets/{bucket}              delete an empty bucket
//   PUT    /buckets/{bucket}/{key...}     store the raw body
//   POST   /buckets/{bucket}/files        store each file of a multipart/form-data upload
//   GET    /buckets/{bucket}/{key...}     the value, or JSON with every sibling (HEAD too)
//   DELETE /buckets/{bucket}/{key...}     write a tombstone
//
// Every route but an anonymous read of a public-read bucket needs a caller
// (api/http.ts establishes it: SigV4 or a user token), and bucket ownership
// is enforced as on S3: a bucket belongs to the user who created it; another
// user gets 403 AccessDenied, and reads too unless its ACL is public-read.
//
// This file routes; native-params.ts validates, native-answers.ts shapes
// the answers, native-buckets.ts, native-objects.ts and native-upload.ts
// handle the routes. All protocol decisions are the coordinator's.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { payloadHashOf, type Principal } from '../auth/http-auth.js';
import { ApiError } from './errors.js';
import { methodNotAllowed, type ParsedUrl, type RequestCtx, type RouteHandler } from './http.js';
import { bucketInfo, createBucket, deleteBucket, listBuckets } from './native-buckets.js';
import type { NativeApiDeps } from './native-deps.js';
import type { BucketInfo } from '../coordinator/buckets-types.js';
import { ephemeralContextMac } from './context-mac.js';
import { deleteObject, getObject, putObject } from './native-objects.js';
import { decodeSegment, validateBucketName } from './native-params.js';
import { upload } from './native-upload.js';

function needCaller(principal: Principal | undefined): Principal {
  if (principal === undefined) {
    throw new ApiError('MissingAuthentication', 'this request needs credentials: Authorization: Bearer <user token> (ringstore token create), or a SigV4 signature with an access key');
  }
  return principal;
}

/**
 * Refuses a request on another user's bucket as S3 does: writes always,
 * reads unless the bucket is public-read. Returns the bucket it looked up
 * (once per request: the handlers take it rather than looking again, which
 * for a missing name would cost a second ReadIndex). A bucket that does not
 * exist is left to the handler (NoSuchBucket, or a creation).
 */
async function authorize(deps: NativeApiDeps, principal: Principal | undefined, bucket: string, read: boolean): Promise<BucketInfo | undefined> {
  const info = await deps.buckets.get(bucket);
  if (info === undefined) {
    if (!read) needCaller(principal);
    return undefined;
  }
  if (principal !== undefined && principal.user === info.owner) return info;
  if (read && (await deps.publicRead?.(info)) === true) return info;
  needCaller(principal);
  throw new ApiError('AccessDenied', `bucket ${JSON.stringify(bucket)} belongs to another user`, { bucket });
}

export function createNativeApi(given: NativeApiDeps): RouteHandler {
  const deps = { ...given, contextMac: given.contextMac ?? ephemeralContextMac() };
  return async (req: IncomingMessage, res: ServerResponse, url: ParsedUrl, ctx: RequestCtx): Promise<void> => {
    const method = req.method ?? 'GET';
    const path = url.path;
    if (path === '/buckets' || path === '/buckets/') {
      ctx.route = 'buckets';
      if (method === 'GET' || method === 'HEAD') return listBuckets(deps, req, res, needCaller(ctx.principal).user);
      throw methodNotAllowed('GET, HEAD');
    }
    const rest = path.slice('/buckets/'.length);
    const slash = rest.indexOf('/');
    const bucket = decodeSegment(slash < 0 ? rest : rest.slice(0, slash), 'InvalidBucketName');
    if (slash < 0) {
      ctx.route = 'bucket';
      validateBucketName(bucket);
      const found = await authorize(deps, ctx.principal, bucket, method === 'GET' || method === 'HEAD');
      switch (method) {
        case 'GET':
        case 'HEAD':
          return bucketInfo(deps, req, res, url, bucket, found);
        case 'POST':
        case 'PUT':
          return createBucket(deps, req, res, url, bucket, needCaller(ctx.principal).user);
        case 'DELETE':
          return deleteBucket(deps, res, bucket);
        default:
          throw methodNotAllowed('GET, HEAD, POST, PUT, DELETE');
      }
    }
    validateBucketName(bucket);
    const found = await authorize(deps, ctx.principal, bucket, method === 'GET' || method === 'HEAD');
    const rawKey = rest.slice(slash + 1);
    if (method === 'POST') {
      if (rawKey !== 'files') throw methodNotAllowed('GET, HEAD, PUT, DELETE (POST only to /buckets/{bucket}/files)');
      ctx.route = 'upload';
      // Files are stored as they stream in, before a whole-body hash could be checked.
      if (payloadHashOf(req) !== undefined) throw new ApiError('InvalidRequest', 'sign a multipart upload with x-amz-content-sha256: UNSIGNED-PAYLOAD (or use a token)');
      return upload(deps, req, res, url, bucket, found);
    }
    ctx.route = 'object';
    const key = decodeSegment(rawKey, 'InvalidKey');
    switch (method) {
      case 'GET':
      case 'HEAD':
        return getObject(deps, req, res, url, bucket, key, found);
      case 'PUT':
        return putObject(deps, req, res, url, bucket, key, found);
      case 'DELETE':
        return deleteObject(deps, req, res, url, bucket, key, found);
      default:
        throw methodNotAllowed('GET, HEAD, PUT, DELETE');
    }
  };
}
