// The simulated cluster: virtual time, one seeded random source, the
// production MemoryNetwork, and per node the production components built by
// the production composition root (components/build-node.ts) from simulated
// parts: a skewed virtual clock, a seeded random source, a MemoryStore that
// can stall, SWIM's packets as datagrams. Everything below the checkers is
// the code servers run; only time, the network's fate and the disk are
// simulated.
//
// Crash and restart follow the store's durability contract: a crash kills
// the node's process (its Coordinator, liveness view, timers, transport,
// Merkle trees and in-flight requests); what its store had applied (replicas,
// hint table, dot floor) survives. Restart builds new components over a
// reopened handle on the same store, rebuilding the Merkle trees from a scan
// first, as a server does at startup.
//
// Background drivers (liveness probes, hinted-handoff delivery, anti-entropy
// rounds and tombstone collection) are per node incarnation and started by
// `boot()` on the node's own virtual clock.

import { buildTree, hashEquals, hashHex, ZERO_HASH, type Hash64 } from '../antientropy/merkle.js';
import { buildNode, type NodeComponents } from '../components/build-node.js';
import { moverDepsFrom } from '../components/mover-deps.js';
import type { Coordinator } from '../coordinator/coordinator.js';
import { Ring } from '../ring/ring.js';
import type { Layout } from '../ring/layout.js';
import { MemoryStore } from '../store/memory-store.js';
import type { HintKey, HintStore, HintTotals, ReplicaStore, StoredHint, StoredKey } from '../store/store.js';
import { MemoryNetwork, type MemoryTransport } from '../transport/memory.js';
import { murmur3 } from '../util/hash.js';
import { SeededRandom, type Clock, type Random, type Timer } from '../util/runtime.js';
import { covers, dotKey, type NodeId, type SiblingSet } from '../version/dvv.js';
import type { RunConfig } from './config.js';
import { drawClocks, LinkControl, type FaultTarget } from './faults.js';
import { Datagrams } from './gossip.js';
import { DEFAULT_SWIM_CONFIG, type SwimConfig } from '../membership/swim.js';
import type { History } from './history.js';
import { NodeClock, type Scheduler } from './scheduler.js';
import { foundingHistory } from '../layout/founding.js';
import { ownsNothing } from '../layout/history.js';
import { LayoutMover } from '../layout/mover.js';
import type { Member } from '../layout/types.js';
import type { Placement } from '../ring/view.js';
import { SimLayout } from './layout-change.js';

export const BUCKET = 'sim';
export const PARTITIONS = 64;

/** What the store wrapper reports to the world, for the history and the run-time oracles. */
interface StoreObserver {
  /** A set some store persisted, in its replicas or (`hint`) its hint table. */
  persisted(key: string, set: SiblingSet, hint?: boolean): void;
  /** A key removed from the replicas (tombstone collection), with the set it held. */
  removed(key: string, before: SiblingSet): void;
  /** A hint deleted after handoff, with the set it held. */
  hintRemoved(h: HintKey, set: SiblingSet): void;
  /** A write was queued (crashMidWrite crashes the node here). */
  writeStarted(): void;
}

/**
 * A node's store (replicas, hint table and meta, as one LMDB environment
 * is), reporting every set it persists to the history so that checkers know
 * every event that ever existed, and able to stall like a slow disk: with a
 * delay set, each write waits its turn in one FIFO (the store contract
 * applies updates in call order) and then the delay before it is applied. A
 * crash meanwhile loses it, as an unsynced write is lost; it was never
 * acknowledged.
 */
class ObservedStore implements ReplicaStore, HintStore {
  private tail: Promise<unknown> = Promise.resolve();
  /** Writes queued or being applied (a slow disk's backlog). */
  pending = 0;

  constructor(
    readonly inner: MemoryStore,
    private readonly observer: StoreObserver,
    private readonly diskDelayMs: () => number,
    private readonly clock: Clock,
  ) {}

  /** Runs a write in FIFO order behind the disk's delay. */
  private queued<T>(write: () => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      // Read at the head of the queue, so a disk that recovers drains its backlog at once.
      const delay = this.diskDelayMs();
      if (delay > 0) await new Promise<void>((resolve) => this.clock.setTimer(delay, resolve));
      return write();
    };
    this.pending++;
    this.observer.writeStarted();
    const p = this.tail.then(run).finally(() => this.pending--);
    this.tail = p.catch(() => undefined);
    return p;
  }

  read(bucket: string, key: string): SiblingSet | undefined {
    return this.inner.read(bucket, key);
  }
  update(partition: number, bucket: string, key: string, fn: (current: SiblingSet | undefined) => SiblingSet): Promise<SiblingSet> {
    return this.queued(async () => {
      let before: SiblingSet | undefined;
      const set = await this.inner.update(partition, bucket, key, (cur) => {
        before = cur;
        return fn(cur);
      });
      if (set.siblings.length > 0) this.observer.persisted(key, set);
      else if (before !== undefined && before.siblings.length > 0) this.observer.removed(key, before);
      return set;
    });
  }
  remove(partition: number, bucket: string, key: string): Promise<void> {
    return this.queued(async () => {
      const before = this.inner.read(bucket, key);
      await this.inner.remove(partition, bucket, key);
      if (before !== undefined) this.observer.removed(key, before);
    });
  }
  scanPartition(partition: number, after?: { bucket: string; key: string }): Iterable<StoredKey> {
    return this.inner.scanPartition(partition, after);
  }
  scanBucket(bucket: string, opts: { prefix?: string; after?: string; limit?: number }): Iterable<StoredKey> {
    return this.inner.scanBucket(bucket, opts);
  }
  getMeta<T>(name: string): T | undefined {
    return this.inner.getMeta<T>(name);
  }
  putMeta(name: string, value: unknown): Promise<void> {
    // Copied at call time, as LMDB encodes it then.
    const copy = structuredClone(value);
    return this.queued(() => this.inner.putMeta(name, copy));
  }
  close(): Promise<void> {
    return this.inner.close();
  }

  updateHint(h: HintKey, nowMs: number, fn: (current: SiblingSet | undefined) => SiblingSet): Promise<SiblingSet> {
    return this.queued(async () => {
      const set = await this.inner.updateHint(h, nowMs, fn);
      if (set.siblings.length > 0) this.observer.persisted(h.key, set, true);
      return set;
    });
  }
  readHints(bucket: string, key: string): StoredHint[] {
    return this.inner.readHints(bucket, key);
  }
  scanHints(owner: NodeId, opts?: { after?: HintKey; limit?: number }): Iterable<StoredHint> {
    return this.inner.scanHints(owner, opts);
  }
  scanBucketHints(bucket: string, opts: { prefix?: string; after?: string; limit?: number }): Iterable<StoredHint> {
    return this.inner.scanBucketHints(bucket, opts);
  }
  removeHint(h: HintKey, expected: SiblingSet): Promise<boolean> {
    return this.queued(async () => {
      const removed = await this.inner.removeHint(h, expected);
      if (removed) this.observer.hintRemoved(h, expected);
      return removed;
    });
  }
  hintTotals(): HintTotals[] {
    return this.inner.hintTotals();
  }
}

/** The scheduler's true time as a Clock, for the network (its latencies are not any node's). */
class TrueClock implements Clock {
  constructor(private readonly sched: Scheduler) {}
  now(): number {
    return this.sched.now;
  }
  setTimer(ms: number, fn: () => void): Timer {
    return this.sched.schedule(ms, 'net', fn);
  }
}

interface SimNode {
  readonly id: NodeId;
  readonly skewMs: number;
  readonly rate: number;
  /** The durable part: survives crashes (replicas, hint table, dot floor). */
  disk: MemoryStore;
  /** Extra latency of each store update while the node's disk is slow (a fault). */
  diskDelayMs: number;
  /** Set by crashMidWrite: what to do after crashing at the node's next store write. */
  crashAtWrite: (() => void) | undefined;
  crashScheduled: boolean;
  incarnation: number;
  up: boolean;
  // The volatile part of the current incarnation.
  clock: NodeClock | undefined;
  transport: MemoryTransport | undefined;
  /** Its components (components.store: the store as they see it, with its Merkle trees). */
  components: NodeComponents | undefined;
  /** The store wrapper of this incarnation (its write queue). */
  store: ObservedStore | undefined;
  /** The layout mover of this incarnation (runs with layout changes only). */
  mover: LayoutMover | undefined;
  /** Removed from the layout, emptied and stopped for good (its data folder wiped). */
  retired: boolean;
  /** What the node's dead incarnations did (their components' counters die with them). */
  readonly past: MechanismStats;
}

/** What the failure-handling mechanisms did in a run: a seed that exercised none of them tested little. */
export interface MechanismStats {
  hintsDelivered: number;
  aeKeysPulled: number;
  aeKeysPushed: number;
  tombstonesCollected: number;
  /** Copies of sets not merged (or not kept as hints) because they were read too long ago (data-age.ts). */
  staleRefused: number;
  /** Layout changes: bytes the movers' syncs pulled, keys they dropped (partitions a node no longer holds). */
  moverBytesPulled: number;
  moverKeysDropped: number;
}

export function noStats(): MechanismStats {
  return { hintsDelivered: 0, aeKeysPulled: 0, aeKeysPushed: 0, tombstonesCollected: 0, staleRefused: 0, moverBytesPulled: 0, moverKeysDropped: 0 };
}

/** Adds `b` into `into`, field by field. */
export function sumStats(into: MechanismStats, b: MechanismStats): void {
  for (const k of Object.keys(into) as (keyof MechanismStats)[]) into[k] += b[k];
}

function addStats(into: MechanismStats, n: SimNode): void {
  const ho = n.components?.handoff.totals();
  const ae = n.components?.antiEntropy.status().totals;
  into.hintsDelivered += ho?.delivered ?? 0;
  into.aeKeysPulled += ae?.keysPulled ?? 0;
  into.aeKeysPushed += ae?.keysPushed ?? 0;
  into.tombstonesCollected += ae?.tombstonesCollected ?? 0;
  into.staleRefused += ae?.staleRefused ?? 0;
  const mover = n.mover?.status();
  into.moverBytesPulled += mover?.bytesPulled ?? 0;
  into.moverKeysDropped += mover?.keysDropped ?? 0;
}

export interface KeyState {
  readonly key: string;
  readonly partition: number;
  readonly owners: readonly NodeId[];
  /** Per node (owners and others): what its store holds. */
  readonly byNode: ReadonlyMap<NodeId, SiblingSet | undefined>;
}

/** One way the final state breaks an invariant of the trees, the hint tables or data placement. */
export interface StateProblem {
  /** layout: the final layout history or where data sits after a layout change (the layout checker). */
  readonly what: 'roots' | 'tree' | 'placement' | 'layout';
  readonly message: string;
}

export class World implements FaultTarget {
  readonly random: Random;
  readonly net: MemoryNetwork;
  readonly links: LinkControl;
  /** SWIM's packets (when the run uses SWIM). */
  readonly datagrams: Datagrams;
  readonly ring: Ring;
  /** Every node the run ever had, in the order it joined. */
  private readonly allIds: NodeId[];
  private readonly nodes = new Map<NodeId, SimNode>();
  /** partition -> its owners, for the placement of the time (cached per placement object). */
  private owners: NodeId[][];
  private ownersFor: Placement;
  /** The layout history and each node's view of it (runs with layout changes only). */
  readonly layout: SimLayout | undefined;
  /** Layout steps applied so far. */
  private layoutSteps = 0;
  /** Node ids that dropped a key (`node\0key`): a drop legitimately empties a replica the run-time oracles would otherwise look at. */
  private readonly drops = new Set<string>();
  /** Keys the mover is dropping now (`node\0key`), so that their removal is not taken for a collection. */
  private readonly dropping = new Set<string>();
  private readonly layoutRandom: Random;
  private readonly crashListeners: ((node: NodeId) => void)[] = [];
  /** Coordinators' refusals of old copies (putReplica, local hints), over every boot. */
  private coordinatorStaleRefused = 0;
  /**
   * SWIM tunables, randomised per seed around faster-than-production values
   * (FoundationDB randomises its knobs in simulation): with production
   * timeouts a node is declared dead only after seconds, longer than most
   * simulated crashes, and sloppy quorums would rarely be exercised.
   */
  private readonly swimConfig: SwimConfig;

  constructor(
    readonly sched: Scheduler,
    readonly config: RunConfig,
    readonly history: History,
  ) {
    this.random = new SeededRandom(config.seed);
    this.allIds = Array.from({ length: config.nodes }, (_, i) => `n${i + 1}`);
    const layout: Layout = {
      epoch: 1,
      partitions: PARTITIONS,
      nodes: this.allIds.map((id, i) => ({ id, zone: `z${i % 3}`, weight: 1 })),
    };
    this.ring = new Ring(layout);
    this.ownersFor = this.ring;
    this.owners = Array.from({ length: PARTITIONS }, (_, p) => this.ring.preference(p, config.n).owners);
    this.layoutRandom = new SeededRandom(config.seed ^ 0x1a7e55);
    if (config.layout !== undefined) {
      // Version 1 is the fixed ring's owners (founding.ts), so the data
      // path starts where a seed without layout changes does.
      const members: Member[] = this.allIds.map((id, i) => ({ id, zone: `z${i % 3}`, capacity: 1, role: 'storage' }));
      this.layout = new SimLayout(sched, new SeededRandom(config.seed ^ 0x1a9), foundingHistory(members, this.ring, config.n), config.layout.viewLagMaxMs, (node) => this.viewChanged(node), (node, placement) => history.observeLayoutView(node, sched.now, placement));
      for (const id of this.allIds) this.layout.view(id);
    }
    this.net = new MemoryNetwork({
      clock: new TrueClock(sched),
      random: new SeededRandom(config.seed ^ 0x6e6574),
      minLatencyMs: config.latencyMs,
      maxLatencyMs: config.latencyMs + config.baseJitterMs,
    });
    this.links = new LinkControl(sched);
    this.links.install(this.net);
    this.datagrams = new Datagrams(sched, new SeededRandom(config.seed ^ 0x5717), this.links, {
      latencyMs: config.latencyMs,
      jitterMs: config.baseJitterMs,
      lossP: 0,
    });
    const clocks = drawClocks(config, this.random);
    const knobs = new SeededRandom(config.seed ^ 0x6b6e6f62);
    const probeIntervalMs = 100 + knobs.int(400);
    this.swimConfig = {
      ...DEFAULT_SWIM_CONFIG,
      probeIntervalMs,
      probeTimeoutMs: Math.max(1, Math.floor(probeIntervalMs * (0.2 + knobs.next() * 0.5))),
      suspicionMultiplier: 1 + knobs.int(4),
      suspicionMaxMultiplier: 1 + knobs.int(6),
    };
    this.allIds.forEach((id, i) => this.addNode(id, clocks[i] ?? { skewMs: 0, rate: 1 }));
    for (const id of this.allIds) this.boot(id);
  }

  private addNode(id: NodeId, c: { skewMs: number; rate: number }): void {
    this.nodes.set(id, {
      id,
      skewMs: c.skewMs,
      rate: c.rate,
      disk: new MemoryStore(),
      diskDelayMs: 0,
      crashAtWrite: undefined,
      crashScheduled: false,
      incarnation: 0,
      up: false,
      clock: undefined,
      transport: undefined,
      components: undefined,
      store: undefined,
      mover: undefined,
      retired: false,
      past: noStats(),
    });
  }

  /** The nodes of the cluster now: every node that joined and was not retired (what clients, faults and healing pick from). */
  get nodeIds(): readonly NodeId[] {
    if (this.layout === undefined) return this.allIds;
    return this.allIds.filter((id) => !this.node(id).retired);
  }

  /** The placement the run is judged by: the fixed ring, or the committed layout history's. */
  placement(): Placement {
    return this.layout?.placement ?? this.ring;
  }

  // ------------------------------------------------------------ layout changes

  /** Layout steps not applied yet. */
  layoutStepsLeft(): number {
    return (this.config.layout?.steps.length ?? 0) - this.layoutSteps;
  }

  /** Schedules the run's layout changes, and the check that stops removed nodes once they are empty. */
  startLayoutChanges(): void {
    const script = this.config.layout;
    if (script === undefined || this.layout === undefined) return;
    for (const step of script.steps) {
      this.sched.schedule(step.atMs, '', () => {
        const members: Member[] = step.add.map((id) => {
          // Started empty before the version that adds it is applied, as an operator starts the process first.
          const f = this.config.faults;
          const skewMs = f.skewMs > 0 ? (this.layoutRandom.next() * 2 - 1) * f.skewMs : 0;
          const rate = f.driftMax > 0 ? 1 + (this.layoutRandom.next() * 2 - 1) * f.driftMax : 1;
          this.allIds.push(id);
          this.addNode(id, { skewMs, rate });
          this.layout!.view(id);
          this.boot(id);
          return { id, zone: `z${(this.allIds.length - 1) % 3}`, capacity: 1, role: 'storage' };
        });
        this.layout!.apply(members, step.remove);
        this.layoutSteps++;
      });
    }
    const tick = (): void => {
      this.retireEmptied();
      this.sched.schedule(100, '', tick);
    };
    this.sched.schedule(100, '', tick);
  }

  /**
   * Stops for good every removed node that owns nothing (in the committed
   * history and in its own view), holds no replica and no hint, and has no
   * write on its disk queue: an operator then wipes its data folder.
   */
  private retireEmptied(): void {
    const layout = this.layout;
    if (layout === undefined) return;
    for (const id of this.allIds) {
      const n = this.node(id);
      if (n.retired || !n.up || n.incarnation === 0) continue;
      if (!ownsNothing(layout.history, id) || !ownsNothing(layout.view(id).history, id)) continue;
      if ((n.store?.pending ?? 0) > 0 || [...n.disk.hintTotals()].some((t) => t.hints > 0)) continue;
      if (heldPartitions(n.disk).length > 0) continue;
      this.sched.note(`LAYOUT ${id} owns nothing and is empty: stopped for good`);
      this.crash(id);
      n.retired = true;
    }
  }

  /** A node's view of the layout changed: its mover looks again, and SWIM follows the members (as node/layout-wiring.ts does). */
  private viewChanged(id: NodeId): void {
    const n = this.node(id);
    if (!n.up) return;
    n.mover?.poke();
    const swim = n.components?.membership.swim?.swim;
    if (swim === undefined || this.layout === undefined) return;
    const ids = new Set<string>();
    for (const v of this.layout.view(id).history.versions) for (const m of v.members) ids.add(m.id);
    for (const x of ids) swim.addMember(x);
    for (const m of swim.members()) if (!ids.has(m.id) && m.id !== id) swim.removeMember(m.id);
  }

  /** Every node of the run's current layout view of `id` (for its failure detector's member list). */
  private membersOf(id: NodeId): NodeId[] {
    if (this.layout === undefined) return this.allIds;
    const ids = new Set<string>();
    for (const v of this.layout.view(id).history.versions) for (const m of v.members) ids.add(m.id);
    return [...ids].sort();
  }

  // -------------------------------------------------------------- network

  /** Faults on: loss, duplication and jitter as the run's mix says. */
  faultyNetwork(): void {
    const f = this.config.faults;
    this.net.setDropRate(f.lossP);
    this.net.setDuplicateRate(f.dupP);
    this.net.setLatency(this.config.latencyMs, this.config.latencyMs + this.config.baseJitterMs + f.jitterMs);
    this.datagrams.params.lossP = f.lossP;
    this.datagrams.params.jitterMs = this.config.baseJitterMs + f.jitterMs;
  }

  /** Faults off: every link restored, no loss, no duplication, no slow node, every node up. */
  heal(): void {
    this.sched.note('HEAL all faults off, every node up');
    this.net.setDropRate(0);
    this.net.setDuplicateRate(0);
    this.net.setLatency(this.config.latencyMs, this.config.latencyMs + this.config.baseJitterMs);
    this.datagrams.params.lossP = 0;
    this.datagrams.params.jitterMs = this.config.baseJitterMs;
    this.links.healAll();
    for (const n of this.nodes.values()) {
      n.diskDelayMs = 0;
      n.crashAtWrite = undefined;
    }
    for (const id of this.nodeIds) if (!this.isUp(id)) this.restart(id);
  }

  // ---------------------------------------------------------- node lives

  isUp(node: NodeId): boolean {
    return this.node(node).up;
  }

  setDiskDelay(node: NodeId, ms: number): void {
    this.node(node).diskDelayMs = Math.max(0, ms);
  }

  crashMidWrite(node: NodeId, then: () => void): void {
    this.node(node).crashAtWrite = then;
  }

  /** A store write started on `node`: a crash armed by crashMidWrite happens now, before the write is applied. */
  private writeStarted(node: NodeId): void {
    const n = this.node(node);
    const then = n.crashAtWrite;
    if (then === undefined || !n.up || n.crashScheduled) return;
    n.crashScheduled = true;
    this.sched.schedule(0, '', () => {
      n.crashScheduled = false;
      // Healing disarms it until it fires.
      if (n.crashAtWrite !== then || !n.up) return;
      n.crashAtWrite = undefined;
      this.sched.note(`FAULT crash ${node} (a write in flight)`);
      this.crash(node);
      then();
    });
  }

  coordinator(node: NodeId): Coordinator | undefined {
    const n = this.node(node);
    return n.up ? n.components?.coordinator : undefined;
  }

  onCrash(fn: (node: NodeId) => void): void {
    this.crashListeners.push(fn);
  }

  crash(node: NodeId): void {
    const n = this.node(node);
    if (!n.up) return;
    this.net.crash(node);
    addStats(n.past, n);
    n.up = false;
    n.clock?.kill();
    n.mover?.stop();
    n.components?.halt();
    void n.transport?.close();
    this.datagrams.bind(node, undefined);
    // The old handle closes: stores the dead process had not applied fail.
    n.disk = n.disk.reopen();
    n.clock = n.transport = n.components = n.store = n.mover = undefined;
    for (const fn of this.crashListeners) fn(node);
  }

  restart(node: NodeId): void {
    const n = this.node(node);
    if (n.up || n.retired) return;
    this.net.restart(node);
    this.boot(node);
  }

  /** Starts an incarnation of a node: its components built over this incarnation's parts, as a server builds them. */
  private boot(id: NodeId): void {
    const n = this.node(id);
    n.incarnation++;
    n.up = true;
    const clock = new NodeClock(this.sched, id, n.skewMs, n.rate);
    const transport = this.net.transport(id);
    const store = new ObservedStore(
      n.disk,
      {
        persisted: (key, set, hint) => this.history.observePersisted(id, key, set, this.sched.now, hint),
        removed: (key, before) => {
          // The mover's drop (dropPartition below) empties a replica through the same update as collection.
          const k = `${id}\u0000${key}`;
          if (this.dropping.delete(k)) {
            this.drops.add(k);
            this.history.observeDropped(id, key, before, this.sched.now);
          }
          else this.onRemoved(id, key, before);
        },
        hintRemoved: (h, set) => this.onHintRemoved(id, h, set),
        writeStarted: () => this.writeStarted(id),
      },
      () => n.diskDelayMs + this.config.commitMs,
      clock,
    );
    const c = this.config;
    const components = buildNode(
      {
        self: id,
        clock,
        random: new SeededRandom(c.seed ^ murmur3(`${id}/${n.incarnation}`)),
        transport,
        store,
        ring: this.layout === undefined ? () => this.ring : () => this.layout!.view(id).placement,
        // SWIM's packets travel as datagrams; MemoryNetwork carries request/response pairs only.
        packets: { send: (to, msg) => this.datagrams.send(id, to, msg), listen: (receive) => this.datagrams.bind(id, receive) },
      },
      {
        members: this.membersOf(id),
        partitions: PARTITIONS,
        quorum: { n: c.n, r: c.r, w: c.w },
        membership:
          c.membership === 'swim'
            ? { detector: 'swim', swim: this.swimConfig }
            : { detector: 'passive', pingTimeoutMs: Math.max(50, Math.floor(c.replicaTimeoutMs / 2)), passive: { retryMs: 500, timeoutsToDown: 3 } },
        coordinator: { replicaTimeoutMs: c.replicaTimeoutMs, readRepair: c.readRepair },
        handoff: c.handoff,
        antiEntropy: { enabled: true, shape: c.antiEntropy.shape, config: c.antiEntropy.config },
        bugs: c.bugs,
      },
      { coordinator: { staleRefused: () => void this.coordinatorStaleRefused++ } },
    );
    components.start();
    n.clock = clock;
    n.transport = transport;
    n.components = components;
    n.store = store;
    if (this.layout !== undefined && c.layout !== undefined) n.mover = this.startMover(id, clock, components);
    if (n.incarnation > 1) this.sched.note(`${id} restarted (incarnation ${n.incarnation})`);
  }

  /** The real mover over this incarnation's components, wired as node/layout-wiring.ts wires it. */
  private startMover(id: NodeId, clock: Clock, components: NodeComponents): LayoutMover {
    const layout = this.layout!;
    const script = this.config.layout!;
    const mover = new LayoutMover(
      {
        self: id,
        clock,
        history: () => layout.view(id).history,
        placement: () => layout.view(id).placement,
        report: (p) => layout.report(id, p),
        ...moverDepsFrom(components, {
          dropping: (k, done) => {
            if (done) this.dropping.delete(`${id}\u0000${k.key}`);
            else this.dropping.add(`${id}\u0000${k.key}`);
          },
        }),
        log: (level, msg, fields) => {
          if (level === 'info' || msg.includes('failed')) this.sched.note(`${id} ${msg}${fields === undefined ? '' : ` ${JSON.stringify(fields)}`}`);
        },
      },
      {
        intervalMs: script.moverIntervalMs,
        bytesPerSecond: script.bytesPerSecond,
        partitionsInFlight: script.partitionsInFlight,
        r: this.config.r,
        n: this.config.n,
        bugs: { dropNotNewest: this.config.bugs.dropNotNewest, syncNewestOnly: this.config.bugs.syncNewestOnly },
      },
    );
    mover.start();
    return mover;
  }

  // ------------------------------------------------------------ run-time oracles

  /**
   * Tombstone collection removed a key on `node`. It must have held
   * tombstones only, and (README, "Anti-entropy and deletes") every owner must hold that very
   * set or something that supersedes it, or have collected it already: the
   * collector checked that every replica held it, and sets only grow.
   */
  private onRemoved(node: NodeId, key: string, before: SiblingSet): void {
    const at = this.sched.now;
    this.history.observeCollected(node, key, before, at);
    // Whom the collector waited for: every owner in any live version of its own view.
    const p = this.ring.partitionOf(BUCKET, key);
    const owners = this.layout === undefined ? this.ownersOf(key).owners : this.layout.view(node).placement.allOwners(p, this.config.n);
    for (const o of owners) {
      if (o === node || this.drops.has(`${o}\u0000${key}`)) continue;
      const held = this.node(o).disk.read(BUCKET, key);
      const missing = before.siblings.filter((s) => {
        if (held?.siblings.some((h) => dotKey(h.dot) === dotKey(s.dot) || covers(h.past, s.dot)) === true) return false;
        return !this.history.wasCollected(o, key, s.dot);
      });
      if (missing.length > 0) {
        this.history.anomalies.push({
          what: `${node} collected the tombstones [${before.siblings.map((s) => dotKey(s.dot)).join(' ')}] of ${key} while owner ${o} held ${describeSet(held)} (missing ${missing.map((s) => dotKey(s.dot)).join(',')})`,
          at,
        });
      }
    }
  }

  /**
   * Handoff deleted a hint. Dynamo §4.6 and the design: only once the owner
   * acknowledged it, i.e. holds every event of the hint durably (or events
   * that supersede them, or a tombstone since collected).
   */
  private onHintRemoved(node: NodeId, h: HintKey, set: SiblingSet): void {
    // A hint for a node that owns its partition in no live version of the
    // handing-off node's view goes to that view's current owners instead
    // (handoff's currentOwners), and the new owner gets it by its sync: not
    // judged here (seed 1623 with --layout: a view that had not seen the
    // version adding the owner yet).
    if (this.layout !== undefined && (!this.layout.view(node).placement.allOwners(this.ring.partitionOf(h.bucket, h.key), this.config.n).includes(h.owner) || this.drops.has(`${h.owner}\u0000${h.key}`))) return;
    const held = this.node(h.owner).disk.read(h.bucket, h.key);
    const missing = set.siblings.filter((s) => {
      if (held?.siblings.some((x) => dotKey(x.dot) === dotKey(s.dot) || covers(x.past, s.dot)) === true) return false;
      return !this.history.wasCollected(h.owner, h.key, s.dot);
    });
    if (missing.length > 0) {
      this.history.anomalies.push({
        what: `${node} deleted its hint for ${h.owner} of ${h.key} [${set.siblings.map((s) => dotKey(s.dot)).join(' ')}] while ${h.owner} held ${describeSet(held)} (missing ${missing.map((s) => dotKey(s.dot)).join(',')})`,
        at: this.sched.now,
      });
    }
  }

  // ------------------------------------------------------------- inspection

  /** Totals over every node and incarnation. */
  stats(): MechanismStats {
    const out = { ...noStats(), staleRefused: this.coordinatorStaleRefused };
    for (const n of this.nodes.values()) {
      sumStats(out, n.past);
      addStats(out, n);
    }
    return out;
  }

  /** Every up node's liveness view holds every other node alive (the view has healed). */
  allViewsAlive(): boolean {
    const ids = this.nodeIds;
    for (const id of ids) {
      const n = this.node(id);
      const liveness = n.components?.membership.liveness;
      if (!n.up || liveness === undefined) return false;
      for (const other of ids) if (!liveness.isAlive(other)) return false;
    }
    return true;
  }

  /** Hints still waiting for delivery, over all nodes. */
  pendingHints(): number {
    let total = 0;
    for (const n of this.nodes.values()) for (const t of n.disk.hintTotals()) total += t.hints;
    return total;
  }

  /** Partitions whose owners' Merkle roots differ (a node that is down counts as differing). */
  differingPartitions(): number[] {
    const out: number[] = [];
    const placement = this.placement();
    if (placement !== this.ownersFor) {
      this.ownersFor = placement;
      this.owners = Array.from({ length: PARTITIONS }, (_, p) => placement.preference(p, this.config.n).owners);
    }
    for (let p = 0; p < PARTITIONS; p++) {
      let ref: Hash64 | undefined;
      for (const o of this.owners[p] as NodeId[]) {
        const t = this.node(o).components?.store;
        if (t === undefined) {
          out.push(p);
          break;
        }
        const root = t.forest.root(p);
        if (ref === undefined) ref = root;
        else if (!hashEquals(root, ref)) {
          out.push(p);
          break;
        }
      }
    }
    return out;
  }

  /**
   * Converged: every node up with nothing queued on its disk (a slow disk's
   * backlog would still change it), no hint waiting, equal Merkle roots
   * among the owners of every partition.
   */
  converged(): boolean {
    for (const id of this.nodeIds) {
      const n = this.node(id);
      if (!n.up || (n.store?.pending ?? 0) > 0) return false;
    }
    if (this.layout !== undefined && !this.layoutSettled()) return false;
    // A write still on its way to a replica may land after the final check (seed 191566967).
    return this.pendingHints() === 0 && this.differingPartitions().length === 0 && this.net.dataInFlight === 0;
  }

  /**
   * The layout change is over: every step applied, one live version left,
   * every node's view at it, every removed node stopped for good, and no
   * node holding a partition it does not own.
   */
  layoutSettled(): boolean {
    const layout = this.layout;
    if (layout === undefined) return true;
    if (this.layoutStepsLeft() > 0 || layout.history.versions.length !== 1) return false;
    const placement = layout.placement;
    for (const id of this.allIds) {
      const n = this.node(id);
      if (n.retired) continue;
      if (!placement.nodes.includes(id)) return false;
      if (layout.view(id).history !== layout.history) return false;
      const owned = new Set(placement.partitionsOf(id, this.config.n));
      for (const p of heldPartitions(n.disk)) if (!owned.has(p)) return false;
    }
    return true;
  }

  /** Tombstone-only keys held anywhere (candidates for collection). */
  tombstoneKeys(): number {
    let total = 0;
    for (const n of this.nodes.values()) total += n.components?.store.tombstoneCount() ?? 0;
    return total;
  }

  /**
   * What must hold of the final state beyond the sibling sets:
   * - roots: every partition's owners have equal Merkle roots;
   * - tree: each node's incrementally maintained tree equals one built from
   *   a scan of its store (the tracking store missed or doubled a change);
   * - placement: a node keeps replicas only of partitions it owns (a hinted
   *   write belongs in the hint table).
   */
  stateProblems(): StateProblem[] {
    const out: StateProblem[] = [];
    const placement = this.placement();
    for (const p of this.differingPartitions()) {
      const owners = placement.preference(p, this.config.n).owners;
      const roots = owners.map((o) => {
        const t = this.node(o).components?.store;
        return `${o}=${t === undefined ? 'down' : hashHex(t.forest.root(p))}`;
      });
      out.push({ what: 'roots', message: `partition ${p}: owners' Merkle roots differ: ${roots.join(' ')}` });
    }
    const shape = this.config.antiEntropy.shape;
    out.push(...this.layoutProblems());
    for (const n of this.nodes.values()) {
      const owned = new Set(placement.partitionsOf(n.id, this.config.n));
      for (let p = 0; p < PARTITIONS; p++) {
        const entries = [...n.disk.scanPartition(p)];
        const tracking = n.components?.store;
        if (tracking !== undefined) {
          const scanned = entries.length === 0 ? hashHex(ZERO_HASH) : hashHex(buildTree(entries, shape).root());
          const kept = hashHex(tracking.forest.root(p));
          if (scanned !== kept) out.push({ what: 'tree', message: `${n.id} partition ${p}: Merkle root ${kept} kept up to date, ${scanned} from a scan of its store` });
        }
        if (!owned.has(p) && entries.length > 0) {
          out.push({ what: 'placement', message: `${n.id} holds replicas of ${entries.map((e) => `${e.key} ${describeSet(e.set)}`).join(', ')} in partition ${p}, which it does not own` });
        }
      }
    }
    return out;
  }

  /**
   * The placement checker's view of the final state after layout changes:
   * the history retired down to one version, with every step applied;
   * every node of it up; every removed node stopped, its replicas and hint
   * table empty; every key held by exactly its final owners (or, a
   * tombstone collected everywhere, by none).
   */
  private layoutProblems(): StateProblem[] {
    const layout = this.layout;
    if (layout === undefined) return [];
    const out: StateProblem[] = [];
    const h = layout.history;
    const what = 'layout';
    if (this.layoutStepsLeft() > 0) out.push({ what, message: `${this.layoutStepsLeft()} layout steps never applied` });
    if (h.versions.length !== 1) out.push({ what, message: `the layout history still holds versions ${h.versions.map((v) => v.version).join(',')} (not retired down to one)` });
    const placement = layout.placement;
    for (const id of this.allIds) {
      const n = this.node(id);
      const member = placement.nodes.includes(id);
      if (member && n.retired) out.push({ what, message: `${id} is in the final layout but was stopped as removed` });
      if (!member && !n.retired) out.push({ what, message: `${id} was removed from the layout but never stopped (owns nothing: ${ownsNothing(h, id)}, holds ${heldPartitions(n.disk).length} partitions, ${[...n.disk.hintTotals()].reduce((a, t) => a + t.hints, 0)} hints)` });
      if (!member) {
        const held = heldPartitions(n.disk);
        if (held.length > 0) out.push({ what, message: `removed node ${id} still holds replicas of partitions ${held.join(',')}` });
      }
    }
    const keys = new Set<string>();
    for (const n of this.nodes.values()) for (let p = 0; p < PARTITIONS; p++) for (const e of n.disk.scanPartition(p)) keys.add(e.key);
    for (const key of [...keys].sort()) {
      const { owners } = this.ownersOf(key);
      const holders = this.allIds.filter((id) => this.node(id).disk.read(BUCKET, key) !== undefined);
      const want = [...owners].sort().join(',');
      if (holders.sort().join(',') !== want) out.push({ what, message: `${key} is held by ${holders.join(',')}, its final owners are ${want}` });
    }
    return out;
  }

  ownersOf(key: string): { partition: number; owners: NodeId[] } {
    const placement = this.placement();
    const partition = placement.partitionOf(BUCKET, key);
    return { partition, owners: placement.preference(partition, this.config.n).owners };
  }

  /** What every node's store holds for `key` (read straight from the "disks"). */
  keyState(key: string): KeyState {
    const { partition, owners } = this.ownersOf(key);
    const byNode = new Map<NodeId, SiblingSet | undefined>();
    for (const n of this.nodes.values()) byNode.set(n.id, n.disk.read(BUCKET, key));
    return { key, partition, owners, byNode };
  }

  private node(id: NodeId): SimNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`unknown node ${id}`);
    return n;
  }
}

/** Partitions a store holds any replica in. */
function heldPartitions(disk: MemoryStore): number[] {
  const out: number[] = [];
  for (let p = 0; p < PARTITIONS; p++) if (!disk.scanPartition(p)[Symbol.iterator]().next().done) out.push(p);
  return out;
}

function describeSet(set: SiblingSet | undefined): string {
  if (set === undefined) return '(nothing)';
  return '[' + set.siblings.map((s) => `${s.value === null ? 'del' : 'val'}:${dotKey(s.dot)}`).join(' ') + ']';
}
