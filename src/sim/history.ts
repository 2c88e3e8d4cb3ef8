// What the checkers judge: every client operation with its invocation,
// outcome and returned versions, plus every event (dot) that any store ever
// persisted. Each written value carries a unique write id, in its value bytes
// and in its metadata (tombstones have no bytes), so a sibling found anywhere
// names the client write it came from.
//
// Outcomes follow the coordinator's contract: 'ok' is acknowledged; 'failed'
// is certainly not applied (QuorumError 'not_applied', or the coordinator
// refused the connection); 'unknown' may or may not have been applied
// (QuorumError 'unknown', a client timeout, the coordinator crashed).

import type { Supersede } from '../coordinator/read-first.js';
import { ActorHistory } from './actor-history.js';
import type { Placement } from '../ring/view.js';
import { covers, dotKey, type Dot, type Sibling, type SiblingSet, type VersionVector } from '../version/dvv.js';

export type Outcome = 'ok' | 'failed' | 'unknown' | 'pending';
export type Phase = 'safety' | 'heal';

export const WRITE_HEADER = 'x-sim-write';

export interface SeenSibling {
  readonly dot: Dot;
  /** The write id the sibling carries, or -1 when it carries none (a bug). */
  readonly writeId: number;
  readonly tombstone: boolean;
}

export interface WriteOp {
  readonly kind: 'put' | 'delete';
  readonly opId: number;
  readonly writeId: number;
  readonly client: number;
  readonly node: string;
  readonly key: string;
  /** The context the client sent; null: none. */
  readonly context: VersionVector | null;
  /** No context, S3 "replace" semantics: supersede what the origin holds (its clock becomes the context). */
  readonly supersedeVisible: boolean;
  /**
   * No context, read first (coordinator/read-first.ts): the write is minted
   * with the clock of what a read of `readR` replicas saw ('everything': a
   * context-less delete or S3 PUT, also joined with the origin's clock;
   * 'tombstones': a native context-less PUT, only the deletes read). null:
   * written as the client sent it.
   */
  readonly readFirst: Supersede | null;
  readonly readR: number | null;
  readonly w: number;
  /** false: strict quorum, no fallback nodes. */
  readonly sloppy: boolean;
  readonly phase: Phase;
  readonly invokedAt: number;
  completedAt: number;
  outcome: Outcome;
  /** The dots of this write found in the answer's sibling set (normally exactly one). */
  dots: Dot[];
  /** Replicas the coordinator said it wrote. */
  replicas: string[];
  /** The context the answer handed back (for a follow-up write). */
  resultContext: VersionVector | undefined;
  error: string | undefined;
}

export interface ReadOp {
  readonly kind: 'get';
  readonly opId: number;
  readonly client: number;
  readonly node: string;
  readonly key: string;
  readonly r: number;
  readonly phase: Phase;
  readonly invokedAt: number;
  completedAt: number;
  outcome: Outcome;
  siblings: SeenSibling[];
  context: VersionVector | undefined;
  /** Replicas the coordinator said answered the read. */
  replicas: string[];
  error: string | undefined;
}

export type Op = WriteOp | ReadOp;

/** One event as persisted by some store. */
export interface PersistedEvent {
  readonly key: string;
  readonly dot: Dot;
  readonly writeId: number;
  readonly past: VersionVector;
  readonly tombstone: boolean;
  /** Where and when (virtual ms) it was first persisted. */
  readonly firstNode: string;
  readonly firstAt: number;
}

/** A key's tombstones removed from one node's replicas by tombstone collection. */
export interface Collection {
  readonly node: string;
  readonly key: string;
  readonly set: SiblingSet;
  readonly at: number;
}

export interface Anomaly {
  readonly what: string;
  readonly at: number;
}

export class History {
  readonly ops: Op[] = [];
  readonly writes = new Map<number, WriteOp>();
  /** key NUL dotKey -> the event, as first persisted anywhere (dots are per key). */
  readonly persisted = new Map<string, PersistedEvent>();
  /** Things observed while running that are wrong on their face (a dot reused for another write...). */
  readonly anomalies: Anomaly[] = [];
  /** Tombstone collections, in the order they happened. */
  readonly collections: Collection[] = [];
  /** Replicas the layout mover dropped (runs with layout changes): node, key, the set it held. */
  readonly drops: { readonly node: string; readonly key: string; readonly set: SiblingSet; readonly at: number }[] = [];
  /** Runs with layout changes: per node, the placements its view of the layout held, each from the time it began. */
  readonly layoutViews = new Map<string, { readonly at: number; readonly placement: Placement }[]>();
  private nextOp = 0;
  private readonly actors = new ActorHistory();
  private nextWrite = 0;

  newWriteId(): number {
    return ++this.nextWrite;
  }

  newOpId(): number {
    return ++this.nextOp;
  }

  addWrite(op: WriteOp): void {
    this.ops.push(op);
    this.writes.set(op.writeId, op);
  }

  addRead(op: ReadOp): void {
    this.ops.push(op);
  }

  /** The layout mover dropped `key` from `node` (its partition is held in no live version of the node's view). */
  observeDropped(node: string, key: string, set: SiblingSet, at: number): void {
    this.drops.push({ node, key, set, at });
  }

  /** Dots (dotKey) of `key` that some node held when it dropped the key. */
  droppedDots(key: string): Set<string> {
    const out = new Set<string>();
    for (const d of this.drops) if (d.key === key) for (const s of d.set.siblings) out.add(dotKey(s.dot));
    return out;
  }

  /** A node's view of the layout changed at `at` (or the node started with it). */
  observeLayoutView(node: string, at: number, placement: Placement): void {
    let list = this.layoutViews.get(node);
    if (list === undefined) this.layoutViews.set(node, (list = []));
    list.push({ at, placement });
  }

  /** The placement `node` routed by at `at` (undefined in runs without layout changes). */
  layoutViewAt(node: string, at: number): Placement | undefined {
    let out: Placement | undefined;
    for (const v of this.layoutViews.get(node) ?? []) {
      if (v.at > at) break;
      out = v.placement;
    }
    return out;
  }

  /** Called with every sibling set a store persists (`hint`: into a hint table). */
  observePersisted(node: string, key: string, set: SiblingSet, at: number, hint = false): void {
    for (const what of this.actors.observe(key, set, hint, (d) => this.wasCollected(undefined, key, d))) this.anomalies.push({ what: `${node}: ${what}`, at });
    for (const s of set.siblings) {
      const k = dotKey(s.dot);
      const prev = this.persisted.get(`${key}\u0000${k}`);
      const writeId = writeIdOf(s);
      if (prev === undefined) {
        this.persisted.set(`${key}\u0000${k}`, { key, dot: s.dot, writeId, past: s.past, tombstone: s.value === null, firstNode: node, firstAt: at });
        if (writeId < 0) this.anomalies.push({ what: `sibling ${k} of ${key} on ${node} carries no write id`, at });
      } else if (prev.writeId !== writeId) {
        this.anomalies.push({ what: `dot ${k} of ${key} names two events: w${prev.writeId} and w${writeId}, seen on ${node}`, at });
      }
    }
  }

  /**
   * Called when tombstone collection removed a key from a node's replicas,
   * with the set it held. Only a set of tombstones may ever be collected.
   */
  observeCollected(node: string, key: string, set: SiblingSet, at: number): void {
    this.collections.push({ node, key, set, at });
    const live = set.siblings.filter((s) => s.value !== null);
    if (live.length > 0) {
      this.anomalies.push({ what: `${node} removed ${key} while it held live values ${live.map((s) => `${dotKey(s.dot)}/w${writeIdOf(s)}`).join(',')}`, at });
    }
  }

  /** Did `node` collect a set of `key` holding `dot` or superseding it (before `before`, if given)? */
  wasCollected(node: string | undefined, key: string, dot: Dot, before = Infinity): boolean {
    return this.collections.some(
      (c) => (node === undefined || c.node === node) && c.key === key && c.at < before && c.set.siblings.some((s) => (s.dot.node === dot.node && s.dot.counter === dot.counter) || covers(s.past, dot)),
    );
  }

  /** Dots (dotKey) of the tombstones of `key` collected on some node. */
  collectedDots(key: string): Set<string> {
    const out = new Set<string>();
    for (const c of this.collections) if (c.key === key) for (const s of c.set.siblings) out.add(dotKey(s.dot));
    return out;
  }

  /** Every persisted event of one key. */
  eventsOf(key: string): PersistedEvent[] {
    return [...this.persisted.values()].filter((e) => e.key === key);
  }
}

export function encodeValue(writeId: number, key: string): Uint8Array {
  return new TextEncoder().encode(`sim:${writeId}:${key}`);
}

/** The write id a sibling carries; checks that the value bytes agree with the metadata. */
export function writeIdOf(s: Sibling): number {
  const header = s.meta.headers?.[WRITE_HEADER];
  const id = header === undefined ? NaN : Number(header);
  if (!Number.isSafeInteger(id)) return -1;
  if (s.value !== null) {
    const text = new TextDecoder().decode(s.value);
    if (!text.startsWith(`sim:${id}:`)) return -1;
  }
  return id;
}

export function seen(set: SiblingSet): SeenSibling[] {
  return set.siblings.map((s) => ({ dot: s.dot, writeId: writeIdOf(s), tombstone: s.value === null }));
}
