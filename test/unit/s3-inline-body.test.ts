// A small plain PUT body is read in one piece (BodyReader.readInline), a
// larger one streams into chunks: both must keep every check the stream had
// (Content-MD5, the x-amz-checksum-* header, the signed payload hash) and
// round-trip byte for byte, on either side of INLINE_MAX.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';
import { startHarness, s3Failure, KEY, Sha256, type Harness } from './s3-harness.js';
import { CHUNK_BUCKET, CHUNK_SIZE, INLINE_MAX } from '../../src/s3/chunks.js';
import { HASH_OFFLOAD_MIN } from '../../src/s3/hash-worker.js';

/** A PUT signed with the SDK's signer over the payload's SHA-256 (not UNSIGNED-PAYLOAD), sent raw. */
async function signedPut(h: Harness, path: string, body: Buffer, claimedSha = createHash('sha256').update(body).digest('hex')): Promise<{ status: number; body: string }> {
  const signer = new SignatureV4({ credentials: { accessKeyId: KEY.accessKey, secretAccessKey: KEY.secretKey }, region: 'us-east-1', service: 's3', sha256: Sha256 as never, uriEscapePath: false, applyChecksum: false });
  const req = { method: 'PUT', protocol: 'http:', hostname: '127.0.0.1', port: h.port, path, query: {}, headers: { host: `127.0.0.1:${h.port}`, 'x-amz-content-sha256': claimedSha, 'content-length': String(body.length) } };
  const { headers } = (await signer.sign(req as never, { signingDate: new Date() })) as unknown as { headers: Record<string, string> };
  return new Promise((resolve, reject) => {
    const r = httpRequest({ host: '127.0.0.1', port: h.port, method: 'PUT', path, headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString() }));
    });
    r.on('error', reject);
    r.end(body);
  });
}

const md5 = (b: Uint8Array): string => createHash('md5').update(b).digest('hex');

describe('S3 PUT bodies, inline and chunked', () => {
  let h: Harness;
  let s3: S3Client;
  before(async () => {
    h = await startHarness();
    s3 = h.client();
    await s3.send(new CreateBucketCommand({ Bucket: 'inline' }));
  });
  after(async () => {
    await h.close();
  });

  for (const size of [0, 1, 4096, INLINE_MAX, INLINE_MAX + 1, 3 * INLINE_MAX + 7]) {
    it(`${size} bytes round-trip with their ETag`, async () => {
      const body = randomBytes(size);
      const put = await s3.send(new PutObjectCommand({ Bucket: 'inline', Key: `k${size}`, Body: body }));
      assert.equal(put.ETag, `"${md5(body)}"`);
      const got = await s3.send(new GetObjectCommand({ Bucket: 'inline', Key: `k${size}` }));
      assert.deepEqual(Buffer.from(await got.Body!.transformToByteArray()), body);
      assert.equal(got.ETag, `"${md5(body)}"`);
    });
  }

  it('a wrong Content-MD5 is refused and nothing is written', async () => {
    const body = randomBytes(100);
    const wrong = createHash('md5').update('something else').digest('base64');
    const f = await s3Failure(s3.send(new PutObjectCommand({ Bucket: 'inline', Key: 'md5', Body: body, ContentMD5: wrong })));
    assert.equal(f.code, 'BadDigest');
    assert.equal((await s3Failure(s3.send(new GetObjectCommand({ Bucket: 'inline', Key: 'md5' })))).code, 'NoSuchKey');
    const right = createHash('md5').update(body).digest('base64');
    await s3.send(new PutObjectCommand({ Bucket: 'inline', Key: 'md5', Body: body, ContentMD5: right }));
  });

  it('a large body (MD5 on the worker) with a wrong Content-MD5 is refused, with the right one stored under its ETag', async () => {
    const body = randomBytes(HASH_OFFLOAD_MIN + CHUNK_SIZE + 5);
    const wrong = createHash('md5').update('something else').digest('base64');
    const f = await s3Failure(s3.send(new PutObjectCommand({ Bucket: 'inline', Key: 'md5-big', Body: body, ContentMD5: wrong })));
    assert.equal(f.code, 'BadDigest');
    assert.equal((await s3Failure(s3.send(new GetObjectCommand({ Bucket: 'inline', Key: 'md5-big' })))).code, 'NoSuchKey');
    const right = createHash('md5').update(body).digest('base64');
    const ok = await s3.send(new PutObjectCommand({ Bucket: 'inline', Key: 'md5-big', Body: body, ContentMD5: right }));
    assert.equal(ok.ETag, `"${md5(body)}"`);
    const got = await s3.send(new GetObjectCommand({ Bucket: 'inline', Key: 'md5-big' }));
    assert.deepEqual(Buffer.from(await got.Body!.transformToByteArray()), body);
  });

  it('a wrong x-amz-checksum-sha256 header is refused', async () => {
    const body = randomBytes(100);
    const wrong = createHash('sha256').update('something else').digest('base64');
    const f = await s3Failure(s3.send(new PutObjectCommand({ Bucket: 'inline', Key: 'sum', Body: body, ChecksumSHA256: wrong })));
    assert.equal(f.code, 'BadDigest');
    const right = createHash('sha256').update(body).digest('base64');
    const ok = await s3.send(new PutObjectCommand({ Bucket: 'inline', Key: 'sum', Body: body, ChecksumSHA256: right }));
    assert.equal(ok.ChecksumSHA256, right);
  });

  it('a signed payload that makes one chunk is stored under the payload hash; two chunks, and a wrong payload, as before', async () => {
    const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
    const chunkHeld = (h2: string): boolean => [...h.stores.values()].some((st) => st.read(CHUNK_BUCKET, h2) !== undefined);
    const one = randomBytes(3 * INLINE_MAX);
    const r1 = await signedPut(h, '/inline/signed-one', one);
    assert.equal(r1.status, 200, r1.body);
    assert.ok(chunkHeld(sha(one)), 'the one chunk is addressed by its SHA-256');
    const two = randomBytes(CHUNK_SIZE + 1000);
    const r2 = await signedPut(h, '/inline/signed-two', two);
    assert.equal(r2.status, 200, r2.body);
    assert.ok(chunkHeld(sha(two.subarray(0, CHUNK_SIZE))) && chunkHeld(sha(two.subarray(CHUNK_SIZE))), 'each chunk is addressed by its own SHA-256');
    for (const [key, body] of [['signed-one', one], ['signed-two', two]] as const) {
      const got = await s3.send(new GetObjectCommand({ Bucket: 'inline', Key: key }));
      assert.deepEqual(Buffer.from(await got.Body!.transformToByteArray()), body);
    }
    // Past HASH_OFFLOAD_MIN the payload hash comes from the worker (hash-worker.ts): a wrong one is refused the same way.
    const badBig = await signedPut(h, '/inline/signed-bad-big', two, sha(Buffer.from('something else')));
    assert.equal(badBig.status, 400);
    assert.match(badBig.body, /XAmzContentSHA256Mismatch/);
    assert.equal((await s3Failure(s3.send(new GetObjectCommand({ Bucket: 'inline', Key: 'signed-bad-big' })))).code, 'NoSuchKey');
    const bad = await signedPut(h, '/inline/signed-bad', one, sha(Buffer.from('something else')));
    assert.equal(bad.status, 400);
    assert.match(bad.body, /XAmzContentSHA256Mismatch/);
    assert.equal((await s3Failure(s3.send(new GetObjectCommand({ Bucket: 'inline', Key: 'signed-bad' })))).code, 'NoSuchKey');
  });
});
