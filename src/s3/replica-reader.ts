// Per-replica reads over the inter-node transport, for chunks: content
// addressing makes any replica's copy as good as a quorum's once its hash
// checks out, so a chunk read asks one replica (this node first when it
// holds one) and moves on only when that copy is missing or corrupt.

import type { Transport } from '../transport/transport.js';
import type { NodeId, SiblingSet } from '../version/dvv.js';
import type { ReplicaReader } from './chunks.js';

/** The slice of ring/ring.ts this needs. */
export interface RingView {
  partitionOf(bucket: string, key: string): number;
  preference(partition: number, n: number): { owners: NodeId[]; fallbacks: NodeId[] };
}

export function transportReplicaReader(opts: {
  transport: Transport;
  ring: () => RingView;
  /** Replication factor chunks are written with (the cluster's default N). */
  n: number;
  /** Deadline of each replica read. */
  timeoutMs?: number;
  /** Consulted after the owners: a chunk written during an outage may sit on a fallback. */
  fallbacks?: number;
}): ReplicaReader {
  const { transport } = opts;
  return {
    replicas(bucket: string, key: string): readonly NodeId[] {
      const ring = opts.ring();
      const { owners, fallbacks } = ring.preference(ring.partitionOf(bucket, key), opts.n);
      const ordered = [...owners].sort((a, b) => Number(b === transport.self) - Number(a === transport.self));
      return [...ordered, ...fallbacks.slice(0, opts.fallbacks ?? 2)];
    },
    async read(node: NodeId, bucket: string, key: string): Promise<SiblingSet | null> {
      // bulk: a 4 MiB answer must not queue small requests' answers behind it.
      const resp = await transport.request(node, { type: 'get', bucket, key }, opts.timeoutMs ?? 10_000, { bulk: true });
      return resp.set;
    },
  };
}
