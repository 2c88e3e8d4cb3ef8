// What every S3 handler receives: the dependencies, the parsed request and
// who signed it. Also the checks most handlers start with.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BucketCatalog } from '../coordinator/buckets.js';
import type { BucketInfo } from '../coordinator/buckets-types.js';
import type { Coordinator } from '../coordinator/coordinator.js';
import { DEFAULT_QUORUM } from '../coordinator/types.js';
import type { Clock } from '../util/runtime.js';
import type { ChunkStore, ReplicaReader } from './chunks.js';
import type { ObjectCache } from './cache.js';
import type { CredentialStore } from './credentials.js';
import { S3Error } from './errors.js';
import { keyProblem } from '../store/store.js';
import type { AuthResult } from './sigv4.js';
import type { FileEvents } from '../files/user-index.js';

export interface S3Logger {
  error(obj: object, msg: string): void;
}

export interface S3ServerDeps {
  readonly coordinator: Coordinator;
  readonly catalog: BucketCatalog;
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
  /** The per-user file index (files/user-index.ts): every write and delete of an object reports to it. */
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

/** The bucket must exist and belong to the caller. */
export async function requireBucket(ctx: Ctx, name = ctx.bucket): Promise<BucketInfo> {
  if (name === undefined) throw new S3Error('InvalidRequest', 'this operation needs a bucket');
  const info = await ctx.deps.catalog.get(name);
  if (info === undefined) throw new S3Error('NoSuchBucket', 'The specified bucket does not exist', { BucketName: name });
  if (info.owner !== ctx.auth.owner) throw new S3Error('AccessDenied', 'Access Denied');
  return info;
}

/** Quorum overrides of a bucket, when it has any beyond the cluster defaults. */
export function bucketQuorum(info: BucketInfo): { n?: number; r?: number; w?: number } {
  const q = info.quorum;
  if (q.n === DEFAULT_QUORUM.n && q.r === DEFAULT_QUORUM.r && q.w === DEFAULT_QUORUM.w) return {};
  return { n: q.n, r: q.r, w: q.w };
}

export const MAX_KEY_BYTES = 1024;

export function requireKey(ctx: Ctx): string {
  const key = ctx.key;
  if (key === undefined || key === '') throw new S3Error('InvalidRequest', 'this operation needs an object key');
  checkKey(key);
  return key;
}

/** The S3 key rules ringstore enforces: length, and what the store can keep faithfully (store.ts keyProblem). */
export function checkKey(key: string): void {
  if (key === '' || Buffer.byteLength(key) > MAX_KEY_BYTES) throw new S3Error('KeyTooLongError', 'Your key is too long');
  const problem = keyProblem(key);
  if (problem !== undefined) throw new S3Error('InvalidArgument', `The key ${problem}; ringstore cannot store it.`, { ArgumentName: 'key' });
}

/** S3 bucket naming rules (general purpose buckets). */
export function validBucketName(name: string): boolean {
  if (name.length < 3 || name.length > 63) return false;
  if (!/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(name)) return false;
  if (name.includes('..') || /^\d+\.\d+\.\d+\.\d+$/.test(name)) return false;
  if (name.startsWith('xn--') || name.startsWith('sthree-') || name.endsWith('-s3alias') || name.endsWith('--ol-s3')) return false;
  return true;
}

export function intParam(ctx: Ctx, name: string, def: number, min: number, max: number): number {
  const v = ctx.query.get(name);
  if (v === undefined || v === '') return def;
  if (!/^-?\d+$/.test(v)) throw new S3Error('InvalidArgument', `${name} must be an integer`, { ArgumentName: name, ArgumentValue: v });
  const n = Number(v);
  if (n < min) throw new S3Error('InvalidArgument', `${name} must be at least ${min}`, { ArgumentName: name, ArgumentValue: v });
  return Math.min(n, max);
}
