// Multipart upload: Create, UploadPart (and UploadPartCopy), Complete,
// Abort, ListParts, ListMultipartUploads. An upload is a record in the
// system bucket `__s3uploads` (key "<bucket>/<uploadId>"); each part is a
// record in `__s3parts` (key "<uploadId>/<part number, 5 digits>") holding
// the refs of the chunks its body was streamed into as it arrived. Complete
// concatenates the parts' chunk lists into the object's manifest: no data
// is read or copied.

import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { lwwWinner, type SiblingSet } from '../version/dvv.js';
import { BodyReader } from './body.js';
import { checksumOf, isChecksumAlgorithm, type ChecksumAlgorithm } from './checksum.js';
import { readRange, storeStream, type ChunkRef } from './chunks.js';
import { checkWriteConditions, hasWriteConditions, parseRange } from './conditions.js';
import { bucketQuorum, intParam, requireBucket, requireKey, type Ctx } from './context.js';
import { S3Error } from './errors.js';
import { header, isoDate, sendEmpty, sendXml } from './http-util.js';
import { encodeObject, loadObject, type ObjectInfo } from './object-model.js';
import { loadCopySource, metadataFromRequest, rejectUnsupportedHeaders } from './objects.js';
import { parseXml, xmlString } from './xml.js';

export const UPLOADS_BUCKET = '__s3uploads';
export const PARTS_BUCKET = '__s3parts';
export const MIN_PART_BYTES = 5 * 1024 * 1024;
export const MAX_PART_BYTES = 5 * 1024 ** 3;
const MAX_UPLOADS_LISTED = 10_000;

export interface UploadRecord {
  readonly bucket: string;
  readonly key: string;
  readonly uploadId: string;
  readonly initiatedMs: number;
  readonly owner: string;
  readonly contentType: string;
  readonly headers: Record<string, string>;
  readonly checksumAlgo?: ChecksumAlgorithm;
}

export interface PartRecord {
  readonly etag: string;
  readonly size: number;
  readonly chunks: ChunkRef[];
  readonly mtimeMs: number;
  readonly checksum?: { algo: ChecksumAlgorithm; value: string };
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const pad = (n: number): string => String(n).padStart(5, '0');
const json = <T>(set: SiblingSet): T | undefined => {
  const w = lwwWinner(set);
  return w === undefined || w.value === null ? undefined : (JSON.parse(dec.decode(w.value)) as T);
};

async function putRecord(ctx: Ctx, bucket: string, key: string, value: unknown): Promise<void> {
  await ctx.deps.coordinator.put({ bucket, key, value: enc.encode(JSON.stringify(value)), meta: { contentType: 'application/json' }, context: null, supersedeVisible: true });
}

async function deleteRecord(ctx: Ctx, bucket: string, key: string): Promise<void> {
  await ctx.deps.coordinator.put({ bucket, key, value: null, context: null, supersedeVisible: true });
}

async function requireUpload(ctx: Ctx, bucket: string, key: string): Promise<UploadRecord> {
  const uploadId = ctx.query.get('uploadId') ?? '';
  const read = await ctx.deps.coordinator.get({ bucket: UPLOADS_BUCKET, key: `${bucket}/${uploadId}` });
  const rec = json<UploadRecord>(read.set);
  if (rec === undefined || rec.key !== key || uploadId === '') {
    throw new S3Error('NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.', { UploadId: uploadId });
  }
  return rec;
}

async function listPartRecords(ctx: Ctx, uploadId: string, afterPart = 0, limit = 10_000): Promise<{ parts: (PartRecord & { n: number })[]; truncated: boolean }> {
  const parts: (PartRecord & { n: number })[] = [];
  let after: string | undefined = afterPart > 0 ? `${uploadId}/${pad(afterPart)}` : undefined;
  for (;;) {
    const page = await ctx.deps.coordinator.list({ bucket: PARTS_BUCKET, prefix: `${uploadId}/`, after, limit: Math.min(1000, limit + 1 - parts.length) });
    for (const k of page.keys) {
      const rec = json<PartRecord>(k.set);
      if (rec === undefined) continue;
      parts.push({ ...rec, n: Number(k.key.slice(uploadId.length + 1)) });
      if (parts.length > limit) return { parts: parts.slice(0, limit), truncated: true };
    }
    if (!page.truncated || page.keys.length === 0) return { parts, truncated: false };
    after = page.keys[page.keys.length - 1]!.key;
  }
}

// ----------------------------------------------------------------- create

export async function createMultipartUpload(ctx: Ctx): Promise<void> {
  const bucket = await requireBucket(ctx);
  const key = requireKey(ctx);
  rejectUnsupportedHeaders(ctx.req);
  const meta = metadataFromRequest(ctx.req);
  const algoHeader = header(ctx.req, 'x-amz-checksum-algorithm')?.toLowerCase();
  if (algoHeader !== undefined && !isChecksumAlgorithm(algoHeader)) throw new S3Error('InvalidRequest', `unsupported checksum algorithm ${algoHeader}`);
  const uploadId = randomBytes(16).toString('hex');
  const rec: UploadRecord = {
    bucket: bucket.name,
    key,
    uploadId,
    initiatedMs: ctx.deps.clock.now(),
    owner: ctx.auth.owner,
    contentType: meta.contentType,
    headers: meta.headers,
    ...(algoHeader !== undefined ? { checksumAlgo: algoHeader } : {}),
  };
  await putRecord(ctx, UPLOADS_BUCKET, `${bucket.name}/${uploadId}`, rec);
  const headers: Record<string, string> = {};
  if (algoHeader !== undefined) headers['x-amz-checksum-algorithm'] = algoHeader.toUpperCase();
  sendXml(ctx.res, 200, 'InitiateMultipartUploadResult', { Bucket: bucket.name, Key: key, UploadId: uploadId }, headers);
}

// ------------------------------------------------------------------- parts

function partNumber(ctx: Ctx): number {
  const v = ctx.query.get('partNumber') ?? '';
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > 10000) throw new S3Error('InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive', { ArgumentName: 'partNumber', ArgumentValue: v });
  return n;
}

export async function uploadPart(ctx: Ctx): Promise<void> {
  const bucket = await requireBucket(ctx);
  const key = requireKey(ctx);
  const n = partNumber(ctx);
  const rec = await requireUpload(ctx, bucket.name, key);
  const body = new BodyReader(ctx.req, ctx.auth, MAX_PART_BYTES);
  // Parts are always chunked, even small ones: Complete only concatenates chunk lists.
  const stored = await storeStream(ctx.chunks, body.pieces(), -1);
  const { md5Hex, checksum } = body.verify();
  const part: PartRecord = { etag: md5Hex, size: stored.size, chunks: stored.chunks, mtimeMs: ctx.deps.clock.now(), ...(checksum !== undefined ? { checksum } : {}) };
  await putRecord(ctx, PARTS_BUCKET, `${rec.uploadId}/${pad(n)}`, part);
  const headers: Record<string, string> = { etag: `"${md5Hex}"` };
  if (checksum !== undefined) headers[`x-amz-checksum-${checksum.algo}`] = checksum.value;
  sendEmpty(ctx.res, 200, headers);
}

export async function uploadPartCopy(ctx: Ctx): Promise<void> {
  const bucket = await requireBucket(ctx);
  const key = requireKey(ctx);
  const n = partNumber(ctx);
  const rec = await requireUpload(ctx, bucket.name, key);
  const src = await loadCopySource(ctx);
  const size = src.object.info.size;
  const rangeHeader = header(ctx.req, 'x-amz-copy-source-range');
  let range = { start: 0, end: size };
  if (rangeHeader !== undefined) {
    const r = parseRange(rangeHeader, size);
    if (r === undefined || !/^bytes=\d+-\d+$/.test(rangeHeader.trim())) throw new S3Error('InvalidArgument', 'The x-amz-copy-source-range value must be of the form bytes=first-last', { ArgumentName: 'x-amz-copy-source-range', ArgumentValue: rangeHeader });
    range = r;
  }
  const md5 = createHash('md5');
  const inline = src.object.inline;
  const source: AsyncIterable<Buffer> =
    inline !== undefined ? Readable.from([Buffer.from(inline.buffer, inline.byteOffset + range.start, range.end - range.start)], { objectMode: true }) : readRange(ctx.chunks, src.object.chunks, range.start, range.end);
  async function* hashed(): AsyncGenerator<Buffer> {
    for await (const b of source) {
      md5.update(b);
      yield b;
    }
  }
  const stored = await storeStream(ctx.chunks, hashed(), -1);
  const etag = md5.digest('hex');
  const mtimeMs = ctx.deps.clock.now();
  await putRecord(ctx, PARTS_BUCKET, `${rec.uploadId}/${pad(n)}`, { etag, size: stored.size, chunks: stored.chunks, mtimeMs } satisfies PartRecord);
  sendXml(ctx.res, 200, 'CopyPartResult', { ETag: `"${etag}"`, LastModified: isoDate(mtimeMs) });
}

// ---------------------------------------------------------------- complete

export async function completeMultipartUpload(ctx: Ctx): Promise<void> {
  const bucket = await requireBucket(ctx);
  const key = requireKey(ctx);
  const rec = await requireUpload(ctx, bucket.name, key);
  const text = (await new BodyReader(ctx.req, ctx.auth, 4 << 20).readAll(4 << 20)).toString('utf8');
  const doc = parseXml(text, 'CompleteMultipartUpload');
  const given = ((doc['Part'] as unknown[] | undefined) ?? []).map((p) => {
    const r = (typeof p === 'object' && p !== null ? p : {}) as Record<string, unknown>;
    const n = Number(xmlString(r['PartNumber']));
    const etag = xmlString(r['ETag'])?.trim().replace(/^"(.*)"$/, '$1');
    if (!Number.isInteger(n) || etag === undefined) throw new S3Error('MalformedXML', 'every <Part> needs a <PartNumber> and an <ETag>');
    return { n, etag };
  });
  if (given.length === 0) throw new S3Error('MalformedXML', 'You must specify at least one part');
  for (let i = 1; i < given.length; i++) {
    if (given[i]!.n <= given[i - 1]!.n) throw new S3Error('InvalidPartOrder', 'The list of parts was not in ascending order. Parts must be ordered by part number.', { UploadId: rec.uploadId });
  }
  const stored = new Map((await listPartRecords(ctx, rec.uploadId)).parts.map((p) => [p.n, p]));
  const parts: PartRecord[] = [];
  for (const [i, g] of given.entries()) {
    const p = stored.get(g.n);
    if (p === undefined || p.etag !== g.etag) {
      throw new S3Error('InvalidPart', 'One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not have matched the part\'s entity tag.', { UploadId: rec.uploadId, PartNumber: g.n, ETag: g.etag });
    }
    if (i < given.length - 1 && p.size < MIN_PART_BYTES) {
      throw new S3Error('EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed object size.', { UploadId: rec.uploadId, PartNumber: g.n, ProposedSize: p.size, MinSizeAllowed: MIN_PART_BYTES });
    }
    parts.push(p);
  }
  if (hasWriteConditions(ctx.req)) {
    const cur = await loadObject(ctx.deps.coordinator, bucket.name, key, undefined, bucketQuorum(bucket));
    checkWriteConditions(ctx.req, cur.object?.info);
  }
  const md5 = createHash('md5');
  for (const p of parts) md5.update(Buffer.from(p.etag, 'hex'));
  const etag = `${md5.digest('hex')}-${parts.length}`;
  // Composite checksum (checksum of the parts' checksums), when every part has one of the same algorithm.
  let checksum: ObjectInfo['checksum'];
  const algo = parts[0]!.checksum?.algo;
  if (algo !== undefined && parts.every((p) => p.checksum?.algo === algo)) {
    const joined = Buffer.concat(parts.map((p) => Buffer.from(p.checksum!.value, 'base64')));
    checksum = { algo, value: `${checksumOf(algo, joined)}-${parts.length}`, type: 'COMPOSITE' };
  }
  const info: Omit<ObjectInfo, 'mtimeMs'> = {
    etag,
    size: parts.reduce((a, p) => a + p.size, 0),
    contentType: rec.contentType,
    headers: rec.headers,
    parts: parts.map((p) => p.size),
    ...(checksum !== undefined ? { checksum } : {}),
  };
  const q = bucketQuorum(bucket);
  const e = encodeObject(info, { chunks: parts.flatMap((p) => p.chunks) });
  await ctx.deps.coordinator.put({ bucket: bucket.name, key, value: e.value, meta: e.meta, context: null, supersedeVisible: true, n: q.n, w: q.w });
  await ctx.deps.files?.written({ owner: ctx.auth.owner, bucket: bucket.name, key, size: info.size, contentType: info.contentType, etag, w: q.w });
  // The object now references the chunks: only then forget the upload (the collector marks parts of live uploads).
  await deleteRecord(ctx, UPLOADS_BUCKET, `${bucket.name}/${rec.uploadId}`);
  void Promise.all([...stored.keys()].map((n) => deleteRecord(ctx, PARTS_BUCKET, `${rec.uploadId}/${pad(n)}`))).catch(() => undefined);
  const body: Record<string, unknown> = { Location: `/${bucket.name}/${key}`, Bucket: bucket.name, Key: key, ETag: `"${etag}"` };
  if (checksum !== undefined) {
    body[`Checksum${checksum.algo.toUpperCase()}`] = checksum.value;
    body['ChecksumType'] = 'COMPOSITE';
  }
  sendXml(ctx.res, 200, 'CompleteMultipartUploadResult', body);
}

export async function abortMultipartUpload(ctx: Ctx): Promise<void> {
  const bucket = await requireBucket(ctx);
  const key = requireKey(ctx);
  const rec = await requireUpload(ctx, bucket.name, key);
  const { parts } = await listPartRecords(ctx, rec.uploadId);
  await deleteRecord(ctx, UPLOADS_BUCKET, `${bucket.name}/${rec.uploadId}`);
  await Promise.all(parts.map((p) => deleteRecord(ctx, PARTS_BUCKET, `${rec.uploadId}/${pad(p.n)}`)));
  sendEmpty(ctx.res, 204);
}

// ----------------------------------------------------------------- listing

export async function listParts(ctx: Ctx): Promise<void> {
  const bucket = await requireBucket(ctx);
  const key = requireKey(ctx);
  const rec = await requireUpload(ctx, bucket.name, key);
  const marker = intParam(ctx, 'part-number-marker', 0, 0, 10000);
  const max = intParam(ctx, 'max-parts', 1000, 0, 1000);
  const { parts, truncated } = await listPartRecords(ctx, rec.uploadId, marker, max);
  const body: Record<string, unknown> = {
    Bucket: bucket.name,
    Key: key,
    UploadId: rec.uploadId,
    PartNumberMarker: marker,
    ...(truncated && parts.length > 0 ? { NextPartNumberMarker: parts[parts.length - 1]!.n } : {}),
    MaxParts: max,
    IsTruncated: truncated,
    Initiator: { ID: rec.owner, DisplayName: rec.owner },
    Owner: { ID: rec.owner, DisplayName: rec.owner },
    StorageClass: 'STANDARD',
  };
  if (rec.checksumAlgo !== undefined) body['ChecksumAlgorithm'] = rec.checksumAlgo.toUpperCase();
  if (parts.length > 0) {
    body['Part'] = parts.map((p) => ({
      PartNumber: p.n,
      LastModified: isoDate(p.mtimeMs),
      ETag: `"${p.etag}"`,
      Size: p.size,
      ...(p.checksum !== undefined ? { [`Checksum${p.checksum.algo.toUpperCase()}`]: p.checksum.value } : {}),
    }));
  }
  sendXml(ctx.res, 200, 'ListPartsResult', body);
}

export async function listMultipartUploads(ctx: Ctx): Promise<void> {
  const bucket = await requireBucket(ctx);
  const prefix = ctx.query.get('prefix') ?? '';
  const delimiter = ctx.query.get('delimiter') ?? '';
  const keyMarker = ctx.query.get('key-marker') ?? '';
  const idMarker = ctx.query.get('upload-id-marker') ?? '';
  const max = intParam(ctx, 'max-uploads', 1000, 0, 1000);
  const all: UploadRecord[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await ctx.deps.coordinator.list({ bucket: UPLOADS_BUCKET, prefix: `${bucket.name}/`, after, limit: 1000 });
    for (const k of page.keys) {
      const r = json<UploadRecord>(k.set);
      if (r !== undefined && r.key.startsWith(prefix)) all.push(r);
    }
    if (!page.truncated || page.keys.length === 0 || all.length >= MAX_UPLOADS_LISTED) break;
    after = page.keys[page.keys.length - 1]!.key;
  }
  all.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.initiatedMs - b.initiatedMs || (a.uploadId < b.uploadId ? -1 : 1)));
  const after2 = all.filter((u) => u.key > keyMarker || (u.key === keyMarker && idMarker !== '' && u.uploadId > idMarker) || keyMarker === '');
  const uploads: UploadRecord[] = [];
  const prefixes: string[] = [];
  let truncated = false;
  for (const u of after2) {
    if (uploads.length + prefixes.length >= max) {
      truncated = true;
      break;
    }
    if (delimiter !== '') {
      const i = u.key.indexOf(delimiter, prefix.length);
      if (i >= 0) {
        const cp = u.key.slice(0, i + delimiter.length);
        if (!prefixes.includes(cp)) prefixes.push(cp);
        continue;
      }
    }
    uploads.push(u);
  }
  const last = uploads[uploads.length - 1];
  const body: Record<string, unknown> = { Bucket: bucket.name, KeyMarker: keyMarker, UploadIdMarker: idMarker };
  if (truncated && last !== undefined) {
    body['NextKeyMarker'] = last.key;
    body['NextUploadIdMarker'] = last.uploadId;
  }
  body['MaxUploads'] = max;
  body['IsTruncated'] = truncated;
  if (prefix !== '') body['Prefix'] = prefix;
  if (delimiter !== '') body['Delimiter'] = delimiter;
  if (uploads.length > 0) {
    body['Upload'] = uploads.map((u) => ({
      Key: u.key,
      UploadId: u.uploadId,
      Initiator: { ID: u.owner, DisplayName: u.owner },
      Owner: { ID: u.owner, DisplayName: u.owner },
      StorageClass: 'STANDARD',
      Initiated: isoDate(u.initiatedMs),
      ...(u.checksumAlgo !== undefined ? { ChecksumAlgorithm: u.checksumAlgo.toUpperCase() } : {}),
    }));
  }
  if (prefixes.length > 0) body['CommonPrefixes'] = prefixes.map((p) => ({ Prefix: p }));
  sendXml(ctx.res, 200, 'ListMultipartUploadsResult', body);
}
