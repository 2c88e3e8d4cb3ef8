// Object operations: PutObject, GetObject, HeadObject, DeleteObject,
// DeleteObjects (multi-object delete), CopyObject. Bodies stream through
// the chunk store (chunks.ts); only small objects are held whole.

import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { dotKey, lwwWinner, siblingClock } from '../version/dvv.js';
import { loadObjectCached } from './cache.js';
import { BodyReader } from './body.js';
import { INLINE_MAX, readRange, storeStream, type StoredBody } from './chunks.js';
import { checkReadConditions, checkWriteConditions, hasWriteConditions, parseRange } from './conditions.js';
import { bucketQuorum, checkKey, denyUnlessBucketReadable, requireBucket, requireKey, requireReadableBucket, type Ctx } from './context.js';
import { aclAllowsRead, requestAcl } from './acl.js';
import { S3Error } from './errors.js';
import { header, httpDate, isoDate, sendEmpty, sendXml } from './http-util.js';
import { encodeObject, H_VERSION_REMOVAL, loadObject, s3Winner, STORED_HEADERS, versionIdOf, type ObjectInfo, type StoredObject } from './object-model.js';
import { safeDecode } from './sigv4.js';
import { writeAfterRead } from '../coordinator/read-first.js';
import { storageBucket, type BucketInfo } from '../coordinator/buckets-types.js';
import { parseXml, xmlString } from './xml.js';

const MAX_USER_METADATA_BYTES = 2048;

/** Refuses request headers asking for features ringstore does not have, rather than ignoring them. */
export function rejectUnsupportedHeaders(req: IncomingMessage): void {
  for (const name of Object.keys(req.headers)) {
    if (name.startsWith('x-amz-server-side-encryption') || name.startsWith('x-amz-object-lock-') || name === 'x-amz-tagging' || name === 'x-amz-website-redirect-location') {
      throw new S3Error('NotImplemented', `${name} is not supported by ringstore`, { Header: name });
    }
  }
  // Canned ACLs are checked here too, so a refused one fails before the body is read.
  requestAcl(req);
  const sc = header(req, 'x-amz-storage-class');
  if (sc !== undefined && sc !== 'STANDARD') throw new S3Error('NotImplemented', `storage class ${sc} is not supported (only STANDARD)`);
}

/** Content type, x-amz-meta-* and the stored standard headers of a write request. */
export function metadataFromRequest(req: IncomingMessage): { contentType: string; headers: Record<string, string> } {
  const headers: Record<string, string> = {};
  let userBytes = 0;
  for (const [name, raw] of Object.entries(req.headers)) {
    if (raw === undefined) continue;
    const value = Array.isArray(raw) ? raw.join(',') : raw;
    if (name.startsWith('x-amz-meta-')) {
      headers[name] = value;
      userBytes += name.length - 'x-amz-meta-'.length + Buffer.byteLength(value);
    } else if ((STORED_HEADERS as readonly string[]).includes(name)) {
      if (name === 'content-encoding') {
        // aws-chunked is the transfer framing, not the object's encoding.
        const rest = value.split(',').map((s) => s.trim()).filter((s) => s !== '' && s !== 'aws-chunked');
        if (rest.length > 0) headers[name] = rest.join(', ');
      } else headers[name] = value;
    }
  }
  if (userBytes > MAX_USER_METADATA_BYTES) throw new S3Error('MetadataTooLarge', `Your metadata headers exceed the maximum allowed metadata size (${MAX_USER_METADATA_BYTES} bytes)`);
  return { contentType: header(req, 'content-type') ?? 'binary/octet-stream', headers };
}

export function objectHeaders(info: ObjectInfo, s: StoredObject['sibling'] | undefined): Record<string, string> {
  const out: Record<string, string> = {
    etag: `"${info.etag}"`,
    'last-modified': httpDate(info.mtimeMs),
    'content-type': info.contentType,
    'accept-ranges': 'bytes',
    ...info.headers,
  };
  if (s !== undefined) out['x-amz-version-id'] = versionIdOf(s);
  return out;
}

// ------------------------------------------------------------------ PUT

export async function putObject(ctx: Ctx): Promise<void> {
  const bucket = await requireBucket(ctx);
  const key = requireKey(ctx);
  rejectUnsupportedHeaders(ctx.req);
  const meta = metadataFromRequest(ctx.req);
  const acl = requestAcl(ctx.req);
  const q = bucketQuorum(bucket);
  const body = new BodyReader(ctx.req, ctx.auth);
  // A small plain body (most PUTs) is read in one piece; anything else streams into chunks.
  let stored: StoredBody;
  if (body.fitsInline(INLINE_MAX)) stored = { inline: await body.readInline(), chunks: [], size: body.size };
  else {
    // A large body's MD5 (and signed SHA-256) are computed on a worker, chunk by chunk (hash-worker.ts).
    const hasher = body.offloadHashes();
    stored = await storeStream(ctx.chunks, body.pieces(), INLINE_MAX, undefined, () => body.bodySha256(), hasher !== undefined ? { hasher, expectedBytes: body.declaredLength } : undefined);
  }
  const { md5Hex, checksum } = body.verify(stored.digests);
  if (hasWriteConditions(ctx.req)) {
    const cur = await loadObject(ctx.deps.coordinator, storageBucket(bucket), key, undefined, q);
    checkWriteConditions(ctx.req, cur.object?.info);
  }
  const info: Omit<ObjectInfo, 'mtimeMs'> = {
    etag: md5Hex,
    size: stored.size,
    contentType: meta.contentType,
    headers: meta.headers,
    ...(checksum !== undefined ? { checksum: { ...checksum, type: 'FULL_OBJECT' as const } } : {}),
    ...(acl !== undefined ? { acl } : {}),
  };
  const enc = encodeObject(info, stored.inline !== undefined ? { inline: stored.inline } : { chunks: stored.chunks });
  const result = await writeAfterRead(ctx.deps.coordinator, { bucket: storageBucket(bucket), key, value: enc.value, meta: enc.meta, supersede: 'everything', n: q.n, r: q.r, w: q.w });
  await ctx.deps.files?.written({ owner: ctx.auth.owner, bucket: bucket.name, bucketId: bucket.id, key, size: stored.size, contentType: meta.contentType, etag: md5Hex, w: q.w });
  const headers: Record<string, string> = { etag: `"${md5Hex}"` };
  if (checksum !== undefined) headers[`x-amz-checksum-${checksum.algo}`] = checksum.value;
  const mine = lwwWinner(result.set);
  if (mine !== undefined) headers['x-amz-version-id'] = versionIdOf(mine);
  // Read-after-write from the cache: the version just written, under its dot.
  if (mine !== undefined && mine.value !== null) ctx.objects?.set(storageBucket(bucket), key, dotKey(mine.dot), mine.value);
  sendEmpty(ctx.res, 200, headers);
}

// ------------------------------------------------------------- GET/HEAD

const RESPONSE_OVERRIDES: Readonly<Record<string, string>> = {
  'response-content-type': 'content-type',
  'response-content-language': 'content-language',
  'response-expires': 'expires',
  'response-cache-control': 'cache-control',
  'response-content-disposition': 'content-disposition',
  'response-content-encoding': 'content-encoding',
};

export async function getObject(ctx: Ctx, head: boolean): Promise<void> {
  const readable = await requireReadableBucket(ctx);
  const bucket = readable.info;
  const key = requireKey(ctx);
  const versionId = ctx.query.get('versionId');
  const loaded = await loadObjectCached(ctx.objects, ctx.deps.coordinator, storageBucket(bucket), key, versionId, bucketQuorum(bucket));
  const obj = loaded.object;
  if (!readable.owner) {
    // Someone else: the object's own ACL decides, else its bucket's. Whether a key exists is
    // told only to those who may list the bucket.
    if (obj === undefined) denyUnlessBucketReadable(ctx, readable);
    else if (!aclAllowsRead(obj.info.acl ?? readable.acl, ctx.auth)) throw new S3Error('AccessDenied', 'Access Denied');
  }
  if (obj === undefined) {
    if (loaded.deleteMarker !== undefined && versionId !== undefined && versionId !== 'null') {
      throw new S3Error('MethodNotAllowed', 'The specified method is not allowed against this resource.', { Method: ctx.req.method ?? 'GET', ResourceType: 'DeleteMarker' });
    }
    throw new S3Error('NoSuchKey', 'The specified key does not exist.', { Key: key });
  }
  const info = obj.info;
  checkReadConditions(ctx.req, info);

  const headers = objectHeaders(info, versionId !== undefined ? obj.sibling : undefined);
  for (const [param, name] of Object.entries(RESPONSE_OVERRIDES)) {
    const v = ctx.query.get(param);
    if (v !== undefined) headers[name] = v;
  }
  let range: { start: number; end: number } | undefined;
  const partNumber = ctx.query.get('partNumber');
  if (partNumber !== undefined) {
    const n = Number(partNumber);
    const parts = info.parts ?? [info.size];
    if (!Number.isInteger(n) || n < 1 || n > 10000) throw new S3Error('InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive', { ArgumentName: 'partNumber', ArgumentValue: partNumber });
    if (n > parts.length) throw new S3Error('InvalidPartNumber', 'The requested partnumber is not satisfiable', { PartNumberRequested: n, ActualPartCount: parts.length });
    let start = 0;
    for (let i = 0; i < n - 1; i++) start += parts[i]!;
    range = { start, end: start + parts[n - 1]! };
    headers['x-amz-mp-parts-count'] = String(parts.length);
    if (info.parts === undefined) range = undefined;
  } else {
    range = parseRange(header(ctx.req, 'range'), info.size);
  }
  if (range !== undefined) headers['content-range'] = `bytes ${range.start}-${range.end - 1}/${info.size}`;
  const start = range?.start ?? 0;
  const end = range?.end ?? info.size;
  headers['content-length'] = String(end - start);
  const checksumMode = header(ctx.req, 'x-amz-checksum-mode');
  if (checksumMode?.toUpperCase() === 'ENABLED' && info.checksum !== undefined && range === undefined) {
    headers[`x-amz-checksum-${info.checksum.algo}`] = info.checksum.value;
    headers['x-amz-checksum-type'] = info.checksum.type;
  }
  const status = range !== undefined ? 206 : 200;
  if (head) {
    ctx.res.writeHead(status, headers);
    ctx.res.end();
    return;
  }
  if (obj.inline !== undefined) {
    ctx.res.writeHead(status, headers);
    ctx.res.end(Buffer.from(obj.inline.buffer, obj.inline.byteOffset + start, end - start));
    return;
  }
  // Fetch the first chunk before answering, so a missing chunk is a clean 500 rather than a cut stream.
  const gen = readRange(ctx.chunks, obj.chunks, start, end);
  const first = end > start ? await gen.next() : undefined;
  ctx.res.writeHead(status, headers);
  async function* all(): AsyncGenerator<Buffer> {
    if (first !== undefined && first.done !== true) yield first.value;
    yield* gen;
  }
  await pipeline(Readable.from(all(), { objectMode: false }), ctx.res);
}

// --------------------------------------------------------------- DELETE

/**
 * Deletes one key. Without a version id: a tombstone that supersedes
 * everything a quorum read saw. With one: removes that sibling only.
 */
async function deleteOne(ctx: Ctx, bucket: BucketInfo, q: { n?: number; r?: number; w?: number }, key: string, versionId: string | undefined): Promise<{ versionId?: string; deleteMarker?: boolean }> {
  const bucketName = storageBucket(bucket);
  // Only dots, clocks and which siblings are tombstones matter here: no values.
  const read = await ctx.deps.coordinator.get({ bucket: bucketName, key, n: q.n, r: q.r, omitValues: true });
  if (versionId !== undefined && versionId !== 'null') {
    const target = read.set.siblings.find((s) => versionIdOf(s) === versionId);
    if (target === undefined) return { versionId };
    await ctx.deps.coordinator.put({ bucket: bucketName, key, value: null, meta: { headers: { [H_VERSION_REMOVAL]: versionId } }, context: siblingClock(target), n: q.n, w: q.w });
    return { versionId, ...(target.value === null ? { deleteMarker: true } : {}) };
  }
  const winner = s3Winner(read.set);
  if (winner === undefined || winner.value === null) return {};
  await ctx.deps.coordinator.put({ bucket: bucketName, key, value: null, context: read.context, supersedeVisible: true, n: q.n, w: q.w });
  await ctx.deps.files?.deleted({ owner: ctx.auth.owner, bucket: bucket.name, bucketId: bucket.id, key, w: q.w });
  return {};
}

export async function deleteObject(ctx: Ctx): Promise<void> {
  const bucket = await requireBucket(ctx);
  const key = requireKey(ctx);
  const r = await deleteOne(ctx, bucket, bucketQuorum(bucket), key, ctx.query.get('versionId'));
  const headers: Record<string, string> = {};
  if (r.versionId !== undefined) headers['x-amz-version-id'] = r.versionId;
  if (r.deleteMarker === true) headers['x-amz-delete-marker'] = 'true';
  sendEmpty(ctx.res, 204, headers);
}

export async function deleteObjects(ctx: Ctx): Promise<void> {
  const bucket = await requireBucket(ctx);
  const q = bucketQuorum(bucket);
  const text = (await new BodyReader(ctx.req, ctx.auth, 4 << 20).readAll(4 << 20)).toString('utf8');
  const doc = parseXml(text, 'Delete');
  const objects = (doc['Object'] as unknown[] | undefined) ?? [];
  if (objects.length > 1000) throw new S3Error('MalformedXML', 'a Delete request names at most 1000 objects');
  const quiet = xmlString(doc['Quiet'])?.trim().toLowerCase() === 'true';
  const items = objects.map((o) => {
    const rec = (typeof o === 'object' && o !== null ? o : {}) as Record<string, unknown>;
    const key = xmlString(rec['Key']);
    if (key === undefined) throw new S3Error('MalformedXML', 'every <Object> needs a <Key>');
    return { key, versionId: xmlString(rec['VersionId']) };
  });
  const deleted: Record<string, unknown>[] = [];
  const errors: Record<string, unknown>[] = [];
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const it = items[next++]!;
      try {
        checkKey(it.key);
        const r = await deleteOne(ctx, bucket, q, it.key, it.versionId);
        deleted.push({ Key: it.key, ...(it.versionId !== undefined ? { VersionId: it.versionId } : {}), ...(r.deleteMarker ? { DeleteMarker: true } : {}) });
      } catch (err) {
        const e = err instanceof S3Error ? err : new S3Error('InternalError', err instanceof Error ? err.message : String(err));
        errors.push({ Key: it.key, ...(it.versionId !== undefined ? { VersionId: it.versionId } : {}), Code: e.code, Message: e.message });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(16, items.length) }, worker));
  const order = new Map(items.map((it, i) => [it.key, i]));
  const byInput = (a: Record<string, unknown>, b: Record<string, unknown>) => (order.get(a['Key'] as string) ?? 0) - (order.get(b['Key'] as string) ?? 0);
  deleted.sort(byInput);
  errors.sort(byInput);
  const body: Record<string, unknown> = {};
  if (!quiet && deleted.length > 0) body['Deleted'] = deleted;
  if (errors.length > 0) body['Error'] = errors;
  sendXml(ctx.res, 200, 'DeleteResult', body);
}

// ----------------------------------------------------------------- COPY

/** x-amz-copy-source: [/]bucket/key[?versionId=...], percent-encoded. */
export function parseCopySource(v: string): { bucket: string; key: string; versionId: string | undefined } {
  const q = v.indexOf('?');
  const path = safeDecode(q < 0 ? v : v.slice(0, q)).replace(/^\//, '');
  let versionId: string | undefined;
  if (q >= 0) {
    for (const p of v.slice(q + 1).split('&')) {
      const [k, val] = p.split('=');
      if (k === 'versionId') versionId = safeDecode(val ?? '');
    }
  }
  const slash = path.indexOf('/');
  if (slash <= 0 || slash === path.length - 1) throw new S3Error('InvalidArgument', 'Copy Source must mention the source bucket and key: sourcebucket/sourcekey', { ArgumentName: 'x-amz-copy-source', ArgumentValue: v });
  return { bucket: path.slice(0, slash), key: path.slice(slash + 1), versionId };
}

/** The source object of a copy, access-checked, its x-amz-copy-source-if-* conditions applied. */
export async function loadCopySource(ctx: Ctx): Promise<{ bucket: string; key: string; object: StoredObject }> {
  const src = parseCopySource(header(ctx.req, 'x-amz-copy-source')!);
  const info = await requireBucket(ctx, src.bucket);
  const loaded = await loadObjectCached(ctx.objects, ctx.deps.coordinator, storageBucket(info), src.key, src.versionId, bucketQuorum(info));
  if (loaded.object === undefined) throw new S3Error('NoSuchKey', 'The specified key does not exist.', { Key: src.key });
  checkReadConditions(ctx.req, loaded.object.info, 'x-amz-copy-source-');
  return { bucket: info.name, key: src.key, object: loaded.object };
}

export async function copyObject(ctx: Ctx): Promise<void> {
  const bucket = await requireBucket(ctx);
  const key = requireKey(ctx);
  rejectUnsupportedHeaders(ctx.req);
  const directive = header(ctx.req, 'x-amz-metadata-directive') ?? 'COPY';
  if (directive !== 'COPY' && directive !== 'REPLACE') throw new S3Error('InvalidArgument', 'Unknown metadata directive.', { ArgumentName: 'x-amz-metadata-directive', ArgumentValue: directive });
  const src = await loadCopySource(ctx);
  if (src.bucket === bucket.name && src.key === key && directive === 'COPY') {
    throw new S3Error('InvalidRequest', "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.");
  }
  const q = bucketQuorum(bucket);
  if (hasWriteConditions(ctx.req)) {
    const cur = await loadObject(ctx.deps.coordinator, storageBucket(bucket), key, undefined, q);
    checkWriteConditions(ctx.req, cur.object?.info);
  }
  const s = src.object.info;
  const meta = directive === 'REPLACE' ? metadataFromRequest(ctx.req) : { contentType: s.contentType, headers: { ...s.headers } };
  // As in S3, a copy does not take the source's ACL: only the one the request gives.
  const acl = requestAcl(ctx.req);
  const info: Omit<ObjectInfo, 'mtimeMs'> = {
    etag: s.etag,
    size: s.size,
    contentType: meta.contentType,
    headers: meta.headers,
    ...(s.checksum !== undefined ? { checksum: s.checksum } : {}),
    ...(s.parts !== undefined ? { parts: s.parts } : {}),
    ...(acl !== undefined ? { acl } : {}),
  };
  // The copy shares the source's chunks: no data moves (content addressing).
  const enc = encodeObject(info, src.object.inline !== undefined ? { inline: src.object.inline } : { chunks: src.object.chunks });
  const result = await writeAfterRead(ctx.deps.coordinator, { bucket: storageBucket(bucket), key, value: enc.value, meta: enc.meta, supersede: 'everything', n: q.n, r: q.r, w: q.w });
  await ctx.deps.files?.written({ owner: ctx.auth.owner, bucket: bucket.name, bucketId: bucket.id, key, size: s.size, contentType: meta.contentType, etag: s.etag, w: q.w });
  const mine = lwwWinner(result.set);
  sendXml(ctx.res, 200, 'CopyObjectResult', { LastModified: isoDate(mine?.meta.ts ?? ctx.deps.clock.now()), ETag: `"${s.etag}"` }, mine !== undefined ? { 'x-amz-version-id': versionIdOf(mine) } : {});
}
