// Reads of one replica at a time, for content-addressed chunks (the S3
// API's object bodies): a chunk's hash says whether a copy is good, so any
// one replica's copy is as good as a quorum's once it checks out. The reader
// asks one replica (this node first when it holds one, then the other
// owners, then a few fallbacks, where a chunk written during an outage may
// sit) and the caller moves on only when that copy is missing or corrupt.
// The quorum path (Coordinator.get) would fetch every owner's copy of a
// 4 MiB chunk to return one.

import type { Placement } from '../ring/view.js';
import type { Transport } from '../transport/transport.js';
import type { NodeId, SiblingSet } from '../version/dvv.js';

export interface ReplicaReads {
  /** The replicas that may hold bucket/key, best first (this node first when it is an owner). */
  replicas(bucket: string, key: string): readonly NodeId[];
  /** What `node` itself stores for bucket/key (null: nothing); rejects with a TransportError. */
  read(node: NodeId, bucket: string, key: string): Promise<SiblingSet | null>;
}

export interface ChunkReadsDeps {
  readonly transport: Transport;
  readonly ring: () => Pick<Placement, 'partitionOf' | 'preference'>;
  /** Replication factor chunks are written with (the cluster's default N). */
  readonly n: number;
  /** Deadline of each replica read. */
  readonly timeoutMs?: number;
  /** Fallbacks consulted after the owners. */
  readonly fallbacks?: number;
}

export function chunkReads(deps: ChunkReadsDeps): ReplicaReads {
  const { transport } = deps;
  const self = transport.self;
  return {
    replicas(bucket: string, key: string): readonly NodeId[] {
      const ring = deps.ring();
      const { owners, fallbacks } = ring.preference(ring.partitionOf(bucket, key), deps.n);
      const ordered = [...owners].sort((a, b) => Number(b === self) - Number(a === self));
      return [...ordered, ...fallbacks.slice(0, deps.fallbacks ?? 2)];
    },
    async read(node: NodeId, bucket: string, key: string): Promise<SiblingSet | null> {
      // bulk: a 4 MiB answer must not queue small requests' answers behind it.
      const resp = await transport.request(node, { type: 'get', bucket, key }, deps.timeoutMs ?? 10_000, { bulk: true });
      return resp.set;
    },
  };
}
