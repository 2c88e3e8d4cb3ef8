// How a node builds its bucket catalog over its control plane, and what
// hangs on it (the chunk collector's bucket list, /cluster/keys by bucket
// name, the user index's check of bucket ids, the upgrade of an old data
// folder): kept here so that node/node.ts needs only a few lines.

import type { Logger } from 'pino';
import { ControlBucketCatalog } from '../control/bucket-catalog.js';
import { importLegacyBuckets, legacyBucketCommands } from '../control/legacy-import.js';
import type { ControlPlane } from '../control/plane.js';
import { storageBucket, type BucketCatalogApi } from '../coordinator/buckets-types.js';
import type { Coordinator } from '../coordinator/coordinator.js';
import type { ReplicaStore } from '../store/store.js';

export function createBucketCatalog(opts: { coordinator: Pick<Coordinator, 'list'>; plane: ControlPlane }): ControlBucketCatalog {
  return new ControlBucketCatalog({
    plane: opts.plane,
    isEmpty: async (storage) => (await opts.coordinator.list({ bucket: storage, limit: 1 })).keys.length === 0,
  });
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

/** For the user index: whether entries of bucket `name` written with `id` belong to the bucket of that name now (local state, no round trip). */
export function currentBucket(plane: ControlPlane): (name: string, id: number | undefined) => boolean {
  return (name, id) => {
    const b = plane.state.bucket(name);
    if (b === undefined) return false;
    // Entries from before bucket ids (no id, or the system-bucket catalog's 0) belong to an imported bucket.
    return id === undefined || id === 0 ? b.legacyStorage !== undefined : b.id === id;
  };
}

/**
 * Imports the bucket records of a data folder from before the control plane
 * (control/legacy-import.ts), in the background, retrying every `retryMs`
 * while the control plane has no leader. Returns a function that stops it.
 */
export function startLegacyImport(opts: { store: Pick<ReplicaStore, 'scanBucket'>; plane: ControlPlane; logger: Logger; retryMs?: number }): () => void {
  const cmds = legacyBucketCommands(opts.store);
  if (cmds.length === 0) return () => undefined;
  const log = opts.logger.child({ component: 'upgrade' });
  log.warn({ buckets: cmds.length }, 'this data folder keeps bucket records from before the control plane: importing them into the control state');
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const attempt = (): void => {
    importLegacyBuckets(opts.plane, cmds).then(
      (r) => log.info({ imported: r.imported, already: r.skipped.length }, 'bucket records imported into the control state; their objects stay under their names'),
      (err: unknown) => {
        if (stopped) return;
        log.warn({ err: err instanceof Error ? err.message : String(err) }, 'bucket import waits for the control plane; retrying');
        timer = setTimeout(attempt, opts.retryMs ?? 2000);
        timer.unref();
      },
    );
  };
  attempt();
  return () => {
    stopped = true;
    if (timer !== undefined) clearTimeout(timer);
  };
}
