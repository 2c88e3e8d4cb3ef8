// The composition root of one node: the protocol components (failure
// detector, coordinator, hinted handoff, Merkle anti-entropy with tombstone
// collection) wired to each other and to the node's parts (clock, random
// source, transport, store, log). A server passes real parts
// (node/node.ts: system clock, crypto randomness, gRPC, LMDB, pino); the
// simulator passes its twins (sim/world.ts: a skewed virtual clock, a seeded
// source, the in-memory network, a store that can stall). Anything a node
// runs is wired here once, so the simulator runs what a server runs.
//
// Pure by design: no clock, network, randomness or disk but the parts.
// What only a server has (Prometheus metrics, HTTP endpoints, S3, fault
// injection) stays in node/; it observes these components through the
// hooks below and the returned handles.

import { AntiEntropy, type AntiEntropyBugs, type AntiEntropyConfig, type AntiEntropyEvents } from '../antientropy/antientropy.js';
import type { TreeShape } from '../antientropy/merkle.js';
import { isAeRequest } from '../antientropy/protocol.js';
import { MerkleTrackingStore, type RebuildStats } from '../antientropy/tracking-store.js';
import { chunkReads, type ReplicaReads } from '../coordinator/chunk-reads.js';
import { Coordinator, type CoordinatorBugs, type CoordinatorEvents } from '../coordinator/coordinator.js';
import type { Quorum } from '../coordinator/types.js';
import { DotFloor } from '../version/dot-floor.js';
import { CounterLease } from '../version/counter-lease.js';
import { HintedHandoff, type HandoffBugs, type HandoffConfig, type HandoffDeps } from '../handoff/handoff.js';
import type { Placement } from '../ring/view.js';
import type { HintStore, ReplicaStore } from '../store/store.js';
import type { Request, ResponseFor } from '../transport/messages.js';
import type { Handler, Transport } from '../transport/transport.js';
import type { Clock, Random } from '../util/runtime.js';
import type { NodeId } from '../version/dvv.js';
import { SILENT_LOG, type ComponentLog } from './log.js';
import { buildMembership, type MembershipSettings, type NodeMembership, type PacketChannel } from './membership.js';

/** What a node is built from: every effect the protocol may use. */
export interface NodeParts {
  readonly self: NodeId;
  readonly clock: Clock;
  readonly random: Random;
  readonly transport: Transport;
  /** Replicas, the hint table and meta: one durable store, as one LMDB environment holds them. */
  readonly store: ReplicaStore & HintStore;
  readonly ring: () => Placement;
  /** Brings the layout view up to date before a tombstone sweep (the control plane's ReadIndex); absent in the simulator. */
  readonly confirmLayout?: () => Promise<void>;
  /** SWIM's packet channel; by default `swim` requests on `transport`. */
  readonly packets?: PacketChannel;
  readonly log?: ComponentLog;
}

/** BUGGIFY-style switches of every component (FoundationDB); only the simulator sets them. */
export type NodeBugs = CoordinatorBugs & HandoffBugs & AntiEntropyBugs;

export interface NodeComponentsConfig {
  /** Every member of the layout, this node included. */
  readonly members: readonly NodeId[];
  /** The ring's partition count (the Merkle trees are rebuilt for each). */
  readonly partitions: number;
  /** The cluster's default quorum; its N is also the replica count anti-entropy compares. */
  readonly quorum: Quorum;
  readonly membership: MembershipSettings;
  readonly coordinator?: { readonly replicaTimeoutMs?: number; readonly readRepair?: boolean; readonly maxSiblings?: number };
  readonly handoff: {
    readonly config: Partial<HandoffConfig>;
    /** Bounds of the hint table: hinted writes for new keys are refused beyond them. */
    readonly maxHints: number;
    readonly maxHintBytes: number;
  };
  readonly antiEntropy: {
    /** Off: no rounds and no tombstone collection run (the replica side still answers peers). */
    readonly enabled: boolean;
    readonly shape: TreeShape;
    /** Its maxDataAgeMs also bounds what the coordinator merges (antientropy/data-age.ts). */
    readonly config: Partial<AntiEntropyConfig>;
  };
  readonly bugs?: NodeBugs;
}

/** Observers of what the components do (a server's metrics, the simulator's counters); all optional. */
export interface NodeHooks {
  readonly coordinator?: CoordinatorEvents & {
    /** This node took a hinted write for `owner` (it stands in for the owner until handoff). */
    hintStored?(owner: NodeId): void;
  };
  readonly handoff?: HandoffDeps['events'];
  readonly antiEntropy?: AntiEntropyEvents;
  /** A member is evidently up again (see MembershipParts.memberAlive). */
  readonly memberAlive?: (node: NodeId) => void;
}

export interface NodeComponents {
  /** The store as the components see it: `parts.store` wrapped so that its Merkle trees follow every write. */
  readonly store: MerkleTrackingStore;
  /** What the startup scan found, and how long it took on the node's clock. */
  readonly rebuilt: RebuildStats & { readonly ms: number };
  readonly dotFloor: DotFloor;
  readonly membership: NodeMembership;
  readonly coordinator: Coordinator;
  /** Reads of one replica at a time, for content-addressed chunks (the S3 API's bodies). */
  readonly chunkReads: ReplicaReads;
  readonly handoff: HintedHandoff;
  readonly antiEntropy: AntiEntropy;
  /** Serves the transport (SWIM packets, then anti-entropy, then the coordinator) and starts the background drivers. */
  start(): void;
  /** Graceful: stops anti-entropy and handoff, then leaves the membership. The parts stay open. */
  stop(): Promise<void>;
  /** Stops every driver at once, as a crash would: no leave is announced and nothing is awaited. */
  halt(): void;
}

export function buildNode(parts: NodeParts, config: NodeComponentsConfig, hooks: NodeHooks = {}): NodeComponents {
  const { self, clock, random, transport, ring } = parts;
  const log = parts.log ?? SILENT_LOG;
  const bugs = config.bugs;

  // Merkle trees are not persisted: one scan at startup, before anything is
  // served, so that no write is in flight while a partition is scanned.
  const store = new MerkleTrackingStore(parts.store, config.antiEntropy.shape);
  const t0 = clock.now();
  const scanned = store.rebuild(config.partitions);
  const rebuilt = { ...scanned, ms: clock.now() - t0 };
  log.info({ component: 'antientropy', partitions: rebuilt.partitions, keys: rebuilt.keys, ms: rebuilt.ms }, 'merkle trees built from a scan of the store');

  // One floor for every dot counter this node mints, raised by handoff
  // before a hint is deleted and by collection before a tombstone is
  // removed (handoff/dot-floor.ts). It lives in the raw store's meta.
  const dotFloor = new DotFloor(parts.store);
  // writepath: the actor and counter reservation dots are minted with (version/counter-lease.ts), marked closed on a clean close.
  const counterLease = new CounterLease(parts.store, self, { notPersisted: bugs?.leaseNotPersisted === true });
  parts.store.beforeClose?.(() => counterLease.close());

  // Failure detection: SWIM, or the passive detector (Dynamo §4.8).
  const membership = buildMembership(
    {
      self,
      members: config.members,
      clock,
      random,
      transport,
      ...(parts.packets !== undefined ? { packets: parts.packets } : {}),
      log,
      ...(hooks.memberAlive !== undefined ? { memberAlive: hooks.memberAlive } : {}),
    },
    config.membership,
  );
  const liveness = membership.liveness;

  const aeConfig = config.antiEntropy.config;
  const coordinatorHooks = hooks.coordinator;
  const hintStored = coordinatorHooks?.hintStored;
  const coordinator = new Coordinator({
    self,
    store,
    dotFloor: () => dotFloor.current(),
    counterLease,
    transport,
    clock,
    random,
    ring,
    liveness,
    config: {
      defaultQuorum: config.quorum,
      ...config.coordinator,
      ...(aeConfig.maxDataAgeMs !== undefined ? { maxDataAgeMs: aeConfig.maxDataAgeMs } : {}),
      ...(bugs !== undefined ? { bugs } : {}),
    },
    ...(coordinatorHooks !== undefined ? { events: coordinatorHooks } : {}),
    // Dynamo §4.6: a hinted write lives in the hint table, apart from this node's own replicas.
    hints: { store: parts.store, dotFloor: () => dotFloor.current(), maxHints: config.handoff.maxHints, maxHintBytes: config.handoff.maxHintBytes },
    ...(hintStored !== undefined ? { onHintedWrite: async (owner: NodeId) => hintStored(owner) } : {}),
  });

  // Hinted handoff (Dynamo §4.6): hints are delivered when the view sees their owner alive again.
  const handoff = new HintedHandoff({
    self,
    clock,
    transport,
    liveness,
    hints: parts.store,
    raiseDotFloor: (c) => dotFloor.raise(c),
    config: config.handoff.config,
    // issue 10: a hint whose owner lost the partition in a layout change goes to the current owners.
    layout: {
      stillOwns: (owner, p) => ring().allOwners(p, config.quorum.n).includes(owner),
      isMember: (owner) => ring().nodes.includes(owner),
      currentOwners: (p) => ring().writeSets(p, config.quorum.n).sets.at(-1) ?? [],
      mergeHere: async (_p, bucket, key, set) => {
        await coordinator.handle(self, { type: 'putReplica', bucket, key, set, hintFor: null, asOf: clock.now() });
      },
    },
    ...(bugs !== undefined ? { bugs } : {}),
    events: {
      delivered: (owner, hint) => hooks.handoff?.delivered?.(owner, hint),
      failed: (owner, reason) => {
        log.debug({ component: 'handoff', owner, reason }, 'hint delivery failed');
        hooks.handoff?.failed?.(owner, reason);
      },
    },
  });

  // Merkle anti-entropy and tombstone collection (Dynamo §4.7).
  const aeHooks = hooks.antiEntropy;
  const antiEntropy = new AntiEntropy({
    self,
    store,
    transport,
    clock,
    ring,
    liveness,
    n: config.quorum.n,
    config: aeConfig,
    // A key with an undelivered hint here is not collectable: the hint may carry an older version.
    pendingHint: (bucket, key) => parts.store.readHints(bucket, key).length > 0,
    ...(parts.confirmLayout !== undefined ? { confirmLayout: parts.confirmLayout } : {}),
    dotFloor,
    ...(bugs !== undefined ? { bugs } : {}),
    events: {
      round: (r) => {
        if (r.partitionsDiffering > 0 || r.tombstonesCollected > 0 || r.errors > 0) {
          log.info(
            { component: 'antientropy', ms: r.durationMs, differing: r.partitionsDiffering, pulled: r.keysPulled, pushed: r.keysPushed, collected: r.tombstonesCollected, errors: r.errors },
            'anti-entropy round',
          );
        }
        aeHooks?.round?.(r);
      },
      pulled: (peer, n) => aeHooks?.pulled?.(peer, n),
      pushed: (peer, n) => aeHooks?.pushed?.(peer, n),
      collected: (n) => aeHooks?.collected?.(n),
      error: (peer, what, err) => {
        log.debug({ component: 'antientropy', peer, what, err: err instanceof Error ? err.message : String(err) }, 'anti-entropy exchange failed');
        aeHooks?.error?.(peer, what, err);
      },
    },
  });

  // SWIM packets to the detector, anti-entropy's messages to its component, the rest to the coordinator.
  const handler: Handler = membership.route(async (from, req: Request) => {
    if (isAeRequest(req)) return (await antiEntropy.handle(from, req)) as ResponseFor[Request['type']];
    return coordinator.handle(from, req);
  });

  return {
    store,
    rebuilt,
    dotFloor,
    membership,
    coordinator,
    chunkReads: chunkReads({ transport, ring, n: config.quorum.n }),
    handoff,
    antiEntropy,
    start: () => {
      transport.serve(handler);
      membership.start();
      handoff.start();
      if (config.antiEntropy.enabled) antiEntropy.start();
    },
    stop: async () => {
      await antiEntropy.stop();
      handoff.stop();
      await membership.stop();
    },
    halt: () => {
      membership.halt();
      handoff.stop();
      void antiEntropy.stop();
    },
  };
}
