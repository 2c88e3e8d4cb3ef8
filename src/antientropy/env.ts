// What the parts of anti-entropy (exchange.ts, collection.ts, replica.ts and
// the driver in antientropy.ts) share: the node's parts and configuration,
// the repair budget, the dot floor, the counters, and a few small steps all
// of them take.

import type { Placement } from '../ring/view.js';
import { isTombstoneOnly, mergeInto, type NodeId, type SiblingSet } from '../version/dvv.js';
import { keyDigestHex, leafOf } from './merkle.js';
import type { AntiEntropyConfig, AntiEntropyDeps } from './config.js';
import type { AeKeyDigest, AeKeyRef, AeRequest, AeResponseFor, AeShape } from './protocol.js';
import type { TokenBucket } from '../util/token-bucket.js';
import { refuseIfStale } from './data-age.js';

/** Counts of one round (RoundReport without its times). */
export class RoundCounters {
  peers = 0;
  peersSkipped = 0;
  partitionsCompared = 0;
  partitionsDiffering = 0;
  keysCompared = 0;
  keysPulled = 0;
  /** Value bytes of the copies pulled (what a layout sync throttles). */
  bytesPulled = 0;
  keysPushed = 0;
  errors = 0;
  tombstonesCollected = 0;
}

/** Every round's counts summed since start, and collection's own. */
export interface AeTotals {
  partitionsCompared: number;
  partitionsDiffering: number;
  keysCompared: number;
  keysPulled: number;
  keysPushed: number;
  errors: number;
  tombstonesCollected: number;
  gcSweeps: number;
  gcBlocked: number;
  staleRefused: number;
}

export interface AeEnv {
  readonly deps: AntiEntropyDeps;
  readonly config: AntiEntropyConfig;
  readonly shape: AeShape;
  /** The repair budget: one token per key fetched, pushed or checked for collection. */
  readonly limiter: TokenBucket;
  /** The node's durable dot-counter floor (version/dot-floor.ts). */
  readonly floor: { current(): number; raise(counter: number): Promise<void> };
  readonly totals: AeTotals;
  /** Set once stop() was called; the last error seen, for status(). */
  readonly state: { stopped: boolean; lastError: string | null };
}

export const keyId = (bucket: string, key: string): string => `${bucket}\u0000${key}`;

export function request<R extends AeRequest>(env: AeEnv, peer: NodeId, req: R): Promise<AeResponseFor[R['type']]> {
  return env.deps.transport.request(peer, req, env.config.requestTimeoutMs);
}

/**
 * Merges a peer's set into this node's (sync, as putReplica does) and says
 * whether that changed anything. A store may run the function more than
 * once (a guess, then for real): `changed` is from the last run, the one
 * committed.
 */
export async function mergeCopy(env: AeEnv, ring: Placement, bucket: string, key: string, theirs: SiblingSet): Promise<{ set: SiblingSet; changed: boolean }> {
  let changed = false;
  const set = await env.deps.store.update(ring.partitionOf(bucket, key), bucket, key, (cur) => {
    const next = mergeInto(cur, theirs);
    changed = next !== cur;
    return next;
  });
  return { set, changed };
}

/** Throws StaleDataError, and counts it, when a copy read at `asOf` is too old to merge (data-age.ts). */
export function refuseStaleCopy(env: AeEnv, asOf: number, what: string): void {
  refuseIfStale(asOf, env.deps.clock, { maxDataAgeMs: env.config.maxDataAgeMs, ignoreDataAge: env.deps.bugs?.ignoreDataAge === true }, what, () => {
    env.totals.staleRefused++;
  });
}

/**
 * The keys of `partition` under the given leaves, with their digests, in key
 * order from after `after`: what both sides of an exchange compare (the
 * initiator locally, the peer for aeLeafKeys).
 */
export function* leafKeyDigests(env: AeEnv, partition: number, leaves: ReadonlySet<number>, after?: AeKeyRef): Generator<AeKeyDigest> {
  for (const e of env.deps.store.scanPartition(partition, after)) {
    if (!leaves.has(leafOf(e.bucket, e.key, env.shape))) continue;
    yield { bucket: e.bucket, key: e.key, digest: keyDigestHex(e.bucket, e.key, e.set) };
  }
}

/** Whether `cur` is still exactly the tombstone set a collection candidate named (same dots, hence same digest). */
export function sameTombstones(e: AeKeyDigest, cur: SiblingSet | undefined): cur is SiblingSet {
  return cur !== undefined && isTombstoneOnly(cur) && keyDigestHex(e.bucket, e.key, cur) === e.digest;
}
