// What every S3 handler receives: the dependencies, the parsed request and
// who signed it. Also the checks most handlers start with.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BucketCatalogApi, BucketInfo } from '../coordinator/buckets-types.js';
import type { Coordinator } from '../coordinator/coordinator.js';
import { DEFAULT_QUORUM, sameQuorum } from '../coordinator/quorum.js';
import type { Clock } from '../util/runtime.js';
import type { ChunkStore, ReplicaReader } from './chunks.js';
import type { ObjectCache } from './cache.js';
import { aclAllowsRead, type CannedAcl } from './acl.js';
import type { CredentialStore } from './credentials.js';
import { S3Error } from './errors.js';
import { bucketNameProblem, keyProblem } from '../store/names.js';
import type { AuthResult } from './sigv4.js';
import type { FileEvents } from '../coordinator/user-index.js';

export interface S3Logger {
  error(obj: object, msg: string): void;
}

export interface S3ServerDeps {
  readonly coordinator: Coordinator;
  readonly catalog: BucketCatalogApi;
  readonly clock: Clock;
  readonly credentials: CredentialStore;
  /** Answered by GetBucketLocation and accepted in signatures' scope. Default us-east-1. */
  readonly region?: string;
  /** Host suffixes for virtual-hosted-style requests (bucket.<domain>). Default ["localhost"]. */
  readonly virtualHostDomains?: readonly string[];
  /** Per-replica reads for chunks (verify-and-fall-back); without it chunks are read with r=1 through the coordinator. */
  readonly replicaReader?: ReplicaReader;
  /** Bytes of verified chunks kept in memory (LRU); 0 disables. Default 64 MiB. */
  readonly chunkCacheBytes?: number;
  /** Bytes of small objects' values kept in memory by version (cache.ts); 0 disables. Default 16 MiB. */
  readonly objectCacheBytes?: number;
  readonly logger?: S3Logger;
  /** The per-user file index (coordinator/user-index.ts): every write and delete of an object reports to it. */
  readonly files?: FileEvents;
}

export interface Ctx {
  readonly deps: S3ServerDeps;
  readonly chunks: ChunkStore;
  readonly objects: ObjectCache | undefined;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly reqId: string;
  readonly bucket: string | undefined;
  readonly key: string | undefined;
  readonly query: ReadonlyMap<string, string>;
  readonly auth: AuthResult;
}

async function existingBucket(ctx: Ctx, name: string | undefined): Promise<BucketInfo> {
  if (name === undefined) throw new S3Error('InvalidRequest', 'this operation needs a bucket');
  const info = await ctx.deps.catalog.get(name);
  if (info === undefined) throw new S3Error('NoSuchBucket', 'The specified bucket does not exist', { BucketName: name });
  return info;
}

export const isOwner = (ctx: Ctx, info: BucketInfo): boolean => ctx.auth.anonymous !== true && info.owner === ctx.auth.owner;

/** The bucket must exist and belong to the caller. */
export async function requireBucket(ctx: Ctx, name = ctx.bucket): Promise<BucketInfo> {
  const info = await existingBucket(ctx, name);
  if (!isOwner(ctx, info)) throw new S3Error('AccessDenied', 'Access Denied');
  return info;
}

/**
 * The bucket must exist and the caller may read it: its owner, or anyone
 * its ACL lets read (listing, and the objects without an ACL of their own).
 * `acl` is the bucket's ACL as read for a caller who is not the owner.
 */
export async function requireReadableBucket(ctx: Ctx, name = ctx.bucket): Promise<{ info: BucketInfo; owner: boolean; acl: CannedAcl }> {
  const info = await existingBucket(ctx, name);
  if (isOwner(ctx, info)) return { info, owner: true, acl: 'private' };
  return { info, owner: false, acl: info.acl };
}

/** A reader who is not the owner and whom the bucket's ACL does not admit. */
export function denyUnlessBucketReadable(ctx: Ctx, b: { owner: boolean; acl: CannedAcl }): void {
  if (!b.owner && !aclAllowsRead(b.acl, ctx.auth)) throw new S3Error('AccessDenied', 'Access Denied');
}

/** Quorum overrides of a bucket, when it has any beyond the cluster defaults. */
export function bucketQuorum(info: BucketInfo): { n?: number; r?: number; w?: number } {
  const q = info.quorum;
  if (sameQuorum(q, DEFAULT_QUORUM)) return {};
  return { n: q.n, r: q.r, w: q.w };
}

export function requireKey(ctx: Ctx): string {
  const key = ctx.key;
  if (key === undefined || key === '') throw new S3Error('InvalidRequest', 'this operation needs an object key');
  checkKey(key);
  return key;
}

/** The key rules of every API (store/names.ts), in S3's error codes. */
export function checkKey(key: string): void {
  const problem = keyProblem(key);
  if (problem === undefined) return;
  if (problem.kind === 'unstorable') throw new S3Error('InvalidArgument', `The key ${problem.why}; ringstore cannot store it.`, { ArgumentName: 'key' });
  throw new S3Error('KeyTooLongError', 'Your key is too long');
}

/** S3 bucket naming rules for general purpose buckets (store/names.ts). */
export function validBucketName(name: string): boolean {
  return bucketNameProblem(name) === undefined;
}

export function intParam(ctx: Ctx, name: string, def: number, min: number, max: number): number {
  const v = ctx.query.get(name);
  if (v === undefined || v === '') return def;
  if (!/^-?\d+$/.test(v)) throw new S3Error('InvalidArgument', `${name} must be an integer`, { ArgumentName: name, ArgumentValue: v });
  const n = Number(v);
  if (n < min) throw new S3Error('InvalidArgument', `${name} must be at least ${min}`, { ArgumentName: name, ArgumentValue: v });
  return Math.min(n, max);
}
