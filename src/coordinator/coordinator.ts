// A request's life (Dynamo §4.5): preference list -> fan-out -> wait for W
// or R -> reconcile -> read repair -> answer. Any node coordinates any
// request. The same object is also the replica-side handler of the
// inter-node protocol, since both sides share the store and the ring.
//
// Writes follow Riak's "coordinating vnode" scheme rather than Dynamo's
// letter: one replica of the key (the origin, preferably this node) mints
// the write's dot against its own state and persists it; the resulting whole
// sibling set is then merged into the other replicas. Shipping the whole set
// (not just the new sibling) is what makes a version vector context sound:
// any replica that holds dot (X, k) also holds every X-event X knew of when
// it minted k, so a context covering k never hides a write it did not see.

import { QuorumError, DEFAULT_QUORUM, type GetRequest, type GetResult, type HintedWrite, type ListRequest, type ListResult, type PutRequest, type PutResult, type Quorum, type ReplicaFailure } from './types.js';
import { InvalidRequestError } from './errors.js';
import type { Ring } from '../ring/ring.js';
import type { ReplicaStore } from '../store/store.js';
import type { Handler, Transport } from '../transport/transport.js';
import { TransportError } from '../transport/transport.js';
import { gather } from './gather.js';
import type { PutOk, Request, Response, ResponseFor } from '../transport/messages.js';
import type { Liveness } from '../membership/liveness.js';
import type { Clock, Random } from '../util/runtime.js';
import { EMPTY_SET, newEvent, sameSet, setClock, sync, type NodeId, type SiblingSet, type VersionVector } from '../version/dvv.js';

export interface CoordinatorConfig {
  readonly defaultQuorum: Quorum;
  /** Deadline of each replica request. */
  readonly replicaTimeoutMs: number;
  /** Compare late read replies and repair stale replicas (Dynamo §4.7 read repair). */
  readonly readRepair: boolean;
  /** Bound on read repairs in flight; beyond it, repairs are skipped (anti-entropy catches up). */
  readonly maxRepairsInFlight: number;
  /** Test-only broken behaviour for the simulator's checkers to catch (src/sim). Never set in production. */
  readonly bugs?: CoordinatorBugs;
}

/**
 * BUGGIFY-style switches (FoundationDB): each turns on one deliberately wrong
 * behaviour so that test/sim/checkers-catch-bugs.test.ts can show the
 * simulator's checkers notice it. All default off.
 */
export interface CoordinatorBugs {
  /** Replicas answer putOk before the write is stored (it is stored 100 ms later, or lost in a crash). */
  readonly ackBeforeStore?: boolean;
  /** The origin mints the new dot with an empty context, ignoring the client's. */
  readonly ignoreContext?: boolean;
  /** A replica replaces its sibling set with the incoming one instead of merging. */
  readonly overwriteOnReplica?: boolean;
  /** The coordinator acknowledges a write after W-1 replicas. */
  readonly quorumOffByOne?: boolean;
  /** A fallback stores a hinted write but never records the hint, so it is never handed off. */
  readonly dropHints?: boolean;
}

export const DEFAULT_COORDINATOR_CONFIG: CoordinatorConfig = {
  defaultQuorum: DEFAULT_QUORUM,
  replicaTimeoutMs: 3000,
  readRepair: true,
  maxRepairsInFlight: 256,
};

/** Hooks for observability; all optional. */
export interface CoordinatorEvents {
  readRepair?(node: NodeId, bucket: string, key: string): void;
  hintedWrite?(fallback: NodeId, owner: NodeId): void;
}

export interface CoordinatorDeps {
  readonly self: NodeId;
  readonly store: ReplicaStore;
  readonly transport: Transport;
  readonly clock: Clock;
  readonly random: Random;
  readonly ring: () => Ring;
  readonly liveness: Liveness;
  readonly config?: Partial<CoordinatorConfig>;
  readonly events?: CoordinatorEvents;
  /**
   * Called on the replica side for a write that arrives with a hint (this
   * node stands in for `owner`). Hinted handoff stores and later delivers it.
   */
  readonly onHintedWrite?: (owner: NodeId, partition: number, bucket: string, key: string, set: SiblingSet) => Promise<void>;
}

interface Target {
  readonly node: NodeId;
  readonly hintFor: NodeId | null;
}

export class Coordinator {
  readonly self: NodeId;
  private readonly config: CoordinatorConfig;
  private repairsInFlight = 0;

  constructor(private readonly deps: CoordinatorDeps) {
    this.self = deps.self;
    this.config = { ...DEFAULT_COORDINATOR_CONFIG, ...deps.config };
  }

  // ---------------------------------------------------------------- writes

  async put(req: PutRequest): Promise<PutResult> {
    const ring = this.deps.ring();
    const quorum = this.quorumFor(ring, req.n, undefined, req.w);
    const partition = ring.partitionOf(req.bucket, req.key);
    const { owners, fallbacks } = ring.preference(partition, quorum.n);
    const targets = this.chooseTargets(owners, fallbacks, req.sloppy ?? true);
    const failed: ReplicaFailure[] = targets.failed.slice();

    // The origin mints the dot. Prefer this node (no network hop), then the
    // preference order. Only a certainly-undelivered attempt may move on to
    // another origin; after a timeout the write may exist, and a second
    // origin would mint a second, duplicate event.
    const order = [...targets.chosen].sort((a, b) => Number(b.node === this.self) - Number(a.node === this.self));
    let origin: Target | undefined;
    let originResp: PutOk | undefined;
    for (const t of order) {
      try {
        originResp = await this.call(t.node, {
          type: 'putOrigin',
          bucket: req.bucket,
          key: req.key,
          value: req.value,
          meta: req.meta ?? {},
          context: req.context,
          supersedeLocal: req.context === null && (req.supersedeVisible ?? false),
          hintFor: t.hintFor,
        });
        origin = t;
        break;
      } catch (err) {
        failed.push({ node: t.node, reason: describe(err) });
        if (!(err instanceof TransportError && err.kind === 'unreachable')) {
          throw new QuorumError('write', quorum.w, [], failed, 'unknown');
        }
      }
    }
    if (origin === undefined || originResp === undefined) {
      throw new QuorumError('write', quorum.w, [], failed, 'not_applied');
    }

    const originSet = originResp.set;
    // W counts the origin; the rest get the origin's whole set in parallel,
    // and the ones beyond W still receive it after we answer.
    const rest = targets.chosen.filter((t) => t !== origin);
    const hintOf = new Map(rest.map((t) => [t.node, t.hintFor]));
    const needed = quorum.w - (this.config.bugs?.quorumOffByOne === true && quorum.w > 1 ? 1 : 0);
    const replicas = gather(
      rest.map((t) => t.node),
      (node) => this.call(node, { type: 'putReplica', bucket: req.bucket, key: req.key, set: originSet, hintFor: hintOf.get(node) ?? null }),
      needed - 1,
      describe,
    );
    await replicas.quorum;
    // Snapshot now: replies still arriving must not change what we report.
    const answered: { target: Target; set: SiblingSet }[] = [
      { target: origin, set: originSet },
      ...replicas.ok.map((r) => ({ target: { node: r.node, hintFor: hintOf.get(r.node) ?? null }, set: r.value.set })),
    ];
    if (answered.length < needed) {
      throw new QuorumError('write', needed, answered.map((a) => a.target.node), [...failed, ...replicas.failed], 'unknown');
    }
    let merged: SiblingSet = EMPTY_SET;
    const vectorClocks: Record<NodeId, VersionVector> = {};
    for (const a of answered) {
      merged = sync(merged, a.set);
      vectorClocks[a.target.node] = setClock(a.set);
    }
    const hinted: HintedWrite[] = answered.filter((a) => a.target.hintFor !== null).map((a) => ({ node: a.target.node, for: a.target.hintFor as NodeId }));
    return {
      coordinator: this.self,
      origin: origin.node,
      partition,
      preferenceList: owners,
      replicasWritten: answered.map((a) => a.target.node),
      hinted,
      vectorClocks,
      set: merged,
      context: setClock(merged),
    };
  }

  // ----------------------------------------------------------------- reads

  async get(req: GetRequest): Promise<GetResult> {
    const ring = this.deps.ring();
    const quorum = this.quorumFor(ring, req.n, req.r, undefined);
    const partition = ring.partitionOf(req.bucket, req.key);
    const { owners, fallbacks } = ring.preference(partition, quorum.n);
    const targets = this.chooseTargets(owners, fallbacks, true);
    const needed = quorum.r;
    const replies = gather(
      targets.chosen.map((t) => t.node),
      (node) => this.call(node, { type: 'get', bucket: req.bucket, key: req.key }),
      needed,
      describe,
    );
    await replies.quorum;
    const answered = replies.ok.map((r) => ({ node: r.node, set: r.value.set }));
    if (answered.length < needed) {
      throw new QuorumError('read', needed, answered.map((a) => a.node), [...targets.failed, ...replies.failed], 'none');
    }

    let merged: SiblingSet = EMPTY_SET;
    const vectorClocks: Record<NodeId, VersionVector | null> = {};
    for (const a of answered) {
      if (a.set !== null) merged = sync(merged, a.set);
      vectorClocks[a.node] = a.set === null ? null : setClock(a.set);
    }
    if (this.config.readRepair) {
      void replies.all.then(() => this.readRepair(req.bucket, req.key, replies.ok.map((r) => ({ node: r.node, set: r.value.set }))));
    }
    return {
      coordinator: this.self,
      partition,
      preferenceList: owners,
      replicasRead: answered.map((a) => a.node),
      vectorClocks,
      set: merged,
      context: setClock(merged),
    };
  }

  /**
   * Dynamo §4.7 read repair: once every replica has answered (or failed),
   * send the reconciled set to each that answered with less. Bounded: when
   * too many repairs are in flight, skip; anti-entropy will converge them.
   */
  private async readRepair(bucket: string, key: string, replies: readonly { node: NodeId; set: SiblingSet | null }[]): Promise<void> {
    let merged: SiblingSet = EMPTY_SET;
    for (const r of replies) if (r.set !== null) merged = sync(merged, r.set);
    if (merged.siblings.length === 0) return;
    for (const r of replies) {
      if (r.set !== null && sameSet(r.set, merged)) continue;
      if (this.repairsInFlight >= this.config.maxRepairsInFlight) return;
      this.repairsInFlight++;
      this.deps.events?.readRepair?.(r.node, bucket, key);
      this.call(r.node, { type: 'putReplica', bucket, key, set: merged, hintFor: null })
        .catch(() => undefined)
        .finally(() => this.repairsInFlight--);
    }
  }

  // --------------------------------------------------------------- listing

  /**
   * Live keys of a bucket across the cluster, in key order. Every node is
   * asked for its keys after `after`; a key's replicas are reconciled so a
   * tombstone on one node hides a stale value on another. When a node's
   * answer was cut at its limit, the merged page stops at that node's last
   * key, since keys beyond it might be missing from the page.
   */
  async list(req: ListRequest): Promise<ListResult> {
    const ring = this.deps.ring();
    const nodes = ring.layout.nodes.map((n) => n.id).filter((id) => this.deps.liveness.isAlive(id));
    const limit = Math.max(1, Math.min(req.limit, 10_000));
    let after = req.after ?? '';
    const out: { key: string; set: SiblingSet }[] = [];
    // Pages of tombstones can hide live keys behind them: keep asking until
    // the page is full or every node is exhausted.
    for (let round = 0; round < 64; round++) {
      const answers = await Promise.all(
        nodes.map((node) =>
          this.call(node, { type: 'listKeys', bucket: req.bucket, prefix: req.prefix ?? '', after, limit }).catch(() => undefined),
        ),
      );
      const ok = answers.filter((a): a is NonNullable<typeof a> => a !== undefined);
      if (ok.length === 0) throw new QuorumError('read', 1, [], nodes.map((n) => ({ node: n, reason: 'list failed' })), 'none');
      let bound: string | undefined;
      for (const a of ok) {
        const last = a.keys[a.keys.length - 1];
        if (a.truncated && last !== undefined && (bound === undefined || last.key < bound)) bound = last.key;
      }
      const byKey = new Map<string, SiblingSet>();
      for (const a of ok) {
        for (const k of a.keys) {
          if (bound !== undefined && k.key > bound) continue;
          byKey.set(k.key, sync(byKey.get(k.key) ?? EMPTY_SET, k.set));
        }
      }
      const keys = [...byKey.keys()].sort();
      for (const k of keys) {
        const set = byKey.get(k) as SiblingSet;
        if (set.siblings.some((s) => s.value !== null)) out.push({ key: k, set });
        if (out.length >= limit) return { keys: out, truncated: true };
      }
      if (bound === undefined) return { keys: out, truncated: false };
      after = bound;
    }
    return { keys: out, truncated: true };
  }

  // ---------------------------------------------------------- replica side

  readonly handle: Handler = async (from: NodeId, req: Request): Promise<ResponseFor[Request['type']]> => {
    return (await this.serve(from, req)) as ResponseFor[Request['type']];
  };

  private async serve(_from: NodeId, req: Request): Promise<Response> {
    const { store } = this.deps;
    switch (req.type) {
      case 'putOrigin': {
        const partition = this.deps.ring().partitionOf(req.bucket, req.key);
        const now = this.deps.clock.now();
        const set = await this.persist(partition, req.bucket, req.key, (cur) => {
          const current = cur ?? EMPTY_SET;
          const context = this.config.bugs?.ignoreContext === true ? {} : req.context ?? (req.supersedeLocal ? setClock(current) : {});
          return newEvent(current, this.self, context, req.value, req.meta, now).set;
        });
        if (req.hintFor !== null && this.config.bugs?.dropHints !== true) await this.deps.onHintedWrite?.(req.hintFor, partition, req.bucket, req.key, set);
        return { type: 'putOk', set };
      }
      case 'putReplica': {
        const partition = this.deps.ring().partitionOf(req.bucket, req.key);
        const set = await this.persist(partition, req.bucket, req.key, (cur) => {
          if (cur === undefined || this.config.bugs?.overwriteOnReplica === true) return req.set;
          const next = sync(cur, req.set);
          return sameSet(next, cur) ? cur : next;
        });
        if (req.hintFor !== null && this.config.bugs?.dropHints !== true) await this.deps.onHintedWrite?.(req.hintFor, partition, req.bucket, req.key, set);
        return { type: 'putOk', set };
      }
      case 'get':
        return { type: 'getOk', set: store.read(req.bucket, req.key) ?? null };
      case 'listKeys': {
        const keys: { key: string; set: SiblingSet }[] = [];
        let truncated = false;
        for (const k of store.scanBucket(req.bucket, { prefix: req.prefix, after: req.after, limit: req.limit + 1 })) {
          if (keys.length >= req.limit) {
            truncated = true;
            break;
          }
          keys.push({ key: k.key, set: k.set });
        }
        return { type: 'listKeysOk', keys, truncated };
      }
      case 'ping':
        return { type: 'pong', node: this.self };
    }
  }

  // ----------------------------------------------------------------- helpers

  private persist(partition: number, bucket: string, key: string, fn: (cur: SiblingSet | undefined) => SiblingSet): Promise<SiblingSet> {
    const { store, clock } = this.deps;
    if (this.config.bugs?.ackBeforeStore !== true) return store.update(partition, bucket, key, fn);
    // BUGGIFY ackBeforeStore: answer with the new state now, store it later.
    const next = fn(store.read(bucket, key));
    clock.setTimer(100, () => void store.update(partition, bucket, key, (cur) => (cur === undefined ? next : sync(cur, next))).catch(() => undefined));
    return Promise.resolve(next);
  }

  /**
   * Sloppy quorum (Dynamo §4.6): owners the local view holds dead are
   * replaced, in order, by the next live fallback nodes on the ring, each
   * write carrying a hint naming the owner it stands in for.
   */
  private chooseTargets(owners: readonly NodeId[], fallbacks: readonly NodeId[], sloppy: boolean): { chosen: Target[]; failed: ReplicaFailure[] } {
    const { liveness } = this.deps;
    const chosen: Target[] = [];
    const failed: ReplicaFailure[] = [];
    const spare = fallbacks.filter((f) => liveness.isAlive(f));
    for (const owner of owners) {
      if (owner === this.self || liveness.isAlive(owner)) {
        chosen.push({ node: owner, hintFor: null });
        continue;
      }
      const stand = sloppy ? spare.shift() : undefined;
      if (stand !== undefined) {
        chosen.push({ node: stand, hintFor: owner });
        this.deps.events?.hintedWrite?.(stand, owner);
      } else {
        failed.push({ node: owner, reason: 'down in the local membership view' });
      }
    }
    return { chosen, failed };
  }

  private quorumFor(ring: Ring, n?: number, r?: number, w?: number): Quorum {
    const d = this.config.defaultQuorum;
    const size = ring.layout.nodes.length;
    const q = { n: n ?? Math.min(d.n, size), r: r ?? d.r, w: w ?? d.w };
    const ok = (x: number) => Number.isInteger(x) && x >= 1;
    if (!ok(q.n) || !ok(q.r) || !ok(q.w) || q.r > q.n || q.w > q.n || q.n > size) {
      throw new InvalidRequestError('InvalidQuorum', `need 1 <= r, w <= n <= ${size} (cluster size); got n=${q.n} r=${q.r} w=${q.w}`);
    }
    return q;
  }

  private async call<R extends Request>(node: NodeId, req: R): Promise<ResponseFor[R['type']]> {
    const { transport, liveness } = this.deps;
    try {
      const resp = await transport.request(node, req, this.config.replicaTimeoutMs);
      if (node !== this.self) liveness.reportSuccess(node);
      return resp;
    } catch (err) {
      if (err instanceof TransportError && err.kind !== 'remote' && node !== this.self) liveness.reportFailure(node, err.kind);
      throw err;
    }
  }
}

function describe(err: unknown): string {
  if (err instanceof TransportError) return err.kind === 'remote' ? `error ${err.code ?? ''}: ${err.message}` : err.kind;
  return err instanceof Error ? err.message : String(err);
}
