// Multipart upload: Create, UploadPart (and UploadPartCopy), Complete,
// Abort, ListParts, ListMultipartUploads. An upload is a record in the
// system bucket `__s3uploads` (key "<bucket's storage name>/<uploadId>"); each part is a
// record in `__s3parts` (key "<uploadId>/<part number, 5 digits>") holding
// the refs of the chunks its body was streamed into as it arrived. Complete
// concatenates the parts' chunk lists into the object's manifest: no data
// is read or copied.
//
// Retries are safe. Complete and Abort do not delete the upload record: they
// mark it finished (`completed`, with what Complete answered, or `aborted`),
// before they delete the part records. So a repeated Complete with the same
// parts answers the same result, and a repeated Abort succeeds, while the
// record lasts (the chunk collector drops finished records after its grace
// period). An UploadPart that raced a Complete or Abort looks at the record
// again after writing its part record and deletes that record itself when
// the upload is finished: either the finisher listed the part, or the part
// sees the finish. What deletes still fail, the collector removes (part
// records of finished or unknown uploads, older than its grace period).

import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { lwwWinner, type SiblingSet } from '../version/dvv.js';
import { writeAfterRead } from '../coordinator/read-first.js';
import { BodyReader } from './body.js';
import { CHECKSUM_ALGORITHMS, checksumOf, isChecksumAlgorithm, type ChecksumAlgorithm } from './checksum.js';
import { readRange, storeStream, type ChunkRef } from './chunks.js';
import { checkWriteConditions, hasWriteConditions, parseRange } from './conditions.js';
import { bucketQuorum, intParam, requireBucket, requireKey, type Ctx } from './context.js';
import { S3Error } from './errors.js';
import { header, isoDate, sendEmpty, sendXml } from './http-util.js';
import { encodeObject, loadObject, type ObjectInfo } from './object-model.js';
import { loadCopySource, metadataFromRequest, rejectUnsupportedHeaders } from './objects.js';
import { requestAcl, type CannedAcl } from './acl.js';
import { parseXml, xmlString } from './xml.js';
import { storageBucket } from '../coordinator/buckets-types.js';

export const UPLOADS_BUCKET = '__s3uploads';
export const PARTS_BUCKET = '__s3parts';
export const MIN_PART_BYTES = 5 * 1024 * 1024;
export const MAX_PART_BYTES = 5 * 1024 ** 3;
const MAX_UPLOADS_LISTED = 10_000;

export interface UploadRecord {
  /** The storage name of the bucket (coordinator/buckets-types.ts storageBucket), so an upload never outlives its bucket into a new one of the same name. */
  readonly bucket: string;
  readonly key: string;
  readonly uploadId: string;
  readonly initiatedMs: number;
  readonly owner: string;
  readonly contentType: string;
  readonly headers: Record<string, string>;
  readonly checksumAlgo?: ChecksumAlgorithm;
  readonly acl?: CannedAcl;
  /** x-amz-checksum-type at Create: FULL_OBJECT checksums of the whole object are not computed here (docs/s3.md). */
  readonly checksumType?: 'FULL_OBJECT' | 'COMPOSITE';
  /** Set when Complete or Abort finished the upload; absent while it is in progress. */
  readonly finished?: {
    readonly state: 'completed' | 'aborted';
    readonly atMs: number;
    /** Complete's part list ([number, ETag]) and answer, to answer a retry alike. */
    readonly parts?: readonly (readonly [number, string])[];
    readonly answer?: Record<string, unknown>;
  };
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
/** The JSON record a system key holds (its last-writer-wins version), if it is not deleted. */
export const json = <T>(set: SiblingSet): T | undefined => {
  const w = lwwWinner(set);
  return w === undefined || w.value === null ? undefined : (JSON.parse(dec.decode(w.value)) as T);
};

async function putRecord(ctx: Ctx, bucket: string, key: string, value: unknown): Promise<void> {
  await ctx.deps.coordinator.put({ bucket, key, value: enc.encode(JSON.stringify(value)), meta: { contentType: 'application/json' }, context: null, supersedeVisible: true });
}

async function deleteRecord(ctx: Ctx, bucket: string, key: string): Promise<void> {
  await ctx.deps.coordinator.put({ bucket, key, value: null, context: null, supersedeVisible: true });
}

/** Deletes of records after a finish are retried this many times; the collector catches what still fails. */
const DELETE_ATTEMPTS = 3;

const noSuchUpload = (uploadId: string): S3Error =>
  new S3Error('NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.', { UploadId: uploadId });

async function readUpload(ctx: Ctx, bucket: string, uploadId: string): Promise<UploadRecord | undefined> {
  if (uploadId === '') return undefined;
  const read = await ctx.deps.coordinator.get({ bucket: UPLOADS_BUCKET, key: `${bucket}/${uploadId}` });
  return json<UploadRecord>(read.set);
}

/** The upload the request names, in progress or (with `finished`) finished. */
async function requireUpload(ctx: Ctx, bucket: string, key: string, finished = false): Promise<UploadRecord> {
  const uploadId = ctx.query.get('uploadId') ?? '';
  const rec = await readUpload(ctx, bucket, uploadId);
  if (rec === undefined || rec.key !== key || (rec.finished !== undefined && !finished)) throw noSuchUpload(uploadId);
  return rec;
}

async function withRetries(f: () => Promise<void>): Promise<boolean> {
  for (let i = 0; i < DELETE_ATTEMPTS; i++) {
    try {
      await f();
      return true;
    } catch {
      // try again; after the last attempt the collector is the backstop
    }
  }
  return false;
}

/** Deletes every part record of a finished upload, awaited and retried; false if some remain for the collector. */
async function dropParts(ctx: Ctx, uploadId: string): Promise<boolean> {
  let parts: (PartRecord & { n: number })[];
  try {
    parts = (await listPartRecords(ctx, uploadId)).parts;
  } catch {
    return false;
  }
  const done = await Promise.all(parts.map((p) => withRetries(() => deleteRecord(ctx, PARTS_BUCKET, `${uploadId}/${pad(p.n)}`))));
  return done.every(Boolean);
}

/**
 * After a part record is written: if the upload was finished meanwhile, the
 * finisher may have listed the parts before this one arrived, so this part
 * deletes its own record (else it would pin its chunks) and fails.
 */
async function confirmPart(ctx: Ctx, rec: UploadRecord, n: number): Promise<void> {
  const now = await readUpload(ctx, rec.bucket, rec.uploadId);
  if (now !== undefined && now.finished === undefined) return;
  await withRetries(() => deleteRecord(ctx, PARTS_BUCKET, `${rec.uploadId}/${pad(n)}`));
  throw noSuchUpload(rec.uploadId);
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
  const acl = requestAcl(ctx.req);
  const typeHeader = header(ctx.req, 'x-amz-checksum-type')?.trim().toUpperCase();
  if (typeHeader !== undefined && typeHeader !== 'FULL_OBJECT' && typeHeader !== 'COMPOSITE') throw new S3Error('InvalidRequest', `unsupported checksum type ${typeHeader}`);
  const checksumType = typeHeader as UploadRecord['checksumType'];
  const algoHeader = header(ctx.req, 'x-amz-checksum-algorithm')?.toLowerCase();
  if (algoHeader !== undefined && !isChecksumAlgorithm(algoHeader)) throw new S3Error('InvalidRequest', `unsupported checksum algorithm ${algoHeader}`);
  const uploadId = randomBytes(16).toString('hex');
  const rec: UploadRecord = {
    bucket: storageBucket(bucket),
    key,
    uploadId,
    initiatedMs: ctx.deps.clock.now(),
    owner: ctx.auth.owner,
    contentType: meta.contentType,
    headers: meta.headers,
    ...(algoHeader !== undefined ? { checksumAlgo: algoHeader } : {}),
    ...(acl !== undefined ? { acl } : {}),
    ...(checksumType !== undefined ? { checksumType } : {}),
  };
  await putRecord(ctx, UPLOADS_BUCKET, `${storageBucket(bucket)}/${uploadId}`, rec);
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
  const rec = await requireUpload(ctx, storageBucket(bucket), key);
  const body = new BodyReader(ctx.req, ctx.auth, MAX_PART_BYTES);
  // Parts are always chunked, even small ones: Complete only concatenates chunk lists.
  const hasher = body.offloadHashes();
  const stored = await storeStream(ctx.chunks, body.pieces(), -1, undefined, () => body.bodySha256(), hasher !== undefined ? { hasher, expectedBytes: body.declaredLength } : undefined);
  const { md5Hex, checksum } = body.verify(stored.digests);
  const part: PartRecord = { etag: md5Hex, size: stored.size, chunks: stored.chunks, mtimeMs: ctx.deps.clock.now(), ...(checksum !== undefined ? { checksum } : {}) };
  await putRecord(ctx, PARTS_BUCKET, `${rec.uploadId}/${pad(n)}`, part);
  await confirmPart(ctx, rec, n);
  const headers: Record<string, string> = { etag: `"${md5Hex}"` };
  if (checksum !== undefined) headers[`x-amz-checksum-${checksum.algo}`] = checksum.value;
  sendEmpty(ctx.res, 200, headers);
}

export async function uploadPartCopy(ctx: Ctx): Promise<void> {
  const bucket = await requireBucket(ctx);
  const key = requireKey(ctx);
  const n = partNumber(ctx);
  const rec = await requireUpload(ctx, storageBucket(bucket), key);
  const src = await loadCopySource(ctx);
  const size = src.object.info.size;
  const rangeHeader = header(ctx.req, 'x-amz-copy-source-range');
  let range = { start: 0, end: size };
  if (rangeHeader !== undefined) {
    const r = parseRange(rangeHeader, size);
    if (r === undefined || !/^bytes=\d+-\d+$/.test(rangeHeader.trim())) throw new S3Error('InvalidArgument', 'The x-amz-copy-source-range value must be of the form bytes=first-last', { ArgumentName: 'x-amz-copy-source-range', ArgumentValue: rangeHeader });
    // A copy range is taken as given: past the source's end it is unsatisfiable, not cut short as a GET's would be.
    if (Number(/-(\d+)$/.exec(rangeHeader.trim())![1]) >= size) throw new S3Error('InvalidRange', 'The requested range is not satisfiable', { RangeRequested: rangeHeader, ActualObjectSize: size });
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
  await confirmPart(ctx, rec, n);
  sendXml(ctx.res, 200, 'CopyPartResult', { ETag: `"${etag}"`, LastModified: isoDate(mtimeMs) });
}

// ---------------------------------------------------------------- complete

export async function completeMultipartUpload(ctx: Ctx): Promise<void> {
  const bucket = await requireBucket(ctx);
  const key = requireKey(ctx);
  const rec = await requireUpload(ctx, storageBucket(bucket), key, true);
  // Its x-amz-checksum-* header is the whole object's checksum (checked below), not the XML body's.
  const text = (await new BodyReader(ctx.req, ctx.auth, 4 << 20, false).readAll(4 << 20)).toString('utf8');
  const doc = parseXml(text, 'CompleteMultipartUpload');
  const given = ((doc['Part'] as unknown[] | undefined) ?? []).map((p) => {
    const r = (typeof p === 'object' && p !== null ? p : {}) as Record<string, unknown>;
    const num = xmlString(r['PartNumber'])?.trim() ?? '';
    const n = /^\d+$/.test(num) ? Number(num) : NaN;
    const etag = xmlString(r['ETag'])?.trim().replace(/^"(.*)"$/, '$1');
    if (!Number.isInteger(n) || etag === undefined) throw new S3Error('MalformedXML', 'every <Part> needs a <PartNumber> and an <ETag>');
    const sums = CHECKSUM_ALGORITHMS.flatMap((a) => {
      const v = xmlString(r[`Checksum${a.toUpperCase()}`])?.trim();
      return v === undefined ? [] : [{ algo: a, value: v }];
    });
    return { n, etag, sums };
  });
  if (given.length === 0) throw new S3Error('MalformedXML', 'You must specify at least one part');
  if (rec.finished !== undefined) {
    // A retry: the same parts get the same answer (and another try at deleting the part records).
    const same = rec.finished.state === 'completed' && rec.finished.parts !== undefined && rec.finished.parts.length === given.length && given.every((g, i) => rec.finished!.parts![i]![0] === g.n && rec.finished!.parts![i]![1] === g.etag);
    if (!same || rec.finished.answer === undefined) throw noSuchUpload(rec.uploadId);
    await dropParts(ctx, rec.uploadId);
    sendXml(ctx.res, 200, 'CompleteMultipartUploadResult', rec.finished.answer);
    return;
  }
  for (let i = 1; i < given.length; i++) {
    if (given[i]!.n <= given[i - 1]!.n) throw new S3Error('InvalidPartOrder', 'The list of parts was not in ascending order. Parts must be ordered by part number.', { UploadId: rec.uploadId });
  }
  const stored = new Map((await listPartRecords(ctx, rec.uploadId)).parts.map((p) => [p.n, p]));
  const parts: PartRecord[] = [];
  for (const [i, g] of given.entries()) {
    const p = stored.get(g.n);
    // A part checksum named in the list must be the one the part was uploaded with.
    if (p === undefined || p.etag !== g.etag || g.sums.some((c) => p.checksum?.algo !== c.algo || p.checksum.value !== c.value)) {
      throw new S3Error('InvalidPart', 'One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not have matched the part\'s entity tag.', { UploadId: rec.uploadId, PartNumber: g.n, ETag: g.etag });
    }
    if (i < given.length - 1 && p.size < MIN_PART_BYTES) {
      throw new S3Error('EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed object size.', { UploadId: rec.uploadId, PartNumber: g.n, ProposedSize: p.size, MinSizeAllowed: MIN_PART_BYTES });
    }
    parts.push(p);
  }
  if (hasWriteConditions(ctx.req)) {
    const cur = await loadObject(ctx.deps.coordinator, storageBucket(bucket), key, undefined, bucketQuorum(bucket));
    checkWriteConditions(ctx.req, cur.object?.info);
  }
  const md5 = createHash('md5');
  for (const p of parts) md5.update(Buffer.from(p.etag, 'hex'));
  const etag = `${md5.digest('hex')}-${parts.length}`;
  // Composite checksum (checksum of the parts' checksums), when every part has one of the same algorithm.
  // A FULL_OBJECT upload asked for the whole object's checksum, which is not a composite of the parts'.
  const fullObject = (header(ctx.req, 'x-amz-checksum-type')?.trim().toUpperCase() ?? rec.checksumType) === 'FULL_OBJECT';
  let checksum: ObjectInfo['checksum'];
  const algo = parts[0]!.checksum?.algo;
  if (algo !== undefined && !fullObject && parts.every((p) => p.checksum?.algo === algo)) {
    const joined = Buffer.concat(parts.map((p) => Buffer.from(p.checksum!.value, 'base64')));
    checksum = { algo, value: `${checksumOf(algo, joined)}-${parts.length}`, type: 'COMPOSITE' };
  }
  // A composite checksum the client declared must be ours (a full-object one is not checked: docs/s3.md).
  for (const a of fullObject ? [] : CHECKSUM_ALGORITHMS) {
    const declared = header(ctx.req, `x-amz-checksum-${a}`)?.trim();
    if (declared === undefined) continue;
    if (checksum === undefined || checksum.algo !== a || (checksum.value !== declared && checksum.value.replace(/-\d+$/, '') !== declared)) {
      throw new S3Error('BadDigest', `The ${a.toUpperCase()} you specified did not match the calculated checksum.`, { UploadId: rec.uploadId });
    }
  }
  const info: Omit<ObjectInfo, 'mtimeMs'> = {
    etag,
    size: parts.reduce((a, p) => a + p.size, 0),
    contentType: rec.contentType,
    headers: rec.headers,
    parts: parts.map((p) => p.size),
    ...(checksum !== undefined ? { checksum } : {}),
    ...(rec.acl !== undefined ? { acl: rec.acl } : {}),
  };
  const q = bucketQuorum(bucket);
  const e = encodeObject(info, { chunks: parts.flatMap((p) => p.chunks) });
  await writeAfterRead(ctx.deps.coordinator, { bucket: storageBucket(bucket), key, value: e.value, meta: e.meta, supersede: 'everything', n: q.n, r: q.r, w: q.w });
  await ctx.deps.files?.written({ owner: ctx.auth.owner, bucket: bucket.name, bucketId: bucket.id, key, size: info.size, contentType: info.contentType, etag, w: q.w });
  const body: Record<string, unknown> = { Location: `/${bucket.name}/${key}`, Bucket: bucket.name, Key: key, ETag: `"${etag}"` };
  if (checksum !== undefined) {
    body[`Checksum${checksum.algo.toUpperCase()}`] = checksum.value;
    body['ChecksumType'] = 'COMPOSITE';
  }
  // The object now references the chunks: only then mark the upload finished, and only then delete its
  // part records (parts that arrive after this listing see the mark and delete themselves).
  const finished: UploadRecord['finished'] = { state: 'completed', atMs: ctx.deps.clock.now(), parts: given.map((g) => [g.n, g.etag] as const), answer: body };
  await putRecord(ctx, UPLOADS_BUCKET, `${storageBucket(bucket)}/${rec.uploadId}`, { ...rec, finished } satisfies UploadRecord);
  await dropParts(ctx, rec.uploadId);
  sendXml(ctx.res, 200, 'CompleteMultipartUploadResult', body);
}

export async function abortMultipartUpload(ctx: Ctx): Promise<void> {
  const bucket = await requireBucket(ctx);
  const key = requireKey(ctx);
  const rec = await requireUpload(ctx, storageBucket(bucket), key, true);
  if (rec.finished?.state === 'completed') throw noSuchUpload(rec.uploadId);
  // Mark first, so no part is accepted after the listing below; a repeated Abort finds the mark and succeeds.
  if (rec.finished === undefined) {
    await putRecord(ctx, UPLOADS_BUCKET, `${storageBucket(bucket)}/${rec.uploadId}`, { ...rec, finished: { state: 'aborted', atMs: ctx.deps.clock.now() } } satisfies UploadRecord);
  }
  await dropParts(ctx, rec.uploadId);
  sendEmpty(ctx.res, 204);
}

// ----------------------------------------------------------------- listing

export async function listParts(ctx: Ctx): Promise<void> {
  const bucket = await requireBucket(ctx);
  const key = requireKey(ctx);
  const rec = await requireUpload(ctx, storageBucket(bucket), key);
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
    const page = await ctx.deps.coordinator.list({ bucket: UPLOADS_BUCKET, prefix: `${storageBucket(bucket)}/`, after, limit: 1000 });
    for (const k of page.keys) {
      const r = json<UploadRecord>(k.set);
      if (r !== undefined && r.finished === undefined && r.key.startsWith(prefix)) all.push(r);
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
