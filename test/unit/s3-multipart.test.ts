// Multipart uploads (lib-storage and by hand), chunk integrity (a corrupt
// replica is skipped and repaired), siblings shown as versions, and
// NotImplemented for what ringstore does not do.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectVersionsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutBucketPolicyCommand,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { startHarness, type Harness } from './s3-harness.js';
import { CHUNK_BUCKET } from '../../src/s3/chunks.js';
import { lwwWinner } from '../../src/version/dvv.js';
import { s3Failure as failure } from './s3-harness.js';

const md5 = (b: Uint8Array): string => createHash('md5').update(b).digest('hex');
const MiB = 1024 * 1024;


describe('S3 multipart, chunks and versions', () => {
  let h: Harness;
  let s3: S3Client;
  before(async () => {
    h = await startHarness();
    s3 = h.client();
    await s3.send(new CreateBucketCommand({ Bucket: 'mpu' }));
  });
  after(async () => {
    await h.close();
  });

  test('lib-storage uploads 40 MiB from a stream in parts; the object reads back byte for byte with the md5-N ETag', async () => {
    const data = randomBytes(40 * MiB + 123);
    const partSize = 8 * MiB;
    const upload = new Upload({
      client: s3,
      params: { Bucket: 'mpu', Key: 'big/object.bin', Body: Readable.from((function* () {
        for (let i = 0; i < data.length; i += 1 * MiB) yield data.subarray(i, i + 1 * MiB);
      })()), ContentType: 'application/x-big', Metadata: { origin: 'lib-storage' } },
      partSize,
      queueSize: 4,
    });
    const res = await upload.done();
    const parts = Math.ceil(data.length / partSize);
    const partMd5s = Array.from({ length: parts }, (_, i) => Buffer.from(md5(data.subarray(i * partSize, (i + 1) * partSize)), 'hex'));
    const expected = `"${md5(Buffer.concat(partMd5s))}-${parts}"`;
    assert.equal(res.ETag, expected);
    const got = await s3.send(new GetObjectCommand({ Bucket: 'mpu', Key: 'big/object.bin' }));
    assert.equal(got.ETag, expected);
    assert.equal(got.ContentType, 'application/x-big');
    assert.deepEqual(got.Metadata, { origin: 'lib-storage' });
    const back = Buffer.from(await got.Body!.transformToByteArray());
    assert.equal(back.length, data.length);
    assert.ok(back.equals(data));
    const part2 = await s3.send(new GetObjectCommand({ Bucket: 'mpu', Key: 'big/object.bin', PartNumber: 2 }));
    assert.equal(part2.PartsCount, parts);
    assert.ok(Buffer.from(await part2.Body!.transformToByteArray()).equals(data.subarray(partSize, 2 * partSize)));
    const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'mpu' }));
    assert.equal(uploads.Uploads?.length ?? 0, 0);
  });

  test('complete validates parts: InvalidPart, InvalidPartOrder, EntityTooSmall, NoSuchUpload; list and abort', async () => {
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'mpu', Key: 'manual' }));
    const p1data = randomBytes(5 * MiB);
    const p2data = randomBytes(1000);
    const p1 = await s3.send(new UploadPartCommand({ Bucket: 'mpu', Key: 'manual', UploadId, PartNumber: 1, Body: p1data }));
    const p2 = await s3.send(new UploadPartCommand({ Bucket: 'mpu', Key: 'manual', UploadId, PartNumber: 2, Body: p2data }));
    const p3 = await s3.send(new UploadPartCommand({ Bucket: 'mpu', Key: 'manual', UploadId, PartNumber: 3, Body: 'tail' }));
    assert.equal(p1.ETag, `"${md5(p1data)}"`);
    const listed = await s3.send(new ListPartsCommand({ Bucket: 'mpu', Key: 'manual', UploadId }));
    assert.deepEqual(listed.Parts?.map((p) => [p.PartNumber, p.Size, p.ETag]), [[1, 5 * MiB, p1.ETag], [2, 1000, p2.ETag], [3, 4, p3.ETag]]);
    const inProgress = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'mpu' }));
    assert.deepEqual(inProgress.Uploads?.map((u) => [u.Key, u.UploadId]), [['manual', UploadId]]);

    const complete = (parts: { PartNumber: number; ETag: string }[]) => s3.send(new CompleteMultipartUploadCommand({ Bucket: 'mpu', Key: 'manual', UploadId, MultipartUpload: { Parts: parts } }));
    assert.deepEqual(await failure(complete([{ PartNumber: 1, ETag: p1.ETag! }, { PartNumber: 2, ETag: '"0000"' }])), { code: 'InvalidPart', status: 400 });
    assert.deepEqual(await failure(complete([{ PartNumber: 2, ETag: p2.ETag! }, { PartNumber: 1, ETag: p1.ETag! }])), { code: 'InvalidPartOrder', status: 400 });
    assert.deepEqual(await failure(complete([{ PartNumber: 1, ETag: p1.ETag! }, { PartNumber: 2, ETag: p2.ETag! }, { PartNumber: 3, ETag: p3.ETag! }])), { code: 'EntityTooSmall', status: 400 });
    const done = await complete([{ PartNumber: 1, ETag: p1.ETag! }, { PartNumber: 3, ETag: p3.ETag! }]);
    assert.match(done.ETag!, /-2"$/);
    const got = await s3.send(new GetObjectCommand({ Bucket: 'mpu', Key: 'manual' }));
    assert.ok(Buffer.from(await got.Body!.transformToByteArray()).equals(Buffer.concat([p1data, Buffer.from('tail')])));
    assert.deepEqual(await failure(complete([{ PartNumber: 1, ETag: p1.ETag! }])), { code: 'NoSuchUpload', status: 404 });

    const second = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'mpu', Key: 'aborted' }));
    await s3.send(new UploadPartCommand({ Bucket: 'mpu', Key: 'aborted', UploadId: second.UploadId, PartNumber: 1, Body: 'x' }));
    await s3.send(new AbortMultipartUploadCommand({ Bucket: 'mpu', Key: 'aborted', UploadId: second.UploadId }));
    assert.deepEqual(await failure(s3.send(new ListPartsCommand({ Bucket: 'mpu', Key: 'aborted', UploadId: second.UploadId }))), { code: 'NoSuchUpload', status: 404 });
    assert.deepEqual(await failure(s3.send(new UploadPartCommand({ Bucket: 'mpu', Key: 'aborted', UploadId: 'nope', PartNumber: 1, Body: 'x' }))), { code: 'NoSuchUpload', status: 404 });
  });

  test('UploadPartCopy copies a byte range of another object into a part', async () => {
    const src = randomBytes(7 * MiB);
    await s3.send(new PutObjectCommand({ Bucket: 'mpu', Key: 'copy-src', Body: src }));
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'mpu', Key: 'copy-dst' }));
    const c1 = await s3.send(new UploadPartCopyCommand({ Bucket: 'mpu', Key: 'copy-dst', UploadId, PartNumber: 1, CopySource: 'mpu/copy-src', CopySourceRange: `bytes=0-${5 * MiB - 1}` }));
    const c2 = await s3.send(new UploadPartCopyCommand({ Bucket: 'mpu', Key: 'copy-dst', UploadId, PartNumber: 2, CopySource: 'mpu/copy-src', CopySourceRange: `bytes=${6 * MiB}-${7 * MiB - 1}` }));
    await s3.send(new CompleteMultipartUploadCommand({ Bucket: 'mpu', Key: 'copy-dst', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: c1.CopyPartResult!.ETag! }, { PartNumber: 2, ETag: c2.CopyPartResult!.ETag! }] } }));
    const got = await s3.send(new GetObjectCommand({ Bucket: 'mpu', Key: 'copy-dst' }));
    assert.ok(Buffer.from(await got.Body!.transformToByteArray()).equals(Buffer.concat([src.subarray(0, 5 * MiB), src.subarray(6 * MiB)])));
  });

  test('identical chunks are stored once; a corrupt chunk replica is skipped on read and repaired', async () => {
    const data = randomBytes(4 * MiB); // exactly one chunk
    await s3.send(new PutObjectCommand({ Bucket: 'mpu', Key: 'dup-1', Body: data }));
    await s3.send(new PutObjectCommand({ Bucket: 'mpu', Key: 'dup-2', Body: data }));
    const hash = createHash('sha256').update(data).digest('hex');
    const holders = [...h.stores.entries()].filter(([, st]) => st.read(CHUNK_BUCKET, hash) !== undefined);
    assert.equal(holders.length, 3);
    for (const [, st] of holders) assert.equal(st.read(CHUNK_BUCKET, hash)!.siblings.length, 1);
    // Bit rot on the replica the server reads first (its own store, n1).
    const victim = h.stores.get('n1')!.read(CHUNK_BUCKET, hash)!;
    const bytes = lwwWinner(victim)!.value as Uint8Array;
    bytes[1000] = bytes[1000]! ^ 0xff;
    const before = { ...h.chunks.stats };
    const got = await s3.send(new GetObjectCommand({ Bucket: 'mpu', Key: 'dup-1' }));
    assert.ok(Buffer.from(await got.Body!.transformToByteArray()).equals(data));
    assert.equal(h.chunks.stats.corruptSkipped - before.corruptSkipped, 1);
    assert.equal(h.chunks.stats.repaired - before.repaired, 1);
    // The rewrite supersedes the corrupt copy on every replica.
    const good = (id: string) => {
      const set = h.stores.get(id)!.read(CHUNK_BUCKET, hash);
      return set !== undefined && set.siblings.every((s) => s.value !== null && createHash('sha256').update(s.value).digest('hex') === hash);
    };
    for (let i = 0; i < 100 && !['n1', 'n2', 'n3'].every(good); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(['n1', 'n2', 'n3'].every(good), 'every replica holds the good bytes again');
  });

  test('concurrent siblings are listed as versions; GET and DELETE address one by version id', async () => {
    await s3.send(new PutObjectCommand({ Bucket: 'mpu', Key: 'conflict', Body: 'first' }));
    // A write that has not seen the first (no context, no supersede): a true concurrent sibling.
    const n2 = h.coordinators.get('n2')!;
    await n2.put({ bucket: await h.storage('mpu'), key: 'conflict', value: new TextEncoder().encode('second'), context: null });
    const versions = await s3.send(new ListObjectVersionsCommand({ Bucket: 'mpu', Prefix: 'conflict' }));
    assert.equal(versions.Versions?.length, 2);
    const latest = versions.Versions!.find((v) => v.IsLatest)!;
    const other = versions.Versions!.find((v) => !v.IsLatest)!;
    const head = await s3.send(new GetObjectCommand({ Bucket: 'mpu', Key: 'conflict' }));
    assert.equal(await head.Body!.transformToString(), 'second');
    const old = await s3.send(new GetObjectCommand({ Bucket: 'mpu', Key: 'conflict', VersionId: other.VersionId }));
    assert.equal(await old.Body!.transformToString(), 'first');
    assert.equal((await s3.send(new HeadObjectCommand({ Bucket: 'mpu', Key: 'conflict', VersionId: 'null' }))).ContentLength, 6);
    await s3.send(new DeleteObjectCommand({ Bucket: 'mpu', Key: 'conflict', VersionId: latest.VersionId }));
    const after1 = await s3.send(new GetObjectCommand({ Bucket: 'mpu', Key: 'conflict' }));
    assert.equal(await after1.Body!.transformToString(), 'first');
    const v2 = await s3.send(new ListObjectVersionsCommand({ Bucket: 'mpu', Prefix: 'conflict' }));
    assert.deepEqual(v2.Versions?.map((v) => [v.VersionId, v.IsLatest]), [[other.VersionId, true]]);
    assert.deepEqual(await failure(s3.send(new GetObjectCommand({ Bucket: 'mpu', Key: 'conflict', VersionId: 'bm9wZTox' }))), { code: 'NoSuchVersion', status: 404 });
  });

  test('a deleted key still lists in ListObjectVersions, its delete marker the latest version', async () => {
    await s3.send(new PutObjectCommand({ Bucket: 'mpu', Key: 'gone/one', Body: 'bye' }));
    await s3.send(new DeleteObjectCommand({ Bucket: 'mpu', Key: 'gone/one' }));
    const v = await s3.send(new ListObjectVersionsCommand({ Bucket: 'mpu', Prefix: 'gone/' }));
    const markers = v.DeleteMarkers ?? [];
    assert.equal(markers.length, 1, JSON.stringify(v));
    assert.equal(markers[0]!.Key, 'gone/one');
    assert.equal(markers[0]!.IsLatest, true);
    assert.equal((v.Versions ?? []).length, 0, 'the S3 delete supersedes the value it saw');
    const plain = await s3.send(new ListObjectsV2Command({ Bucket: 'mpu', Prefix: 'gone/' }));
    assert.equal(plain.KeyCount, 0, 'a deleted key is not listed by ListObjectsV2');
  });

  test('operations ringstore does not implement answer NotImplemented (501)', async () => {
    assert.deepEqual(await failure(s3.send(new PutBucketPolicyCommand({ Bucket: 'mpu', Policy: '{}' }))), { code: 'NotImplemented', status: 501 });
    await s3.send(new PutObjectCommand({ Bucket: 'mpu', Key: 'tagged', Body: 'x' }));
    assert.deepEqual(await failure(s3.send(new GetObjectTaggingCommand({ Bucket: 'mpu', Key: 'tagged' }))), { code: 'NotImplemented', status: 501 });
    assert.deepEqual(await failure(s3.send(new PutObjectCommand({ Bucket: 'mpu', Key: 'sse', Body: 'x', ServerSideEncryption: 'AES256' }))), { code: 'NotImplemented', status: 501 });
  });
});
