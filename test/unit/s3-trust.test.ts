// What every client relies on (issue 12): XML bodies read as XML (in the
// exact form Go's encoding/xml writes them), retries that answer what the
// first attempt answered, canned ACLs with anonymous reads, and the smaller
// S3 answers tools expect (CreateBucket again, 304 validators,
// InvalidPartNumber).

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
  GetBucketAclCommand,
  GetObjectAclCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutBucketAclCommand,
  PutObjectAclCommand,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';
import { startHarness, KEY, OTHER, type Harness } from './s3-harness.js';
import { parseXml } from '../../src/s3/xml.js';
import { S3Error } from '../../src/s3/errors.js';
import { PARTS_BUCKET } from '../../src/s3/multipart.js';
import { Sha256, s3Failure as failure } from './s3-harness.js';

const MiB = 1024 * 1024;
const md5 = (b: Uint8Array | string): string => createHash('md5').update(b).digest('hex');


const signer = new SignatureV4({ credentials: { accessKeyId: KEY.accessKey, secretAccessKey: KEY.secretKey }, region: 'us-east-1', service: 's3', sha256: Sha256 as never, uriEscapePath: false, applyChecksum: false });

/** A signed request with exactly this body, as a client other than the AWS SDK would send it. */
async function signedFetch(h: Harness, method: string, path: string, query: Record<string, string>, body: string): Promise<{ status: number; text: string }> {
  const headers = { host: `127.0.0.1:${h.port}`, 'x-amz-content-sha256': createHash('sha256').update(body).digest('hex'), 'content-md5': createHash('md5').update(body).digest('base64') };
  const signed = (await signer.sign({ method, protocol: 'http:', hostname: '127.0.0.1', port: h.port, path, query, headers } as never)) as unknown as { headers: Record<string, string> };
  const qs = Object.entries(query).map(([k, v]) => (v === '' ? encodeURIComponent(k) : `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)).join('&');
  const res = await fetch(`${h.endpoint}${path}?${qs}`, { method, headers: signed.headers, body });
  return { status: res.status, text: await res.text() };
}

const codeOf = (text: string): string | undefined => /<Code>([^<]*)<\/Code>/.exec(text)?.[1];


/** Two parts (5 MiB and a small last one) uploaded; returns the upload id and the parts' ETags (quoted, as S3 answers). */
async function twoParts(s3: S3Client, bucket: string, key: string): Promise<{ uploadId: string; etags: string[]; data: Buffer }> {
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  const a = randomBytes(5 * MiB);
  const b = randomBytes(1000);
  const etags: string[] = [];
  for (const [i, body] of [a, b].entries()) etags.push((await s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: i + 1, Body: body }))).ETag!);
  return { uploadId: UploadId!, etags, data: Buffer.concat([a, b]) };
}

describe('XML request bodies are read as XML', () => {
  const root = 'CompleteMultipartUpload';
  const etag = (doc: Record<string, unknown>, i = 0): unknown => ((doc['Part'] as Record<string, unknown>[])[i]!)['ETag'];

  test('character references (decimal and hex), the predefined entities and CDATA decode to their characters', () => {
    const doc = parseXml(`<${root}><Part><PartNumber>1</PartNumber><ETag>&#34;a&#x22;&amp;&lt;&gt;&apos;&quot;<![CDATA[<&>]]>&#x1F600;</ETag></Part></${root}>`, root);
    assert.equal(etag(doc), '"a"&<>\'"<&>\u{1F600}');
  });

  test('namespace prefixes and the default namespace are read through; whitespace between elements is not content', () => {
    const doc = parseXml(`<?xml version="1.0" encoding="UTF-8"?>\n<s3:${root} xmlns:s3="http://s3.amazonaws.com/doc/2006-03-01/">\n  <s3:Part>\n    <s3:PartNumber> 2 </s3:PartNumber>\n    <s3:ETag>"x"</s3:ETag>\n  </s3:Part>\n</s3:${root}>\n`, root);
    assert.equal(etag(doc), '"x"');
    assert.equal((doc['Part'] as Record<string, unknown>[]).length, 1);
  });

  test('a DOCTYPE (internal entities, external entities) and undeclared or broken references are MalformedXML', () => {
    const bad = [
      `<!DOCTYPE x [<!ENTITY e "boom">]><${root}><Part><ETag>&e;</ETag></Part></${root}>`,
      `<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><${root}><Part><ETag>&e;</ETag></Part></${root}>`,
      `<${root}><Part><ETag>&copy;</ETag></Part></${root}>`,
      `<${root}><Part><ETag>a & b</ETag></Part></${root}>`,
      `<${root}><Part><ETag>&#0;</ETag></Part></${root}>`,
      `<${root}><Part><ETag>x</Part></${root}>`,
      `<Other/>`,
    ];
    for (const text of bad) {
      assert.throws(() => parseXml(text, root), (err: unknown) => err instanceof S3Error && err.code === 'MalformedXML' && err.status === 400, text);
    }
  });
});

describe('S3 clients other than the AWS SDK, retries, ACLs and small answers', () => {
  let h: Harness;
  let s3: S3Client;
  let other: S3Client;
  before(async () => {
    h = await startHarness();
    s3 = h.client();
    other = h.client(OTHER);
    await s3.send(new CreateBucketCommand({ Bucket: 'trust' }));
  });
  after(async () => {
    await h.close();
  });

  test('CompleteMultipartUpload and DeleteObjects in the exact form Go encoding/xml writes them (&#34; around ETags, xmlns, no whitespace) succeed', async () => {
    const { uploadId, etags, data } = await twoParts(s3, 'trust', 'go-complete');
    const goEtag = (e: string): string => e.replace(/"/g, '&#34;');
    const body =
      `<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
      etags.map((e, i) => `<Part><ETag>${goEtag(e)}</ETag><PartNumber>${i + 1}</PartNumber></Part>`).join('') +
      `</CompleteMultipartUpload>`;
    assert.match(body, /<ETag>&#34;[0-9a-f]{32}&#34;<\/ETag>/);
    const res = await signedFetch(h, 'POST', '/trust/go-complete', { uploadId }, body);
    assert.equal(res.status, 200, res.text);
    const got = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: 'trust', Key: 'go-complete' }))).Body!.transformToByteArray());
    assert.ok(got.equals(data), 'the object is the two parts, byte for byte');

    await s3.send(new PutObjectCommand({ Bucket: 'trust', Key: 'a&b "c"', Body: 'x' }));
    const del = await signedFetch(h, 'POST', '/trust', { delete: '' }, `<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>a&amp;b &#34;c&#34;</Key></Object><Quiet>true</Quiet></Delete>`);
    assert.equal(del.status, 200, del.text);
    assert.doesNotMatch(del.text, /<Error>/);
    assert.equal((await failure(s3.send(new HeadObjectCommand({ Bucket: 'trust', Key: 'a&b "c"' })))).status, 404);
  });

  test('a body with a DOCTYPE is refused with 400 MalformedXML', async () => {
    const res = await signedFetch(h, 'POST', '/trust', { delete: '' }, `<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><Delete><Object><Key>&x;</Key></Object></Delete>`);
    assert.equal(res.status, 400);
    assert.equal(codeOf(res.text), 'MalformedXML');
  });

  test('a repeated CompleteMultipartUpload with the same parts answers 200 with the same ETag; other parts get NoSuchUpload', async () => {
    const { uploadId, etags } = await twoParts(s3, 'trust', 'retried');
    const parts = etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 }));
    const first = await s3.send(new CompleteMultipartUploadCommand({ Bucket: 'trust', Key: 'retried', UploadId: uploadId, MultipartUpload: { Parts: parts } }));
    const again = await s3.send(new CompleteMultipartUploadCommand({ Bucket: 'trust', Key: 'retried', UploadId: uploadId, MultipartUpload: { Parts: parts } }));
    assert.equal(again.$metadata.httpStatusCode, 200);
    assert.equal(again.ETag, first.ETag);
    assert.match(first.ETag!, /-2"$/);
    assert.deepEqual(await failure(s3.send(new CompleteMultipartUploadCommand({ Bucket: 'trust', Key: 'retried', UploadId: uploadId, MultipartUpload: { Parts: parts.slice(0, 1) } }))), { code: 'NoSuchUpload', status: 404 });
    // The finished upload is no longer listed, takes no parts, and left no part records behind.
    const listed = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'trust' }));
    assert.ok(!(listed.Uploads ?? []).some((u) => u.UploadId === uploadId));
    assert.deepEqual(await failure(s3.send(new UploadPartCommand({ Bucket: 'trust', Key: 'retried', UploadId: uploadId, PartNumber: 3, Body: 'late' }))), { code: 'NoSuchUpload', status: 404 });
    const left = await h.coordinators.get('n1')!.list({ bucket: PARTS_BUCKET, prefix: `${uploadId}/`, limit: 10 });
    assert.deepEqual(left.keys.map((k) => k.key), [], 'no part record of the completed upload (nor of the late part) remains');
  });

  test('a repeated AbortMultipartUpload and a repeated DeleteObject answer success; an unknown upload is NoSuchUpload', async () => {
    const { uploadId } = await twoParts(s3, 'trust', 'aborted');
    for (let i = 0; i < 2; i++) {
      const r = await s3.send(new AbortMultipartUploadCommand({ Bucket: 'trust', Key: 'aborted', UploadId: uploadId }));
      assert.equal(r.$metadata.httpStatusCode, 204);
    }
    const left = await h.coordinators.get('n1')!.list({ bucket: PARTS_BUCKET, prefix: `${uploadId}/`, limit: 10 });
    assert.equal(left.keys.length, 0, 'the aborted upload\'s part records are gone');
    assert.deepEqual(await failure(s3.send(new AbortMultipartUploadCommand({ Bucket: 'trust', Key: 'aborted', UploadId: 'f'.repeat(32) }))), { code: 'NoSuchUpload', status: 404 });
    await s3.send(new PutObjectCommand({ Bucket: 'trust', Key: 'gone', Body: 'x' }));
    for (let i = 0; i < 2; i++) assert.equal((await s3.send(new DeleteObjectCommand({ Bucket: 'trust', Key: 'gone' }))).$metadata.httpStatusCode, 204);
  });

  test('an UploadPart racing a Complete leaves no part record behind, whichever wins', async () => {
    const { uploadId, etags } = await twoParts(s3, 'trust', 'raced');
    const parts = etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 }));
    const late = Array.from({ length: 6 }, (_, i) => s3.send(new UploadPartCommand({ Bucket: 'trust', Key: 'raced', UploadId: uploadId, PartNumber: 10 + i, Body: randomBytes(1000) })).then(() => 'ok', (e: { Code?: string }) => e.Code));
    await s3.send(new CompleteMultipartUploadCommand({ Bucket: 'trust', Key: 'raced', UploadId: uploadId, MultipartUpload: { Parts: parts } }));
    const outcomes = await Promise.all(late);
    for (const o of outcomes) assert.ok(o === 'ok' || o === 'NoSuchUpload', String(o));
    const left = await h.coordinators.get('n1')!.list({ bucket: PARTS_BUCKET, prefix: `${uploadId}/`, limit: 20 });
    // A part that answered "ok" was written before Complete listed the parts, and Complete deleted it.
    assert.deepEqual(left.keys.map((k) => k.key), []);
  });

  test('CreateBucket of a bucket one owns answers 200; of another owner\'s, 409 BucketAlreadyExists', async () => {
    assert.equal((await s3.send(new CreateBucketCommand({ Bucket: 'trust' }))).$metadata.httpStatusCode, 200);
    assert.deepEqual(await failure(other.send(new CreateBucketCommand({ Bucket: 'trust' }))), { code: 'BucketAlreadyExists', status: 409 });
  });

  test('a 304 Not Modified carries the ETag and Last-Modified', async () => {
    await s3.send(new PutObjectCommand({ Bucket: 'trust', Key: 'cond', Body: 'hello' }));
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'trust', Key: 'cond' }));
    for (const cond of [{ IfNoneMatch: head.ETag }, { IfModifiedSince: new Date(Date.now() + 60_000) }]) {
      const res = await fetch(`${h.endpoint}/trust/cond`, { method: 'GET', headers: await authHeaders(h, 'GET', '/trust/cond', cond.IfNoneMatch !== undefined ? { 'if-none-match': cond.IfNoneMatch } : { 'if-modified-since': cond.IfModifiedSince!.toUTCString() }) });
      assert.equal(res.status, 304);
      assert.equal(res.headers.get('etag'), `"${md5('hello')}"`);
      assert.equal(res.headers.get('last-modified'), head.LastModified!.toUTCString());
    }
  });

  test('a write with If-None-Match naming ETags fails only when the current object has one of them', async () => {
    const first = await s3.send(new PutObjectCommand({ Bucket: 'trust', Key: 'inm', Body: 'one' }));
    assert.deepEqual(await failure(s3.send(new PutObjectCommand({ Bucket: 'trust', Key: 'inm', Body: 'two', IfNoneMatch: first.ETag }))), { code: 'PreconditionFailed', status: 412 });
    assert.equal((await s3.send(new PutObjectCommand({ Bucket: 'trust', Key: 'inm', Body: 'two', IfNoneMatch: '"0123"' }))).$metadata.httpStatusCode, 200);
  });

  test('a Complete whose declared checksum is not the composite of its parts\' is BadDigest', async () => {
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'trust', Key: 'cks', ChecksumAlgorithm: 'SHA256' }));
    const p = await s3.send(new UploadPartCommand({ Bucket: 'trust', Key: 'cks', UploadId, PartNumber: 1, Body: 'part', ChecksumAlgorithm: 'SHA256' }));
    const parts = [{ ETag: p.ETag, PartNumber: 1, ChecksumSHA256: p.ChecksumSHA256 }];
    const wrong = `${createHash('sha256').update('other').digest('base64')}-1`;
    assert.deepEqual(await failure(s3.send(new CompleteMultipartUploadCommand({ Bucket: 'trust', Key: 'cks', UploadId, ChecksumSHA256: wrong, MultipartUpload: { Parts: parts } }))), { code: 'BadDigest', status: 400 });
    const right = `${createHash('sha256').update(Buffer.from(p.ChecksumSHA256!, 'base64')).digest('base64')}-1`;
    const done = await s3.send(new CompleteMultipartUploadCommand({ Bucket: 'trust', Key: 'cks', UploadId, ChecksumSHA256: right, MultipartUpload: { Parts: parts } }));
    assert.equal(done.ChecksumSHA256, right);
  });

  test('a part number past the object\'s parts is 400 InvalidPartNumber', async () => {
    await s3.send(new PutObjectCommand({ Bucket: 'trust', Key: 'single', Body: 'one part' }));
    assert.equal((await s3.send(new GetObjectCommand({ Bucket: 'trust', Key: 'single', PartNumber: 1 }))).PartsCount, 1);
    assert.deepEqual(await failure(s3.send(new GetObjectCommand({ Bucket: 'trust', Key: 'single', PartNumber: 2 }))), { code: 'InvalidPartNumber', status: 400 });
  });

  describe('canned ACLs', () => {
    const anon = (method: string, path: string, body?: string): Promise<Response> => fetch(`${h.endpoint}${path}`, { method, ...(body !== undefined ? { body } : {}) });

    test('private is the default: anonymous reads, listings and writes, and other users, are denied', async () => {
      await s3.send(new CreateBucketCommand({ Bucket: 'closed' }));
      await s3.send(new PutObjectCommand({ Bucket: 'closed', Key: 'secret', Body: 'secret' }));
      for (const [method, path, body] of [
        ['GET', '/closed/secret'],
        ['HEAD', '/closed/secret'],
        ['GET', '/closed'],
        ['GET', '/closed/missing'],
        ['PUT', '/closed/new', 'x'],
        ['DELETE', '/closed/secret'],
        ['GET', '/'],
        ['PUT', '/anon-made'],
      ] as const) {
        const res = await anon(method, path, body);
        assert.equal(res.status, 403, `${method} ${path}`);
        if (method !== 'HEAD') assert.equal(codeOf(await res.text()), 'AccessDenied');
      }
      assert.deepEqual(await failure(other.send(new GetObjectCommand({ Bucket: 'closed', Key: 'secret' }))), { code: 'AccessDenied', status: 403 });
      const acl = await s3.send(new GetBucketAclCommand({ Bucket: 'closed' }));
      assert.deepEqual(acl.Grants?.map((g) => [g.Grantee?.Type, g.Grantee?.ID, g.Permission]), [['CanonicalUser', 'dev', 'FULL_CONTROL']]);
      assert.equal(acl.Owner?.ID, 'dev');
    });

    test('a public-read bucket: anyone lists it and reads its objects; writes and deletes still need the owner\'s key', async () => {
      await s3.send(new CreateBucketCommand({ Bucket: 'public', ACL: 'public-read' }));
      await s3.send(new PutObjectCommand({ Bucket: 'public', Key: 'file.txt', Body: 'for everyone' }));
      const get = await anon('GET', '/public/file.txt');
      assert.equal(get.status, 200);
      assert.equal(await get.text(), 'for everyone');
      assert.equal((await anon('HEAD', '/public/file.txt')).status, 200);
      const list = await anon('GET', '/public?list-type=2');
      assert.equal(list.status, 200);
      assert.match(await list.text(), /<Key>file\.txt<\/Key>/);
      assert.equal((await anon('GET', '/public/missing')).status, 404);
      assert.equal((await other.send(new GetObjectCommand({ Bucket: 'public', Key: 'file.txt' }))).$metadata.httpStatusCode, 200);
      for (const [method, path, body] of [
        ['PUT', '/public/new', 'x'],
        ['DELETE', '/public/file.txt'],
        ['GET', '/public?acl'],
        ['PUT', '/public?acl', ''],
        ['POST', '/public/file.txt?uploads'],
      ] as const) {
        const res = await anon(method, path, body);
        assert.equal(res.status, 403, `${method} ${path}`);
        assert.equal(codeOf(await res.text()), 'AccessDenied');
      }
      assert.deepEqual(await failure(other.send(new PutObjectCommand({ Bucket: 'public', Key: 'new', Body: 'x' }))), { code: 'AccessDenied', status: 403 });
      assert.equal((await s3.send(new GetObjectCommand({ Bucket: 'public', Key: 'file.txt' }))).$metadata.httpStatusCode, 200, 'still there');
      const acl = await s3.send(new GetBucketAclCommand({ Bucket: 'public' }));
      assert.deepEqual(acl.Grants?.map((g) => [g.Grantee?.Type, g.Grantee?.URI ?? g.Grantee?.ID, g.Permission]), [
        ['Group', 'http://acs.amazonaws.com/groups/global/AllUsers', 'READ'],
        ['CanonicalUser', 'dev', 'FULL_CONTROL'],
      ]);
      // An object made private explicitly is private even there.
      await s3.send(new PutObjectAclCommand({ Bucket: 'public', Key: 'file.txt', ACL: 'private' }));
      assert.equal((await anon('GET', '/public/file.txt')).status, 403);
      // Back to private through an AccessControlPolicy body: nothing is public any more.
      await s3.send(new PutBucketAclCommand({ Bucket: 'public', AccessControlPolicy: { Owner: { ID: 'dev' }, Grants: [{ Grantee: { Type: 'CanonicalUser', ID: 'dev' }, Permission: 'FULL_CONTROL' }] } }));
      assert.equal((await anon('GET', '/public?list-type=2')).status, 403);
    });

    test('a public-read object in a private bucket: anyone reads it, nothing else', async () => {
      await s3.send(new CreateBucketCommand({ Bucket: 'mixed' }));
      await s3.send(new PutObjectCommand({ Bucket: 'mixed', Key: 'open', Body: 'open', ACL: 'public-read' }));
      await s3.send(new PutObjectCommand({ Bucket: 'mixed', Key: 'shut', Body: 'shut' }));
      const res = await anon('GET', '/mixed/open');
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'open');
      assert.equal((await anon('HEAD', '/mixed/open')).status, 200);
      assert.equal((await anon('GET', '/mixed/shut')).status, 403);
      assert.equal((await anon('GET', '/mixed/missing')).status, 403, 'without list permission a missing key is not told apart');
      assert.equal((await anon('GET', '/mixed')).status, 403);
      assert.equal((await anon('PUT', '/mixed/open', 'overwrite')).status, 403);
      assert.equal((await anon('DELETE', '/mixed/open')).status, 403);
      const acl = await s3.send(new GetObjectAclCommand({ Bucket: 'mixed', Key: 'open' }));
      assert.ok(acl.Grants?.some((g) => g.Grantee?.URI === 'http://acs.amazonaws.com/groups/global/AllUsers' && g.Permission === 'READ'));
      // PutObjectAcl opens the other one, keeping its bytes, ETag and Last-Modified.
      const before = await s3.send(new HeadObjectCommand({ Bucket: 'mixed', Key: 'shut' }));
      await s3.send(new PutObjectAclCommand({ Bucket: 'mixed', Key: 'shut', ACL: 'public-read' }));
      const opened = await anon('GET', '/mixed/shut');
      assert.equal(opened.status, 200);
      assert.equal(await opened.text(), 'shut');
      assert.equal(opened.headers.get('etag'), before.ETag);
      assert.equal(opened.headers.get('last-modified'), before.LastModified!.toUTCString());
      // Copies and multipart uploads take the ACL their request gives.
      await s3.send(new CopyObjectCommand({ Bucket: 'mixed', Key: 'copy', CopySource: 'mixed/open' }));
      assert.equal((await anon('GET', '/mixed/copy')).status, 403, 'a copy does not take the source ACL');
      await s3.send(new CopyObjectCommand({ Bucket: 'mixed', Key: 'copy2', CopySource: 'mixed/shut', ACL: 'public-read' }));
      assert.equal((await anon('GET', '/mixed/copy2')).status, 200);
      const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'mixed', Key: 'mpu', ACL: 'public-read' }));
      const p = await s3.send(new UploadPartCommand({ Bucket: 'mixed', Key: 'mpu', UploadId, PartNumber: 1, Body: 'mpu body' }));
      await s3.send(new CompleteMultipartUploadCommand({ Bucket: 'mixed', Key: 'mpu', UploadId, MultipartUpload: { Parts: [{ ETag: p.ETag, PartNumber: 1 }] } }));
      assert.equal(await (await anon('GET', '/mixed/mpu')).text(), 'mpu body');
    });

    test('public-read-write is refused with a clear error; grants to other accounts are NotImplemented', async () => {
      const e = await failure(s3.send(new CreateBucketCommand({ Bucket: 'rw-bucket', ACL: 'public-read-write' })));
      assert.deepEqual(e, { code: 'NotImplemented', status: 501 });
      assert.deepEqual(await failure(s3.send(new PutObjectCommand({ Bucket: 'trust', Key: 'rw', Body: 'x', ACL: 'public-read-write' }))), { code: 'NotImplemented', status: 501 });
      assert.deepEqual(await failure(s3.send(new PutBucketAclCommand({ Bucket: 'trust', ACL: 'public-read-write' }))), { code: 'NotImplemented', status: 501 });
      assert.deepEqual(await failure(s3.send(new PutBucketAclCommand({ Bucket: 'trust', GrantRead: 'id=mallory' }))), { code: 'NotImplemented', status: 501 });
      assert.deepEqual(
        await failure(s3.send(new PutBucketAclCommand({ Bucket: 'trust', AccessControlPolicy: { Owner: { ID: 'dev' }, Grants: [{ Grantee: { Type: 'CanonicalUser', ID: 'mallory' }, Permission: 'READ' }] } }))),
        { code: 'NotImplemented', status: 501 },
      );
      assert.deepEqual(await failure(other.send(new PutBucketAclCommand({ Bucket: 'trust', ACL: 'public-read' }))), { code: 'AccessDenied', status: 403 });
    });
  });
});

/** Headers of a request signed with the owner's key (an empty body), for a plain fetch. */
async function authHeaders(h: Harness, method: string, path: string, extra: Record<string, string>): Promise<Record<string, string>> {
  const headers = { host: `127.0.0.1:${h.port}`, 'x-amz-content-sha256': createHash('sha256').update('').digest('hex'), ...extra };
  const signed = (await signer.sign({ method, protocol: 'http:', hostname: '127.0.0.1', port: h.port, path, query: {}, headers } as never)) as unknown as { headers: Record<string, string> };
  return signed.headers;
}
