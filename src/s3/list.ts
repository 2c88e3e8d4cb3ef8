// ListObjects (v1), ListObjectsV2 and ListObjectVersions over the
// coordinator's cluster-wide key listing, which returns keys in order,
// reconciled across replicas. Delimiters fold keys into common prefixes;
// a folded prefix is skipped in one jump (after = prefix + U+10FFFF, the
// largest code point, so the next page starts beyond every key under it).

import type { SiblingSet } from '../version/dvv.js';
import { denyUnlessBucketReadable, intParam, requireReadableBucket, type Ctx } from './context.js';
import { S3Error } from './errors.js';
import { isoDate, sendXml } from './http-util.js';
import { decodeObject, isVersionRemoval, s3Winner, versionIdOf, type ObjectInfo } from './object-model.js';
import { uriEncode } from './sigv4.js';
import { storageBucket } from '../coordinator/buckets-types.js';

const MAX_CHAR = '\u{10FFFF}';
/** Keys per coordinator page: bounded because listing pages carry inline values (up to INLINE_MAX each). */
const PAGE = 250;

export type ListItem = { kind: 'key'; key: string; set: SiblingSet } | { kind: 'prefix'; prefix: string };

/**
 * Up to `max` items (keys whose set `keep` accepts, and common prefixes)
 * strictly after `after`, plus whether more exist.
 */
export async function listItems(
  ctx: Ctx,
  bucket: string,
  opts: { prefix: string; delimiter: string; after: string; max: number; keep: (set: SiblingSet) => boolean; includeTombstones?: boolean },
): Promise<{ items: ListItem[]; truncated: boolean }> {
  const { prefix, delimiter, max } = opts;
  const items: ListItem[] = [];
  let after = opts.after;
  // A marker inside a folded prefix means the prefix was already returned.
  if (delimiter !== '' && after.startsWith(prefix)) {
    const i = after.indexOf(delimiter, prefix.length);
    if (i >= 0) {
      const cp = after.slice(0, i + delimiter.length);
      if (cp === after) after = cp + MAX_CHAR;
    }
  }
  for (let rounds = 0; rounds < 100_000; rounds++) {
    const page = await ctx.deps.coordinator.list({
      bucket,
      prefix,
      after: after === '' ? undefined : after,
      limit: Math.min(PAGE, max + 1 - items.length + 1),
      ...(opts.includeTombstones === true ? { includeTombstones: true } : {}),
    });
    let jump: string | undefined;
    for (const k of page.keys) {
      if (jump !== undefined && k.key.startsWith(jump)) continue;
      jump = undefined;
      if (!opts.keep(k.set)) continue;
      if (delimiter !== '') {
        const i = k.key.indexOf(delimiter, prefix.length);
        if (i >= 0) {
          const cp = k.key.slice(0, i + delimiter.length);
          items.push({ kind: 'prefix', prefix: cp });
          if (items.length > max) return { items: items.slice(0, max), truncated: true };
          jump = cp;
          continue;
        }
      }
      items.push({ kind: 'key', key: k.key, set: k.set });
      if (items.length > max) return { items: items.slice(0, max), truncated: true };
    }
    if (!page.truncated || page.keys.length === 0) return { items, truncated: false };
    const last = page.keys[page.keys.length - 1]!.key;
    after = jump !== undefined ? jump + MAX_CHAR : last;
  }
  throw new S3Error('InternalError', 'listing did not terminate');
}

const liveWinner = (set: SiblingSet): boolean => {
  const w = s3Winner(set);
  return w !== undefined && w.value !== null;
};

function encoder(ctx: Ctx): (s: string) => string {
  const enc = ctx.query.get('encoding-type');
  if (enc !== undefined && enc !== 'url') throw new S3Error('InvalidArgument', 'Invalid Encoding Method specified in Request', { ArgumentName: 'encoding-type', ArgumentValue: enc });
  return enc === 'url' ? (s) => uriEncode(s, true) : (s) => s;
}

function contentsOf(item: Extract<ListItem, { kind: 'key' }>, enc: (s: string) => string, owner: string | undefined): Record<string, unknown> {
  const info: ObjectInfo = decodeObject(s3Winner(item.set)!).info;
  const out: Record<string, unknown> = { Key: enc(item.key), LastModified: isoDate(info.mtimeMs), ETag: `"${info.etag}"`, Size: info.size, StorageClass: 'STANDARD' };
  if (info.checksum !== undefined) out['ChecksumAlgorithm'] = info.checksum.algo.toUpperCase();
  if (owner !== undefined) out['Owner'] = { ID: owner, DisplayName: owner };
  return out;
}

/** The bucket to list: its owner, or anyone its ACL lets read. */
async function listableBucket(ctx: Ctx) {
  const readable = await requireReadableBucket(ctx);
  denyUnlessBucketReadable(ctx, readable);
  return readable.info;
}

export async function listObjects(ctx: Ctx, v2: boolean): Promise<void> {
  const bucket = await listableBucket(ctx);
  const enc = encoder(ctx);
  const prefix = ctx.query.get('prefix') ?? '';
  const delimiter = ctx.query.get('delimiter') ?? '';
  const maxKeys = intParam(ctx, 'max-keys', 1000, 0, 1000);
  let after: string;
  let token: string | undefined;
  if (v2) {
    token = ctx.query.get('continuation-token');
    if (token !== undefined) {
      // An empty token is no token (clients send it for "from the start").
      after = token === '' ? ctx.query.get('start-after') ?? '' : Buffer.from(token, 'base64url').toString('utf8');
      if (token !== '' && Buffer.from(after, 'utf8').toString('base64url') !== token) throw new S3Error('InvalidArgument', 'The continuation token provided is incorrect', { ArgumentName: 'continuation-token' });
    } else after = ctx.query.get('start-after') ?? '';
  } else after = ctx.query.get('marker') ?? '';
  const { items, truncated } = maxKeys === 0 ? { items: [], truncated: false } : await listItems(ctx, storageBucket(bucket), { prefix, delimiter, after, max: maxKeys, keep: liveWinner });
  const withOwner = !v2 || ctx.query.get('fetch-owner') === 'true';
  const contents = items.filter((i): i is Extract<ListItem, { kind: 'key' }> => i.kind === 'key').map((i) => contentsOf(i, enc, withOwner ? bucket.owner : undefined));
  const prefixes = items.filter((i): i is Extract<ListItem, { kind: 'prefix' }> => i.kind === 'prefix').map((i) => ({ Prefix: enc(i.prefix) }));
  const lastItem = items[items.length - 1];
  const lastName = lastItem === undefined ? undefined : lastItem.kind === 'key' ? lastItem.key : lastItem.prefix;
  // v1 answers the prefix as given (clients decode only keys, markers and delimiters there); v2 encodes it.
  const body: Record<string, unknown> = { Name: bucket.name, Prefix: v2 ? enc(prefix) : prefix };
  if (v2) {
    if (token !== undefined) body['ContinuationToken'] = token;
    if (ctx.query.get('start-after') !== undefined) body['StartAfter'] = enc(ctx.query.get('start-after')!);
    body['KeyCount'] = items.length;
  } else body['Marker'] = enc(after);
  body['MaxKeys'] = maxKeys;
  if (delimiter !== '') body['Delimiter'] = enc(delimiter);
  if (ctx.query.get('encoding-type') !== undefined) body['EncodingType'] = 'url';
  body['IsTruncated'] = truncated;
  if (truncated && lastName !== undefined) {
    if (v2) body['NextContinuationToken'] = Buffer.from(lastName, 'utf8').toString('base64url');
    else if (delimiter !== '') body['NextMarker'] = enc(lastName);
  }
  if (contents.length > 0) body['Contents'] = contents;
  if (prefixes.length > 0) body['CommonPrefixes'] = prefixes;
  sendXml(ctx.res, 200, v2 ? 'ListBucketResult' : 'ListBucketResult', body);
}

/**
 * ListObjectVersions: every sibling of every key is a version (the S3
 * winner marked latest; tombstones as delete markers). Paging is by key:
 * a page never splits one key's siblings (version-id-marker is accepted
 * but a key's versions are always listed whole).
 */
export async function listObjectVersions(ctx: Ctx): Promise<void> {
  const bucket = await listableBucket(ctx);
  const enc = encoder(ctx);
  const prefix = ctx.query.get('prefix') ?? '';
  const delimiter = ctx.query.get('delimiter') ?? '';
  const maxKeys = intParam(ctx, 'max-keys', 1000, 0, 1000);
  const keyMarker = ctx.query.get('key-marker') ?? '';
  const keepAny = (set: SiblingSet) => set.siblings.some((s) => !isVersionRemoval(s));
  const { items, truncated } = maxKeys === 0 ? { items: [], truncated: false } : await listItems(ctx, storageBucket(bucket), { prefix, delimiter, after: keyMarker, max: maxKeys, keep: keepAny, includeTombstones: true });
  const versions: Record<string, unknown>[] = [];
  const markers: Record<string, unknown>[] = [];
  for (const it of items) {
    if (it.kind !== 'key') continue;
    const winner = s3Winner(it.set);
    const sibs = it.set.siblings.filter((s) => !isVersionRemoval(s)).sort((a, b) => b.meta.ts - a.meta.ts);
    for (const s of sibs) {
      const common = { Key: enc(it.key), VersionId: versionIdOf(s), IsLatest: s === winner, LastModified: isoDate(s.meta.ts), Owner: { ID: bucket.owner, DisplayName: bucket.owner } };
      if (s.value === null) markers.push(common);
      else {
        const info = decodeObject(s).info;
        versions.push({ ...common, ETag: `"${info.etag}"`, Size: info.size, StorageClass: 'STANDARD' });
      }
    }
  }
  const prefixes = items.filter((i): i is Extract<ListItem, { kind: 'prefix' }> => i.kind === 'prefix').map((i) => ({ Prefix: enc(i.prefix) }));
  const last = items[items.length - 1];
  const body: Record<string, unknown> = { Name: bucket.name, Prefix: enc(prefix), KeyMarker: enc(keyMarker), VersionIdMarker: ctx.query.get('version-id-marker') ?? '' };
  if (truncated && last !== undefined) {
    body['NextKeyMarker'] = enc(last.kind === 'key' ? last.key : last.prefix);
    body['NextVersionIdMarker'] = '';
  }
  body['MaxKeys'] = maxKeys;
  if (delimiter !== '') body['Delimiter'] = enc(delimiter);
  if (ctx.query.get('encoding-type') !== undefined) body['EncodingType'] = 'url';
  body['IsTruncated'] = truncated;
  if (versions.length > 0) body['Version'] = versions;
  if (markers.length > 0) body['DeleteMarker'] = markers;
  if (prefixes.length > 0) body['CommonPrefixes'] = prefixes;
  sendXml(ctx.res, 200, 'ListVersionsResult', body);
}
