// GetBucketAcl, PutBucketAcl, GetObjectAcl, PutObjectAcl with canned ACLs
// (acl.ts): the x-amz-acl header, or an AccessControlPolicy body whose grants
// amount to one. Only the owner reads or changes an ACL.

import { siblingClock } from '../version/dvv.js';
import { aclFromPolicy, policyXml, requestAcl, type CannedAcl } from './acl.js';
import { BodyReader } from './body.js';
import { storageBucket } from '../coordinator/buckets-types.js';
import { bucketQuorum, requireBucket, requireKey, type Ctx } from './context.js';
import { S3Error } from './errors.js';
import { sendEmpty, sendXml } from './http-util.js';
import { encodeObject, loadObject, mtimeHeader, versionIdOf } from './object-model.js';
import { parseXml } from './xml.js';

/** The ACL a PUT ?acl asks for: the header, else the body. */
async function aclOfRequest(ctx: Ctx, owner: string): Promise<CannedAcl> {
  const fromHeader = requestAcl(ctx.req);
  const body = await new BodyReader(ctx.req, ctx.auth, 1 << 20).readAll(64 * 1024);
  if (fromHeader !== undefined) {
    if (body.length > 0) throw new S3Error('UnexpectedContent', 'This request does not support content when x-amz-acl is given');
    return fromHeader;
  }
  if (body.length === 0) throw new S3Error('MissingSecurityHeader', 'Your request was missing a required header or body: x-amz-acl or an AccessControlPolicy', { MissingHeaderName: 'x-amz-acl' });
  return aclFromPolicy(parseXml(body.toString('utf8'), 'AccessControlPolicy'), owner);
}

export async function getBucketAcl(ctx: Ctx): Promise<void> {
  const bucket = await requireBucket(ctx);
  sendXml(ctx.res, 200, 'AccessControlPolicy', policyXml(bucket.owner, bucket.acl));
}

export async function putBucketAcl(ctx: Ctx): Promise<void> {
  const bucket = await requireBucket(ctx);
  const acl = await aclOfRequest(ctx, bucket.owner);
  await ctx.deps.catalog.setAcl(bucket, acl);
  sendEmpty(ctx.res, 200);
}

async function loadForAcl(ctx: Ctx) {
  const bucket = await requireBucket(ctx);
  const key = requireKey(ctx);
  const versionId = ctx.query.get('versionId');
  const loaded = await loadObject(ctx.deps.coordinator, storageBucket(bucket), key, versionId, bucketQuorum(bucket));
  if (loaded.object === undefined) throw new S3Error('NoSuchKey', 'The specified key does not exist.', { Key: key });
  return { bucket, key, versionId, object: loaded.object };
}

export async function getObjectAcl(ctx: Ctx): Promise<void> {
  const { bucket, versionId, object } = await loadForAcl(ctx);
  // Without an ACL of its own an object reads as its bucket does: show that, not a private it is not.
  const acl = object.info.acl ?? bucket.acl;
  sendXml(ctx.res, 200, 'AccessControlPolicy', policyXml(bucket.owner, acl), versionId !== undefined ? { 'x-amz-version-id': versionIdOf(object.sibling) } : {});
}

export async function putObjectAcl(ctx: Ctx): Promise<void> {
  const { bucket, key, object } = await loadForAcl(ctx);
  const acl = await aclOfRequest(ctx, bucket.owner);
  const q = bucketQuorum(bucket);
  // The same bytes and metadata with the new ACL, superseding exactly the version read; Last-Modified is kept.
  const e = encodeObject({ ...object.info, acl }, object.inline !== undefined ? { inline: object.inline } : { chunks: object.chunks });
  const meta = { ...e.meta, headers: { ...e.meta.headers, ...mtimeHeader(object.info.mtimeMs) } };
  await ctx.deps.coordinator.put({ bucket: storageBucket(bucket), key, value: e.value, meta, context: siblingClock(object.sibling), n: q.n, w: q.w });
  sendEmpty(ctx.res, 200);
}
