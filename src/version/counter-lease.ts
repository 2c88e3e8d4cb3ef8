// The actor a node mints dots as, and a node-wide floor under their
// counters, both leased durably so that the origin of a write can ship the
// new version to the other replicas before its own commit.
//
// Why the origin used to commit first: a dot (X, k) says "X's history of
// this key up to k". If X shipped (X, k) and crashed before its own commit,
// it would come back without the event and (a) mint (X, k) again for
// another value, or (b) mint (X, k+j) for a set that lacks (X, k), whose
// clock {X: k+j} then covers (X, k) in every context handed out from it, so
// the next write through such a context silently supersedes a write no
// client saw. A counter lease alone (Riak's vnode counter, restarts skipping
// the unused rest) cures (a) but not (b): version vectors cover by maximum,
// there is no way to say "everything below k+j except k".
//
// So the lease carries two things, persisted together before either is used
// (Riak's answer to its issue kv679 is the same pair, a leased vnode
// counter and epoch actors):
//
// - the epoch: after a process that did not close cleanly, the node mints
//   as a new actor `node~epoch`, whose vector entries cover nothing the old
//   process minted, so its lost in-flight events stay concurrent with
//   everything it mints later (and reads that do see them keep them as
//   siblings). A clean close (every queued commit done, none failed) keeps
//   the actor, so vectors grow only with crashes.
// - the counter floor: every dot minted gets a counter above every counter
//   this node minted before, across keys and restarts (the persisted
//   reservation runs `block` ahead and a restart starts at its end). With it
//   no dot repeats even for keys the node forgot (handoff, tombstone
//   collection), whatever the actor.

import type { MetaStore } from './dot-floor.js';
import type { NodeId } from './dvv.js';

export const LEASE_META = 'dots.lease';

interface Persisted {
  /** Epoch of the actor in use (0: the node id itself). */
  readonly epoch: number;
  /** Counters up to this one may be minted without persisting again. */
  readonly reserved: number;
  /** True while a process may mint: a start that finds it true takes a new epoch. */
  readonly open: boolean;
}

/** The actor id for a node's epoch: the node id for epoch 0. `~` is not allowed in node ids, so no actor can be another node's id. */
export function actorId(node: NodeId, epoch: number): NodeId {
  return epoch === 0 ? node : `${node}~${epoch}`;
}

/** A node id, or a node id with an epoch (`n1~3`): what a dot or a version vector may name. */
export function isActorId(text: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}(~[1-9][0-9]{0,14})?$/.test(text);
}

export interface CounterLeaseOptions {
  /** Counters reserved per persisted lease. */
  readonly block?: number;
  /** BUGGIFY (simulator only): mint without persisting the lease, so a restart reuses the actor and counters. */
  readonly notPersisted?: boolean;
}

export class CounterLease {
  private readonly block: number;
  private readonly notPersisted: boolean;
  private readonly epoch: number;
  /** What is on disk (or being written last). */
  private reserved: number;
  private last: number;
  private acquired = false;
  private writing: Promise<void> | undefined;
  private tail: Promise<void> = Promise.resolve();
  private tainted = false;
  private closed = false;

  constructor(
    private readonly meta: MetaStore,
    private readonly node: NodeId,
    opts: CounterLeaseOptions = {},
  ) {
    this.block = opts.block ?? 4096;
    this.notPersisted = opts.notPersisted === true;
    const p = readPersisted(meta.getMeta<unknown>(LEASE_META));
    // A process that may have shipped dots it never committed: a new actor.
    this.epoch = p === undefined ? 0 : p.open ? p.epoch + 1 : p.epoch;
    // The unused rest of the last reservation is skipped.
    this.last = p?.reserved ?? 0;
    this.reserved = this.last;
  }

  /** The actor new dots are minted as, once ready() has resolved. */
  get actor(): NodeId {
    return actorId(this.node, this.epoch);
  }

  /** The floor for the next counter (every counter minted so far is at most this). */
  floor(): number {
    return this.last;
  }

  /** True once a counter up to `counter` may be minted: the lease is durable and reaches it. */
  covers(counter: number): boolean {
    return this.acquired && counter <= this.reserved;
  }

  /**
   * Makes the lease durable up to at least `counter` (and the new epoch, on
   * the first call). Resolves once it is on disk.
   */
  reserve(counter = this.last + 1): Promise<void> {
    if (this.covers(counter)) return Promise.resolve();
    const run = this.tail.then(async () => {
      if (this.covers(counter)) return;
      const reserved = Math.max(counter, this.last) + this.block - 1;
      if (!this.notPersisted) await this.meta.putMeta(LEASE_META, { epoch: this.epoch, reserved, open: true } satisfies Persisted);
      this.reserved = reserved;
      this.acquired = true;
    });
    this.tail = run.catch(() => undefined);
    return run;
  }

  /**
   * Records that `counter` was minted (it must be covered). Extends the lease
   * in the background once half of it is used, so that minting rarely waits.
   */
  use(counter: number): void {
    if (!this.covers(counter)) throw new Error(`counter lease: ${counter} minted beyond the reservation ${this.reserved}`);
    if (counter > this.last) this.last = counter;
    if (this.writing === undefined && this.reserved - this.last < this.block / 2) {
      this.writing = this.reserve(this.reserved + 1).finally(() => (this.writing = undefined));
      this.writing.catch(() => undefined);
    }
  }

  /** A dot minted here was shipped but its local commit failed: the next start must take a new epoch. */
  taint(): void {
    this.tainted = true;
  }

  /**
   * After the store drained every queued commit: marks the lease closed, so
   * the next start keeps the actor. Not called on a crash.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.tail;
    if (!this.acquired || this.tainted || this.notPersisted) return;
    await this.meta.putMeta(LEASE_META, { epoch: this.epoch, reserved: this.reserved, open: false } satisfies Persisted);
  }
}

function readPersisted(v: unknown): Persisted | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const { epoch, reserved, open } = v as Record<string, unknown>;
  if (typeof epoch !== 'number' || !Number.isSafeInteger(epoch) || epoch < 0) return undefined;
  if (typeof reserved !== 'number' || !Number.isSafeInteger(reserved) || reserved < 0) return undefined;
  return { epoch, reserved, open: open !== false };
}
