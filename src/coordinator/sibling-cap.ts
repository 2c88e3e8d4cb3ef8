// Bounds on what one client write or one listing may make a replica hold
// (issue 11 §5). The sibling cap (Riak's max_siblings, default 100): a key
// whose clients keep writing without a context grows one sibling per write,
// and every read and write of it gets slower with it (2,000 siblings made
// 850 KB reads and 60 ms writes). The origin refuses a client write that
// would grow a set past the cap, before storing anything; the client reads
// the key and writes with its context, which supersedes what it read.
//
// Only client writes are refused. Replica merges, hints, handoff and
// anti-entropy merge whatever they are sent: dropping a sibling there would
// lose a write some client was told succeeded, and replicas that dropped
// different siblings would never converge (Dynamo §4.4).

import type { CoordinatorConfig } from './deps.js';
import type { SiblingSet } from '../version/dvv.js';
import { TooManySiblingsError } from '../util/errors.js';

export const DEFAULT_MAX_SIBLINGS = 100;

/**
 * `next` (the set a client write would leave, minted against `current`), or
 * a TooManySiblingsError when it is over the cap and larger than `current`:
 * a write that keeps or shrinks a set already over the cap (merges can put
 * it there) still goes through.
 */
export function capSiblings(config: Pick<CoordinatorConfig, 'maxSiblings'>, bucket: string, key: string, current: SiblingSet, next: SiblingSet): SiblingSet {
  const cap = config.maxSiblings ?? DEFAULT_MAX_SIBLINGS;
  const count = next.siblings.length;
  if (count > cap && count > current.siblings.length) {
    throw new TooManySiblingsError(
      `${bucket}/${key} would have ${count} siblings, above the cap of ${cap} (maxSiblings): read the key and write with its context (x-ringstore-context) to resolve them`,
    );
  }
  return next;
}

/** The most keys one listing page holds, on the coordinator and on every replica it asks (a peer's request is not trusted to bound it). */
export const MAX_LIST_KEYS = 10_000;

/** A listing limit within 1..MAX_LIST_KEYS (a non-number or NaN gives 1). */
export function clampListLimit(limit: number): number {
  return Number.isFinite(limit) ? Math.max(1, Math.min(Math.floor(limit), MAX_LIST_KEYS)) : 1;
}
