// The cluster layout: which nodes exist, where, and with what capacity.
// Every node computes the same ring from the same layout (ring.ts).

import type { NodeId } from '../version/dvv.js';

export interface NodeSpec {
  readonly id: NodeId;
  /** Failure domain (rack, machine, availability zone). Replicas prefer distinct zones. */
  readonly zone: string;
  /** Relative capacity; ownership is proportional to it. */
  readonly weight: number;
}

export interface Layout {
  /** Bumped on every change so that nodes can tell which ring they agree on. */
  readonly epoch: number;
  /** Number of partitions: a power of two, fixed for the life of the cluster. */
  readonly partitions: number;
  readonly nodes: readonly NodeSpec[];
}

export const DEFAULT_PARTITIONS = 1024;
