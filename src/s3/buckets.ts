// Bucket operations: ListBuckets, CreateBucket, DeleteBucket, HeadBucket,
// GetBucketLocation, GetBucketVersioning. Bucket metadata lives in the
// bucket catalog (control/bucket-catalog.ts, the Raft control state); each bucket belongs to the user of the key
// that created it, and only that user may use it, except for the reads its
// canned ACL opens to others (acl.ts).

import { denyUnlessBucketReadable, intParam, requireBucket, requireReadableBucket, validBucketName, type Ctx } from './context.js';
import { requestAcl } from './acl.js';
import { S3Error } from './errors.js';
import { drain, isoDate, sendEmpty, sendXml } from './http-util.js';
import { BodyReader } from './body.js';
import { parseXml, xmlString } from './xml.js';

export async function listBuckets(ctx: Ctx): Promise<void> {
  const prefix = ctx.query.get('prefix') ?? '';
  const max = intParam(ctx, 'max-buckets', 10_000, 1, 10_000);
  // The continuation token is the last name of the previous page (names sort; the catalog lists in order).
  const token = ctx.query.get('continuation-token');
  const all = await ctx.deps.catalog.list();
  const mine = all.filter((b) => b.owner === ctx.auth.owner && b.name.startsWith(prefix) && (token === undefined || token === '' || b.name > token));
  const page = mine.slice(0, max);
  const body: Record<string, unknown> = {
    Owner: { ID: ctx.auth.owner, DisplayName: ctx.auth.owner },
    Buckets: page.length === 0 ? '' : { Bucket: page.map((b) => ({ Name: b.name, CreationDate: isoDate(b.createdMs) })) },
  };
  if (mine.length > page.length) body['ContinuationToken'] = page[page.length - 1]!.name;
  if (ctx.query.has('prefix')) body['Prefix'] = prefix;
  sendXml(ctx.res, 200, 'ListAllMyBucketsResult', body);
}

export async function createBucket(ctx: Ctx): Promise<void> {
  const name = ctx.bucket!;
  if (!validBucketName(name)) throw new S3Error('InvalidBucketName', 'The specified bucket is not valid.', { BucketName: name });
  const acl = requestAcl(ctx.req);
  const body = await new BodyReader(ctx.req, ctx.auth, 1 << 20).readAll(64 * 1024);
  if (body.length > 0) {
    const cfg = parseXml(body.toString('utf8'), 'CreateBucketConfiguration');
    const loc = xmlString(cfg['LocationConstraint']);
    const region = ctx.deps.region ?? 'us-east-1';
    if (loc !== undefined && loc !== '' && loc !== region) {
      throw new S3Error('InvalidArgument', `this cluster serves region ${region}, not ${loc}`, { ArgumentName: 'LocationConstraint', ArgumentValue: loc });
    }
  }
  if (ctx.req.headers['x-amz-bucket-object-lock-enabled'] === 'true') throw new S3Error('NotImplemented', 'object lock is not supported by ringstore');
  const wanted = acl ?? 'private';
  // One proposal: of concurrent creations of one name through any nodes, exactly one creates it.
  const { created, bucket } = await ctx.deps.catalog.create(name, { owner: ctx.auth.owner, acl: wanted });
  if (!created && bucket.owner !== ctx.auth.owner) {
    throw new S3Error('BucketAlreadyExists', 'The requested bucket name is not available. Please select a different name and try again.', { BucketName: name });
  }
  const region = ctx.deps.region ?? 'us-east-1';
  if (!created && region !== 'us-east-1') {
    throw new S3Error('BucketAlreadyOwnedByYou', 'Your previous request to create the named bucket succeeded and you already own it.', { BucketName: name });
  }
  // Creating a bucket one already owns succeeds again in us-east-1 (tools and retries rely on it), its
  // contents untouched; its ACL becomes the one this request gives, as there.
  if (!created && bucket.acl !== wanted) await ctx.deps.catalog.setAcl(bucket, wanted);
  sendEmpty(ctx.res, 200, { location: `/${name}` });
}

export async function deleteBucket(ctx: Ctx): Promise<void> {
  await drain(ctx.req);
  const info = await requireBucket(ctx);
  await ctx.deps.catalog.remove(info.name);
  sendEmpty(ctx.res, 204);
}

export async function headBucket(ctx: Ctx): Promise<void> {
  denyUnlessBucketReadable(ctx, await requireReadableBucket(ctx));
  sendEmpty(ctx.res, 200, { 'x-amz-bucket-region': ctx.deps.region ?? 'us-east-1' });
}

export async function getBucketLocation(ctx: Ctx): Promise<void> {
  await requireBucket(ctx);
  const region = ctx.deps.region ?? 'us-east-1';
  // S3 answers an empty constraint for us-east-1.
  sendXml(ctx.res, 200, 'LocationConstraint', { '#text': region === 'us-east-1' ? '' : region });
}

export async function getBucketVersioning(ctx: Ctx): Promise<void> {
  await requireBucket(ctx);
  // Versioning was never enabled: an empty configuration is the truthful S3 answer.
  // (Concurrent siblings are still listed by ListObjectVersions.)
  sendXml(ctx.res, 200, 'VersioningConfiguration', {});
}
