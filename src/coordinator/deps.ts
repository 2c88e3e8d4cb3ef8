// What a coordinator is built from: its configuration (with the BUGGIFY
// switches the simulator turns on), its injected parts, and the small
// environment the write, read, list and replica-side code share.

import { DEFAULT_QUORUM, type Quorum } from './quorum.js';
import type { Placement } from '../ring/view.js';
import type { HintStore, ReplicaStore } from '../store/store.js';
import type { Transport } from '../transport/transport.js';
import type { Request, ResponseFor } from '../transport/messages.js';
import type { Liveness } from '../membership/liveness.js';
import type { Clock, Random } from '../util/runtime.js';
import type { NodeId, SiblingSet } from '../version/dvv.js';
import type { CounterLease } from '../version/counter-lease.js';
import { DEFAULT_MAX_DATA_AGE_MS } from '../antientropy/data-age.js';

export interface CoordinatorConfig {
  readonly defaultQuorum: Quorum;
  /** Deadline of each replica request that carries no values (deadline.ts adds time for the bytes of those that do). */
  readonly replicaTimeoutMs: number;
  /** The slowest transfer rate a replica may show before it counts as failed (deadline.ts). */
  readonly replicaFloorBytesPerSec?: number;
  /** Compare late read replies and repair stale replicas (Dynamo §4.7 read repair). */
  readonly readRepair: boolean;
  /** Bound on read repairs in flight; beyond it, repairs are skipped (anti-entropy catches up). */
  readonly maxRepairsInFlight: number;
  /**
   * A replica refuses to merge a set read longer ago than this (on the
   * sender's clock); it bounds how long an old version can travel, which
   * tombstone collection relies on (antientropy/data-age.ts).
   */
  readonly maxDataAgeMs: number;
  /** Siblings a client write may leave on a key (sibling-cap.ts); default DEFAULT_MAX_SIBLINGS. */
  readonly maxSiblings?: number;
  /** Test-only broken behaviour for the simulator's checkers to catch (src/sim). Never set in production. */
  readonly bugs?: CoordinatorBugs;
}

/**
 * BUGGIFY-style switches (FoundationDB): each turns on one deliberately wrong
 * behaviour so that test/sim/checkers-catch-bugs.test.ts can show the
 * simulator's checkers notice it. All default off.
 */
export interface CoordinatorBugs {
  /** Replicas answer putOk before the write is stored (it is stored 100 ms later, or lost in a crash). */
  readonly ackBeforeStore?: boolean;
  /** The origin mints the new dot with an empty context, ignoring the client's. */
  readonly ignoreContext?: boolean;
  /** A replica replaces its sibling set with the incoming one instead of merging. */
  readonly overwriteOnReplica?: boolean;
  /** The coordinator acknowledges a write after W-1 replicas. */
  readonly quorumOffByOne?: boolean;
  /**
   * A fallback stores a hinted write but never records the hint, so it is
   * never handed off: with a hint table, it keeps the write among its own
   * replicas instead; without one, it does not call onHintedWrite.
   */
  readonly dropHints?: boolean;
  /** Replicas merge, and coordinators keep as hints, copies of any age (see AntiEntropyBugs.ignoreDataAge). */
  readonly ignoreDataAge?: boolean;
  /** The counter lease is used but never persisted: a restart mints as the same actor from the same counters (version/counter-lease.ts). */
  readonly leaseNotPersisted?: boolean;
  /** The origin mints from its committed state only, not seeing its own mints still being committed (coordinator/origin.ts). */
  readonly mintFromCommitted?: boolean;
}

export const DEFAULT_COORDINATOR_CONFIG: CoordinatorConfig = {
  defaultQuorum: DEFAULT_QUORUM,
  replicaTimeoutMs: 3000,
  readRepair: true,
  maxRepairsInFlight: 256,
  maxDataAgeMs: DEFAULT_MAX_DATA_AGE_MS,
};

/** Hooks for observability; all optional. */
export interface CoordinatorEvents {
  readRepair?(node: NodeId, bucket: string, key: string): void;
  hintedWrite?(fallback: NodeId, owner: NodeId): void;
  /** A copy of a sibling set was not merged (here, or into a local hint) because it was read too long ago. */
  staleRefused?(what: string): void;
}

export interface CoordinatorDeps {
  readonly self: NodeId;
  readonly store: ReplicaStore;
  readonly transport: Transport;
  readonly clock: Clock;
  readonly random: Random;
  readonly ring: () => Placement;
  readonly liveness: Liveness;
  readonly config?: Partial<CoordinatorConfig>;
  readonly events?: CoordinatorEvents;
  /**
   * Called on the replica side for a write that arrives with a hint (this
   * node stands in for `owner`). Hinted handoff stores and later delivers it.
   */
  readonly onHintedWrite?: (owner: NodeId, partition: number, bucket: string, key: string, set: SiblingSet) => Promise<void>;
  /**
   * The hint table. When given, a hinted write lives only there, apart from
   * this node's own replicas (Dynamo §4.6: "kept in a separate local
   * database"), until handoff delivers it; reads and listings served here
   * include it. Without it (the simulator) a hinted write is merged into
   * the main store and onHintedWrite keeps track.
   */
  readonly hints?: HintDeps;
  /**
   * A floor for the counters of dots this node mints as an owner: at least
   * every counter of this node in a tombstone set that anti-entropy
   * collected (AntiEntropy.dotFloor). Collection makes an owner forget a
   * key, like handoff makes a fallback forget one; without the floor a new
   * write could reuse a dot that a leftover copy of the tombstone covers,
   * and vanish where the two meet. Default 0 (no collection).
   */
  readonly dotFloor?: () => number;
  /**
   * The actor and counter reservation this node mints dots with
   * (version/counter-lease.ts). Default: one over `store`'s meta, never
   * marked closed (so every start takes a new actor).
   */
  readonly counterLease?: CounterLease;
}

export interface HintDeps {
  readonly store: HintStore;
  /**
   * A floor for the counters of dots this node mints as a fallback (see
   * newEvent's minCounter): at least every counter it ever minted into a
   * hint that handoff has since deleted.
   */
  readonly dotFloor: () => number;
  /** Hints for new keys are refused beyond these bounds: the write fails on this node instead of piling up. */
  readonly maxHints: number;
  readonly maxHintBytes: number;
}

/** What every part of the coordinator shares: its node, parts, configuration and replica calls. */
export interface CoordinatorEnv {
  readonly self: NodeId;
  readonly deps: CoordinatorDeps;
  readonly config: CoordinatorConfig;
  /** One request to a replica, with its outcome reported to the failure detector. */
  call<R extends Request>(node: NodeId, req: R): Promise<ResponseFor[R['type']]>;
}
