// A small plain PUT body is read in one piece (BodyReader.readInline), a
// larger one streams into chunks: both must keep every check the stream had
// (Content-MD5, the x-amz-checksum-* header, the signed payload hash) and
// round-trip byte for byte, on either side of INLINE_MAX.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { startHarness, s3Failure, type Harness } from './s3-harness.js';
import { INLINE_MAX } from '../../src/s3/chunks.js';

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

  it('a wrong x-amz-checksum-sha256 header is refused', async () => {
    const body = randomBytes(100);
    const wrong = createHash('sha256').update('something else').digest('base64');
    const f = await s3Failure(s3.send(new PutObjectCommand({ Bucket: 'inline', Key: 'sum', Body: body, ChecksumSHA256: wrong })));
    assert.equal(f.code, 'BadDigest');
    const right = createHash('sha256').update(body).digest('base64');
    const ok = await s3.send(new PutObjectCommand({ Bucket: 'inline', Key: 'sum', Body: body, ChecksumSHA256: right }));
    assert.equal(ok.ChecksumSHA256, right);
  });
});
