// Hinted handoff delivery (Dynamo §4.6): a fallback node scans its hint
// table and, for each owner its membership view holds alive again, sends
// the hinted sibling sets to the owner as ordinary replica merges; a hint is
// deleted only after the owner acknowledged it, and only if no newer hinted
// write changed it meanwhile (HintStore.removeHint). What the hints miss
// (a fallback that died with them, a hint refused when the table was full)
// is anti-entropy's job.
//
// Throttled and bounded, per owner, so that a node back from a long outage
// is not flooded by every fallback at once: a token bucket of keys per
// second and one of bytes per second, a bound on deliveries in flight, and
// an exponential backoff after a failure. Progress is kept per owner and
// shown by `status()`.
//
// Pure protocol code: time, the network and the disk come in through Clock,
// Transport and HintStore, so the simulator can run it under virtual time.

import type { Liveness } from '../membership/liveness.js';
import { hintBytes, type HintKey, type HintStore, type StoredHint } from '../store/store.js';
import type { Transport } from '../transport/transport.js';
import type { Clock, Timer } from '../util/runtime.js';
import { TokenBucket } from '../util/token-bucket.js';
import { errorMessage } from '../util/errors.js';
import { maxCounter, type NodeId, type SiblingSet } from '../version/dvv.js';

export interface HandoffConfig {
  /** How often the hint table is looked at. */
  readonly intervalMs: number;
  /** Keys handed to one owner per second, at most. */
  readonly keysPerSecond: number;
  /** Hinted bytes handed to one owner per second, at most (one hint may overdraw it). */
  readonly bytesPerSecond: number;
  /** Deliveries to one owner in flight at once. */
  readonly maxInFlight: number;
  /** Deadline of one delivery. */
  readonly timeoutMs: number;
  /** After a failed delivery the owner is left alone this long, doubling up to the max. */
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
}

export const DEFAULT_HANDOFF_CONFIG: HandoffConfig = Object.freeze({
  intervalMs: 200,
  keysPerSecond: 1000,
  bytesPerSecond: 16 * 1024 * 1024,
  maxInFlight: 8,
  timeoutMs: 5000,
  // Short: handoff only tries owners the membership view holds alive, so a
  // failure is mostly a connection still being re-established.
  backoffInitialMs: 250,
  backoffMaxMs: 2000,
});

export function validateHandoffConfig(c: HandoffConfig): void {
  for (const k of Object.keys(DEFAULT_HANDOFF_CONFIG) as (keyof HandoffConfig)[]) {
    const v = c[k];
    if (!(typeof v === 'number' && Number.isFinite(v) && v > 0)) throw new RangeError(`handoff config: ${k} must be a positive number, got ${String(v)}`);
  }
  if (!Number.isInteger(c.maxInFlight)) throw new RangeError('handoff config: maxInFlight must be an integer');
  if (c.backoffMaxMs < c.backoffInitialMs) throw new RangeError('handoff config: backoffMaxMs must be >= backoffInitialMs');
}

/**
 * BUGGIFY-style switches (FoundationDB): each turns on one deliberately
 * wrong behaviour so that the simulator's checkers can be shown to notice it
 * (test/sim/checkers-catch-bugs.test.ts). All off; never set in production.
 */
export interface HandoffBugs {
  /** Deletes a hint before the owner acknowledged it, then delivers it. */
  readonly deleteBeforeAck?: boolean;
}

export interface HandoffDeps {
  readonly self: NodeId;
  readonly clock: Clock;
  readonly transport: Transport;
  /** Who is alive, as this node's membership view says (SWIM). */
  readonly liveness: Pick<Liveness, 'isAlive'>;
  readonly hints: HintStore;
  /** Folds a delivered hint's own counters into the dot floor (version/dot-floor.ts) before it is deleted. */
  readonly raiseDotFloor: (counter: number) => Promise<void>;
  readonly config?: Partial<HandoffConfig>;
  /**
   * Where a hint goes once its owner no longer owns the partition in any
   * live layout version (docs/layout.md): to the partition's current owners
   * instead, so that a hint for a removed node is neither lost nor kept
   * forever. Absent: owners never change (a ring fixed at start).
   */
  readonly layout?: HandoffLayout;
  /** Test-only broken behaviour (src/sim). Never set in production. */
  readonly bugs?: HandoffBugs;
  readonly events?: {
    delivered?(owner: NodeId, hint: StoredHint): void;
    failed?(owner: NodeId, reason: string): void;
  };
}

export interface HandoffLayout {
  /** Does `owner` own `partition` in some live layout version? */
  stillOwns(owner: NodeId, partition: number): boolean;
  /** Is `owner` a storage node of some live layout version? A node that is not will never be back for its hints. */
  isMember(owner: NodeId): boolean;
  /** The partition's owners in the newest version. */
  currentOwners(partition: number): NodeId[];
  /** Merges a redirected hint into this node's own replicas (when this node is a current owner). */
  mergeHere(partition: number, bucket: string, key: string, set: SiblingSet): Promise<void>;
}

export interface OwnerStatus {
  readonly owner: NodeId;
  /** Hints waiting for this owner, and their approximate bytes. */
  readonly hints: number;
  readonly bytes: number;
  readonly alive: boolean;
  readonly inFlight: number;
  /** Since this process started. */
  readonly delivered: number;
  readonly failures: number;
  readonly lastError: string | null;
  /** Clock ms before which no delivery is tried (after failures), or null. */
  readonly backoffUntilMs: number | null;
}

interface OwnerState {
  cursor: HintKey | undefined;
  readonly inFlight: Set<string>;
  /** Delivery budgets (keysPerSecond, bytesPerSecond), with bursts of two intervals' worth so that a tick that runs late does not lose its share. */
  readonly keys: TokenBucket;
  readonly bytes: TokenBucket;
  backoffMs: number;
  backoffUntilMs: number;
  delivered: number;
  failures: number;
  lastError: string | null;
}

export class HintedHandoff {
  private readonly config: HandoffConfig;
  private readonly owners = new Map<NodeId, OwnerState>();
  private timer: Timer | undefined;
  private running = false;
  private deliveredTotal = 0;
  private failedTotal = 0;

  constructor(private readonly deps: HandoffDeps) {
    this.config = { ...DEFAULT_HANDOFF_CONFIG, ...deps.config };
    validateHandoffConfig(this.config);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule();
  }

  stop(): void {
    this.running = false;
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** Hints delivered and failed deliveries since start. */
  totals(): { delivered: number; failed: number } {
    return { delivered: this.deliveredTotal, failed: this.failedTotal };
  }

  /** Per owner with hints waiting or deliveries since start, sorted by owner. */
  status(): OwnerStatus[] {
    const waiting = new Map(this.deps.hints.hintTotals().map((t) => [t.owner, t]));
    const ids = new Set<NodeId>([...waiting.keys(), ...this.owners.keys()]);
    const now = this.deps.clock.now();
    return [...ids].sort().map((owner) => {
      const st = this.owners.get(owner);
      const t = waiting.get(owner);
      return {
        owner,
        hints: t?.hints ?? 0,
        bytes: t?.bytes ?? 0,
        alive: this.deps.liveness.isAlive(owner),
        inFlight: st?.inFlight.size ?? 0,
        delivered: st?.delivered ?? 0,
        failures: st?.failures ?? 0,
        lastError: st?.lastError ?? null,
        backoffUntilMs: st !== undefined && st.backoffUntilMs > now ? st.backoffUntilMs : null,
      };
    });
  }

  /** One round: start deliveries to every live owner with hints, as far as its budgets allow. */
  tick(): void {
    const now = this.deps.clock.now();
    for (const t of this.deps.hints.hintTotals()) {
      const owner = t.owner;
      if (owner === this.deps.self) continue; // never hinted for ourselves; nothing to hand over
      // A node no longer in the layout will never be back: its hints go to the current owners (deliver).
      if (!this.deps.liveness.isAlive(owner) && this.deps.layout?.isMember(owner) !== false) continue;
      const st = this.state(owner);
      if (now < st.backoffUntilMs) continue;
      this.fill(owner, st);
    }
  }

  private fill(owner: NodeId, st: OwnerState): void {
    // One hint may overdraw the byte budget; the next waits until it is paid off.
    while (st.inFlight.size < this.config.maxInFlight && st.keys.available() >= 1 && st.bytes.available() > 0) {
      const next = this.nextHint(owner, st);
      if (next === undefined) return;
      st.keys.spend(1);
      st.bytes.spend(hintBytes(next, next.set));
      void this.deliver(owner, st, next);
    }
  }

  /**
   * The next hint after the owner's cursor that is not already on its way,
   * wrapping around to the first hint once; the cursor keeps a long table
   * from being rescanned from the top on every tick.
   */
  private nextHint(owner: NodeId, st: OwnerState): StoredHint | undefined {
    const from = st.cursor;
    for (const after of from === undefined ? [undefined] : [from, undefined]) {
      for (const h of this.deps.hints.scanHints(owner, after === undefined ? {} : { after })) {
        if (st.inFlight.has(idOf(h))) continue;
        st.cursor = h;
        return h;
      }
    }
    st.cursor = undefined;
    return undefined;
  }

  private async deliver(owner: NodeId, st: OwnerState, h: StoredHint): Promise<void> {
    const id = idOf(h);
    st.inFlight.add(id);
    try {
      // BUGGIFY deleteBeforeAck: forget the hint first; lost if the delivery fails.
      if (this.deps.bugs?.deleteBeforeAck === true) await this.deps.hints.removeHint(h, h.set);
      // Stamped with the send time, though the hint may be older: a held hint
      // blocks tombstone collection of its key until the owner has merged it
      // (antientropy/data-age.ts), so its age does not matter.
      const layout = this.deps.layout;
      if (layout !== undefined && !layout.stillOwns(owner, h.partition)) {
        // The owner lost the partition in a layout change: every current owner gets the hint instead.
        await Promise.all(
          layout.currentOwners(h.partition).map((to) =>
            to === this.deps.self
              ? layout.mergeHere(h.partition, h.bucket, h.key, h.set)
              : this.deps.transport.request(to, { type: 'putReplica', bucket: h.bucket, key: h.key, set: h.set, hintFor: null, asOf: this.deps.clock.now() }, this.config.timeoutMs),
          ),
        );
      } else {
        await this.deps.transport.request(owner, { type: 'putReplica', bucket: h.bucket, key: h.key, set: h.set, hintFor: null, asOf: this.deps.clock.now() }, this.config.timeoutMs);
      }
      // The owner has it durably. Remember our own counters before forgetting the key.
      await this.deps.raiseDotFloor(maxCounter(h.set, this.deps.self));
      await this.deps.hints.removeHint(h, h.set);
      st.delivered++;
      this.deliveredTotal++;
      st.backoffMs = 0;
      this.deps.events?.delivered?.(owner, h);
      st.inFlight.delete(id);
      // Keep the pipeline full between ticks, within the same budgets.
      if (this.running && (this.deps.liveness.isAlive(owner) || this.deps.layout?.isMember(owner) === false)) this.fill(owner, st);
    } catch (err) {
      st.failures++;
      this.failedTotal++;
      st.lastError = errorMessage(err);
      // One backoff step per round of failures: the deliveries that were in
      // flight together fail together and must not double it each.
      const now = this.deps.clock.now();
      if (now >= st.backoffUntilMs) {
        st.backoffMs = st.backoffMs === 0 ? this.config.backoffInitialMs : Math.min(this.config.backoffMaxMs, st.backoffMs * 2);
        st.backoffUntilMs = now + st.backoffMs;
      }
      // Start over from the first hint next time, so the failed one is retried first.
      st.cursor = undefined;
      this.deps.events?.failed?.(owner, st.lastError);
    } finally {
      st.inFlight.delete(id);
    }
  }

  private state(owner: NodeId): OwnerState {
    let st = this.owners.get(owner);
    if (st === undefined) {
      st = {
        cursor: undefined,
        inFlight: new Set(),
        keys: new TokenBucket(this.deps.clock, this.config.keysPerSecond, burst(this.config.keysPerSecond, this.config.intervalMs)),
        bytes: new TokenBucket(this.deps.clock, this.config.bytesPerSecond, burst(this.config.bytesPerSecond, this.config.intervalMs)),
        backoffMs: 0,
        backoffUntilMs: 0,
        delivered: 0,
        failures: 0,
        lastError: null,
      };
      this.owners.set(owner, st);
    }
    return st;
  }

  private schedule(): void {
    if (!this.running) return;
    this.timer = this.deps.clock.setTimer(this.config.intervalMs, () => {
      this.timer = undefined;
      if (!this.running) return;
      try {
        this.tick();
      } finally {
        this.schedule();
      }
    });
  }
}

/** Bursts of two intervals' worth, so a tick that runs late does not lose its share. */
function burst(perSecond: number, intervalMs: number): number {
  return Math.max(1, (perSecond * intervalMs * 2) / 1000);
}

function idOf(h: HintKey): string {
  return JSON.stringify([h.partition, h.bucket, h.key]);
}
