// The S3 API driven by the official AWS SDK (default settings, including its
// default CRC32 checksums) against an in-process 3-node cluster.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketLocationCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { startHarness, OTHER, type Harness } from './s3-harness.js';
import { s3Failure as s3code } from './s3-harness.js';

const md5 = (b: Uint8Array): string => createHash('md5').update(b).digest('hex');

async function bytesOf(body: unknown): Promise<Buffer> {
  const b = body as { transformToByteArray(): Promise<Uint8Array> };
  return Buffer.from(await b.transformToByteArray());
}


describe('S3 API over an in-process 3-node cluster', () => {
  let h: Harness;
  let s3: S3Client;
  before(async () => {
    h = await startHarness();
    s3 = h.client();
  });
  after(async () => {
    await h.close();
  });

  test('buckets can be created, listed, headed, located and deleted, with S3 name rules and errors', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'alpha' }));
    await s3.send(new CreateBucketCommand({ Bucket: 'beta' }));
    const list = await s3.send(new ListBucketsCommand({}));
    assert.deepEqual(list.Buckets?.map((b) => b.Name), ['alpha', 'beta']);
    await s3.send(new HeadBucketCommand({ Bucket: 'alpha' }));
    const loc = await s3.send(new GetBucketLocationCommand({ Bucket: 'alpha' }));
    assert.equal(loc.LocationConstraint ?? '', '');
    // Creating a bucket one already owns succeeds again (S3 in us-east-1), and it keeps its contents.
    await s3.send(new PutObjectCommand({ Bucket: 'alpha', Key: 'kept', Body: 'k' }));
    assert.equal((await s3.send(new CreateBucketCommand({ Bucket: 'alpha' }))).$metadata.httpStatusCode, 200);
    assert.equal(await (await s3.send(new GetObjectCommand({ Bucket: 'alpha', Key: 'kept' }))).Body!.transformToString(), 'k');
    await s3.send(new DeleteObjectCommand({ Bucket: 'alpha', Key: 'kept' }));
    assert.deepEqual(await s3code(s3.send(new CreateBucketCommand({ Bucket: 'Bad_Name' }))), { code: 'InvalidBucketName', status: 400 });
    assert.deepEqual(await s3code(s3.send(new HeadBucketCommand({ Bucket: 'nope-nope' }))), { code: 'NotFound', status: 404 });
    await s3.send(new PutObjectCommand({ Bucket: 'beta', Key: 'x', Body: 'x' }));
    assert.deepEqual(await s3code(s3.send(new DeleteBucketCommand({ Bucket: 'beta' }))), { code: 'BucketNotEmpty', status: 409 });
    await s3.send(new DeleteObjectCommand({ Bucket: 'beta', Key: 'x' }));
    await s3.send(new DeleteBucketCommand({ Bucket: 'beta' }));
    assert.deepEqual(await s3code(s3.send(new DeleteBucketCommand({ Bucket: 'beta' }))), { code: 'NoSuchBucket', status: 404 });
    // Another user's key sees neither the bucket in its list nor its contents.
    const other = h.client(OTHER);
    assert.deepEqual((await other.send(new ListBucketsCommand({}))).Buckets ?? [], []);
    assert.deepEqual(await s3code(other.send(new GetObjectCommand({ Bucket: 'alpha', Key: 'x' }))), { code: 'AccessDenied', status: 403 });
    assert.deepEqual(await s3code(other.send(new CreateBucketCommand({ Bucket: 'alpha' }))), { code: 'BucketAlreadyExists', status: 409 });
  });

  test('objects round-trip byte for byte with ETag, metadata, content type and default checksums', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'objs' }));
    for (const size of [0, 1, 1000, 64 * 1024, 64 * 1024 + 1, 5 * 1024 * 1024 + 17]) {
      const body = randomBytes(size);
      const key = `obj-${size}`;
      const put = await s3.send(new PutObjectCommand({ Bucket: 'objs', Key: key, Body: body, ContentType: 'application/x-test', Metadata: { color: 'blue', 'two-words': 'a b' }, CacheControl: 'max-age=5' }));
      assert.equal(put.ETag, `"${md5(body)}"`, `etag of ${size}`);
      const got = await s3.send(new GetObjectCommand({ Bucket: 'objs', Key: key }));
      const bytes = await bytesOf(got.Body);
      assert.equal(bytes.length, size);
      assert.ok(bytes.equals(body), `content of ${size}`);
      assert.equal(got.ETag, `"${md5(body)}"`);
      assert.equal(got.ContentType, 'application/x-test');
      assert.equal(got.ContentLength, size);
      assert.equal(got.CacheControl, 'max-age=5');
      assert.deepEqual(got.Metadata, { color: 'blue', 'two-words': 'a b' });
      const head = await s3.send(new HeadObjectCommand({ Bucket: 'objs', Key: key }));
      assert.equal(head.ContentLength, size);
      assert.equal(head.ETag, `"${md5(body)}"`);
    }
    assert.deepEqual(await s3code(s3.send(new GetObjectCommand({ Bucket: 'objs', Key: 'missing' }))), { code: 'NoSuchKey', status: 404 });
    assert.deepEqual(await s3code(s3.send(new HeadObjectCommand({ Bucket: 'objs', Key: 'missing' }))), { code: 'NotFound', status: 404 });
    assert.deepEqual(await s3code(s3.send(new GetObjectCommand({ Bucket: 'no-such-bucket', Key: 'k' }))), { code: 'NoSuchBucket', status: 404 });
    assert.deepEqual(await s3code(s3.send(new PutObjectCommand({ Bucket: 'objs', Key: 'k'.repeat(1025), Body: 'x' }))), { code: 'KeyTooLongError', status: 400 });
    assert.deepEqual(await s3code(s3.send(new PutObjectCommand({ Bucket: 'objs', Key: `a\u0001${'b'.repeat(70)}`, Body: 'x' }))), { code: 'InvalidArgument', status: 400 });
  });

  test('overwriting a key a hundred times leaves one version', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'over' }));
    for (let i = 0; i < 100; i++) await s3.send(new PutObjectCommand({ Bucket: 'over', Key: 'k', Body: `v${i}` }));
    const got = await s3.send(new GetObjectCommand({ Bucket: 'over', Key: 'k' }));
    assert.equal((await bytesOf(got.Body)).toString(), 'v99');
    for (const c of h.coordinators.values()) {
      const r = await c.get({ bucket: await h.storage('over'), key: 'k' });
      assert.equal(r.set.siblings.length, 1);
    }
  });

  test('range reads answer 206 with the right bytes, and 416 beyond the end', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'ranges' }));
    const body = randomBytes(9 * 1024 * 1024 + 5);
    await s3.send(new PutObjectCommand({ Bucket: 'ranges', Key: 'big', Body: body }));
    await s3.send(new PutObjectCommand({ Bucket: 'ranges', Key: 'small', Body: body.subarray(0, 100) }));
    const cases: [string, number, number][] = [
      ['bytes=0-0', 0, 1],
      ['bytes=10-19', 10, 20],
      ['bytes=4194300-4194400', 4194300, 4194401],
      ['bytes=-7', body.length - 7, body.length],
      ['bytes=8388600-', 8388600, body.length],
      ['bytes=0-99999999999', 0, body.length],
    ];
    for (const [range, start, end] of cases) {
      const got = await s3.send(new GetObjectCommand({ Bucket: 'ranges', Key: 'big', Range: range }));
      assert.equal(got.$metadata.httpStatusCode, 206, range);
      assert.equal(got.ContentRange, `bytes ${start}-${end - 1}/${body.length}`);
      assert.ok((await bytesOf(got.Body)).equals(body.subarray(start, end)), range);
    }
    const small = await s3.send(new GetObjectCommand({ Bucket: 'ranges', Key: 'small', Range: 'bytes=90-' }));
    assert.ok((await bytesOf(small.Body)).equals(body.subarray(90, 100)));
    assert.deepEqual(await s3code(s3.send(new GetObjectCommand({ Bucket: 'ranges', Key: 'small', Range: 'bytes=100-' }))), { code: 'InvalidRange', status: 416 });
  });

  test('conditional reads answer 304 and 412, conditional writes 412', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'cond' }));
    const put = await s3.send(new PutObjectCommand({ Bucket: 'cond', Key: 'k', Body: 'hello' }));
    const etag = put.ETag!;
    await s3.send(new GetObjectCommand({ Bucket: 'cond', Key: 'k', IfMatch: etag }));
    assert.deepEqual(await s3code(s3.send(new GetObjectCommand({ Bucket: 'cond', Key: 'k', IfMatch: '"nope"' }))), { code: 'PreconditionFailed', status: 412 });
    assert.equal((await s3code(s3.send(new GetObjectCommand({ Bucket: 'cond', Key: 'k', IfNoneMatch: etag })))).status, 304);
    assert.equal((await s3code(s3.send(new GetObjectCommand({ Bucket: 'cond', Key: 'k', IfModifiedSince: new Date(Date.now() + 60_000) })))).status, 304);
    assert.deepEqual(await s3code(s3.send(new GetObjectCommand({ Bucket: 'cond', Key: 'k', IfUnmodifiedSince: new Date(Date.now() - 3600_000) }))), { code: 'PreconditionFailed', status: 412 });
    assert.deepEqual(await s3code(s3.send(new PutObjectCommand({ Bucket: 'cond', Key: 'k', Body: 'again', IfNoneMatch: '*' }))), { code: 'PreconditionFailed', status: 412 });
    await s3.send(new PutObjectCommand({ Bucket: 'cond', Key: 'new', Body: 'first', IfNoneMatch: '*' }));
    assert.deepEqual(await s3code(s3.send(new PutObjectCommand({ Bucket: 'cond', Key: 'k', Body: 'x', IfMatch: '"nope"' }))), { code: 'PreconditionFailed', status: 412 });
    await s3.send(new PutObjectCommand({ Bucket: 'cond', Key: 'k', Body: 'x', IfMatch: etag }));
    const got = await s3.send(new GetObjectCommand({ Bucket: 'cond', Key: 'k' }));
    assert.equal((await bytesOf(got.Body)).toString(), 'x');
  });

  test('ListObjectsV2 and ListObjects page through every key in order, with prefixes and delimiters', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'listing' }));
    const keys: string[] = [];
    for (let i = 0; i < 30; i++) keys.push(`file-${String(i).padStart(3, '0')}`);
    for (const d of ['a', 'b', 'c']) for (let i = 0; i < 5; i++) keys.push(`dir-${d}/sub/${i}`);
    keys.push('weird key+with%chars/é');
    await Promise.all(keys.map((k) => s3.send(new PutObjectCommand({ Bucket: 'listing', Key: k, Body: k }))));
    keys.sort();
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: 'listing', MaxKeys: 7, ContinuationToken: token }));
      seen.push(...(page.Contents ?? []).map((c) => c.Key!));
      assert.ok((page.Contents ?? []).every((c) => c.Size === Buffer.byteLength(c.Key!)));
      token = page.NextContinuationToken;
      pages++;
      assert.equal(page.IsTruncated, token !== undefined);
    } while (token !== undefined);
    assert.deepEqual(seen, keys);
    assert.equal(pages, Math.ceil(keys.length / 7));

    const delim = await s3.send(new ListObjectsV2Command({ Bucket: 'listing', Delimiter: '/' }));
    assert.deepEqual(delim.CommonPrefixes?.map((p) => p.Prefix), ['dir-a/', 'dir-b/', 'dir-c/', 'weird key+with%chars/']);
    assert.equal(delim.Contents?.length, 30);
    assert.equal(delim.KeyCount, 34);

    // Paging with a delimiter: common prefixes are never repeated.
    const items: string[] = [];
    token = undefined;
    do {
      const page: ListObjectsV2CommandOutput = await s3.send(new ListObjectsV2Command({ Bucket: 'listing', Delimiter: '/', Prefix: 'dir-', MaxKeys: 1, ContinuationToken: token }));
      items.push(...(page.CommonPrefixes ?? []).map((p) => p.Prefix!), ...(page.Contents ?? []).map((c) => c.Key!));
      token = page.NextContinuationToken;
    } while (token !== undefined);
    assert.deepEqual(items, ['dir-a/', 'dir-b/', 'dir-c/']);

    const sub = await s3.send(new ListObjectsV2Command({ Bucket: 'listing', Prefix: 'dir-b/sub/', StartAfter: 'dir-b/sub/1' }));
    assert.deepEqual(sub.Contents?.map((c) => c.Key), ['dir-b/sub/2', 'dir-b/sub/3', 'dir-b/sub/4']);

    // v1 with markers.
    const v1: string[] = [];
    let marker: string | undefined;
    for (;;) {
      const page = await s3.send(new ListObjectsCommand({ Bucket: 'listing', MaxKeys: 10, Marker: marker }));
      v1.push(...(page.Contents ?? []).map((c) => c.Key!));
      if (!page.IsTruncated) break;
      marker = page.NextMarker ?? page.Contents![page.Contents!.length - 1]!.Key;
    }
    assert.deepEqual(v1, keys);

    const encoded = await s3.send(new ListObjectsV2Command({ Bucket: 'listing', Prefix: 'weird', EncodingType: 'url' }));
    // The SDK leaves url-encoded keys as they came.
    assert.equal(encoded.Contents?.[0]?.Key, 'weird%20key%2Bwith%25chars/%C3%A9');
    assert.equal(decodeURIComponent(encoded.Contents![0]!.Key!), 'weird key+with%chars/é');
  });

  test('copy keeps or replaces metadata and shares the chunks; multi-delete reports each key', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'copies' }));
    const body = randomBytes(6 * 1024 * 1024);
    await s3.send(new PutObjectCommand({ Bucket: 'copies', Key: 'src', Body: body, Metadata: { a: '1' }, ContentType: 'text/plain' }));
    const c1 = await s3.send(new CopyObjectCommand({ Bucket: 'copies', Key: 'dst', CopySource: 'copies/src' }));
    assert.equal(c1.CopyObjectResult?.ETag, `"${md5(body)}"`);
    const g1 = await s3.send(new GetObjectCommand({ Bucket: 'copies', Key: 'dst' }));
    assert.ok((await bytesOf(g1.Body)).equals(body));
    assert.deepEqual(g1.Metadata, { a: '1' });
    assert.equal(g1.ContentType, 'text/plain');
    await s3.send(new CopyObjectCommand({ Bucket: 'copies', Key: 'dst2', CopySource: '/copies/src', MetadataDirective: 'REPLACE', Metadata: { b: '2' }, ContentType: 'image/png' }));
    const h2 = await s3.send(new HeadObjectCommand({ Bucket: 'copies', Key: 'dst2' }));
    assert.deepEqual(h2.Metadata, { b: '2' });
    assert.equal(h2.ContentType, 'image/png');
    assert.deepEqual(await s3code(s3.send(new CopyObjectCommand({ Bucket: 'copies', Key: 'src', CopySource: 'copies/src' }))), { code: 'InvalidRequest', status: 400 });
    assert.deepEqual(await s3code(s3.send(new CopyObjectCommand({ Bucket: 'copies', Key: 'x', CopySource: 'copies/missing' }))), { code: 'NoSuchKey', status: 404 });

    const del = await s3.send(new DeleteObjectsCommand({ Bucket: 'copies', Delete: { Objects: [{ Key: 'dst' }, { Key: 'dst2' }, { Key: 'never-existed' }] } }));
    assert.deepEqual(del.Deleted?.map((d) => d.Key), ['dst', 'dst2', 'never-existed']);
    const quiet = await s3.send(new DeleteObjectsCommand({ Bucket: 'copies', Delete: { Objects: [{ Key: 'src' }], Quiet: true } }));
    assert.equal(quiet.Deleted, undefined);
    const left = await s3.send(new ListObjectsV2Command({ Bucket: 'copies' }));
    assert.equal(left.KeyCount, 0);
  });
});
