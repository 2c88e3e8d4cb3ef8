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
// Tombstone collection (README, "Deletes that stay deleted"). A key whose sibling set is
// tombstones only may be removed only when (1) the grace period has passed
// since its newest tombstone was written, and (2) every replica holds that
// very set. (2) is checked, not assumed: the partition's primary owner asks
// EVERY node of the layout (phase 1, aeGcCheck) what it holds for the key.
// The preference-list owners must answer "same tombstone set"; every other
// node (a fallback that took a hinted copy, an extra replica of a bucket with
// a larger N) must answer "same" or "nothing", never "something else". The
// check is passed twice, by sweeps at least confirmGapMs apart (data-age.ts:
// by then no copy of an older version read before the first can still be
// merged anywhere). Only then are the copies removed (phase 2, aeGcRemove),
// each conditionally on its digest being unchanged, so a write racing the
// collection survives. A
// node that cannot be asked blocks collection of its partitions' tombstones.
// If a removal fails on some replica, that replica keeps the tombstone and
// anti-entropy copies it back to the others: a tombstone spreading again is
// safe, and it is collected on a later sweep.
//
// What this cannot see, and the grace period must cover (README "Anti-entropy
// and deletes"): an old version held outside the store (a hint waiting for
// delivery, unless `pendingHint` reports it) or on a node that is not in the
// layout. Hence grace period > the longest outage after which a node's hints
// may still be delivered.

import type { Ring } from '../ring/ring.js';
import type { Liveness } from '../membership/liveness.js';
import type { Clock, Timer } from '../util/runtime.js';
import { isTombstoneOnly, maxCounter, mergeInto, type NodeId, type SiblingSet } from '../version/dvv.js';
import { compareKeyRefs } from '../store/key-order.js';
import { hashEquals, hashHex, keyDigestHex, leafOf, type Hash64, ZERO_HASH } from './merkle.js';
import type { MerkleTrackingStore } from './tracking-store.js';
import { TokenBucket } from './rate.js';
import { murmur3 } from '../util/hash.js';
import { confirmGapMs, DEFAULT_MAX_CLOCK_SKEW_MS, DEFAULT_MAX_DATA_AGE_MS, staleDataError } from './data-age.js';
import {
  GC_ABSENT,
  GC_OTHER,
  GC_SAME,
  type AeGcStatesOk,
  type AeHashesOk,
  type AeKeyDigest,
  type AeKeyRef,
  type AeKeySet,
  type AeKeysOk,
  type AeRequest,
  type AeResponse,
  type AeResponseFor,
  type AeSetsOk,
  type AeShape,
  type AeCountOk,
} from './protocol.js';

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
  readonly ring: () => Ring;
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
   * The node's durable dot-counter floor, when the node keeps one for other
   * reasons too (hinted handoff's DotFloor): collection raises it before
   * removing. Without it, anti-entropy keeps its own in store meta
   * DOT_FLOOR_META.
   */
  readonly dotFloor?: { current(): number; raise(counter: number): Promise<void> };
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

class RoundCounters {
  peers = 0;
  peersSkipped = 0;
  partitionsCompared = 0;
  partitionsDiffering = 0;
  keysCompared = 0;
  keysPulled = 0;
  keysPushed = 0;
  errors = 0;
  tombstonesCollected = 0;
}

interface Diff {
  readonly bucket: string;
  readonly key: string;
  /** The peer's digest, undefined when it holds nothing. */
  readonly remote: string | undefined;
}

const HASH_BYTES = 8;

/** Store meta key of the dot floor (see AntiEntropy.dotFloor). */
export const DOT_FLOOR_META = 'antientropy.dotFloor';

export function encodeHashes(hashes: readonly Hash64[]): Uint8Array {
  const out = new Uint8Array(hashes.length * HASH_BYTES);
  const view = new DataView(out.buffer);
  hashes.forEach((h, i) => {
    view.setUint32(i * HASH_BYTES, h[0]);
    view.setUint32(i * HASH_BYTES + 4, h[1]);
  });
  return out;
}

export function decodeHashes(bytes: Uint8Array, count: number): Hash64[] {
  if (bytes.length !== count * HASH_BYTES) throw new Error(`anti-entropy: expected ${count} hashes, got ${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Hash64[] = [];
  for (let i = 0; i < count; i++) out.push([view.getUint32(i * HASH_BYTES), view.getUint32(i * HASH_BYTES + 4)]);
  return out;
}

const id = (bucket: string, key: string): string => `${bucket}\u0000${key}`;


/** Rough wire size of a set: enough to keep batches under a message size limit. */
function setBytes(set: SiblingSet | null | undefined): number {
  if (set == null) return 16;
  let n = 16;
  for (const s of set.siblings) n += 64 + (s.value?.length ?? 0) + Object.keys(s.past).length * 16;
  return n;
}

/** Newest tombstone time of a set (its siblings' HLC timestamps). */
function newestTs(set: SiblingSet): number {
  let ts = 0;
  for (const s of set.siblings) if (s.meta.ts > ts) ts = s.meta.ts;
  return ts;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class AntiEntropy {
  readonly config: AntiEntropyConfig;
  readonly shape: AeShape;
  private readonly limiter: TokenBucket;
  private timer: Timer | undefined;
  private running = false;
  private stopped = false;
  private current: Promise<RoundReport> | undefined;
  private rounds = 0;
  private lastRound: RoundReport | null = null;
  private lastGcMs = -Infinity;
  private partitionsInFlight = 0;
  private lastError: string | null = null;
  private floor: number;
  private readonly totals = {
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
  };
  /**
   * Tombstone sets every node held at a sweep's check, by key: digest and
   * when (this node's clock) the check completed. Volatile on purpose: after
   * a restart the first confirmation is simply made again.
   */
  private confirmed = new Map<string, { digest: string; atMs: number }>();

  constructor(private readonly deps: AntiEntropyDeps) {
    this.config = { ...DEFAULT_ANTI_ENTROPY_CONFIG, ...deps.config };
    this.shape = deps.store.forest.shape;
    this.limiter = new TokenBucket(deps.clock, this.config.keysPerSec);
    this.floor = deps.store.getMeta<number>(DOT_FLOOR_META) ?? 0;
  }

  /**
   * A floor for the counters of dots this node mints (dvv newEvent's
   * minCounter): at least every counter of this node found in a tombstone
   * set it collected. Dot counters are per key, so a key this node has
   * forgotten would otherwise restart at counter 1, and a new write could
   * reuse a dot that a leftover copy of the collected tombstone (a replica
   * whose removal failed) still covers, which would silently drop the new
   * write when the two meet. Durable (store meta), raised before a removal.
   */
  dotFloor(): number {
    return this.deps.dotFloor?.current() ?? this.floor;
  }

  private async raiseFloor(counter: number): Promise<void> {
    if (this.deps.dotFloor !== undefined) return this.deps.dotFloor.raise(counter);
    if (counter <= this.floor) return;
    await this.deps.store.putMeta(DOT_FLOOR_META, counter);
    this.floor = Math.max(this.floor, counter);
  }

  // ------------------------------------------------------------- driving

  /** Runs rounds forever on the injected clock: the first after intervalMs, each next intervalMs after the previous ended. */
  start(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    this.schedule();
  }

  /** Stops scheduling, releases rate-limit waits, and resolves once the round in flight (if any) has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.running = false;
    this.timer?.cancel();
    this.timer = undefined;
    this.limiter.cancelAll();
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
    if (!this.running || this.stopped) return;
    this.timer = this.deps.clock.setTimer(this.config.intervalMs, () => {
      this.timer = undefined;
      void this.runRound()
        .catch((err: unknown) => {
          this.lastError = describe(err);
        })
        .finally(() => this.schedule());
    });
  }

  // ------------------------------------------------------------- status

  status(): AntiEntropyStatus {
    const forest = this.deps.store.forest;
    return {
      running: this.running,
      rounds: this.rounds,
      roundInFlight: this.current !== undefined,
      lastRound: this.lastRound,
      inSync: this.lastRound !== null && this.lastRound.partitionsDiffering === 0 && this.lastRound.errors === 0 && this.lastRound.peersSkipped === 0,
      partitionsInFlight: this.partitionsInFlight,
      totals: { ...this.totals, gcPendingConfirmation: this.confirmed.size },
      trees: { partitions: forest.partitions().length, keys: forest.totalKeys(), tombstones: this.deps.store.tombstoneCount(), fanout: this.shape.fanout, depth: this.shape.depth },
      lastError: this.lastError,
      config: this.config,
    };
  }

  /** Root hash (16 hex digits) of each partition this node replicates; all zeros for an empty partition. */
  roots(): Record<number, string> {
    const out: Record<number, string> = {};
    const forest = this.deps.store.forest;
    for (const p of this.deps.ring().partitionsOf(this.deps.self, this.deps.n)) {
      const r = forest.root(p);
      out[p] = hashHex(r);
    }
    return out;
  }

  // --------------------------------------------------------- exchange side

  /** Peer -> partitions this node compares with it each round (see the file comment for the pairing). */
  plan(): Map<NodeId, number[]> {
    const ring = this.deps.ring();
    const { self, n } = this.deps;
    const out = new Map<NodeId, number[]>();
    for (const p of ring.partitionsOf(self, n)) {
      const owners = ring.preference(p, n).owners;
      const i = owners.indexOf(self);
      if (i < 0 || owners.length < 2) continue;
      // With two owners the cycle a->b->a would compare the pair twice.
      if (owners.length === 2 && i === 1) continue;
      const peer = owners[(i + 1) % owners.length]!;
      let list = out.get(peer);
      if (list === undefined) out.set(peer, (list = []));
      list.push(p);
    }
    return out;
  }

  private async round(): Promise<RoundReport> {
    const startedMs = this.deps.clock.now();
    const c = new RoundCounters();
    const work: { peer: NodeId; partition: number }[] = [];
    const plan = this.plan();
    await Promise.all(
      [...plan].map(async ([peer, partitions]) => {
        if (!this.deps.liveness.isAlive(peer)) {
          c.peersSkipped++;
          return;
        }
        c.peers++;
        try {
          const differing = await this.compareRoots(peer, partitions);
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
    const order = (p: number): number => murmur3(`${this.deps.self}\u0000${p}`);
    work.sort((a, b) => order(a.partition) - order(b.partition) || a.partition - b.partition);
    // Partition exchanges, at most maxPartitionsInFlight at once. A peer that
    // fails once (unreachable, timed out) or that the membership view now
    // holds down is left alone for the rest of the round, so a cut that
    // starts mid-round costs one timeout, not one per partition.
    const givenUp = new Set<NodeId>();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < work.length && !this.stopped) {
        const w = work[next++]!;
        if (givenUp.has(w.peer)) continue;
        if (!this.deps.liveness.isAlive(w.peer)) {
          givenUp.add(w.peer);
          continue;
        }
        this.partitionsInFlight++;
        try {
          await this.exchangePartition(w.peer, w.partition, c);
        } catch (err) {
          givenUp.add(w.peer);
          this.fail(c, w.peer, `partition ${w.partition}`, err);
        } finally {
          this.partitionsInFlight--;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, this.config.maxPartitionsInFlight) }, worker));

    if (this.config.gcEnabled && !this.stopped && startedMs - this.lastGcMs >= this.config.gcIntervalMs) {
      this.lastGcMs = startedMs;
      try {
        c.tombstonesCollected += await this.collectTombstones();
      } catch (err) {
        this.fail(c, this.deps.self, 'tombstone sweep', err);
      }
    }

    const report: RoundReport = { startedMs, durationMs: this.deps.clock.now() - startedMs, ...c };
    this.rounds++;
    this.lastRound = report;
    this.totals.partitionsCompared += c.partitionsCompared;
    this.totals.partitionsDiffering += c.partitionsDiffering;
    this.totals.keysCompared += c.keysCompared;
    this.totals.keysPulled += c.keysPulled;
    this.totals.keysPushed += c.keysPushed;
    this.totals.errors += c.errors;
    this.deps.events?.round?.(report);
    return report;
  }

  private fail(c: RoundCounters, peer: NodeId, what: string, err: unknown): void {
    c.errors++;
    this.lastError = `${what} with ${peer}: ${describe(err)}`;
    this.deps.events?.error?.(peer, what, err);
  }

  private request<R extends AeRequest>(peer: NodeId, req: R): Promise<AeResponseFor[R['type']]> {
    return this.deps.transport.request(peer, req, this.config.requestTimeoutMs);
  }

  /** The partitions (of `partitions`) whose roots differ between this node and `peer`. */
  async compareRoots(peer: NodeId, partitions: readonly number[]): Promise<number[]> {
    const differing: number[] = [];
    const CHUNK = 4096;
    for (let i = 0; i < partitions.length; i += CHUNK) {
      const chunk = partitions.slice(i, i + CHUNK);
      const resp = await this.request(peer, { type: 'aeRoots', shape: this.shape, partitions: chunk });
      const theirs = decodeHashes(resp.hashes, chunk.length);
      chunk.forEach((p, j) => {
        if (!hashEquals(theirs[j]!, this.deps.store.forest.root(p))) differing.push(p);
      });
    }
    return differing;
  }

  /**
   * Brings one partition of this node and `peer` to the join of both:
   * descend the trees where they differ, compare the keys under differing
   * leaves, fetch, merge, push. Returns the number of keys that differed.
   */
  async exchangePartition(peer: NodeId, partition: number, c: RoundCounters = new RoundCounters()): Promise<number> {
    const leaves = await this.differingLeaves(peer, partition);
    if (leaves.length === 0) return 0;
    const leafSet = new Set(leaves);
    const remote = await this.remoteLeafKeys(peer, partition, leaves);
    const local = this.localLeafKeys(partition, leafSet);
    const diffs: Diff[] = [];
    for (const [k, l] of local) {
      const r = remote.get(k);
      if (r?.digest !== l.digest) diffs.push({ bucket: l.bucket, key: l.key, remote: r?.digest });
    }
    for (const [k, r] of remote) if (!local.has(k)) diffs.push({ bucket: r.bucket, key: r.key, remote: r.digest });
    c.keysCompared += local.size + remote.size;
    for (let i = 0; i < diffs.length && !this.stopped; i += this.config.keysPerBatch) {
      await this.repairBatch(peer, partition, diffs.slice(i, i + this.config.keysPerBatch), c);
    }
    return diffs.length;
  }

  /** Descends from the root, level by level, into the children whose hashes differ. */
  private async differingLeaves(peer: NodeId, partition: number): Promise<number[]> {
    const { fanout, depth } = this.shape;
    const tree = this.deps.store.forest.peek(partition);
    const local = (level: number, index: number): Hash64 => tree?.node(level, index) ?? ZERO_HASH;
    let frontier = [0];
    for (let level = 0; level < depth && frontier.length > 0; level++) {
      const resp = await this.request(peer, { type: 'aeHashes', shape: this.shape, partition, level, indices: frontier });
      const theirs = decodeHashes(resp.hashes, frontier.length * fanout);
      const next: number[] = [];
      frontier.forEach((parent, i) => {
        for (let j = 0; j < fanout; j++) {
          const child = parent * fanout + j;
          if (!hashEquals(theirs[i * fanout + j]!, local(level + 1, child))) next.push(child);
        }
      });
      frontier = next;
    }
    return frontier;
  }

  private async remoteLeafKeys(peer: NodeId, partition: number, leaves: readonly number[]): Promise<Map<string, AeKeyDigest>> {
    const out = new Map<string, AeKeyDigest>();
    let after: AeKeyRef | null = null;
    for (;;) {
      const resp: AeKeysOk = await this.request(peer, { type: 'aeLeafKeys', shape: this.shape, partition, leaves, after, limit: this.config.keysPerPage });
      for (const e of resp.entries) out.set(id(e.bucket, e.key), e);
      const last = resp.entries[resp.entries.length - 1];
      if (!resp.truncated || last === undefined) return out;
      after = { bucket: last.bucket, key: last.key };
    }
  }

  private localLeafKeys(partition: number, leaves: ReadonlySet<number>): Map<string, AeKeyDigest> {
    const out = new Map<string, AeKeyDigest>();
    for (const e of this.deps.store.scanPartition(partition)) {
      if (!leaves.has(leafOf(e.bucket, e.key, this.shape))) continue;
      out.set(id(e.bucket, e.key), { bucket: e.bucket, key: e.key, digest: keyDigestHex(e.bucket, e.key, e.set) });
    }
    return out;
  }

  private async repairBatch(peer: NodeId, partition: number, batch: readonly Diff[], c: RoundCounters): Promise<void> {
    await this.limiter.take(batch.length);
    if (this.stopped) return;
    // Everything this batch merges or pushes is read after this instant.
    const asOf = this.deps.clock.now();
    // 1. The peer's sets for the keys it holds, in byte-bounded pages.
    const fetched = new Map<string, SiblingSet>();
    let want: AeKeyRef[] = batch.filter((d) => d.remote !== undefined).map((d) => ({ bucket: d.bucket, key: d.key }));
    while (want.length > 0) {
      const resp: AeSetsOk = await this.request(peer, { type: 'aeFetch', partition, keys: want, maxBytes: this.config.maxBatchBytes });
      if (resp.entries.length === 0) break;
      for (const e of resp.entries) if (e.set !== null && e.set.siblings.length > 0) fetched.set(id(e.bucket, e.key), e.set);
      want = want.slice(resp.entries.length);
    }
    // A peer's copies that took too long to arrive are not merged (data-age.ts); next round fetches again.
    this.refuseIfStale(asOf, `aeFetch from ${peer}`);
    // 2. Merge them here; all at once, so the store commits them together.
    let pulled = 0;
    const ring = this.deps.ring();
    const merged = await Promise.all(
      batch.map(async (d) => {
        const theirs = fetched.get(id(d.bucket, d.key));
        if (theirs === undefined) return this.deps.store.read(d.bucket, d.key);
        // BUGGIFY skipTombstones: a deleted key is not pulled.
        if (this.deps.bugs?.skipTombstones === true && isTombstoneOnly(theirs)) return this.deps.store.read(d.bucket, d.key);
        const r = await this.merge(ring, d.bucket, d.key, theirs);
        if (r.changed) pulled++;
        return r.set;
      }),
    );
    c.keysPulled += pulled;
    if (pulled > 0) this.deps.events?.pulled?.(peer, pulled);
    // 3. Push the merged set wherever the peer's differs from it.
    const pushes: AeKeySet[] = [];
    batch.forEach((d, i) => {
      const set = merged[i];
      if (set === undefined || set.siblings.length === 0) return;
      // BUGGIFY skipTombstones: a deleted key is not pushed.
      if (this.deps.bugs?.skipTombstones === true && isTombstoneOnly(set)) return;
      if (keyDigestHex(d.bucket, d.key, set) !== d.remote) pushes.push({ bucket: d.bucket, key: d.key, set });
    });
    let pushed = 0;
    for (const chunk of this.byBytes(pushes)) {
      const resp: AeCountOk = await this.request(peer, { type: 'aePush', partition, entries: chunk, asOf });
      pushed += resp.count;
    }
    c.keysPushed += pushed;
    if (pushed > 0) this.deps.events?.pushed?.(peer, pushed);
  }

  /**
   * Merges a peer's set into this node's (sync, as putReplica does) and says
   * whether that changed anything. A store may run the function more than
   * once (a guess, then for real): `changed` is from the last run, the one
   * committed.
   */
  private async merge(ring: Ring, bucket: string, key: string, theirs: SiblingSet): Promise<{ set: SiblingSet; changed: boolean }> {
    let changed = false;
    const set = await this.deps.store.update(ring.partitionOf(bucket, key), bucket, key, (cur) => {
      const next = mergeInto(cur, theirs);
      changed = next !== cur;
      return next;
    });
    return { set, changed };
  }

  private *byBytes(entries: readonly AeKeySet[]): Iterable<AeKeySet[]> {
    let chunk: AeKeySet[] = [];
    let bytes = 0;
    for (const e of entries) {
      const b = setBytes(e.set);
      if (chunk.length > 0 && bytes + b > this.config.maxBatchBytes) {
        yield chunk;
        chunk = [];
        bytes = 0;
      }
      chunk.push(e);
      bytes += b;
    }
    if (chunk.length > 0) yield chunk;
  }

  // ---------------------------------------------------- tombstone collection

  /**
   * One sweep over the partitions this node is the primary owner of:
   * collects every tombstone-only key that is past the grace period and held
   * identically by every replica (see the file comment). Returns keys removed.
   */
  async collectTombstones(): Promise<number> {
    const ring = this.deps.ring();
    const { self, n, clock } = this.deps;
    const everyone = ring.layout.nodes.map((x) => x.id);
    this.totals.gcSweeps++;
    let removed = 0;
    // Confirmations carried to the next sweep: only keys this sweep confirmed (again).
    const confirmed = new Map<string, { digest: string; atMs: number }>();
    for (const p of ring.partitionsOf(self, n)) {
      if (this.stopped) break;
      const owners = ring.preference(p, n).owners;
      if (owners[0] !== self) continue;
      const cutoff = clock.now() - this.config.tombstoneGraceMs;
      let batch: AeKeyDigest[] = [];
      // The store tracks its tombstone-only keys, so a sweep reads only those.
      for (const t of this.deps.store.tombstoneKeys(p)) {
        const set = this.deps.store.read(t.bucket, t.key);
        if (set === undefined || !isTombstoneOnly(set) || newestTs(set) > cutoff) continue;
        if (this.deps.pendingHint?.(t.bucket, t.key) === true) continue;
        batch.push({ bucket: t.bucket, key: t.key, digest: keyDigestHex(t.bucket, t.key, set) });
        if (batch.length >= this.config.gcBatch) {
          removed += await this.collectBatch(p, owners, everyone, batch, confirmed);
          batch = [];
        }
      }
      if (batch.length > 0) removed += await this.collectBatch(p, owners, everyone, batch, confirmed);
    }
    if (!this.stopped) this.confirmed = confirmed;
    return removed;
  }

  private async collectBatch(
    partition: number,
    owners: readonly NodeId[],
    everyone: readonly NodeId[],
    batch: readonly AeKeyDigest[],
    confirmed: Map<string, { digest: string; atMs: number }>,
  ): Promise<number> {
    const { self, liveness } = this.deps;
    const others = everyone.filter((x) => x !== self);
    if (others.some((x) => !liveness.isAlive(x))) {
      this.totals.gcBlocked += batch.length;
      return 0;
    }
    await this.limiter.take(batch.length);
    if (this.stopped) return 0;
    // Phase 1: every node says what it holds for each candidate.
    let answers: { node: NodeId; states: readonly number[] }[];
    try {
      answers = await Promise.all(
        others.map(async (node) => {
          // BUGGIFY gcWithoutCheck: every node is assumed to hold the very tombstone set.
          const resp: Pick<AeGcStatesOk, 'states'> =
            this.deps.bugs?.gcWithoutCheck === true ? { states: batch.map(() => GC_SAME) } : await this.request(node, { type: 'aeGcCheck', partition, entries: batch });
          if (resp.states.length !== batch.length) throw new Error(`aeGcCheck: ${node} answered ${resp.states.length} states for ${batch.length} keys`);
          return { node, states: resp.states };
        }),
      );
    } catch (err) {
      this.totals.gcBlocked += batch.length;
      this.lastError = `tombstone check: ${describe(err)}`;
      return 0;
    }
    // Every answer is in: copies read before now are what the gap must outlive.
    const checkedMs = this.deps.clock.now();
    // BUGGIFY gcWithoutCheck, ignoreDataAge: one confirmation is enough.
    const once = this.deps.bugs?.gcWithoutCheck === true || this.deps.bugs?.ignoreDataAge === true;
    const gapMs = once ? 0 : confirmGapMs(this.config);
    const ownerSet = new Set(owners);
    const collectable: AeKeyDigest[] = [];
    const holders = new Map<NodeId, AeKeyDigest[]>();
    let waiting = 0;
    batch.forEach((e, i) => {
      for (const a of answers) {
        const s = a.states[i];
        if (s === GC_OTHER || s === undefined) return;
        if (ownerSet.has(a.node) && s !== GC_SAME) return;
      }
      // Confirmed now; collectable only if this very set was confirmed at least the gap ago.
      const k = id(e.bucket, e.key);
      const first = this.confirmed.get(k);
      const since = first !== undefined && first.digest === e.digest ? first : { digest: e.digest, atMs: checkedMs };
      if (checkedMs - since.atMs < gapMs) {
        confirmed.set(k, since);
        waiting++;
        return;
      }
      collectable.push(e);
      for (const a of answers) {
        if (a.states[i] !== GC_SAME) continue;
        let list = holders.get(a.node);
        if (list === undefined) holders.set(a.node, (list = []));
        list.push(e);
      }
    });
    this.totals.gcBlocked += batch.length - collectable.length - waiting;
    if (collectable.length === 0) return 0;
    // Phase 2: every holder removes its copy if it is still that very set.
    const [mine] = await Promise.all([
      this.removeIfSame(collectable),
      ...[...holders].map(([node, entries]) =>
        this.request(node, { type: 'aeGcRemove', partition, entries }).catch((err: unknown) => {
          this.lastError = `tombstone removal on ${node}: ${describe(err)}`;
        }),
      ),
    ]);
    return mine;
  }

  /** Removes each key whose set is still exactly the given tombstone set; counts what it removed. */
  private async removeIfSame(entries: readonly AeKeyDigest[]): Promise<number> {
    const { store, self } = this.deps;
    const ring = this.deps.ring();
    const matches = (e: AeKeyDigest, cur: SiblingSet | undefined): cur is SiblingSet =>
      cur !== undefined && isTombstoneOnly(cur) && keyDigestHex(e.bucket, e.key, cur) === e.digest;
    // Raise the dot floor durably before anything is forgotten. A set with
    // the same digest has the same dots, so the floor read here covers what
    // the conditional removal below may remove.
    let floor = 0;
    for (const e of entries) {
      const cur = store.read(e.bucket, e.key);
      if (matches(e, cur)) floor = Math.max(floor, maxCounter(cur, self));
    }
    // BUGGIFY gcWithoutDotFloor: forget without raising the floor.
    const noFloor = this.deps.bugs?.gcWithoutDotFloor === true;
    if (!noFloor) await this.raiseFloor(floor);
    // A store may run an update function more than once (a guess, then for
    // real): what counts is the last run, the one committed.
    const done = await Promise.all(
      entries.map(async (e) => {
        let gone = false;
        await store.update(ring.partitionOf(e.bucket, e.key), e.bucket, e.key, (cur) => {
          gone = matches(e, cur) && (noFloor || maxCounter(cur, self) <= this.dotFloor());
          return gone ? { siblings: [] } : (cur as SiblingSet);
        });
        return gone;
      }),
    );
    const removed = done.filter(Boolean).length;
    this.totals.tombstonesCollected += removed;
    if (removed > 0) this.deps.events?.collected?.(removed);
    return removed;
  }

  // ------------------------------------------------------------ replica side

  /** Answers another node's anti-entropy request. */
  async handle(_from: NodeId, req: AeRequest): Promise<AeResponse> {
    const { store } = this.deps;
    const forest = store.forest;
    switch (req.type) {
      case 'aeRoots': {
        this.checkShape(req.shape);
        return { type: 'aeHashesOk', hashes: encodeHashes(req.partitions.map((p) => forest.root(p))) } satisfies AeHashesOk;
      }
      case 'aeHashes': {
        this.checkShape(req.shape);
        const { fanout, depth } = this.shape;
        if (!Number.isInteger(req.level) || req.level < 0 || req.level >= depth) throw new RangeError(`aeHashes: level ${req.level} out of range`);
        const tree = forest.peek(req.partition);
        const hashes: Hash64[] = [];
        for (const index of req.indices) {
          if (tree === undefined) {
            if (!Number.isInteger(index) || index < 0 || index >= fanout ** req.level) throw new RangeError(`aeHashes: index ${index} out of range`);
            for (let j = 0; j < fanout; j++) hashes.push(ZERO_HASH);
          } else hashes.push(...tree.children(req.level, index));
        }
        return { type: 'aeHashesOk', hashes: encodeHashes(hashes) };
      }
      case 'aeLeafKeys': {
        this.checkShape(req.shape);
        const leaves = new Set(req.leaves);
        const limit = Math.max(1, req.limit);
        const entries: AeKeyDigest[] = [];
        // The store starts after `after`, so a page does not rescan the
        // partition before it. The check stays because a wrapper that drops
        // the optional argument still type-checks, and it keeps paging making
        // progress should the store's order ever disagree with compareKeyRefs.
        for (const e of store.scanPartition(req.partition, req.after ?? undefined)) {
          if (req.after !== null && compareKeyRefs(e, req.after) <= 0) continue;
          if (!leaves.has(leafOf(e.bucket, e.key, this.shape))) continue;
          if (entries.length >= limit) return { type: 'aeKeysOk', entries, truncated: true } satisfies AeKeysOk;
          entries.push({ bucket: e.bucket, key: e.key, digest: keyDigestHex(e.bucket, e.key, e.set) });
        }
        return { type: 'aeKeysOk', entries, truncated: false };
      }
      case 'aeFetch': {
        const entries: AeKeySet[] = [];
        let bytes = 0;
        for (const k of req.keys) {
          const set = store.read(k.bucket, k.key) ?? null;
          const b = setBytes(set);
          if (entries.length > 0 && bytes + b > req.maxBytes) break;
          entries.push({ bucket: k.bucket, key: k.key, set });
          bytes += b;
        }
        return { type: 'aeSetsOk', entries } satisfies AeSetsOk;
      }
      case 'aePush': {
        this.refuseIfStale(req.asOf, 'aePush');
        const ring = this.deps.ring();
        const results = await Promise.all(
          req.entries.map((e) => (e.set === null || e.set.siblings.length === 0 ? undefined : this.merge(ring, e.bucket, e.key, e.set))),
        );
        return { type: 'aeCountOk', count: results.filter((r) => r?.changed === true).length } satisfies AeCountOk;
      }
      case 'aeGcCheck': {
        const states = req.entries.map((e) => {
          const cur = store.read(e.bucket, e.key);
          if (cur === undefined || cur.siblings.length === 0) return this.deps.pendingHint?.(e.bucket, e.key) === true ? GC_OTHER : GC_ABSENT;
          if (this.deps.pendingHint?.(e.bucket, e.key) === true) return GC_OTHER;
          return isTombstoneOnly(cur) && keyDigestHex(e.bucket, e.key, cur) === e.digest ? GC_SAME : GC_OTHER;
        });
        return { type: 'aeGcStatesOk', states } satisfies AeGcStatesOk;
      }
      case 'aeGcRemove': {
        const count = await this.removeIfSame(req.entries);
        return { type: 'aeCountOk', count };
      }
    }
  }

  /** Throws StaleDataError, and counts it, when a copy read at `asOf` is too old to merge (data-age.ts). */
  private refuseIfStale(asOf: number, what: string): void {
    // BUGGIFY ignoreDataAge: copies of any age are merged.
    if (this.deps.bugs?.ignoreDataAge === true) return;
    const err = staleDataError(asOf, this.deps.clock.now(), this.config.maxDataAgeMs, what);
    if (err === undefined) return;
    this.totals.staleRefused++;
    throw err;
  }

  private checkShape(shape: AeShape): void {
    if (shape.fanout !== this.shape.fanout || shape.depth !== this.shape.depth) {
      throw new Error(`anti-entropy: Merkle tree shape mismatch (peer ${shape.fanout}^${shape.depth}, here ${this.shape.fanout}^${this.shape.depth}); configure every node alike`);
    }
  }
}
