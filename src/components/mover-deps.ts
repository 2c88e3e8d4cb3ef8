// The part of a LayoutMover's dependencies that comes from a node's own
// components (coordinator, anti-entropy, membership, store): the same for a
// server (node/layout-wiring.ts) and for a simulated node (sim/world.ts), so
// that the simulator runs the mover exactly as wired in production. The
// control plane, clock and logging stay with each caller.

import { RoundCounters } from '../antientropy/env.js';
import type { LayoutMoverDeps, SyncState } from '../layout/mover.js';
import type { NodeComponents } from './build-node.js';

/** Where a node's store keeps its sync progress, so a restarted sync resumes. */
export const SYNC_META = 'layout.sync';

export type ComponentMoverDeps = Pick<
  LayoutMoverDeps,
  'quietBefore' | 'isAlive' | 'exchange' | 'compareRoots' | 'storedPartitions' | 'dropPartition' | 'loadSync' | 'saveSync'
>;

export function moverDepsFrom(
  components: NodeComponents,
  hooks: {
    /** Around the removal of each dropped key (the simulator's oracle wants to know a removal is a drop). */
    readonly dropping?: (key: { readonly bucket: string; readonly key: string }, done: boolean) => void;
  } = {},
): ComponentMoverDeps {
  const store = components.store;
  return {
    // Seen only once no write and no tombstone sweep still runs with an older view (docs/layout.md).
    quietBefore: (v) => components.coordinator.quietBefore(v) && components.antiEntropy.quietBefore(v),
    isAlive: (node) => components.membership.liveness.isAlive(node),
    exchange: async (peer, p) => {
      const c = new RoundCounters();
      await components.antiEntropy.exchangePartition(peer, p, c);
      return { bytes: c.bytesPulled };
    },
    compareRoots: (peer, ps) => components.antiEntropy.compareRoots(peer, ps),
    storedPartitions: () => store.forest.partitions(),
    dropPartition: async (p) => {
      const keys = [...store.scanPartition(p)].map((e) => ({ bucket: e.bucket, key: e.key }));
      // devlayout: removes in batches the store commits together (the Merkle
      // tracking store allows concurrent updates); one fsynced remove after
      // another took about a minute to empty a decommissioned node of a few
      // thousand keys on the busy 2-core machine.
      for (let i = 0; i < keys.length; i += 256) {
        const batch = keys.slice(i, i + 256);
        for (const k of batch) hooks.dropping?.(k, false);
        await Promise.all(batch.map((k) => store.remove(p, k.bucket, k.key)));
        for (const k of batch) hooks.dropping?.(k, true);
      }
      return keys.length;
    },
    loadSync: () => store.getMeta<SyncState>(SYNC_META),
    saveSync: (s) => store.putMeta(SYNC_META, s),
  };
}
