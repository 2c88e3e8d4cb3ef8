// A stand-in for hinted handoff (Dynamo §4.6) until the durable one from
// issue 3 lands in src/antientropy/. Without some delivery, a write that a
// sloppy quorum placed only on fallback nodes never reaches its owners, and
// the checkers would report it lost on every seed with a partition.
//
// It is deliberately simple: the hint log is durable (it lives beside the
// node's store and survives crashes); every tick, for each hinted key whose
// owner the local liveness view holds alive, the fallback sends its current
// sibling set for the key to the owner as a putReplica, and forgets the hint
// once the owner acknowledged and no newer hint for the key arrived since.
// When the real handoff lands, World.boot() starts it instead of this.

import type { Liveness } from '../membership/liveness.js';
import type { ReplicaStore } from '../store/store.js';
import type { Transport } from '../transport/transport.js';
import type { Clock, Timer } from '../util/runtime.js';
import type { NodeId } from '../version/dvv.js';

interface Hint {
  readonly owner: NodeId;
  readonly partition: number;
  readonly bucket: string;
  readonly key: string;
  /** Bumped by every hinted write to the same (owner, key): a delivery only clears the version it sent. */
  version: number;
}

/** Durable, bounded: one entry per (owner, bucket, key). */
export class HintLog {
  private readonly hints = new Map<string, Hint>();
  static readonly MAX = 10_000;

  get size(): number {
    return this.hints.size;
  }

  add(owner: NodeId, partition: number, bucket: string, key: string): void {
    const id = `${owner}\u0000${bucket}\u0000${key}`;
    const h = this.hints.get(id);
    if (h !== undefined) h.version++;
    else if (this.hints.size < HintLog.MAX) this.hints.set(id, { owner, partition, bucket, key, version: 1 });
  }

  list(): Hint[] {
    return [...this.hints.values()];
  }

  clear(h: Hint, version: number): void {
    const id = `${h.owner}\u0000${h.bucket}\u0000${h.key}`;
    if (this.hints.get(id)?.version === version) this.hints.delete(id);
  }
}

export class HandoffStandIn {
  private timer: Timer | undefined;
  private stopped = false;
  static readonly TICK_MS = 300;
  static readonly MAX_PER_TICK = 32;

  constructor(
    private readonly self: NodeId,
    private readonly clock: Clock,
    private readonly store: ReplicaStore,
    private readonly transport: Transport,
    private readonly liveness: Liveness,
    private readonly hints: HintLog,
    private readonly timeoutMs: number,
  ) {}

  start(): void {
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.clock.setTimer(HandoffStandIn.TICK_MS, () => void this.tick());
  }

  private async tick(): Promise<void> {
    const due = this.hints.list().filter((h) => h.owner !== this.self && this.liveness.isAlive(h.owner)).slice(0, HandoffStandIn.MAX_PER_TICK);
    await Promise.all(
      due.map(async (h) => {
        const version = h.version;
        const set = this.store.read(h.bucket, h.key);
        if (set === undefined) return this.hints.clear(h, version);
        try {
          await this.transport.request(h.owner, { type: 'putReplica', bucket: h.bucket, key: h.key, set, hintFor: null }, this.timeoutMs);
          this.hints.clear(h, version);
        } catch {
          // Kept; retried next tick.
        }
      }),
    );
    this.schedule();
  }
}
