// What one node does when the layout changes (issue 10, docs/layout.md): it
// reports what it has seen, syncs the partitions it holds once everyone
// writes to the new version, reports what it has synced and which version it
// reads, and drops the partitions it no longer holds in any live version.
//
// Garage 1.0's layout history is the model (its design notes, not its
// code): the three trackers are its ack, sync and sync_ack. The order of the
// steps is what the proof in docs/layout.md needs:
//
//   seen      reported only after every write this node coordinated with an
//             older view has finished (Writes.quiet), so that "everyone has
//             seen v" really means no write in flight can skip v's owners;
//   synced    a sync for v starts only when maySync (every tracked node has
//             seen v) and pulls each held partition from a read quorum of the
//             owners of every live version from the read version up
//             (syncSources); it ends when the Merkle roots agree with them;
//   readSeen  the read version of this node's own view, reported after the
//             view changed (reads already use it by then);
//   dropping  only partitions held in no live version of this node's view.
//
// The sync is a Merkle exchange per (partition, source) (antientropy's
// exchangePartition): a partition whose trees already agree costs one round
// trip, a new owner pulls everything, on the bulk lane for big values as
// every anti-entropy pull does. Finished partitions are recorded in the
// store's meta, so a sync that a restart interrupted resumes where it was.
// Pulled bytes are throttled per node (bytesPerSecond).
//
// Deterministic: clock, timers, the control plane and the store come in
// through LayoutMoverDeps.

import type { Placement } from '../ring/view.js';
import type { Clock, Timer } from '../util/runtime.js';
import { TokenBucket } from '../util/token-bucket.js';
import { errorMessage } from '../util/errors.js';
import type { NodeId } from '../version/dvv.js';
import { ownersOf } from './types.js';
import { currentVersion, maySync, ownsNothing, progressOf, readVersion, syncSources, trackedNodes, type LayoutHistory, type NodeProgress } from './history.js';

export interface LayoutMoverConfig {
  /** How often the mover looks at the history when nothing wakes it. */
  readonly intervalMs: number;
  /** Pulled bytes per second, at most, for all syncs of this node together. */
  readonly bytesPerSecond: number;
  /** Partitions synced at once. */
  readonly partitionsInFlight: number;
  /** Read quorum R: a partition is synced from R owners of each version (this node counting as one when it is an owner). */
  readonly r: number;
  /** Replication factor N (the history's). */
  readonly n: number;
  /** Deliberate bugs for the simulator (src/sim/); never set in production. */
  readonly bugs?: LayoutMoverBugs;
}

/**
 * Deliberately wrong behaviours of the mover, all off unless set: the
 * data-path simulator (src/sim/, `--bug`) turns one on and its checkers must
 * catch it. Production code never sets them.
 */
export interface LayoutMoverBugs {
  /** Drops a partition as soon as the newest version does not give it to this node, ignoring the older live versions (so before the new owners synced it, while reads still use this node). */
  readonly dropNotNewest?: boolean;
  /** Syncs each partition from the owners of the newest version only, not from every live version from the read version up, and reports synced all the same. */
  readonly syncNewestOnly?: boolean;
}

export const LAYOUT_MOVER_BUG_NAMES: readonly (keyof LayoutMoverBugs)[] = ['dropNotNewest', 'syncNewestOnly'];

export const DEFAULT_MOVER_CONFIG: Omit<LayoutMoverConfig, 'r' | 'n'> = {
  intervalMs: 1000,
  bytesPerSecond: 64 * 1024 * 1024,
  partitionsInFlight: 4,
};

export interface SyncState {
  readonly version: number;
  /** Partitions finished for this version. */
  readonly done: readonly number[];
}

export interface LayoutMoverDeps {
  readonly self: NodeId;
  readonly clock: Clock;
  /** The history of this node's view of the control state. */
  history(): LayoutHistory;
  /** The placement built from it (the coordinator's). */
  placement(): Placement;
  /** Proposes a layoutProgress command through the control plane; resolves once applied. */
  report(progress: Partial<NodeProgress>): Promise<void>;
  /** Writes this node coordinates that started under a layout version older than v are all finished. */
  quietBefore(v: number): boolean;
  isAlive(node: NodeId): boolean;
  /** One Merkle exchange of partition p with peer (both end with the join of both); bytes pulled. */
  exchange(peer: NodeId, partition: number): Promise<{ bytes: number }>;
  /** The partitions (of those given) whose Merkle roots differ between this node and peer. */
  compareRoots(peer: NodeId, partitions: readonly number[]): Promise<number[]>;
  /** Partitions this node's store holds anything in. */
  storedPartitions(): number[];
  /** Removes every replica of partition p from this node's store; returns keys removed. */
  dropPartition(p: number): Promise<number>;
  loadSync(): SyncState | undefined;
  saveSync(s: SyncState): Promise<void>;
  readonly log?: (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void;
}

/** Progress of this node's sync, for /cluster/layout and metrics. */
export interface MoverStatus {
  readonly seenReported: number;
  readonly syncing: number | null;
  readonly partitionsTotal: number;
  readonly partitionsDone: number;
  readonly bytesPulled: number;
  readonly partitionsDropped: number;
  readonly keysDropped: number;
  readonly ownsNothing: boolean;
  readonly lastError: string | null;
}

export class LayoutMover {
  readonly #deps: LayoutMoverDeps;
  readonly #config: LayoutMoverConfig;
  readonly #bytes: TokenBucket;
  #timer: Timer | undefined;
  #running = false;
  #busy = false;
  #again = false;
  #syncing: number | null = null;
  #total = 0;
  #done = new Set<number>();
  #bytesPulled = 0;
  #dropped = 0;
  #keysDropped = 0;
  #lastError: string | null = null;

  constructor(deps: LayoutMoverDeps, config: LayoutMoverConfig) {
    this.#deps = deps;
    this.#config = config;
    this.#bytes = new TokenBucket(deps.clock, config.bytesPerSecond, config.bytesPerSecond);
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.poke();
  }

  stop(): void {
    this.#running = false;
    if (this.#timer !== undefined) this.#timer.cancel();
    this.#timer = undefined;
    this.#bytes.cancelAll();
  }

  /** Look again now (the control state changed). */
  poke(): void {
    if (!this.#running) return;
    if (this.#busy) {
      this.#again = true;
      return;
    }
    this.#busy = true;
    if (this.#timer !== undefined) this.#timer.cancel();
    this.#timer = undefined;
    void this.#step()
      .catch((err: unknown) => {
        this.#lastError = errorMessage(err);
        this.#deps.log?.('warn', 'layout: step failed', { err: this.#lastError });
      })
      .finally(() => {
        this.#busy = false;
        if (!this.#running) return;
        if (this.#again) {
          this.#again = false;
          this.poke();
          return;
        }
        this.#timer = this.#deps.clock.setTimer(this.#config.intervalMs, () => {
          this.#timer = undefined;
          this.poke();
        });
      });
  }

  status(): MoverStatus {
    const h = this.#deps.history();
    return {
      seenReported: progressOf(h, this.#deps.self).seen,
      syncing: this.#syncing,
      partitionsTotal: this.#total,
      partitionsDone: this.#done.size,
      bytesPulled: this.#bytesPulled,
      partitionsDropped: this.#dropped,
      keysDropped: this.#keysDropped,
      ownsNothing: h.versions.length > 0 && ownsNothing(h, this.#deps.self),
      lastError: this.#lastError,
    };
  }

  async #step(): Promise<void> {
    const { self } = this.#deps;
    let h = this.#deps.history();
    if (h.versions.length === 0) return;
    const cur = currentVersion(h);
    if (trackedNodes(h).includes(self)) {
      const mine = progressOf(h, self);
      const rv = readVersion(h);
      const want: { seen?: number; readSeen?: number } = {};
      if (mine.seen < cur && this.#deps.quietBefore(cur)) want.seen = cur;
      if (mine.readSeen < rv) want.readSeen = rv;
      if (want.seen !== undefined || want.readSeen !== undefined) await this.#deps.report(want);
      h = this.#deps.history();
    }
    // Asked again after the report: a leaving node's own readSeen can be the
    // report that retires the last version it was in. It is then tracked no
    // more (progressOf answers zeros for it), has nothing to sync, and a
    // synced report would be refused (NoSuchNode) and leave `syncing` set for
    // good, holding back everyone who waits for the move to end (the layout
    // test's decommission hung on it under load).
    if (!trackedNodes(h).includes(self)) this.#syncing = null;
    else if (progressOf(h, self).synced < currentVersion(h) && maySync(h, currentVersion(h))) await this.#sync(currentVersion(h));
    await this.#drop();
  }

  /** Pulls every partition this node holds from a read quorum of each source version, then reports synced. */
  async #sync(v: number): Promise<void> {
    const { self } = this.#deps;
    const placement = this.#deps.placement();
    const held = placement.partitionsOf(self, this.#config.n);
    const saved = this.#deps.loadSync();
    if (this.#syncing !== v) {
      this.#done = new Set(saved !== undefined && saved.version === v ? saved.done : []);
      if (this.#done.size > 0) this.#deps.log?.('info', 'layout: resuming an interrupted sync', { version: v, done: this.#done.size, of: held.length });
      else this.#deps.log?.('info', 'layout: syncing the partitions this node holds', { version: v, partitions: held.length });
    }
    this.#syncing = v;
    this.#total = held.length;
    const todo = held.filter((p) => !this.#done.has(p));
    // Whom each partition is pulled from; then one root comparison per peer
    // for all its partitions at once, so that a partition already in
    // agreement costs nothing more (most of them, after a small change).
    const h = this.#deps.history();
    const work = new Map<NodeId, number[]>();
    let failed = 0;
    for (const p of todo) {
      const peers = this.#sourcesFor(h, p);
      if (peers === undefined) {
        failed++;
        continue;
      }
      if (peers.length === 0) {
        this.#done.add(p);
        continue;
      }
      for (const peer of peers) {
        let list = work.get(peer);
        if (list === undefined) work.set(peer, (list = []));
        list.push(p);
      }
    }
    const pending = new Map<number, number>();
    const exchanges: { peer: NodeId; p: number }[] = [];
    for (const [peer, ps] of work) {
      for (const p of ps) pending.set(p, (pending.get(p) ?? 0) + 1);
      let differ: Set<number>;
      try {
        differ = new Set();
        for (let i = 0; i < ps.length; i += 256) for (const p of await this.#deps.compareRoots(peer, ps.slice(i, i + 256))) differ.add(p);
      } catch (err) {
        this.#lastError = `sync: comparing roots with ${peer}: ${errorMessage(err)}`;
        for (const p of ps) pending.set(p, Number.POSITIVE_INFINITY);
        continue;
      }
      for (const p of ps) {
        if (differ.has(p)) exchanges.push({ peer, p });
        else pending.set(p, pending.get(p)! - 1);
      }
    }
    const finish = async (p: number): Promise<void> => {
      if (pending.get(p) !== 0) return;
      this.#done.add(p);
      await this.#deps.saveSync({ version: v, done: [...this.#done].sort((a, b) => a - b) });
    };
    // devlayout: the partitions already in agreement are recorded with one
    // (fsynced) meta write, not one each: hundreds of sequential fsyncs made a
    // sync of an unchanged node take tens of seconds on a busy machine.
    let agreed = 0;
    for (const [p, n] of pending) {
      if (n !== 0 || this.#done.has(p)) continue;
      this.#done.add(p);
      agreed++;
    }
    if (agreed > 0) await this.#deps.saveSync({ version: v, done: [...this.#done].sort((a, b) => a - b) });
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < exchanges.length && this.#running && this.#syncing === v) {
        const { peer, p } = exchanges[next++]!;
        if (await this.#pull(peer, p)) {
          pending.set(p, pending.get(p)! - 1);
          await finish(p);
        } else failed++;
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, this.#config.partitionsInFlight) }, worker));
    if (failed > 0 || this.#done.size < held.length || !this.#running) return;
    // The history may have moved on while this ran: a newer version needs its own sync.
    if (currentVersion(this.#deps.history()) !== v) return;
    await this.#deps.report({ synced: v });
    this.#deps.log?.('info', 'layout: synced', { version: v, partitions: held.length, bytes: this.#bytesPulled });
    this.#syncing = null;
  }

  /** Whom partition p is pulled from: a read quorum of the live owners of every source version; undefined when too few are alive. */
  #sourcesFor(h: LayoutHistory, p: number): NodeId[] | undefined {
    const { self } = this.#deps;
    const peers = new Set<NodeId>();
    const sources = syncSources(h, p, self);
    for (const src of this.#config.bugs?.syncNewestOnly === true ? sources.slice(-1) : sources) {
      const version = h.versions.find((x) => x.version === src.version);
      if (version === undefined) continue;
      const owners = ownersOf(version.assignment, p);
      // A read quorum of this version's owners, this node counting as one when it is an owner.
      const need = Math.max(0, Math.min(this.#config.r, owners.length) - (owners.includes(self) ? 1 : 0));
      const live = src.owners.filter((x) => this.#deps.isAlive(x));
      let have = live.filter((x) => peers.has(x)).length;
      for (const x of live) {
        if (have >= need) break;
        if (peers.has(x)) continue;
        peers.add(x);
        have++;
      }
      if (have < need) return undefined;
    }
    return [...peers];
  }

  /** One partition from one peer: a Merkle exchange, throttled, then verified (the roots agree). */
  async #pull(peer: NodeId, p: number): Promise<boolean> {
    try {
      const { bytes } = await this.#deps.exchange(peer, p);
      this.#bytesPulled += bytes;
      if (bytes > 0) await this.#bytes.take(bytes);
      // A write racing the check only means one more exchange.
      for (let tries = 0; tries < 3; tries++) {
        const differ = await this.#deps.compareRoots(peer, [p]);
        if (differ.length === 0) break;
        const again = await this.#deps.exchange(peer, p);
        this.#bytesPulled += again.bytes;
      }
      return true;
    } catch (err) {
      this.#lastError = `sync of partition ${p} from ${peer}: ${errorMessage(err)}`;
      return false;
    }
  }

  /** Removes what this node holds in no live version of its view. */
  async #drop(): Promise<void> {
    const placement = this.#deps.placement();
    const h = this.#deps.history();
    if (h.versions.length === 0) return;
    const keep = new Set(placement.partitionsOf(this.#deps.self, this.#config.n));
    if (this.#config.bugs?.dropNotNewest === true) {
      const newest = h.versions[h.versions.length - 1]!.assignment;
      keep.clear();
      for (let p = 0; p < newest.partitions; p++) if (ownersOf(newest, p).includes(this.#deps.self)) keep.add(p);
    }
    for (const p of this.#deps.storedPartitions()) {
      if (keep.has(p) || !this.#running) continue;
      const removed = await this.#deps.dropPartition(p);
      if (removed === 0) continue;
      this.#dropped++;
      this.#keysDropped += removed;
      this.#deps.log?.('info', 'layout: dropped a partition this node no longer holds', { partition: p, keys: removed });
    }
  }
}
