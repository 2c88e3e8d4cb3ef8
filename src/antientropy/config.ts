// Anti-entropy's configuration, injected parts, hooks and reports.

import type { Placement } from '../ring/view.js';
import type { Liveness } from '../membership/liveness.js';
import type { Clock } from '../util/runtime.js';
import type { NodeId } from '../version/dvv.js';
import type { MerkleTrackingStore } from './tracking-store.js';
import { DEFAULT_MAX_CLOCK_SKEW_MS, DEFAULT_MAX_DATA_AGE_MS } from './data-age.js';
import type { AeRequest, AeResponseFor } from './protocol.js';

export interface AntiEntropyConfig {
  /** Pause between the end of one round and the start of the next. */
  readonly intervalMs: number;
  /** Repair budget: keys fetched plus keys pushed per second, per node. */
  readonly keysPerSec: number;
  /** Partitions being exchanged at once. */
  readonly maxPartitionsInFlight: number;
  /** Deadline of each anti-entropy request. */
  readonly requestTimeoutMs: number;
  /** Keys per aeLeafKeys page. */
  readonly keysPerPage: number;
  /** Keys per fetch/merge/push batch. */
  readonly keysPerBatch: number;
  /** Soft bound on the bytes of values in one fetch or push message. */
  readonly maxBatchBytes: number;
  /** How long a tombstone is kept at least (since it was written). */
  readonly tombstoneGraceMs: number;
  /** How often the primary owners sweep their partitions for collectable tombstones. */
  readonly gcIntervalMs: number;
  /** Keys per collection check. */
  readonly gcBatch: number;
  /** Collect tombstones at all. */
  readonly gcEnabled: boolean;
  /** A pushed or fetched set read longer ago than this is not merged (data-age.ts). */
  readonly maxDataAgeMs: number;
  /** The assumed bound on the difference between two nodes' clocks (data-age.ts). */
  readonly maxClockSkewMs: number;
}

export const DEFAULT_ANTI_ENTROPY_CONFIG: AntiEntropyConfig = {
  intervalMs: 1000,
  keysPerSec: 2500,
  maxPartitionsInFlight: 4,
  requestTimeoutMs: 5000,
  keysPerPage: 1000,
  keysPerBatch: 128,
  maxBatchBytes: 1024 * 1024,
  tombstoneGraceMs: 60 * 60 * 1000,
  gcIntervalMs: 60_000,
  gcBatch: 256,
  gcEnabled: true,
  maxDataAgeMs: DEFAULT_MAX_DATA_AGE_MS,
  maxClockSkewMs: DEFAULT_MAX_CLOCK_SKEW_MS,
};

/** What anti-entropy needs from the network: the Transport's request, restricted to its messages. */
export interface AeTransport {
  request<R extends AeRequest>(to: NodeId, req: R, deadlineMs: number): Promise<AeResponseFor[R['type']]>;
}

/** Observability hooks (counters in /metrics); all optional. */
export interface AntiEntropyEvents {
  round?(report: RoundReport): void;
  /** Keys merged into this node's store from a peer. */
  pulled?(peer: NodeId, keys: number): void;
  /** Keys a peer changed after this node pushed them. */
  pushed?(peer: NodeId, keys: number): void;
  collected?(keys: number): void;
  error?(peer: NodeId, what: string, err: unknown): void;
}

/**
 * BUGGIFY-style switches (FoundationDB): each turns on one deliberately
 * wrong behaviour so that the simulator's checkers can be shown to notice it
 * (test/sim/checkers-catch-bugs.test.ts). All off; never set in production.
 */
export interface AntiEntropyBugs {
  /** The exchange neither pulls nor pushes a set of tombstones only: deletes do not spread. */
  readonly skipTombstones?: boolean;
  /** Collection skips phase 1 (both confirmations): tombstones are removed at once, without asking whether every replica holds them. */
  readonly gcWithoutCheck?: boolean;
  /**
   * Copies of any age are merged and collection removes at its first
   * confirmation: collection as it was before data-age.ts, when an old
   * version still in flight could come back (test/sim/gc-in-flight.test.ts).
   */
  readonly ignoreDataAge?: boolean;
  /** Collection removes keys without raising the dot floor first. */
  readonly gcWithoutDotFloor?: boolean;
}

export interface AntiEntropyDeps {
  readonly self: NodeId;
  /** The node's store, wrapped so that its Merkle trees follow every write. */
  readonly store: MerkleTrackingStore;
  readonly transport: AeTransport;
  readonly clock: Clock;
  readonly ring: () => Placement;
  readonly liveness: Liveness;
  /** Replicas per partition (the cluster's default N). */
  readonly n: number;
  readonly config?: Partial<AntiEntropyConfig>;
  readonly events?: AntiEntropyEvents;
  /**
   * Whether this node holds an undelivered hint for the key (hinted handoff):
   * such a key is not collectable, since the hint may carry an older version.
   */
  readonly pendingHint?: (bucket: string, key: string) => boolean;
  /**
   * The node's durable dot-counter floor (version/dot-floor.ts), shared with
   * hinted handoff: collection raises it before removing a key. Without it,
   * anti-entropy opens one on its store.
   */
  readonly dotFloor?: { current(): number; raise(counter: number): Promise<void> };
  /**
   * Brings this node's view of the layout up to date before a tombstone
   * sweep (a ReadIndex on the control plane, docs/layout.md): collection
   * must wait for every owner of every live version, so it must not run on
   * a view that misses a newer version. Absent: the layout never changes.
   */
  readonly confirmLayout?: () => Promise<void>;
  /** Test-only broken behaviour (src/sim). Never set in production. */
  readonly bugs?: AntiEntropyBugs;
}

export interface RoundReport {
  readonly startedMs: number;
  readonly durationMs: number;
  /** Peers compared with, and peers skipped because the local view holds them down. */
  readonly peers: number;
  readonly peersSkipped: number;
  readonly partitionsCompared: number;
  readonly partitionsDiffering: number;
  readonly keysCompared: number;
  readonly keysPulled: number;
  readonly keysPushed: number;
  readonly errors: number;
  readonly tombstonesCollected: number;
}

export interface AntiEntropyStatus {
  readonly running: boolean;
  readonly rounds: number;
  readonly roundInFlight: boolean;
  readonly lastRound: RoundReport | null;
  /** True when the last completed round found every compared partition equal. */
  readonly inSync: boolean;
  readonly partitionsInFlight: number;
  /** Every round's counts summed since start, and collection's own. */
  readonly totals: Pick<RoundReport, 'partitionsCompared' | 'partitionsDiffering' | 'keysCompared' | 'keysPulled' | 'keysPushed' | 'errors' | 'tombstonesCollected'> & {
    readonly gcSweeps: number;
    readonly gcBlocked: number;
    /** Tombstone-only keys confirmed once by the last sweep, waiting for the second confirmation. */
    readonly gcPendingConfirmation: number;
    /** Fetched or pushed sets not merged because they were read too long ago (data-age.ts). */
    readonly staleRefused: number;
  };
  readonly trees: { readonly partitions: number; readonly keys: number; readonly tombstones: number; readonly fanout: number; readonly depth: number };
  readonly lastError: string | null;
  readonly config: AntiEntropyConfig;
}
