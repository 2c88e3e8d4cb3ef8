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
// This file routes; native-params.ts validates, native-answers.ts shapes
// the answers, native-buckets.ts, native-objects.ts and native-upload.ts
// handle the routes. All protocol decisions are the coordinator's.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { methodNotAllowed, type ParsedUrl, type RequestCtx, type RouteHandler } from './http.js';
import { bucketInfo, createBucket, deleteBucket, listBuckets } from './native-buckets.js';
import type { NativeApiDeps } from './native-deps.js';
import { ephemeralContextMac } from './context-mac.js';
import { deleteObject, getObject, putObject } from './native-objects.js';
import { decodeSegment, validateBucketName } from './native-params.js';
import { upload } from './native-upload.js';

export function createNativeApi(given: NativeApiDeps): RouteHandler {
  const deps = { ...given, contextMac: given.contextMac ?? ephemeralContextMac() };
  return async (req: IncomingMessage, res: ServerResponse, url: ParsedUrl, ctx: RequestCtx): Promise<void> => {
    const method = req.method ?? 'GET';
    const path = url.path;
    if (path === '/buckets' || path === '/buckets/') {
      ctx.route = 'buckets';
      if (method === 'GET' || method === 'HEAD') return listBuckets(deps, req, res);
      throw methodNotAllowed('GET, HEAD');
    }
    const rest = path.slice('/buckets/'.length);
    const slash = rest.indexOf('/');
    const bucket = decodeSegment(slash < 0 ? rest : rest.slice(0, slash), 'InvalidBucketName');
    if (slash < 0) {
      ctx.route = 'bucket';
      validateBucketName(bucket);
      switch (method) {
        case 'GET':
        case 'HEAD':
          return bucketInfo(deps, req, res, url, bucket);
        case 'POST':
        case 'PUT':
          return createBucket(deps, req, res, url, bucket);
        case 'DELETE':
          return deleteBucket(deps, res, bucket);
        default:
          throw methodNotAllowed('GET, HEAD, POST, PUT, DELETE');
      }
    }
    validateBucketName(bucket);
    const rawKey = rest.slice(slash + 1);
    if (method === 'POST') {
      if (rawKey !== 'files') throw methodNotAllowed('GET, HEAD, PUT, DELETE (POST only to /buckets/{bucket}/files)');
      ctx.route = 'upload';
      return upload(deps, req, res, url, bucket);
    }
    ctx.route = 'object';
    const key = decodeSegment(rawKey, 'InvalidKey');
    switch (method) {
      case 'GET':
      case 'HEAD':
        return getObject(deps, req, res, url, bucket, key);
      case 'PUT':
        return putObject(deps, req, res, url, bucket, key);
      case 'DELETE':
        return deleteObject(deps, req, res, url, bucket, key);
      default:
        throw methodNotAllowed('GET, HEAD, PUT, DELETE');
    }
  };
}
