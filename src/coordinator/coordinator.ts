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
import type { HintStore, ReplicaStore } from '../store/store.js';
import type { Handler, Transport } from '../transport/transport.js';
import { TransportError } from '../transport/transport.js';
import { gather } from './gather.js';
import type { PutOk, Request, Response, ResponseFor } from '../transport/messages.js';
import type { Liveness } from '../membership/liveness.js';
import type { Clock, Random } from '../util/runtime.js';
import { EMPTY_SET, mergeInto, newEvent, sameSet, setClock, sync, vvJoin, type NodeId, type SiblingSet, type VersionVector } from '../version/dvv.js';
import { compareCodePoints } from '../store/memory-store.js';
import { DEFAULT_MAX_DATA_AGE_MS, staleDataError } from '../antientropy/data-age.js';

export interface CoordinatorConfig {
  readonly defaultQuorum: Quorum;
  /** Deadline of each replica request. */
  readonly replicaTimeoutMs: number;
  /** Compare late read replies and repair stale replicas (Dynamo §4.7 read repair). */
  readonly readRepair: boolean;
  /** Bound on read repairs in flight; beyond it, repairs are skipped (anti-entropy catches up). */
  readonly maxRepairsInFlight: number;
  /**
   * A replica refuses to merge a set read longer ago than this (on the
   * sender's clock); it bounds how long an old version can travel, which
   * tombstone collection relies on (antientropy/data-age.ts).
   */
  readonly maxDataAgeMs: number;
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
  /**
   * A fallback stores a hinted write but never records the hint, so it is
   * never handed off: with a hint table, it keeps the write among its own
   * replicas instead; without one, it does not call onHintedWrite.
   */
  readonly dropHints?: boolean;
  /** Replicas merge, and coordinators keep as hints, copies of any age (see AntiEntropyBugs.ignoreDataAge). */
  readonly ignoreDataAge?: boolean;
}

export const DEFAULT_COORDINATOR_CONFIG: CoordinatorConfig = {
  defaultQuorum: DEFAULT_QUORUM,
  replicaTimeoutMs: 3000,
  readRepair: true,
  maxRepairsInFlight: 256,
  maxDataAgeMs: DEFAULT_MAX_DATA_AGE_MS,
};

/** Hooks for observability; all optional. */
export interface CoordinatorEvents {
  readRepair?(node: NodeId, bucket: string, key: string): void;
  hintedWrite?(fallback: NodeId, owner: NodeId): void;
  /** A copy of a sibling set was not merged (here, or into a local hint) because it was read too long ago. */
  staleRefused?(what: string): void;
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
  /**
   * The hint table. When given, a hinted write lives only there, apart from
   * this node's own replicas (Dynamo §4.6: "kept in a separate local
   * database"), until handoff delivers it; reads and listings served here
   * include it. Without it (the simulator) a hinted write is merged into
   * the main store and onHintedWrite keeps track.
   */
  readonly hints?: HintDeps;
  /**
   * A floor for the counters of dots this node mints as an owner: at least
   * every counter of this node in a tombstone set that anti-entropy
   * collected (AntiEntropy.dotFloor). Collection makes an owner forget a
   * key, like handoff makes a fallback forget one; without the floor a new
   * write could reuse a dot that a leftover copy of the tombstone covers,
   * and vanish where the two meet. Default 0 (no collection).
   */
  readonly dotFloor?: () => number;
}

export interface HintDeps {
  readonly store: HintStore;
  /**
   * A floor for the counters of dots this node mints as a fallback (see
   * newEvent's minCounter): at least every counter it ever minted into a
   * hint that handoff has since deleted.
   */
  readonly dotFloor: () => number;
  /** Hints for new keys are refused beyond these bounds: the write fails on this node instead of piling up. */
  readonly maxHints: number;
  readonly maxHintBytes: number;
}

/** The hint table is full: the hinted write was not taken. */
export class HintsFullError extends Error {
  override name = 'HintsFullError';
  readonly code = 'hints_full';
}

interface Target {
  readonly node: NodeId;
  readonly hintFor: NodeId | null;
}

export class Coordinator {
  readonly self: NodeId;
  private readonly config: CoordinatorConfig;
  private repairsInFlight = 0;
  /** Serializes dot minting into the hint table per key (see mintHinted). */
  private readonly hintMints = new Map<string, Promise<unknown>>();

  constructor(private readonly deps: CoordinatorDeps) {
    this.self = deps.self;
    this.config = { ...DEFAULT_COORDINATOR_CONFIG, ...deps.config };
  }

  // ---------------------------------------------------------------- writes

  async put(req: PutRequest): Promise<PutResult> {
    // The origin reads the set it returns after this instant: copies of it carry this time.
    const asOf = this.deps.clock.now();
    const ring = this.deps.ring();
    const quorum = this.quorumFor(ring, req.n, undefined, req.w);
    const partition = ring.partitionOf(req.bucket, req.key);
    const { owners, fallbacks } = ring.preference(partition, quorum.n);
    const sloppy = req.sloppy ?? true;
    const targets = this.chooseTargets(owners, fallbacks, sloppy);
    const failed: ReplicaFailure[] = targets.failed.slice();
    // Live fallbacks not chosen yet, in ring order: they stand in for owners
    // that fail during this write (Dynamo §4.6: "if A is temporarily down or
    // unreachable during a write operation then a replica that would
    // normally have lived on A will now be sent to node D"), which covers
    // the seconds before the membership view notices a crash.
    const chosenNodes = new Set(targets.chosen.map((t) => t.node));
    const spare = sloppy ? fallbacks.filter((f) => !chosenNodes.has(f) && this.deps.liveness.isAlive(f)) : [];

    // The origin mints the dot. Prefer an owner (a fallback's dots must
    // survive its forgetting the key after handoff, see mintHinted), this
    // node first among owners (no network hop), then the preference order.
    // Only a certainly-undelivered attempt may move on to another origin;
    // after a timeout the write may exist, and a second origin would mint a
    // second, duplicate event.
    const rank = (t: Target): number => (t.hintFor === null ? 0 : 2) + (t.node === this.self ? 0 : 1);
    const candidates = targets.chosen.map((t, i) => ({ t, i })).sort((a, b) => rank(a.t) - rank(b.t) || a.i - b.i).map((x) => x.t);
    const undelivered = new Set<Target>();
    const unhinted: NodeId[] = sloppy ? targets.failed.map((f) => f.node) : [];
    let origin: Target | undefined;
    let originResp: PutOk | undefined;
    for (let i = 0; i < candidates.length; i++) {
      const t = candidates[i] as Target;
      try {
        originResp = await this.call(t.node, {
          type: 'putOrigin',
          bucket: req.bucket,
          key: req.key,
          value: req.value,
          meta: req.meta ?? {},
          context: req.context,
          supersedeLocal: req.supersedeVisible ?? false,
          hintFor: t.hintFor,
        });
        origin = t;
        break;
      } catch (err) {
        failed.push({ node: t.node, reason: describe(err) });
        if (!certainlyNotApplied(err)) {
          throw new QuorumError('write', quorum.w, [], failed, 'unknown');
        }
        undelivered.add(t);
        const stand = this.standIn(t, spare);
        if (stand !== undefined) candidates.push(stand);
        else if (sloppy) unhinted.push(t.hintFor ?? t.node);
      }
    }
    if (origin === undefined || originResp === undefined) {
      throw new QuorumError('write', quorum.w, [], failed, 'not_applied');
    }

    const originSet = originResp.set;
    // Owners that get no copy of this write, not even through a stand-in:
    // keep a hint for each here, on the coordinator (as Cassandra does), so
    // that handoff brings it to them when they are back rather than leaving
    // it all to anti-entropy. This is what carries a minority side's writes
    // (W=1 during a partition) to the owners across the cut. It does not
    // count toward W.
    await Promise.all(unhinted.map((owner) => this.keepLocalHint(owner, partition, req.bucket, req.key, originSet, asOf)));
    // W counts the origin; the rest get the origin's whole set in parallel,
    // and the ones beyond W still receive it after we answer.
    const rest = candidates.filter((t) => t !== origin && !undelivered.has(t));
    const byNode = new Map(rest.map((t) => [t.node, t]));
    const needed = quorum.w - (this.config.bugs?.quorumOffByOne === true && quorum.w > 1 ? 1 : 0);
    const sendReplica = async (t: Target): Promise<{ target: Target; set: SiblingSet }> => {
      const msg = { type: 'putReplica', bucket: req.bucket, key: req.key, set: originSet, asOf } as const;
      let target = t;
      for (;;) {
        try {
          return { target, set: (await this.call(target.node, { ...msg, hintFor: target.hintFor })).set };
        } catch (err) {
          if (!(err instanceof TransportError && (err.kind !== 'remote' || certainlyNotApplied(err)))) throw err;
          const stand = this.standIn(target, spare);
          if (stand === undefined) {
            if (sloppy) void this.keepLocalHint(target.hintFor ?? target.node, partition, req.bucket, req.key, originSet, asOf);
            throw err;
          }
          target = stand;
        }
      }
    };
    const replicas = gather(
      rest.map((t) => t.node),
      (node) => sendReplica(byNode.get(node) as Target),
      needed - 1,
      describe,
    );
    await replicas.quorum;
    // Snapshot now: replies still arriving must not change what we report.
    const answered: { target: Target; set: SiblingSet }[] = [{ target: origin, set: originSet }, ...replicas.ok.map((r) => r.value)];
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
    // Replicas read after this instant: a read repair's copy carries this time.
    const asOf = this.deps.clock.now();
    const ring = this.deps.ring();
    const quorum = this.quorumFor(ring, req.n, req.r, undefined);
    const partition = ring.partitionOf(req.bucket, req.key);
    const { owners, fallbacks } = ring.preference(partition, quorum.n);
    const targets = this.chooseTargets(owners, fallbacks, req.sloppy ?? true);
    const hintOf = new Map(targets.chosen.map((t) => [t.node, t.hintFor]));
    const needed = quorum.r;
    const replies = gather(
      targets.chosen.map((t) => t.node),
      (node) => this.call(node, { type: 'get', bucket: req.bucket, key: req.key, ...(req.omitValues === true ? { omitValues: true } : {}) }),
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
    if (this.config.readRepair && req.omitValues === true) {
      // Without values there is nothing to repair with: if the replicas disagree, a full read repairs them.
      void replies.all.then(() => {
        const sets = replies.ok.map((r) => r.value.set);
        const first = sets[0] ?? null;
        const differ = (s: SiblingSet | null): boolean => (s === null || first === null ? s !== first : !sameSet(s, first));
        if (sets.some(differ)) void this.get({ ...req, omitValues: false }).catch(() => undefined);
      });
    } else if (this.config.readRepair) {
      void replies.all.then(() => this.readRepair(req.bucket, req.key, asOf, replies.ok.map((r) => ({ node: r.node, set: r.value.set, hintFor: hintOf.get(r.node) ?? null }))));
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
  private async readRepair(bucket: string, key: string, asOf: number, replies: readonly { node: NodeId; set: SiblingSet | null; hintFor: NodeId | null }[]): Promise<void> {
    let merged: SiblingSet = EMPTY_SET;
    for (const r of replies) if (r.set !== null) merged = sync(merged, r.set);
    if (merged.siblings.length === 0) return;
    for (const r of replies) {
      if (r.set !== null && sameSet(r.set, merged)) continue;
      if (this.repairsInFlight >= this.config.maxRepairsInFlight) return;
      this.repairsInFlight++;
      this.deps.events?.readRepair?.(r.node, bucket, key);
      // A fallback that answered is repaired as what it is, a stand-in: the
      // repair goes to its hint table for the owner, not into its replicas.
      this.call(r.node, { type: 'putReplica', bucket, key, set: merged, hintFor: r.hintFor, asOf })
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
    const members = ring.layout.nodes.map((n) => n.id);
    const nodes = req.strict === true ? members : members.filter((id) => this.deps.liveness.isAlive(id));
    const limit = Math.max(1, Math.min(req.limit, 10_000));
    let after = req.after ?? '';
    const out: { key: string; set: SiblingSet }[] = [];
    // Pages of tombstones can hide live keys behind them: keep asking until
    // the page is full or every node is exhausted.
    for (let round = 0; round < 64; round++) {
      const answers = await Promise.all(
        nodes.map((node) =>
          this.call(node, { type: 'listKeys', bucket: req.bucket, prefix: req.prefix ?? '', after, limit, ...(req.omitValues === true ? { omitValues: true } : {}) }).catch(() => undefined),
        ),
      );
      if (req.strict === true && answers.some((a) => a === undefined)) {
        const failed = nodes.filter((_, i) => answers[i] === undefined).map((n) => ({ node: n, reason: 'list failed' }));
        throw new QuorumError('read', nodes.length, nodes.filter((_, i) => answers[i] !== undefined), failed, 'none');
      }
      const ok = answers.filter((a): a is NonNullable<typeof a> => a !== undefined);
      if (ok.length === 0) throw new QuorumError('read', 1, [], nodes.map((n) => ({ node: n, reason: 'list failed' })), 'none');
      let bound: string | undefined;
      for (const a of ok) {
        const last = a.keys[a.keys.length - 1];
        if (a.truncated && last !== undefined && (bound === undefined || compareCodePoints(last.key, bound) < 0)) bound = last.key;
      }
      const byKey = new Map<string, SiblingSet>();
      for (const a of ok) {
        for (const k of a.keys) {
          if (bound !== undefined && compareCodePoints(k.key, bound) > 0) continue;
          byKey.set(k.key, sync(byKey.get(k.key) ?? EMPTY_SET, k.set));
        }
      }
      // The stores' order (code points), not JS's UTF-16 order: the two
      // disagree above U+FFFF, and a key misplaced against the bound is skipped.
      const keys = [...byKey.keys()].sort(compareCodePoints);
      for (const k of keys) {
        const set = byKey.get(k) as SiblingSet;
        if (req.includeTombstones === true || set.siblings.some((s) => s.value !== null)) out.push({ key: k, set });
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
        if (req.hintFor !== null && this.hintTable(req.hintFor) !== undefined && this.config.bugs?.dropHints !== true) {
          const set = await this.mintHinted(req.hintFor, partition, req, now);
          await this.deps.onHintedWrite?.(req.hintFor, partition, req.bucket, req.key, set);
          return { type: 'putOk', set };
        }
        const set = await this.persist(partition, req.bucket, req.key, (cur) => {
          const current = cur ?? EMPTY_SET;
          const context = this.config.bugs?.ignoreContext === true ? {} : req.supersedeLocal ? vvJoin(req.context ?? {}, setClock(current)) : req.context ?? {};
          return newEvent(current, this.self, context, req.value, req.meta, now, this.deps.dotFloor?.() ?? 0).set;
        });
        if (req.hintFor !== null && this.config.bugs?.dropHints !== true) await this.deps.onHintedWrite?.(req.hintFor, partition, req.bucket, req.key, set);
        return { type: 'putOk', set };
      }
      case 'putReplica': {
        this.refuseIfStale(req.asOf, 'putReplica', `putReplica ${req.bucket}/${req.key}`);
        const partition = this.deps.ring().partitionOf(req.bucket, req.key);
        if (req.hintFor !== null && this.hintTable(req.hintFor) !== undefined && this.config.bugs?.dropHints !== true) {
          const set = await this.storeHint(req.hintFor, partition, req.bucket, req.key, (cur) => mergeInto(cur, req.set));
          await this.deps.onHintedWrite?.(req.hintFor, partition, req.bucket, req.key, set);
          return { type: 'putOk', set };
        }
        const set = await this.persist(partition, req.bucket, req.key, (cur) => (this.config.bugs?.overwriteOnReplica === true ? req.set : mergeInto(cur, req.set)));
        if (req.hintFor !== null && this.config.bugs?.dropHints !== true) await this.deps.onHintedWrite?.(req.hintFor, partition, req.bucket, req.key, set);
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
        const opts = { prefix: req.prefix, after: req.after, limit: req.limit + 1, ...(omit ? { values: false } : {}) };
        const hinted = this.deps.hints === undefined ? [] : this.deps.hints.store.scanBucketHints(req.bucket, opts);
        for (const k of mergeByKey(store.scanBucket(req.bucket, opts), hinted)) {
          if (keys.length >= req.limit) {
            truncated = true;
            break;
          }
          keys.push(omit ? { key: k.key, set: withoutValues(k.set) } : k);
        }
        return { type: 'listKeysOk', keys, truncated };
      }
      case 'ping':
        return { type: 'pong', node: this.self };
      // Membership packets are routed to the SWIM driver, and anti-entropy's
      // messages to the AntiEntropy component, before the coordinator (node/node.ts).
      case 'swim':
      case 'aeRoots':
      case 'aeHashes':
      case 'aeLeafKeys':
      case 'aeFetch':
      case 'aePush':
      case 'aeGcCheck':
      case 'aeGcRemove':
        throw Object.assign(new Error(`${this.self} does not serve ${req.type} here`), { code: 'unsupported' });
    }
  }

  // ----------------------------------------------------------------- hints

  /** The hint table, if hinted writes for `owner` go there (never for this node itself). */
  private hintTable(owner: NodeId): HintDeps | undefined {
    return owner === this.self ? undefined : this.deps.hints;
  }

  /** What this node holds for a key: its own replica and every hint for it. */
  private readLocal(bucket: string, key: string): SiblingSet | undefined {
    let set = this.deps.store.read(bucket, key);
    if (this.deps.hints === undefined) return set;
    for (const h of this.deps.hints.store.readHints(bucket, key)) set = set === undefined ? h.set : sync(set, h.set);
    return set;
  }

  private storeHint(owner: NodeId, partition: number, bucket: string, key: string, fn: (cur: SiblingSet | undefined) => SiblingSet): Promise<SiblingSet> {
    const hints = this.deps.hints as HintDeps;
    const at = { owner, partition, bucket, key };
    if (!hints.store.readHints(bucket, key).some((h) => h.owner === owner)) {
      let count = 0;
      let bytes = 0;
      for (const t of hints.store.hintTotals()) {
        count += t.hints;
        bytes += t.bytes;
      }
      if (count >= hints.maxHints || bytes >= hints.maxHintBytes) {
        return Promise.reject(new HintsFullError(`${this.self}: hint table full (${count} hints, ${bytes} bytes); not standing in for ${owner}`));
      }
    }
    return hints.store.updateHint(at, this.deps.clock.now(), fn);
  }

  /**
   * A write for which this node is the origin as a fallback for `owner`. The
   * dot is minted against everything this node knows of the key (its own
   * replica, should it have one, and every owner's hint), with a counter
   * above the dot floor, since hints handed off and deleted no longer show
   * the counters this node used for the key. Mints for one key run one at a
   * time, as the knowledge spans several hint records.
   */
  private mintHinted(owner: NodeId, partition: number, req: Extract<Request, { type: 'putOrigin' }>, now: number): Promise<SiblingSet> {
    const hints = this.deps.hints as HintDeps;
    const lockKey = `${req.bucket}\u0000${req.key}`;
    const prev = this.hintMints.get(lockKey) ?? Promise.resolve();
    const run = prev.then(() =>
      this.storeHint(owner, partition, req.bucket, req.key, (cur) => {
        let known = cur ?? EMPTY_SET;
        const own = this.deps.store.read(req.bucket, req.key);
        if (own !== undefined) known = sync(known, own);
        for (const h of hints.store.readHints(req.bucket, req.key)) if (h.owner !== owner) known = sync(known, h.set);
        const context = this.config.bugs?.ignoreContext === true ? {} : req.supersedeLocal ? vvJoin(req.context ?? {}, setClock(known)) : req.context ?? {};
        return newEvent(known, this.self, context, req.value, req.meta, now, Math.max(hints.dotFloor(), this.deps.dotFloor?.() ?? 0)).set;
      }),
    );
    const tail = run.catch(() => undefined);
    this.hintMints.set(lockKey, tail);
    void tail.then(() => {
      if (this.hintMints.get(lockKey) === tail) this.hintMints.delete(lockKey);
    });
    return run;
  }

  /** Throws StaleDataError, counted under `kind`, when a copy read at `asOf` is too old to merge (data-age.ts). */
  private refuseIfStale(asOf: number, kind: string, what: string): void {
    // BUGGIFY ignoreDataAge: copies of any age are merged.
    if (this.config.bugs?.ignoreDataAge === true) return;
    const err = staleDataError(asOf, this.deps.clock.now(), this.config.maxDataAgeMs, what);
    if (err === undefined) return;
    this.deps.events?.staleRefused?.(kind);
    throw err;
  }

  /** Keeps a hint for `owner` in this node's own hint table (best effort: a full table, a failure or a stale copy only costs the hint). */
  private async keepLocalHint(owner: NodeId, partition: number, bucket: string, key: string, set: SiblingSet, asOf: number): Promise<void> {
    if (this.hintTable(owner) === undefined) return;
    try {
      // A hint is a copy like any other: one read too long ago is not kept (anti-entropy covers the owner).
      this.refuseIfStale(asOf, 'hint', `hint for ${owner}`);
      const stored = await this.storeHint(owner, partition, bucket, key, (cur) => mergeInto(cur, set));
      this.deps.events?.hintedWrite?.(this.self, owner);
      await this.deps.onHintedWrite?.(owner, partition, bucket, key, stored);
    } catch {
      // Anti-entropy will bring the owner up to date.
    }
  }

  /** A live fallback to take the place of `t` after it failed in this write, if sloppy quorum allows one. */
  private standIn(t: Target, spare: NodeId[]): Target | undefined {
    const owner = t.hintFor ?? t.node;
    if (owner === this.self) return undefined;
    const node = spare.shift();
    if (node === undefined) return undefined;
    this.deps.events?.hintedWrite?.(node, owner);
    return { node, hintFor: owner };
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

/** The request certainly did nothing: never delivered, or refused by a full hint table. */
function certainlyNotApplied(err: unknown): boolean {
  return err instanceof TransportError && (err.kind === 'unreachable' || (err.kind === 'remote' && (err.code === 'hints_full' || err.code === 'stale_data')));
}


function describe(err: unknown): string {
  if (err instanceof TransportError) return err.kind === 'remote' ? `error ${err.code ?? ''}: ${err.message}` : err.kind;
  return err instanceof Error ? err.message : String(err);
}

const NO_BYTES = new Uint8Array(0);

/** The set with every live value emptied (tombstones stay null): what a values-free listing ships. */
function withoutValues(set: SiblingSet): SiblingSet {
  return set.siblings.every((s) => s.value === null || s.value.byteLength === 0) ? set : { siblings: set.siblings.map((s) => (s.value === null ? s : { ...s, value: NO_BYTES })) };
}
