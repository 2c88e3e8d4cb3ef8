// The native API's object routes:
//
//   PUT    /buckets/{bucket}/{key...}     store the raw body
//   GET    /buckets/{bucket}/{key...}     the value, or JSON with every sibling (HEAD too)
//   DELETE /buckets/{bucket}/{key...}     write a tombstone

import type { IncomingMessage, ServerResponse } from 'node:http';
import { encodeContext } from '../version/context.js';
import { liveSiblings, type Sibling } from '../version/dvv.js';
import { ApiError, errorBody } from './errors.js';
import { readBody, sendJson, type ParsedUrl } from './http.js';
import { readAnswer, seed001Fields, writeAnswer } from './native-answers.js';
import { nativeWrite } from '../coordinator/read-first.js';
import { conflictOf } from './conflict.js';
import { requireBucket } from './native-buckets.js';
import { storageBucket, type BucketInfo } from '../coordinator/buckets-types.js';
import type { NativeApiReady } from './native-deps.js';
import { CONTEXT_HEADER, headerValue, parseContext, parseQuorumParams, parseSloppy, resolveQuorum, validateKey, wantsJson } from './native-params.js';

export async function putObject(deps: NativeApiReady, req: IncomingMessage, res: ServerResponse, url: ParsedUrl, bucket: string, key: string, found: BucketInfo | undefined): Promise<void> {
  validateKey(key);
  const given = parseQuorumParams(url.query);
  const info = requireBucket(bucket, found);
  const context = parseContext(headerValue(req, CONTEXT_HEADER) ?? url.query.get('context') ?? undefined, storageBucket(info), key, deps.contextMac);
  const q = resolveQuorum(info.quorum, given, deps.clusterSize());
  const sloppy = parseSloppy(url.query);
  const value = await readBody(req, deps.maxObjectBytes);
  const contentType = headerValue(req, 'content-type');
  const result = await nativeWrite(deps.coordinator, { bucket: storageBucket(info), key, value, meta: contentType !== undefined ? { contentType } : {}, context, n: q.n, w: q.w, ...sloppy }, given.r !== undefined ? q.r : undefined);
  await deps.files?.written({ owner: info.owner, bucket, bucketId: info.id, key, size: value.length, contentType, w: q.w });
  const answer = writeAnswer(bucket, storageBucket(info), key, result, deps.contextMac);
  sendJson(res, 200, answer, { [CONTEXT_HEADER]: answer['context'] as string, 'x-ringstore-coordinator': result.coordinator });
}

export async function deleteObject(deps: NativeApiReady, req: IncomingMessage, res: ServerResponse, url: ParsedUrl, bucket: string, key: string, found: BucketInfo | undefined): Promise<void> {
  validateKey(key);
  const given = parseQuorumParams(url.query);
  let token = headerValue(req, CONTEXT_HEADER) ?? url.query.get('context') ?? undefined;
  // A DELETE may carry its context as JSON too: { "context": "..." }.
  const raw = await readBody(req, 64 * 1024);
  if (token === undefined && raw.length > 0) {
    try {
      const parsed = JSON.parse(raw.toString('utf8')) as { context?: unknown };
      if (typeof parsed.context === 'string') token = parsed.context;
    } catch {
      throw new ApiError('MalformedRequest', 'a DELETE body must be empty or a JSON object such as {"context": "..."}');
    }
  }
  const info = requireBucket(bucket, found);
  const context = parseContext(token, storageBucket(info), key, deps.contextMac);
  const q = resolveQuorum(info.quorum, given, deps.clusterSize());
  // Without a context, a delete reads at R first and removes everything that
  // read saw (the user asked for the key to go); with one, exactly what that
  // context covers (coordinator/read-first.ts).
  const result = await nativeWrite(deps.coordinator, { bucket: storageBucket(info), key, value: null, meta: {}, context, n: q.n, w: q.w, ...parseSloppy(url.query) }, q.r);
  await deps.files?.deleted({ owner: info.owner, bucket, bucketId: info.id, key, w: q.w });
  const answer: Record<string, unknown> = { ...writeAnswer(bucket, storageBucket(info), key, result, deps.contextMac), deleted: true, ...seed001Fields(result), is_file_deleted: true };
  sendJson(res, 200, answer, { [CONTEXT_HEADER]: answer['context'] as string, 'x-ringstore-coordinator': result.coordinator });
}

export async function getObject(deps: NativeApiReady, req: IncomingMessage, res: ServerResponse, url: ParsedUrl, bucket: string, key: string, found: BucketInfo | undefined): Promise<void> {
  const head = req.method === 'HEAD';
  validateKey(key);
  const given = parseQuorumParams(url.query);
  const info = requireBucket(bucket, found);
  const q = resolveQuorum(info.quorum, given, deps.clusterSize());
  const result = await deps.coordinator.get({ bucket: storageBucket(info), key, n: q.n, r: q.r, ...parseSloppy(url.query) });
  const live = liveSiblings(result.set);
  const conflict = conflictOf(result.set);
  const context = encodeContext(result.context, storageBucket(info), key, deps.contextMac);
  const headers: Record<string, string | number> = {
    'x-ringstore-coordinator': result.coordinator,
    'x-ringstore-siblings': live.length,
  };
  if (live.length === 0) {
    const details: Record<string, unknown> = { bucket, key, coordinator: result.coordinator, replicas_read: result.replicasRead };
    // A deleted key still has a context: a write that carries it supersedes the tombstone.
    if (result.set.siblings.length > 0) {
      details['context'] = context;
      headers[CONTEXT_HEADER] = context;
    }
    const err = new ApiError('NoSuchKey', `key ${JSON.stringify(key)} does not exist in bucket ${JSON.stringify(bucket)}`, details);
    sendJson(res, err.status, errorBody(err), headers, head);
    return;
  }
  headers[CONTEXT_HEADER] = context;
  const json = wantsJson(req, url);
  if (conflict !== null) headers['x-ringstore-conflict'] = conflict;
  if (json || conflict !== null) {
    sendJson(res, json ? 200 : 300, readAnswer(bucket, storageBucket(info), key, result, deps.contextMac), headers, head);
    return;
  }
  const s = live[0] as Sibling;
  const value = s.value as Uint8Array;
  headers['content-type'] = s.meta.contentType ?? 'application/octet-stream';
  headers['content-length'] = value.byteLength;
  headers['etag'] = `"${s.dot.node}-${s.dot.counter}"`;
  headers['last-modified'] = new Date(s.meta.ts).toUTCString();
  headers['x-ringstore-replicas-read'] = result.replicasRead.join(',');
  res.writeHead(200, headers);
  if (head) res.end();
  else res.end(value);
}
