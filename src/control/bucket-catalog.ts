// The bucket catalog over the Raft control state (docs/architecture.md, "Bucket metadata").
//
// Reads come from the state this node has applied, in memory: a request
// never waits for a Raft round trip to look up a bucket the node knows. A
// name the node does not know is confirmed with one ReadIndex barrier
// (Raft §6.4) before it is reported missing, so a bucket created through one
// node works at once through every other. Creation and deletion are
// proposals: the log orders concurrent creations of one name, the first
// applied wins and every other is told who owns it (linearizable creation).
// Each bucket's objects live under storageBucket(bucket), its id.

import { storageBucket, type BucketAcl, type BucketCatalogApi, type BucketInfo, type CreateBucketOptions } from '../coordinator/buckets-types.js';
import { BucketNotEmptyError, NoSuchBucketError } from '../coordinator/errors.js';
import { DEFAULT_QUORUM, type Quorum } from '../coordinator/types.js';
import { RingstoreError } from '../util/errors.js';
import type { ControlPlane } from './plane.js';
import type { ApplyResult, Bucket } from './state.js';

/** The owner of a bucket created where nobody is authenticated (the native API before credentials). */
export const DEFAULT_BUCKET_OWNER = 'dev';

export interface ControlBucketCatalogDeps {
  readonly plane: ControlPlane;
  /** Whether the store holds no live object under this storage bucket (a quorum listing of one key). */
  readonly isEmpty: (storage: string) => Promise<boolean>;
}

/** What the APIs see of a control-state bucket; `quorum: null` (cluster defaults) reads as DEFAULT_QUORUM. */
export function bucketInfo(b: Bucket): BucketInfo {
  return {
    name: b.name,
    id: b.id,
    owner: b.owner,
    createdMs: b.createdAt,
    quorum: b.quorum ?? DEFAULT_QUORUM,
    acl: b.acl ?? 'private',
    ...(b.legacyStorage !== undefined ? { legacyStorage: b.legacyStorage } : {}),
  };
}

export class ControlBucketCatalog implements BucketCatalogApi {
  constructor(private readonly deps: ControlBucketCatalogDeps) {}

  async create(name: string, opts: CreateBucketOptions = {}): Promise<{ created: boolean; bucket: BucketInfo }> {
    const quorum: Quorum | undefined = opts.quorum === undefined ? undefined : { ...DEFAULT_QUORUM, ...opts.quorum };
    const result = await this.propose({
      type: 'createBucket',
      name,
      owner: opts.owner ?? DEFAULT_BUCKET_OWNER,
      ...(quorum !== undefined ? { quorum } : {}),
      ...(opts.acl !== undefined && opts.acl !== 'private' ? { acl: opts.acl } : {}),
    });
    if (result.ok && result.bucket !== undefined) return { created: true, bucket: bucketInfo(result.bucket) };
    if (!result.ok && result.code === 'BucketAlreadyExists' && result.bucket !== undefined) return { created: false, bucket: bucketInfo(result.bucket) };
    throw refusal(result);
  }

  async get(name: string): Promise<BucketInfo | undefined> {
    const local = this.deps.plane.state.bucket(name);
    if (local !== undefined) return bucketInfo(local);
    // Not known here: maybe created through another node and not applied here yet. One ReadIndex settles it.
    await this.confirm();
    const confirmed = this.deps.plane.state.bucket(name);
    return confirmed === undefined ? undefined : bucketInfo(confirmed);
  }

  async remove(name: string): Promise<void> {
    const info = await this.get(name);
    if (info === undefined) throw new NoSuchBucketError(name);
    if (!(await this.deps.isEmpty(storageBucket(info)))) throw new BucketNotEmptyError(name);
    // By id: a bucket of the same name made meanwhile is not the one found empty.
    const result = await this.propose({ type: 'deleteBucket', name, id: info.id });
    if (!result.ok) throw refusal(result);
  }

  async list(opts: { readonly confirmed?: boolean } = {}): Promise<BucketInfo[]> {
    if (opts.confirmed === true) await this.confirm();
    return this.deps.plane.state.listBuckets().map(bucketInfo);
  }

  async setAcl(bucket: BucketInfo, acl: BucketAcl): Promise<void> {
    const result = await this.propose({ type: 'setBucketAcl', name: bucket.name, id: bucket.id, acl });
    if (!result.ok) throw refusal(result);
  }

  private async propose(cmd: Parameters<ControlPlane['propose']>[0]): Promise<ApplyResult> {
    try {
      return await this.deps.plane.propose(cmd);
    } catch (err) {
      throw unavailable(err);
    }
  }

  private async confirm(): Promise<void> {
    try {
      await this.deps.plane.confirm();
    } catch (err) {
      throw unavailable(err);
    }
  }
}

/** A refused proposal as the APIs' error (NoSuchBucket, BucketAlreadyExists, InvalidArgument...). */
function refusal(result: ApplyResult): RingstoreError {
  if (result.ok) return new RingstoreError('InternalError', 'the control state answered without a bucket');
  if (result.code === 'InvalidCommand') return new RingstoreError('InvalidArgument', result.message);
  return new RingstoreError(result.code, result.message);
}

/** The control plane could not be reached (no leader in time): the client may retry. */
function unavailable(err: unknown): RingstoreError {
  if (err instanceof RingstoreError) return err;
  return new RingstoreError('ServiceUnavailable', `the control plane did not answer: ${err instanceof Error ? err.message : String(err)}`);
}
