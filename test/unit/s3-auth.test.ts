// Authentication: SigV4 in headers and presigned URLs (signed by the
// @smithy/signature-v4 signer the AWS SDK uses, not by our own code), the
// streaming aws-chunked forms, and the S3 error for each way it can fail.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { Readable } from 'node:stream';
import { CreateBucketCommand, GetObjectCommand, ListBucketsCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';
import { startHarness, KEY, type Harness } from './s3-harness.js';
import { AwsChunkedDecoder } from '../../src/s3/aws-chunked.js';
import { S3Error } from '../../src/s3/errors.js';
import { signingKey } from '../../src/s3/sigv4.js';
import { Sha256 } from './s3-harness.js';


function signer(secret = KEY.secretKey, accessKey = KEY.accessKey): SignatureV4 {
  return new SignatureV4({ credentials: { accessKeyId: accessKey, secretAccessKey: secret }, region: 'us-east-1', service: 's3', sha256: Sha256 as never, uriEscapePath: false, applyChecksum: false });
}

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function raw(port: number, method: string, path: string, headers: Record<string, string>, body?: Buffer | string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const code = (r: RawResponse): string | undefined => /<Code>([^<]*)<\/Code>/.exec(r.body.toString())?.[1];

/** Signs a request with the SDK's signer and returns the headers to send. */
async function signed(h: Harness, method: string, path: string, headers: Record<string, string>, opts: { date?: Date; secret?: string; accessKey?: string; query?: Record<string, string> } = {}): Promise<Record<string, string>> {
  const req = { method, protocol: 'http:', hostname: '127.0.0.1', port: h.port, path, query: opts.query ?? {}, headers: { host: `127.0.0.1:${h.port}`, ...headers } };
  const out = (await signer(opts.secret, opts.accessKey).sign(req as never, { signingDate: opts.date ?? new Date() })) as unknown as { headers: Record<string, string> };
  return out.headers;
}

async function presignedPath(h: Harness, method: string, path: string, expiresIn: number, date = new Date()): Promise<string> {
  // As @aws-sdk/s3-request-presigner does: S3 presigned URLs sign UNSIGNED-PAYLOAD.
  const req = { method, protocol: 'http:', hostname: '127.0.0.1', port: h.port, path, query: {}, headers: { host: `127.0.0.1:${h.port}`, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } };
  const out = (await signer().presign(req as never, { expiresIn, signingDate: date, unsignableHeaders: new Set(['x-amz-content-sha256']) })) as unknown as { query: Record<string, string> };
  const qs = Object.entries(out.query).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  return `${path}?${qs}`;
}

describe('S3 authentication', () => {
  let h: Harness;
  let s3: S3Client;
  before(async () => {
    h = await startHarness();
    s3 = h.client();
    await s3.send(new CreateBucketCommand({ Bucket: 'auth' }));
    await s3.send(new PutObjectCommand({ Bucket: 'auth', Key: 'hello.txt', Body: 'hello world' }));
  });
  after(async () => {
    await h.close();
  });

  test('wrong secret, unknown key, missing auth and a skewed clock get their S3 errors', async () => {
    const bad = h.client({ ...KEY, secretKey: 'wrong' });
    await assert.rejects(bad.send(new ListBucketsCommand({})), (e: { name: string; $metadata: { httpStatusCode: number } }) => e.name === 'SignatureDoesNotMatch' && e.$metadata.httpStatusCode === 403);
    const unknown = h.client({ ...KEY, accessKey: 'AKIANOSUCHKEY0000000' });
    await assert.rejects(unknown.send(new ListBucketsCommand({})), (e: { name: string }) => e.name === 'InvalidAccessKeyId');
    const anon = await raw(h.port, 'GET', '/auth/hello.txt', {});
    assert.equal(anon.status, 403);
    assert.equal(code(anon), 'AccessDenied');
    const old = await signed(h, 'GET', '/auth/hello.txt', { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' }, { date: new Date(Date.now() - 3600_000) });
    const skewed = await raw(h.port, 'GET', '/auth/hello.txt', old);
    assert.equal(skewed.status, 403);
    assert.equal(code(skewed), 'RequestTimeTooSkewed');
    const malformed = await raw(h.port, 'GET', '/', { authorization: 'AWS4-HMAC-SHA256 garbage', 'x-amz-date': '20250101T000000Z', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' });
    assert.equal(malformed.status, 400);
    assert.equal(code(malformed), 'AuthorizationHeaderMalformed');
  });

  test('a signed request is accepted; tampering with a signed header or the payload is refused', async () => {
    const body = 'payload';
    const sha = createHash('sha256').update(body).digest('hex');
    const headers = await signed(h, 'PUT', '/auth/signed', { 'x-amz-content-sha256': sha, 'content-length': String(body.length), 'x-amz-meta-k': 'v' });
    const ok = await raw(h.port, 'PUT', '/auth/signed', headers, body);
    assert.equal(ok.status, 200, ok.body.toString());
    const tampered = await raw(h.port, 'PUT', '/auth/signed', { ...headers, 'x-amz-meta-k': 'evil' }, body);
    assert.equal(code(tampered), 'SignatureDoesNotMatch');
    const wrongBody = await raw(h.port, 'PUT', '/auth/signed', headers, 'PAYLOAD');
    assert.equal(wrongBody.status, 400);
    assert.equal(code(wrongBody), 'XAmzContentSHA256Mismatch');
    const got = await s3.send(new GetObjectCommand({ Bucket: 'auth', Key: 'signed' }));
    assert.equal(await got.Body!.transformToString(), body);
  });

  test('presigned URLs work until they expire', async () => {
    const path = await presignedPath(h, 'GET', '/auth/hello.txt', 60);
    const ok = await raw(h.port, 'GET', path, {});
    assert.equal(ok.status, 200);
    assert.equal(ok.body.toString(), 'hello world');
    const expired = await raw(h.port, 'GET', await presignedPath(h, 'GET', '/auth/hello.txt', 60, new Date(Date.now() - 120_000)), {});
    assert.equal(expired.status, 403);
    assert.equal(code(expired), 'AccessDenied');
    const putPath = await presignedPath(h, 'PUT', '/auth/uploaded', 60);
    const put = await raw(h.port, 'PUT', putPath, { 'content-length': '3' }, 'abc');
    assert.equal(put.status, 200);
    const got = await s3.send(new GetObjectCommand({ Bucket: 'auth', Key: 'uploaded' }));
    assert.equal(await got.Body!.transformToString(), 'abc');
    const tampered = await raw(h.port, 'GET', path.replace('hello.txt', 'uploaded'), {});
    assert.equal(code(tampered), 'SignatureDoesNotMatch');
  });

  test('the SDK streams a body of unknown content as aws-chunked with a trailing CRC32, verified', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 11);
    const stream = Readable.from((function* () {
      for (let i = 0; i < data.length; i += 100_000) yield data.subarray(i, i + 100_000);
    })());
    const sent: Record<string, string>[] = [];
    const client = h.client();
    client.middlewareStack.add(
      (next) => async (args) => {
        sent.push({ ...(args.request as { headers: Record<string, string> }).headers });
        return next(args);
      },
      { step: 'deserialize', name: 'recordHeaders' },
    );
    const put = await client.send(new PutObjectCommand({ Bucket: 'auth', Key: 'streamed', Body: stream, ContentLength: data.length }));
    assert.equal(sent[0]?.['x-amz-content-sha256'], 'STREAMING-UNSIGNED-PAYLOAD-TRAILER');
    assert.equal(sent[0]?.['x-amz-trailer'], 'x-amz-checksum-crc32');
    assert.equal(put.ETag, `"${createHash('md5').update(data).digest('hex')}"`);
    assert.ok(put.ChecksumCRC32 !== undefined);
    const got = await s3.send(new GetObjectCommand({ Bucket: 'auth', Key: 'streamed', ChecksumMode: 'ENABLED' }));
    assert.ok(Buffer.from(await got.Body!.transformToByteArray()).equals(data));
    assert.equal(got.ChecksumCRC32, put.ChecksumCRC32);
  });

  test('signed aws-chunked uploads (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) are verified chunk by chunk', async () => {
    const data = randomBytes(200_000);
    const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
    const date = amzDate.slice(0, 8);
    const encodedLength = (sizes: number[]) => sizes.reduce((a, n) => a + n.toString(16).length + ';chunk-signature='.length + 64 + 4 + n, 0);
    const sizes = [65536, 65536, 65536, 200_000 - 3 * 65536, 0];
    const headers = await signed(h, 'PUT', '/auth/chunked', {
      'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
      'content-encoding': 'aws-chunked',
      'x-amz-decoded-content-length': String(data.length),
      'content-length': String(encodedLength(sizes)),
      'x-amz-date': amzDate,
    });
    const seed = /Signature=([0-9a-f]{64})/.exec(headers['authorization']!)![1]!;
    const key = signingKey(KEY.secretKey, date, 'us-east-1', 's3');
    const scope = `${date}/us-east-1/s3/aws4_request`;
    const build = (corruptAt: number) => {
      let prev = seed;
      let off = 0;
      const parts: Buffer[] = [];
      for (const [i, n] of sizes.entries()) {
        const chunk = data.subarray(off, off + n);
        off += n;
        const toSign = `AWS4-HMAC-SHA256-PAYLOAD\n${amzDate}\n${scope}\n${prev}\n${createHash('sha256').update('').digest('hex')}\n${createHash('sha256').update(chunk).digest('hex')}`;
        const sig = createHmac('sha256', key).update(toSign).digest('hex');
        prev = sig;
        const sent = i === corruptAt ? Buffer.from(chunk).fill(1, 0, 1) : chunk;
        parts.push(Buffer.from(`${n.toString(16)};chunk-signature=${sig}\r\n`), sent, Buffer.from('\r\n'));
      }
      return Buffer.concat(parts);
    };
    const ok = await raw(h.port, 'PUT', '/auth/chunked', headers, build(-1));
    assert.equal(ok.status, 200, ok.body.toString());
    const got = await s3.send(new GetObjectCommand({ Bucket: 'auth', Key: 'chunked' }));
    assert.ok(Buffer.from(await got.Body!.transformToByteArray()).equals(data));
    const bad = await raw(h.port, 'PUT', '/auth/chunked2', headers, build(2));
    assert.equal(bad.status, 403);
    assert.equal(code(bad), 'SignatureDoesNotMatch');
    await assert.rejects(s3.send(new GetObjectCommand({ Bucket: 'auth', Key: 'chunked2' })), (e: { name: string }) => e.name === 'NoSuchKey');
  });

  test('the aws-chunked decoder rejects truncated and malformed framing without crashing', async () => {
    const run = async (body: string, trailer = true) => {
      const d = new AwsChunkedDecoder({ trailer });
      const out: Buffer[] = [];
      for await (const p of d.decode(Readable.from([Buffer.from(body)]))) out.push(p);
      return { data: Buffer.concat(out).toString(), trailers: d.trailers };
    };
    const good = await run('3\r\nabc\r\n2\r\nde\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n');
    assert.equal(good.data, 'abcde');
    assert.equal(good.trailers.get('x-amz-checksum-crc32'), 'AAAAAA==');
    for (const badBody of ['3\r\nab', 'zz\r\nabc\r\n0\r\n\r\n', '3\r\nabcXX0\r\n\r\n', '3\r\nabc\r\n', '2\r\nab\r\n0\r\nnocolon\r\n\r\n']) {
      await assert.rejects(run(badBody), (e) => e instanceof S3Error && e.status === 400, JSON.stringify(badBody));
    }
  });
});
