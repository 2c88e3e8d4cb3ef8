// The simulated cluster: virtual time, one seeded random source, the
// production MemoryNetwork, and per node the production Coordinator over a
// MemoryStore. Everything below the checkers is the code servers run; only
// time, the network's fate and the disk are simulated.
//
// Crash and restart follow the store's durability contract: a crash kills
// the node's process (its Coordinator, liveness view, timers, transport and
// in-flight requests); what its store had applied survives. Restart builds a
// new Coordinator over a reopened handle on the same store.
//
// Background drivers (liveness probes, hinted-handoff delivery, and later
// anti-entropy ticks) are per node incarnation and started by `boot()`:
// adding one more driver is one more line there.

import { Coordinator, type CoordinatorBugs } from '../coordinator/coordinator.js';
import { PassiveLiveness } from '../membership/liveness.js';
import { Ring } from '../ring/ring.js';
import type { Layout } from '../ring/layout.js';
import { MemoryStore } from '../store/memory-store.js';
import type { ReplicaStore, StoredKey } from '../store/store.js';
import { MemoryNetwork, type MemoryTransport } from '../transport/memory.js';
import { murmur3 } from '../util/hash.js';
import { SeededRandom, type Clock, type Random, type Timer } from '../util/runtime.js';
import type { NodeId, SiblingSet } from '../version/dvv.js';
import type { RunConfig } from './config.js';
import { drawClocks, LinkControl, type FaultTarget } from './faults.js';
import { HandoffStandIn, HintLog } from './handoff-standin.js';
import { Datagrams, SwimLiveness } from './gossip.js';
import { DEFAULT_SWIM_CONFIG, type SwimConfig } from '../membership/swim.js';
import type { Liveness } from '../membership/liveness.js';
import type { History } from './history.js';
import { NodeClock, type Scheduler } from './scheduler.js';

export const BUCKET = 'sim';
export const PARTITIONS = 64;

/**
 * A store that reports every set it persists to the history, so checkers
 * know every event that ever existed, and that can stall like a slow disk:
 * with a delay set, each update waits its turn in a FIFO (the store contract
 * applies updates in call order) and then the delay before it is applied. A
 * crash meanwhile loses it, as an unsynced write is lost; it was never
 * acknowledged.
 */
class ObservedStore implements ReplicaStore {
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    readonly inner: MemoryStore,
    private readonly observe: (key: string, set: SiblingSet) => void,
    private readonly diskDelayMs: () => number,
    private readonly clock: Clock,
  ) {}
  read(bucket: string, key: string): SiblingSet | undefined {
    return this.inner.read(bucket, key);
  }
  update(partition: number, bucket: string, key: string, fn: (current: SiblingSet | undefined) => SiblingSet): Promise<SiblingSet> {
    const run = async (): Promise<SiblingSet> => {
      // Read at the head of the queue, so a disk that recovers drains its backlog at once.
      const delay = this.diskDelayMs();
      if (delay > 0) await new Promise<void>((resolve) => this.clock.setTimer(delay, resolve));
      const set = await this.inner.update(partition, bucket, key, fn);
      this.observe(key, set);
      return set;
    };
    const p = this.tail.then(run);
    this.tail = p.catch(() => undefined);
    return p;
  }
  remove(partition: number, bucket: string, key: string): Promise<void> {
    return this.inner.remove(partition, bucket, key);
  }
  scanPartition(partition: number): Iterable<StoredKey> {
    return this.inner.scanPartition(partition);
  }
  scanBucket(bucket: string, opts: { prefix?: string; after?: string; limit?: number }): Iterable<StoredKey> {
    return this.inner.scanBucket(bucket, opts);
  }
  getMeta<T>(name: string): T | undefined {
    return this.inner.getMeta<T>(name);
  }
  putMeta(name: string, value: unknown): Promise<void> {
    return this.inner.putMeta(name, value);
  }
  close(): Promise<void> {
    return this.inner.close();
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
  /** The durable part: survives crashes. */
  disk: MemoryStore;
  readonly hints: HintLog;
  /** Extra latency of each store update while the node's disk is slow (a fault). */
  diskDelayMs: number;
  incarnation: number;
  up: boolean;
  // The volatile part of the current incarnation.
  clock: NodeClock | undefined;
  transport: MemoryTransport | undefined;
  liveness: (Liveness & { stop(): void }) | undefined;
  coordinator: Coordinator | undefined;
  handoff: HandoffStandIn | undefined;
}

export interface KeyState {
  readonly key: string;
  readonly partition: number;
  readonly owners: readonly NodeId[];
  /** Per node (owners and others): what its store holds. */
  readonly byNode: ReadonlyMap<NodeId, SiblingSet | undefined>;
}

export class World implements FaultTarget {
  readonly random: Random;
  readonly net: MemoryNetwork;
  readonly links: LinkControl;
  /** SWIM's packets (when the run uses SWIM). */
  readonly datagrams: Datagrams;
  readonly ring: Ring;
  readonly nodeIds: readonly NodeId[];
  private readonly nodes = new Map<NodeId, SimNode>();
  private readonly crashListeners: ((node: NodeId) => void)[] = [];
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
    this.nodeIds = Array.from({ length: config.nodes }, (_, i) => `n${i + 1}`);
    const layout: Layout = {
      epoch: 1,
      partitions: PARTITIONS,
      nodes: this.nodeIds.map((id, i) => ({ id, zone: `z${i % 3}`, weight: 1 })),
    };
    this.ring = new Ring(layout);
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
    this.nodeIds.forEach((id, i) => {
      const c = clocks[i] ?? { skewMs: 0, rate: 1 };
      this.nodes.set(id, {
        id,
        skewMs: c.skewMs,
        rate: c.rate,
        disk: new MemoryStore(),
        hints: new HintLog(),
        diskDelayMs: 0,
        incarnation: 0,
        up: false,
        clock: undefined,
        transport: undefined,
        liveness: undefined,
        coordinator: undefined,
        handoff: undefined,
      });
    });
    for (const id of this.nodeIds) this.boot(id);
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
    for (const n of this.nodes.values()) n.diskDelayMs = 0;
    for (const id of this.nodeIds) if (!this.isUp(id)) this.restart(id);
  }

  // ---------------------------------------------------------- node lives

  isUp(node: NodeId): boolean {
    return this.node(node).up;
  }

  setDiskDelay(node: NodeId, ms: number): void {
    this.node(node).diskDelayMs = Math.max(0, ms);
  }

  coordinator(node: NodeId): Coordinator | undefined {
    const n = this.node(node);
    return n.up ? n.coordinator : undefined;
  }

  onCrash(fn: (node: NodeId) => void): void {
    this.crashListeners.push(fn);
  }

  crash(node: NodeId): void {
    const n = this.node(node);
    if (!n.up) return;
    this.net.crash(node);
    n.up = false;
    n.clock?.kill();
    n.liveness?.stop();
    n.handoff?.stop();
    void n.transport?.close();
    this.datagrams.bind(node, undefined);
    // The old handle closes: stores the dead process had not applied fail.
    n.disk = n.disk.reopen();
    n.clock = n.transport = n.liveness = n.coordinator = n.handoff = undefined;
    for (const fn of this.crashListeners) fn(node);
  }

  restart(node: NodeId): void {
    const n = this.node(node);
    if (n.up) return;
    this.net.restart(node);
    this.boot(node);
  }

  private boot(id: NodeId): void {
    const n = this.node(id);
    n.incarnation++;
    n.up = true;
    const clock = new NodeClock(this.sched, id, n.skewMs, n.rate);
    const transport = this.net.transport(id);
    const store = new ObservedStore(
      n.disk,
      (key, set) => this.history.observePersisted(id, key, set, this.sched.now),
      () => n.diskDelayMs,
      clock,
    );
    const nodeRandom = new SeededRandom(this.config.seed ^ murmur3(`${id}/${n.incarnation}`));
    let liveness: Liveness & { stop(): void };
    if (this.config.membership === 'swim') {
      const swim = new SwimLiveness(id, this.nodeIds, clock, nodeRandom, this.datagrams, this.swimConfig);
      swim.start();
      liveness = swim;
    } else {
      const pingMs = Math.max(50, Math.floor(this.config.replicaTimeoutMs / 2));
      liveness = new PassiveLiveness(
        clock,
        (peer) => transport.request(peer, { type: 'ping' }, pingMs).then(
          () => true,
          () => false,
        ),
        { retryMs: 500, timeoutsToDown: 3 },
      );
    }
    const bugs: CoordinatorBugs = this.config.bugs;
    const coordinator = new Coordinator({
      self: id,
      store,
      transport,
      clock,
      random: nodeRandom,
      ring: () => this.ring,
      liveness,
      config: {
        defaultQuorum: { n: this.config.n, r: this.config.r, w: this.config.w },
        replicaTimeoutMs: this.config.replicaTimeoutMs,
        readRepair: true,
        bugs,
      },
      onHintedWrite: (owner, partition, bucket, key) => {
        n.hints.add(owner, partition, bucket, key);
        return Promise.resolve();
      },
    });
    transport.serve(coordinator.handle);
    const handoff = new HandoffStandIn(id, clock, store, transport, liveness, n.hints, this.config.replicaTimeoutMs);
    handoff.start();
    n.clock = clock;
    n.transport = transport;
    n.liveness = liveness;
    n.coordinator = coordinator;
    n.handoff = handoff;
    if (n.incarnation > 1) this.sched.note(`${id} restarted (incarnation ${n.incarnation})`);
  }

  // ------------------------------------------------------------- inspection

  /** Every up node's liveness view holds every other node alive (the view has healed). */
  allViewsAlive(): boolean {
    for (const n of this.nodes.values()) {
      if (!n.up || n.liveness === undefined) return false;
      for (const other of this.nodeIds) if (!n.liveness.isAlive(other)) return false;
    }
    return true;
  }

  /** Hints still waiting for delivery, over all nodes. */
  pendingHints(): number {
    let total = 0;
    for (const n of this.nodes.values()) total += n.hints.size;
    return total;
  }

  ownersOf(key: string): { partition: number; owners: NodeId[] } {
    const partition = this.ring.partitionOf(BUCKET, key);
    return { partition, owners: this.ring.preference(partition, this.config.n).owners };
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
