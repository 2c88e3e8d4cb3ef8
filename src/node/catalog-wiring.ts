// How a node builds its bucket catalog and what hangs on it (the chunk
// collector's bucket list, /cluster/keys by bucket name): kept here so that
// node/node.ts needs only a few lines.

import { storageBucket, type BucketCatalogApi } from '../coordinator/buckets-types.js';
import { BucketCatalog } from '../coordinator/buckets.js';
import type { Coordinator } from '../coordinator/coordinator.js';
import type { Clock } from '../util/runtime.js';

export function createBucketCatalog(opts: { coordinator: Coordinator; clock: Clock }): BucketCatalogApi {
  return new BucketCatalog(opts.coordinator, opts.clock);
}

/** The storage names of every bucket, after a linearizable read: what the chunk collector marks from. */
export function storageBuckets(catalog: BucketCatalogApi): () => Promise<string[]> {
  return async () => (await catalog.list({ confirmed: true })).map(storageBucket);
}

/** The storage name of a bucket given by name (a system bucket, `__...`, is its own). */
export function storageOfName(catalog: BucketCatalogApi): (name: string) => Promise<string> {
  return async (name) => {
    if (name.startsWith('__')) return name;
    const info = await catalog.get(name);
    return info === undefined ? name : storageBucket(info);
  };
}
