// Anti-entropy (Dynamo §4.7) and tombstone collection, as one protocol
// component with injected clock, transport, store and liveness, so that
// servers run it on real timers and the simulator drives it on virtual time.
//
// Exchange. Each round, for every partition this node replicates, it pairs
// with the next owner in the partition's preference list (cyclically: with
// owners [a, b, c] the pairs are a->b, b->c, c->a), so each pair of replicas
// is compared once per round by one side instead of twice, and a returning
// replica is repaired by its predecessor. Per peer, the roots of all shared
// partitions travel in one message; for each partition whose roots differ
// it descends level by level only into children that differ, lists the
// keys (with set digests) under differing leaves on both sides, fetches the
// peer's sets for keys that differ, merges them locally with `sync`, and
// pushes the merged set back wherever the peer's digest differs from it.
// Both replicas hold the join of their sets afterwards, and since `sync` is
// a join-semilattice merge the result does not depend on which side ran it
// or on concurrent writes and read repairs.
//
// Rate limits: a token bucket of keys per second (fetched + pushed keys),
// and a bound on partitions exchanged at once; a round runs to completion
// before the next is scheduled `intervalMs` later. So repair traffic is
// bounded whatever the size of the divergence, and foreground requests keep
// most of the disk (each local merge is one LMDB write, batched with others).
//
// Tombstone collection (collection.ts) runs at the end of a round when a
// sweep is due. The parts live in files named for them: exchange.ts (the
// Merkle exchange with one peer), collection.ts (tombstone collection),
// replica.ts (answers to a peer's requests), config.ts, env.ts (what the
// parts share), wire.ts (hash encoding, message sizes).

import type { NodeId } from '../version/dvv.js';
import { hashHex } from './merkle.js';
import { TokenBucket } from '../util/token-bucket.js';
import { murmur3 } from '../util/hash.js';
import { errorMessage } from '../util/errors.js';
import type { Timer } from '../util/runtime.js';
import { DotFloor } from '../version/dot-floor.js';
import type { AeRequest, AeResponse, AeShape } from './protocol.js';
import { DEFAULT_ANTI_ENTROPY_CONFIG, type AntiEntropyConfig, type AntiEntropyDeps, type AntiEntropyStatus, type RoundReport } from './config.js';
import { RoundCounters, type AeEnv } from './env.js';
import { MerkleExchange } from './exchange.js';
import { TombstoneCollector } from './collection.js';
import { AeReplica } from './replica.js';

export {
  DEFAULT_ANTI_ENTROPY_CONFIG,
  type AeTransport,
  type AntiEntropyBugs,
  type AntiEntropyConfig,
  type AntiEntropyDeps,
  type AntiEntropyEvents,
  type AntiEntropyStatus,
  type RoundReport,
} from './config.js';
export { decodeHashes, encodeHashes } from './wire.js';

export class AntiEntropy {
  readonly config: AntiEntropyConfig;
  readonly shape: AeShape;
  private readonly env: AeEnv;
  private readonly exchange: MerkleExchange;
  private readonly collector: TombstoneCollector;
  private readonly replica: AeReplica;
  private timer: Timer | undefined;
  private running = false;
  private current: Promise<RoundReport> | undefined;
  private rounds = 0;
  private lastRound: RoundReport | null = null;
  private lastGcMs = -Infinity;
  private partitionsInFlight = 0;

  constructor(deps: AntiEntropyDeps) {
    this.config = { ...DEFAULT_ANTI_ENTROPY_CONFIG, ...deps.config };
    this.shape = deps.store.forest.shape;
    this.env = {
      deps,
      config: this.config,
      shape: this.shape,
      limiter: new TokenBucket(deps.clock, this.config.keysPerSec),
      floor: deps.dotFloor ?? new DotFloor(deps.store),
      totals: {
        partitionsCompared: 0,
        partitionsDiffering: 0,
        keysCompared: 0,
        keysPulled: 0,
        keysPushed: 0,
        errors: 0,
        tombstonesCollected: 0,
        gcSweeps: 0,
        gcBlocked: 0,
        staleRefused: 0,
      },
      state: { stopped: false, lastError: null },
    };
    this.exchange = new MerkleExchange(this.env);
    this.collector = new TombstoneCollector(this.env);
    this.replica = new AeReplica(this.env, this.collector);
  }

  /**
   * A floor for the counters of dots this node mints (dvv newEvent's
   * minCounter): at least every counter of this node found in a tombstone
   * set it collected. Dot counters are per key, so a key this node has
   * forgotten would otherwise restart at counter 1, and a new write could
   * reuse a dot that a leftover copy of the collected tombstone (a replica
   * whose removal failed) still covers, which would silently drop the new
   * write when the two meet. Durable (version/dot-floor.ts), raised before a removal.
   */
  dotFloor(): number {
    return this.env.floor.current();
  }

  // ------------------------------------------------------------- driving

  /** Runs rounds forever on the injected clock: the first after intervalMs, each next intervalMs after the previous ended. */
  start(): void {
    if (this.running || this.env.state.stopped) return;
    this.running = true;
    this.schedule();
  }

  /** Stops scheduling, releases rate-limit waits, and resolves once the round in flight (if any) has ended. */
  async stop(): Promise<void> {
    this.env.state.stopped = true;
    this.running = false;
    this.timer?.cancel();
    this.timer = undefined;
    this.env.limiter.cancelAll();
    await this.current?.catch(() => undefined);
  }

  /**
   * One round: exchange with every peer this node initiates with, then a
   * tombstone sweep when one is due. Concurrent calls share the round in
   * flight. The simulator may call this directly instead of start().
   */
  runRound(): Promise<RoundReport> {
    this.current ??= this.round().finally(() => {
      this.current = undefined;
    });
    return this.current;
  }

  private schedule(): void {
    if (!this.running || this.env.state.stopped) return;
    this.timer = this.env.deps.clock.setTimer(this.config.intervalMs, () => {
      this.timer = undefined;
      void this.runRound()
        .catch((err: unknown) => {
          this.env.state.lastError = errorMessage(err);
        })
        .finally(() => this.schedule());
    });
  }

  // ------------------------------------------------------------- status

  status(): AntiEntropyStatus {
    const forest = this.env.deps.store.forest;
    return {
      running: this.running,
      rounds: this.rounds,
      roundInFlight: this.current !== undefined,
      lastRound: this.lastRound,
      inSync: this.lastRound !== null && this.lastRound.partitionsDiffering === 0 && this.lastRound.errors === 0 && this.lastRound.peersSkipped === 0,
      partitionsInFlight: this.partitionsInFlight,
      totals: { ...this.env.totals, gcPendingConfirmation: this.collector.pendingConfirmation },
      trees: { partitions: forest.partitions().length, keys: forest.totalKeys(), tombstones: this.env.deps.store.tombstoneCount(), fanout: this.shape.fanout, depth: this.shape.depth },
      lastError: this.env.state.lastError,
      config: this.config,
    };
  }

  /** Root hash (16 hex digits) of each partition this node replicates; all zeros for an empty partition. */
  roots(): Record<number, string> {
    const out: Record<number, string> = {};
    const forest = this.env.deps.store.forest;
    for (const p of this.env.deps.ring().partitionsOf(this.env.deps.self, this.env.deps.n)) {
      const r = forest.root(p);
      out[p] = hashHex(r);
    }
    return out;
  }

  // --------------------------------------------------------- exchange side

  /** Peer -> partitions this node compares with it each round (see the file comment for the pairing). */
  plan(): Map<NodeId, number[]> {
    const ring = this.env.deps.ring();
    const { self, n } = this.env.deps;
    const out = new Map<NodeId, number[]>();
    const pair = (peer: NodeId, p: number): void => {
      const list = out.get(peer);
      if (list === undefined) out.set(peer, [p]);
      else list.push(p);
    };
    for (const p of ring.partitionsOf(self, n)) {
      // While data moves (more than one live layout version), the pairing
      // stays among the owners of the read version (`preference`): a node
      // that owns p only in a newer version gets it from its layout mover,
      // which pulls from a read quorum of every source version, verifies,
      // and is throttled (layoutSyncRate), and from writes, which go to every
      // live version. Rounds that also paired with the new owners carried
      // most of a move themselves, unthrottled, and raced the mover (a sync
      // that was over before anyone saw it; docs/layout.md). The layout
      // simulator already runs moves without anti-entropy: sync alone must
      // carry every write.
      const owners = ring.preference(p, n).owners;
      const i = owners.indexOf(self);
      if (i < 0 || owners.length < 2) continue;
      // With two owners the cycle a->b->a would compare the pair twice.
      if (owners.length === 2 && i === 1) continue;
      pair(owners[(i + 1) % owners.length]!, p);
    }
    return out;
  }

  private async round(): Promise<RoundReport> {
    const startedMs = this.env.deps.clock.now();
    const c = new RoundCounters();
    const work: { peer: NodeId; partition: number }[] = [];
    const plan = this.plan();
    await Promise.all(
      [...plan].map(async ([peer, partitions]) => {
        if (!this.env.deps.liveness.isAlive(peer)) {
          c.peersSkipped++;
          return;
        }
        c.peers++;
        try {
          const differing = await this.exchange.compareRoots(peer, partitions);
          c.partitionsCompared += partitions.length;
          for (const p of differing) work.push({ peer, partition: p });
        } catch (err) {
          this.fail(c, peer, 'roots', err);
        }
      }),
    );
    c.partitionsDiffering = work.length;
    // Each node walks the differing partitions in its own order (a hash of
    // node and partition), so that the two neighbours that both repair a
    // returning replica (its predecessor pushing, itself pulling) mostly
    // work on different partitions; by the time one reaches a partition the
    // other has repaired, the descent finds nothing left to do.
    const order = (p: number): number => murmur3(`${this.env.deps.self}\u0000${p}`);
    work.sort((a, b) => order(a.partition) - order(b.partition) || a.partition - b.partition);
    // Partition exchanges, at most maxPartitionsInFlight at once. A peer that
    // fails once (unreachable, timed out) or that the membership view now
    // holds down is left alone for the rest of the round, so a cut that
    // starts mid-round costs one timeout, not one per partition.
    const givenUp = new Set<NodeId>();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < work.length && !this.env.state.stopped) {
        const w = work[next++]!;
        if (givenUp.has(w.peer)) continue;
        if (!this.env.deps.liveness.isAlive(w.peer)) {
          givenUp.add(w.peer);
          continue;
        }
        this.partitionsInFlight++;
        try {
          await this.exchange.exchangePartition(w.peer, w.partition, c);
        } catch (err) {
          givenUp.add(w.peer);
          this.fail(c, w.peer, `partition ${w.partition}`, err);
        } finally {
          this.partitionsInFlight--;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, this.config.maxPartitionsInFlight) }, worker));

    if (this.config.gcEnabled && !this.env.state.stopped && startedMs - this.lastGcMs >= this.config.gcIntervalMs) {
      this.lastGcMs = startedMs;
      try {
        c.tombstonesCollected += await this.collector.collectTombstones();
      } catch (err) {
        this.fail(c, this.env.deps.self, 'tombstone sweep', err);
      }
    }

    const report: RoundReport = { startedMs, durationMs: this.env.deps.clock.now() - startedMs, ...c };
    this.rounds++;
    this.lastRound = report;
    this.env.totals.partitionsCompared += c.partitionsCompared;
    this.env.totals.partitionsDiffering += c.partitionsDiffering;
    this.env.totals.keysCompared += c.keysCompared;
    this.env.totals.keysPulled += c.keysPulled;
    this.env.totals.keysPushed += c.keysPushed;
    this.env.totals.errors += c.errors;
    this.env.deps.events?.round?.(report);
    return report;
  }

  private fail(c: RoundCounters, peer: NodeId, what: string, err: unknown): void {
    c.errors++;
    this.env.state.lastError = `${what} with ${peer}: ${errorMessage(err)}`;
    this.env.deps.events?.error?.(peer, what, err);
  }

  /** The partitions (of `partitions`) whose roots differ between this node and `peer` (exchange.ts). */
  compareRoots(peer: NodeId, partitions: readonly number[]): Promise<number[]> {
    return this.exchange.compareRoots(peer, partitions);
  }

  /** Brings one partition of this node and `peer` to the join of both (exchange.ts); returns the keys that differed. */
  exchangePartition(peer: NodeId, partition: number, c: RoundCounters = new RoundCounters()): Promise<number> {
    return this.exchange.exchangePartition(peer, partition, c);
  }

  /** One tombstone sweep over the partitions this node is the primary owner of (collection.ts); returns keys removed. */
  collectTombstones(): Promise<number> {
    return this.collector.collectTombstones();
  }

  /** No tombstone sweep in progress runs with a layout version older than v (collection.ts). */
  quietBefore(v: number): boolean {
    return this.collector.quietBefore(v);
  }

  /** Answers another node's anti-entropy request (replica.ts). */
  handle(from: NodeId, req: AeRequest): Promise<AeResponse> {
    return this.replica.handle(from, req);
  }
}
