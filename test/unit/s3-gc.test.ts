// Chunk garbage collection (src/s3/gc.ts) on the in-process cluster: what a
// manifest, a copy, a version or an upload in progress refers to stays; the
// chunks of deleted objects and aborted uploads go, on the second run that
// sees them unreferenced and only once they are older than the grace period.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { startHarness, type Harness } from './s3-harness.js';
import { CHUNK_BUCKET, CHUNK_SIZE } from '../../src/s3/chunks.js';
import { ChunkCollector } from '../../src/s3/gc.js';
import { PARTS_BUCKET, UPLOADS_BUCKET, type PartRecord } from '../../src/s3/multipart.js';
import { systemClock } from '../../src/node/real-runtime.js';
import type { Coordinator } from '../../src/coordinator/coordinator.js';

const MiB = 1024 * 1024;
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** The live chunk keys, as a values-free listing sees them. */
async function liveChunks(c: Coordinator): Promise<Set<string>> {
  const out = new Set<string>();
  let after: string | undefined;
  for (;;) {
    const page = await c.list({ bucket: CHUNK_BUCKET, after, limit: 1000, omitValues: true });
    for (const k of page.keys) {
      for (const s of k.set.siblings) assert.ok(s.value === null || s.value.byteLength === 0, 'a values-free listing carries no value');
      out.add(k.key);
    }
    if (!page.truncated || page.keys.length === 0) return out;
    after = page.keys[page.keys.length - 1]!.key;
  }
}

const chunkHashes = (data: Uint8Array): string[] => {
  const out: string[] = [];
  for (let o = 0; o < data.length; o += CHUNK_SIZE) out.push(sha(data.subarray(o, Math.min(data.length, o + CHUNK_SIZE))));
  return out;
};

async function body(s3: S3Client, bucket: string, key: string): Promise<Buffer> {
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await got.Body!.transformToByteArray());
}

describe('S3 chunk garbage collection', () => {
  let h: Harness;
  let s3: S3Client;
  let coordinator: Coordinator;
  before(async () => {
    h = await startHarness();
    s3 = h.client();
    coordinator = h.coordinators.get('n1')!;
    await s3.send(new CreateBucketCommand({ Bucket: 'gcbucket' }));
  });
  after(async () => {
    await h.close();
  });

  test('referenced chunks stay; deleted objects and aborted uploads lose theirs on the second run', async () => {
    const kept = randomBytes(9 * MiB);
    const gone = randomBytes(5 * MiB);
    const aborted = randomBytes(6 * MiB);
    const inProgress = randomBytes(5 * MiB);
    await s3.send(new PutObjectCommand({ Bucket: 'gcbucket', Key: 'kept', Body: kept }));
    await s3.send(new CopyObjectCommand({ Bucket: 'gcbucket', Key: 'copy', CopySource: 'gcbucket/kept' }));
    await s3.send(new DeleteObjectCommand({ Bucket: 'gcbucket', Key: 'kept' })); // the copy still refers to its chunks
    await s3.send(new PutObjectCommand({ Bucket: 'gcbucket', Key: 'gone', Body: gone }));
    await s3.send(new DeleteObjectCommand({ Bucket: 'gcbucket', Key: 'gone' }));
    const ab = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'gcbucket', Key: 'aborted' }));
    await s3.send(new UploadPartCommand({ Bucket: 'gcbucket', Key: 'aborted', UploadId: ab.UploadId, PartNumber: 1, Body: aborted }));
    await s3.send(new AbortMultipartUploadCommand({ Bucket: 'gcbucket', Key: 'aborted', UploadId: ab.UploadId }));
    const ip = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'gcbucket', Key: 'in-progress' }));
    const part = await s3.send(new UploadPartCommand({ Bucket: 'gcbucket', Key: 'in-progress', UploadId: ip.UploadId, PartNumber: 1, Body: inProgress }));

    const all = await liveChunks(coordinator);
    for (const hsh of [...chunkHashes(kept), ...chunkHashes(gone), ...chunkHashes(aborted), ...chunkHashes(inProgress)]) assert.ok(all.has(hsh));

    const gc = new ChunkCollector({ coordinator, clock: systemClock, buckets: () => h.storageBuckets() }, { intervalMs: 0, graceMs: 0, minGapMs: 0 });
    const first = await gc.run();
    assert.equal(first.ok, true, first.error);
    assert.equal(first.deleted, 0, 'a first sighting deletes nothing');
    const orphans = [...chunkHashes(gone), ...chunkHashes(aborted)];
    assert.equal(first.unreferenced, orphans.length);
    assert.equal(first.keptFirstSeen, orphans.length);

    const second = await gc.run();
    assert.equal(second.ok, true, second.error);
    assert.equal(second.deleted, orphans.length);
    const left = await liveChunks(coordinator);
    for (const hsh of orphans) assert.ok(!left.has(hsh), `orphan ${hsh} deleted`);
    for (const hsh of [...chunkHashes(kept), ...chunkHashes(inProgress)]) assert.ok(left.has(hsh), `referenced ${hsh} kept`);

    // What is referenced still reads back, and the upload in progress completes.
    assert.ok((await body(s3, 'gcbucket', 'copy')).equals(kept));
    await s3.send(new CompleteMultipartUploadCommand({ Bucket: 'gcbucket', Key: 'in-progress', UploadId: ip.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }));
    assert.ok((await body(s3, 'gcbucket', 'in-progress')).equals(inProgress));

    // Uploading bytes whose chunks were collected writes them anew.
    await s3.send(new PutObjectCommand({ Bucket: 'gcbucket', Key: 'again', Body: gone }));
    assert.ok((await body(s3, 'gcbucket', 'again')).equals(gone));
    const third = await gc.run();
    assert.equal(third.deleted, 0);
    assert.ok((await body(s3, 'gcbucket', 'again')).equals(gone));
  });

  test('the grace period and the gap between runs hold deletions back', async () => {
    const data = randomBytes(5 * MiB);
    await s3.send(new PutObjectCommand({ Bucket: 'gcbucket', Key: 'young', Body: data }));
    await s3.send(new DeleteObjectCommand({ Bucket: 'gcbucket', Key: 'young' }));
    const young = new ChunkCollector({ coordinator, clock: systemClock, buckets: () => h.storageBuckets() }, { intervalMs: 0, graceMs: 3600_000, minGapMs: 0 });
    await young.run();
    const r = await young.run();
    assert.equal(r.deleted, 0);
    assert.equal(r.keptYoung, chunkHashes(data).length);
    const hasty = new ChunkCollector({ coordinator, clock: systemClock, buckets: () => h.storageBuckets() }, { intervalMs: 0, graceMs: 0, minGapMs: 3600_000 });
    await hasty.run();
    const r2 = await hasty.run();
    assert.equal(r2.deleted, 0, 'a run too soon after the last one treats every candidate as first seen');
    assert.equal(r2.keptFirstSeen, chunkHashes(data).length);
    for (const hsh of chunkHashes(data)) assert.ok((await liveChunks(coordinator)).has(hsh));
  });

  test('part records an aborted or completed upload left behind, and finished upload records, go once older than the grace period', async () => {
    const ab = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'gcbucket', Key: 'left' }));
    await s3.send(new AbortMultipartUploadCommand({ Bucket: 'gcbucket', Key: 'left', UploadId: ab.UploadId }));
    // A part record whose delete failed (or an UploadPart that lost a race and died): it names chunks.
    const data = randomBytes(5 * MiB);
    await s3.send(new PutObjectCommand({ Bucket: 'gcbucket', Key: 'carrier', Body: data }));
    await s3.send(new DeleteObjectCommand({ Bucket: 'gcbucket', Key: 'carrier' }));
    const stray: PartRecord = { etag: 'x', size: data.length, chunks: chunkHashes(data).map((h, i) => [h, Math.min(CHUNK_SIZE, data.length - i * CHUNK_SIZE)]), mtimeMs: Date.now() };
    await coordinator.put({ bucket: PARTS_BUCKET, key: `${ab.UploadId}/00002`, value: new TextEncoder().encode(JSON.stringify(stray)), context: null, supersedeVisible: true });
    const ip = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'gcbucket', Key: 'live' }));
    await s3.send(new UploadPartCommand({ Bucket: 'gcbucket', Key: 'live', UploadId: ip.UploadId, PartNumber: 1, Body: randomBytes(1000) }));

    const patient = new ChunkCollector({ coordinator, clock: systemClock, buckets: () => h.storageBuckets() }, { intervalMs: 0, graceMs: 3600_000, minGapMs: 0 });
    const young = await patient.run();
    assert.equal(young.partsDropped, 0, 'a young stray part record is still marked');
    assert.equal(young.uploadsForgotten, 0, 'a finished upload is remembered through the grace period (to answer retries)');

    const gc = new ChunkCollector({ coordinator, clock: systemClock, buckets: () => h.storageBuckets() }, { intervalMs: 0, graceMs: 0, minGapMs: 0 });
    const r = await gc.run();
    assert.equal(r.ok, true, r.error);
    assert.equal(r.partsDropped, 1);
    assert.ok(r.uploadsForgotten >= 1);
    const strays = await coordinator.list({ bucket: PARTS_BUCKET, prefix: `${ab.UploadId}/`, limit: 10 });
    assert.equal(strays.keys.length, 0);
    const live = await coordinator.list({ bucket: PARTS_BUCKET, prefix: `${ip.UploadId}/`, limit: 10 });
    assert.equal(live.keys.length, 1, 'the part of the upload in progress stays');
    const storage = await h.storage('gcbucket');
    const uploads = await coordinator.list({ bucket: UPLOADS_BUCKET, prefix: `${storage}/`, limit: 100 });
    assert.deepEqual(uploads.keys.map((k) => k.key), [`${storage}/${ip.UploadId}`], 'only the upload in progress keeps its record');
    // The stray's chunks are no longer referenced: the next run deletes them.
    await gc.run();
    const left = await liveChunks(coordinator);
    for (const hsh of chunkHashes(data)) assert.ok(!left.has(hsh));
  });

  test('an upload left open past uploadExpiryMs is aborted by the collection: its parts are refused and later collected', async () => {
    const open = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'gcbucket', Key: 'forgotten' }));
    await s3.send(new UploadPartCommand({ Bucket: 'gcbucket', Key: 'forgotten', UploadId: open.UploadId, PartNumber: 1, Body: randomBytes(1000) }));
    const fresh = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'gcbucket', Key: 'fresh' }));
    const keep = new ChunkCollector({ coordinator, clock: systemClock, buckets: () => h.storageBuckets() }, { intervalMs: 0, graceMs: 3600_000, minGapMs: 0, uploadExpiryMs: 3600_000 });
    assert.equal((await keep.run()).uploadsExpired, 0, 'a young upload stays open');
    await new Promise((r) => setTimeout(r, 20));
    const expire = new ChunkCollector({ coordinator, clock: systemClock, buckets: () => h.storageBuckets() }, { intervalMs: 0, graceMs: 0, minGapMs: 0, uploadExpiryMs: 10 });
    const r = await expire.run();
    assert.equal(r.ok, true, r.error);
    assert.ok(r.uploadsExpired >= 2, `expired ${r.uploadsExpired}`);
    await assert.rejects(
      s3.send(new UploadPartCommand({ Bucket: 'gcbucket', Key: 'forgotten', UploadId: open.UploadId, PartNumber: 2, Body: randomBytes(10) })),
      (e: { name?: string }) => e.name === 'NoSuchUpload',
    );
    await expire.run();
    const parts = await coordinator.list({ bucket: PARTS_BUCKET, prefix: `${open.UploadId}/`, limit: 10 });
    assert.equal(parts.keys.length, 0, 'its parts are collected');
    void fresh;
  });
});
