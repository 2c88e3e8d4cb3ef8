// The S3 endpoint of a node: one node:http server that authenticates every
// request (SigV4), resolves path-style or virtual-hosted-style addressing,
// routes to the handler of the operation, and turns every failure into the
// S3 XML error body with its code and status, never a crash. Operations it
// does not implement answer NotImplemented (501).
//
// Wiring: createS3Server({ coordinator, catalog, clock, credentials }) and
// listen on the node's S3 port.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { TlsFiles } from '../api/http.js';
import { ChunkStore } from './chunks.js';
import { ObjectCache } from './cache.js';
import { type Ctx, type S3ServerDeps } from './context.js';
import { notImplemented, S3Error, toS3Error } from './errors.js';
import { header, requestId, sendS3Error } from './http-util.js';
import { authenticate, parseQuery, safeDecode } from './sigv4.js';
import * as buckets from './buckets.js';
import * as objects from './objects.js';
import * as list from './list.js';
import * as mpu from './multipart.js';
import * as acl from './acl-ops.js';

export type { S3ServerDeps } from './context.js';

/** Subresources S3 has and ringstore does not: asking for them answers NotImplemented. */
const UNSUPPORTED_SUBRESOURCES = [
  'accelerate', 'analytics', 'attributes', 'cors', 'encryption', 'intelligent-tiering', 'inventory', 'legal-hold', 'lifecycle',
  'logging', 'metadataConfiguration', 'metrics', 'notification', 'object-lock', 'ownershipControls', 'policy', 'policyStatus',
  'publicAccessBlock', 'replication', 'requestPayment', 'restore', 'retention', 'select', 'tagging', 'torrent', 'website', 'renameObject',
];

export interface Route {
  readonly bucket: string | undefined;
  readonly key: string | undefined;
}

/** Path-style (/bucket/key) or virtual-hosted-style (bucket.<domain>/key) addressing. */
export function resolveRoute(host: string | undefined, rawPath: string, domains: readonly string[]): Route {
  const hostname = (host ?? '').replace(/:\d+$/, '').toLowerCase();
  for (const d of domains) {
    if (hostname.endsWith('.' + d)) {
      const bucket = hostname.slice(0, -(d.length + 1));
      const key = safeDecode(rawPath.replace(/^\//, ''));
      return { bucket, key: key === '' ? undefined : key };
    }
  }
  const path = rawPath.replace(/^\//, '');
  if (path === '') return { bucket: undefined, key: undefined };
  const slash = path.indexOf('/');
  if (slash < 0) return { bucket: safeDecode(path), key: undefined };
  const key = safeDecode(path.slice(slash + 1));
  return { bucket: safeDecode(path.slice(0, slash)), key: key === '' ? undefined : key };
}

/**
 * What an unsigned request may ask for: reads an ACL can open to everyone
 * (an object's GET and HEAD, a bucket's listings and HEAD). Everything else
 * needs a key, whatever the ACLs say.
 */
function anonymousMayAsk(ctx: Ctx, method: string): boolean {
  const q = ctx.query;
  if (ctx.bucket === undefined || (method !== 'GET' && method !== 'HEAD')) return false;
  if (q.has('acl') || q.has('uploadId') || q.has('uploads') || q.has('location') || q.has('versioning')) return false;
  return UNSUPPORTED_SUBRESOURCES.every((s) => !q.has(s));
}

async function dispatch(ctx: Ctx): Promise<void> {
  const method = ctx.req.method ?? 'GET';
  const q = ctx.query;
  if (ctx.auth.anonymous === true && !anonymousMayAsk(ctx, method)) {
    // A missing bucket is told as such (S3 does), a present one is not opened; creating one needs a key.
    const creating = ctx.key === undefined && method === 'PUT';
    if (ctx.bucket !== undefined && !creating && (await ctx.deps.catalog.get(ctx.bucket)) === undefined) throw new S3Error('NoSuchBucket', 'The specified bucket does not exist', { BucketName: ctx.bucket });
    throw new S3Error('AccessDenied', 'Access Denied: this request needs a signature');
  }
  // Expect: 100-continue is answered only now, so a refused upload is refused before its body is sent.
  if (ctx.req.headers.expect?.toLowerCase() === '100-continue') ctx.res.writeContinue();
  const sub = UNSUPPORTED_SUBRESOURCES.find((s) => q.has(s));
  if (ctx.bucket === undefined) {
    if (method === 'GET') return buckets.listBuckets(ctx);
    throw new S3Error('MethodNotAllowed', 'The specified method is not allowed against this resource.', { Method: method, ResourceType: 'SERVICE' });
  }
  if (ctx.key === undefined) {
    if (sub !== undefined) throw notImplemented(`bucket subresource ?${sub}`);
    if (q.has('acl')) {
      if (method === 'GET') return acl.getBucketAcl(ctx);
      if (method === 'PUT') return acl.putBucketAcl(ctx);
    }
    switch (method) {
      case 'GET':
        if (q.has('location')) return buckets.getBucketLocation(ctx);
        if (q.has('versioning')) return buckets.getBucketVersioning(ctx);
        if (q.has('uploads')) return mpu.listMultipartUploads(ctx);
        if (q.has('versions')) return list.listObjectVersions(ctx);
        if (q.get('list-type') === '2') return list.listObjects(ctx, true);
        if (q.has('list-type') && q.get('list-type') !== '1') throw new S3Error('InvalidArgument', 'list-type must be 1 or 2', { ArgumentName: 'list-type' });
        return list.listObjects(ctx, false);
      case 'HEAD':
        return buckets.headBucket(ctx);
      case 'PUT':
        if (q.has('versioning')) throw notImplemented('PutBucketVersioning');
        return buckets.createBucket(ctx);
      case 'DELETE':
        return buckets.deleteBucket(ctx);
      case 'POST':
        if (q.has('delete')) return objects.deleteObjects(ctx);
        throw notImplemented('this POST on a bucket');
    }
    throw new S3Error('MethodNotAllowed', 'The specified method is not allowed against this resource.', { Method: method, ResourceType: 'BUCKET' });
  }
  if (sub !== undefined) throw notImplemented(`object subresource ?${sub}`);
  if (q.has('acl')) {
    if (method === 'GET') return acl.getObjectAcl(ctx);
    if (method === 'PUT') return acl.putObjectAcl(ctx);
  }
  switch (method) {
    case 'GET':
      if (q.has('uploadId')) return mpu.listParts(ctx);
      return objects.getObject(ctx, false);
    case 'HEAD':
      return objects.getObject(ctx, true);
    case 'PUT':
      if (q.has('uploadId') || q.has('partNumber')) {
        return header(ctx.req, 'x-amz-copy-source') !== undefined ? mpu.uploadPartCopy(ctx) : mpu.uploadPart(ctx);
      }
      if (header(ctx.req, 'x-amz-copy-source') !== undefined) return objects.copyObject(ctx);
      return objects.putObject(ctx);
    case 'DELETE':
      if (q.has('uploadId')) return mpu.abortMultipartUpload(ctx);
      return objects.deleteObject(ctx);
    case 'POST':
      if (q.has('uploads')) return mpu.createMultipartUpload(ctx);
      if (q.has('uploadId')) return mpu.completeMultipartUpload(ctx);
      throw notImplemented('this POST on an object (browser POST uploads, SelectObjectContent, RestoreObject)');
  }
  throw new S3Error('MethodNotAllowed', 'The specified method is not allowed against this resource.', { Method: method, ResourceType: 'OBJECT' });
}

export interface S3Handler {
  (req: IncomingMessage, res: ServerResponse): void;
  readonly chunks: ChunkStore;
  readonly objects: ObjectCache | undefined;
}

/** The request handler alone, to mount in another server. */
export function createS3Handler(deps: S3ServerDeps): S3Handler {
  const chunks = new ChunkStore(deps.coordinator, deps.replicaReader, deps.chunkCacheBytes ?? 64 * 1024 * 1024);
  const objectCacheBytes = deps.objectCacheBytes ?? 16 * 1024 * 1024;
  const objects = objectCacheBytes > 0 ? new ObjectCache(objectCacheBytes) : undefined;
  const domains = deps.virtualHostDomains ?? ['localhost'];
  const handle = async (req: IncomingMessage, res: ServerResponse, reqId: string): Promise<void> => {
    const raw = req.url ?? '/';
    const qi = raw.indexOf('?');
    const rawPath = qi < 0 ? raw : raw.slice(0, qi);
    const rawQuery = qi < 0 ? '' : raw.slice(qi + 1);
    if (!rawPath.startsWith('/')) throw new S3Error('InvalidRequest', 'the request target must be an absolute path');
    const route = resolveRoute(header(req, 'host'), rawPath, domains);
    if (req.method === 'OPTIONS') {
      // A CORS preflight (unsigned by design): ringstore has no CORS configuration to grant it.
      if (header(req, 'origin') === undefined) throw new S3Error('BadRequest', 'Insufficient information. Origin request header needed.');
      throw new S3Error('AccessForbidden', 'CORSResponse: CORS is not enabled for this bucket.');
    }
    const query = new Map(parseQuery(rawQuery));
    const auth = await authenticate(req, { rawPath, rawQuery }, deps.credentials, deps.clock.now());
    await dispatch({ deps, chunks, objects, req, res, reqId, bucket: route.bucket, key: route.key, query, auth });
  };
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const reqId = requestId();
    res.setHeader('x-amz-request-id', reqId);
    res.setHeader('server', 'ringstore');
    handle(req, res, reqId).catch((err: unknown) => {
      // limits: the client went away mid-request (a truncated upload): nothing to answer, nothing to log as ours.
      if (req.destroyed && (err as { code?: unknown } | null)?.code === 'ECONNRESET') {
        res.destroy();
        return;
      }
      const { error, internal } = toS3Error(err);
      if (internal) deps.logger?.error({ err, method: req.method, url: req.url }, 's3 request failed');
      sendS3Error(req, res, error, req.url ?? '/', reqId);
    });
  };
  return Object.assign(handler, { chunks, objects });
}

/** The S3 server; HTTPS when given a certificate and key. */
export function createS3Server(deps: S3ServerDeps, tls?: TlsFiles): Server & { readonly chunks: ChunkStore; readonly objects: ObjectCache | undefined } {
  const handler = createS3Handler(deps);
  const base: Server = tls !== undefined ? (createHttpsServer({ cert: tls.cert, key: tls.key }, handler) as unknown as Server) : createServer(handler);
  const server = Object.assign(base, { chunks: handler.chunks, objects: handler.objects });
  // Expect: 100-continue is answered by dispatch once the request is authorised (not by node at once);
  // other expectations are ignored rather than refused with 417, as S3 does.
  server.on('checkContinue', handler);
  server.on('checkExpectation', handler);
  // Uploads are streamed; a slow client must not be cut off by the default request timeout.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 65_000;
  return server;
}
