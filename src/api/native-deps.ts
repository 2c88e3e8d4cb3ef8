// What the native JSON API needs from the rest of the node: the
// coordinator, the bucket catalog and a few limits. The node passes the
// real ones (coordinator/coordinator.ts, control/bucket-catalog.ts); the unit
// tests pass stubs.

import type { BucketCatalogApi, BucketInfo } from '../coordinator/buckets-types.js';
import type { GetRequest, GetResult, ListRequest, ListResult, PutRequest, PutResult, Quorum } from '../coordinator/types.js';
import type { NodeId } from '../version/dvv.js';
import type { FileEvents } from '../coordinator/user-index.js';
import type { ContextMac } from '../version/context.js';

/** What the native API needs from the coordinator (coordinator/coordinator.ts implements it). */
export interface NativeCoordinator {
  put(req: PutRequest): Promise<PutResult>;
  get(req: GetRequest): Promise<GetResult>;
  list(req: ListRequest): Promise<ListResult>;
}

/** What the native API needs from the bucket catalog (control/bucket-catalog.ts implements it). */
export type NativeBuckets = Pick<BucketCatalogApi, 'create' | 'remove' | 'get' | 'list'>;

export interface NativeApiDeps {
  readonly self: NodeId;
  readonly coordinator: NativeCoordinator;
  readonly buckets: NativeBuckets;
  /** Whether anyone may read this bucket's objects and list it (its S3 ACL is public-read). */
  readonly publicRead?: (bucket: BucketInfo) => Promise<boolean>;
  /** The per-user file index (coordinator/user-index.ts); a file's owner is its bucket's owner. */
  readonly files?: FileEvents;
  /** Number of nodes in the current layout: the upper bound of n. */
  clusterSize(): number;
  /** Defaults for buckets created without explicit quorum settings (clamped to the cluster size). */
  readonly defaultQuorum: Quorum;
  /** The largest value one PUT or one uploaded file may carry. */
  readonly maxObjectBytes: number;
  /** Called for failures inside a multipart upload that are not the client's fault. */
  readonly onInternalError?: (err: unknown, what: string) => void;
  /** MACs the context tokens (api/context-mac.ts); without it, a key for this process only. */
  readonly contextMac?: ContextMac;
}

/** The deps with everything optional filled in (createNativeApi). */
export type NativeApiReady = NativeApiDeps & { readonly contextMac: ContextMac };
