// The upgrade of a data folder written before the control plane (docs/architecture.md,
// "Bucket metadata", Upgrade). Such a folder keeps bucket metadata as replicated records in
// the system bucket `__ringstore` (`bucket/<name>`, `bucketacl/<name>`) and
// each bucket's objects under its name. On its first start with the control
// plane a node proposes an importBucket command for every live bucket record
// its own store holds; the state machine keeps the first import of a name
// (and never imports one record twice, even after its bucket is deleted), and
// marks the bucket as stored under its old name, so its objects stay where
// they are. Every record lives on N nodes, so the union of what the nodes
// import is every bucket. Pure: the store and the plane are handed in.

import { BUCKET_ACL_KEY_PREFIX, BUCKET_KEY_PREFIX, decide, latestAcl, SYSTEM_BUCKET } from '../coordinator/buckets.js';
import type { ReplicaStore } from '../store/store.js';
import type { Command } from './commands.js';
import type { ControlPlane } from './plane.js';

/** The importBucket commands for the live legacy bucket records in this node's store, in name order. */
export function legacyBucketCommands(store: Pick<ReplicaStore, 'scanBucket'>): Extract<Command, { type: 'importBucket' }>[] {
  const acls = new Map<string, ReturnType<typeof latestAcl>>();
  for (const k of store.scanBucket(SYSTEM_BUCKET, { prefix: BUCKET_ACL_KEY_PREFIX, values: true })) {
    acls.set(k.key.slice(BUCKET_ACL_KEY_PREFIX.length), latestAcl(k.set));
  }
  const out: Extract<Command, { type: 'importBucket' }>[] = [];
  for (const k of store.scanBucket(SYSTEM_BUCKET, { prefix: BUCKET_KEY_PREFIX, values: true })) {
    const rec = decide(k.set);
    if (rec === undefined) continue;
    const acl = acls.get(rec.name);
    out.push({
      type: 'importBucket',
      name: rec.name,
      owner: rec.owner,
      createdAt: rec.createdMs,
      quorum: { n: rec.quorum.n, r: rec.quorum.r, w: rec.quorum.w },
      ...(acl !== undefined && acl.bucketCreatedMs === rec.createdMs && acl.acl !== 'private' ? { acl: acl.acl } : {}),
    });
  }
  return out;
}

export interface ImportOutcome {
  /** Buckets this node's proposals created. */
  readonly imported: string[];
  /** Records already imported (by this node earlier, or another node), or names already taken. */
  readonly skipped: string[];
}

/**
 * Proposes every command, one at a time. Rejects (ControlUnavailable) when
 * the control plane does not answer; calling again is safe, since a record
 * imported once is refused the second time.
 */
export async function importLegacyBuckets(plane: ControlPlane, cmds: readonly Extract<Command, { type: 'importBucket' }>[]): Promise<ImportOutcome> {
  const imported: string[] = [];
  const skipped: string[] = [];
  for (const cmd of cmds) {
    // Imported before (a restart): known from the applied state, no proposal needed.
    if (plane.state.legacyRecordImported(cmd.name, cmd.createdAt, cmd.owner)) {
      skipped.push(cmd.name);
      continue;
    }
    const r = await plane.propose(cmd);
    (r.ok ? imported : skipped).push(cmd.name);
  }
  return { imported, skipped };
}
