// The replica side of the inter-node protocol: what a node does when another
// node's coordinator sends it a write (as origin or as a plain replica), a
// read or a listing. A write for an owner this node stands in for goes to
// its hint table (hint-table.ts).

import type { CoordinatorEnv } from './deps.js';
import type { HintTable } from './hint-table.js';
import type { Minted, Origin } from './origin.js';
import type { Request, Response } from '../transport/messages.js';
import { EMPTY_SET, mergeInto, sync, type NodeId, type SiblingSet } from '../version/dvv.js';
import { compareCodePoints } from '../store/key-order.js';
import { refuseIfStale } from '../antientropy/data-age.js';
import { UnsupportedRequestError } from '../util/errors.js';
import { clampListLimit } from './sibling-cap.js';

export class ReplicaSide {
  constructor(
    private readonly env: CoordinatorEnv,
    private readonly hints: HintTable,
    private readonly origin: Origin,
  ) {}

  async serve(_from: NodeId, req: Request): Promise<Response> {
    const { store } = this.env.deps;
    switch (req.type) {
      case 'putOrigin': {
        const partition = this.env.deps.ring().partitionOf(req.bucket, req.key);
        const now = this.env.deps.clock.now();
        if (req.hintFor !== null && this.hints.for(req.hintFor) !== undefined && this.env.config.bugs?.dropHints !== true) {
          const set = await this.hints.mint(req.hintFor, partition, req, now, this.origin);
          await this.env.deps.onHintedWrite?.(req.hintFor, partition, req.bucket, req.key, set);
          return { type: 'putOk', set };
        }
        // Another node coordinates: it ships the set once this answer says it is durable here.
        const set = await (await this.mintHere(partition, req)).committed;
        if (req.hintFor !== null && this.env.config.bugs?.dropHints !== true) await this.env.deps.onHintedWrite?.(req.hintFor, partition, req.bucket, req.key, set);
        return { type: 'putOk', set };
      }
      case 'putReplica': {
        refuseIfStale(req.asOf, this.env.deps.clock, { maxDataAgeMs: this.env.config.maxDataAgeMs, ignoreDataAge: this.env.config.bugs?.ignoreDataAge === true }, `putReplica ${req.bucket}/${req.key}`, () =>
          this.env.deps.events?.staleRefused?.('putReplica'),
        );
        const partition = this.env.deps.ring().partitionOf(req.bucket, req.key);
        if (req.hintFor !== null && this.hints.for(req.hintFor) !== undefined && this.env.config.bugs?.dropHints !== true) {
          const set = await this.hints.store(req.hintFor, partition, req.bucket, req.key, (cur) => mergeInto(cur, req.set));
          await this.env.deps.onHintedWrite?.(req.hintFor, partition, req.bucket, req.key, set);
          return { type: 'putOk', set };
        }
        const set = await this.persist(partition, req.bucket, req.key, (cur) => (this.env.config.bugs?.overwriteOnReplica === true ? req.set : mergeInto(cur, req.set)));
        if (req.hintFor !== null && this.env.config.bugs?.dropHints !== true) await this.env.deps.onHintedWrite?.(req.hintFor, partition, req.bucket, req.key, set);
        return { type: 'putOk', set };
      }
      case 'get': {
        const set = this.readLocal(req.bucket, req.key) ?? null;
        return { type: 'getOk', set: set !== null && req.omitValues === true ? withoutValues(set) : set };
      }
      case 'listKeys': {
        const keys: { key: string; set: SiblingSet }[] = [];
        let truncated = false;
        const omit = req.omitValues === true;
        const limit = clampListLimit(req.limit); // limits: whatever a peer asks, one page is bounded
        const opts = { prefix: req.prefix, after: req.after, limit: limit + 1, ...(omit ? { values: false } : {}) };
        const hinted = this.env.deps.hints === undefined ? [] : this.env.deps.hints.store.scanBucketHints(req.bucket, opts);
        for (const k of mergeByKey(store.scanBucket(req.bucket, opts), hinted)) {
          if (keys.length >= limit) {
            truncated = true;
            break;
          }
          keys.push(omit ? { key: k.key, set: withoutValues(k.set) } : k);
        }
        return { type: 'listKeysOk', keys, truncated };
      }
      case 'ping':
        return { type: 'pong', node: this.env.self };
      // Membership packets are routed to the SWIM driver, and anti-entropy's
      // messages to the AntiEntropy component, before the coordinator (components/build-node.ts).
      case 'swim':
      case 'aeRoots':
      case 'aeHashes':
      case 'aeLeafKeys':
      case 'aeFetch':
      case 'aePush':
      case 'aeGcCheck':
      case 'aeGcRemove':
      case 'raft': // the control plane's, routed by node/control-wiring.ts
        throw new UnsupportedRequestError(`${this.env.self} does not serve ${req.type} here`);
    }
  }

  /** What this node holds for a key: its own replica and every hint for it. */
  private readLocal(bucket: string, key: string): SiblingSet | undefined {
    let set = this.env.deps.store.read(bucket, key);
    if (this.env.deps.hints === undefined) return set;
    for (const h of this.env.deps.hints.store.readHints(bucket, key)) set = set === undefined ? h.set : sync(set, h.set);
    return set;
  }

  /**
   * Mints a write as this node's own replica (origin.ts) and starts its
   * commit: the coordinator of a write on this node ships the set before
   * the commit is done and counts the commit toward W like any replica's.
   */
  mintHere(partition: number, req: Extract<Request, { type: 'putOrigin' }>): Promise<Minted> {
    return this.origin.mint(partition, req, (fn) => this.persist(partition, req.bucket, req.key, fn));
  }

  private persist(partition: number, bucket: string, key: string, fn: (cur: SiblingSet | undefined) => SiblingSet): Promise<SiblingSet> {
    const { store, clock } = this.env.deps;
    if (this.env.config.bugs?.ackBeforeStore !== true) return store.update(partition, bucket, key, fn);
    // BUGGIFY ackBeforeStore: answer with the new state now, store it later.
    const next = fn(store.read(bucket, key));
    clock.setTimer(100, () => void store.update(partition, bucket, key, (cur) => (cur === undefined ? next : sync(cur, next))).catch(() => undefined));
    return Promise.resolve(next);
  }
}

/**
 * Merges two key-ordered streams (a node's replicas and its hints, possibly
 * several hints per key) into one, syncing the sets of equal keys.
 */
function* mergeByKey(a: Iterable<{ key: string; set: SiblingSet }>, b: Iterable<{ key: string; set: SiblingSet }>): Generator<{ key: string; set: SiblingSet }> {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  let x = ia.next();
  let y = ib.next();
  while (!x.done || !y.done) {
    const order = x.done ? 1 : y.done ? -1 : compareCodePoints(x.value.key, y.value.key);
    if (order < 0) {
      yield { key: x.value.key, set: x.value.set };
      x = ia.next();
      continue;
    }
    const key = (y.value as { key: string }).key;
    let set = order === 0 ? x.value.set : EMPTY_SET;
    if (order === 0) x = ia.next();
    while (!y.done && y.value.key === key) {
      set = sync(set, y.value.set);
      y = ib.next();
    }
    yield { key, set };
  }
}

const NO_BYTES = new Uint8Array(0);

/** The set with every live value emptied (tombstones stay null): what a values-free listing ships. */
function withoutValues(set: SiblingSet): SiblingSet {
  return set.siblings.every((s) => s.value === null || s.value.byteLength === 0) ? set : { siblings: set.siblings.map((s) => (s.value === null ? s : { ...s, value: NO_BYTES })) };
}
