// How old a copy of replica data may be when another node merges it.
//
// Tombstone collection removes a delete once every node holds it. That is
// only safe if no copy of an older version is still on its way: a replica
// that had not yet received the tombstone may have read the old value and
// put it on the wire (an anti-entropy push, a write's set shipped to a
// replica, a read repair), and if that copy lands after the tombstone is
// gone, the value is back. Nothing in an asynchronous network bounds how
// long a message can travel, so ringstore makes a bound: every message that
// carries sibling sets to be merged says when they were read (`asOf`, on the
// sender's clock, taken before the read), and a receiver refuses to merge a
// copy older than `maxDataAgeMs` on its own clock.
//
// Collection then confirms twice (collection.ts): every node holds the same
// tombstone set at a first check and again at a second check at least
// confirmGapMs later. A copy of an old version was read before its sender
// received the tombstone, so before the first check; the receiver refuses
// it once maxDataAgeMs plus the clock difference has passed, and an
// accepted one has been merged (or kept as a hint, which blocks collection)
// by the second check. The gap doubles maxDataAgeMs so that a merge that
// was accepted just in time has as long again to commit.

import type { Clock } from '../util/runtime.js';
import { StaleDataError } from '../util/errors.js';

/** The longest a copy of replica data may travel and still be merged. */
export const DEFAULT_MAX_DATA_AGE_MS = 60_000;

/** The assumed bound on how far apart two nodes' clocks are. */
export const DEFAULT_MAX_CLOCK_SKEW_MS = 10_000;

export { StaleDataError };

/** The error refusing data read at `asOfMs` when it is too old to merge at `nowMs`; undefined when it is fresh enough. */
export function staleDataError(asOfMs: number, nowMs: number, maxAgeMs: number, what: string): StaleDataError | undefined {
  const age = nowMs - asOfMs;
  if (age <= maxAgeMs) return undefined;
  return new StaleDataError(`${what}: data read ${age} ms ago is older than the ${maxAgeMs} ms a copy may travel (slow network, or clocks further apart than configured)`);
}

/** What a receiver checks a copy's age against. */
export interface DataAgePolicy {
  readonly maxDataAgeMs: number;
  /** BUGGIFY ignoreDataAge: copies of any age are merged. */
  readonly ignoreDataAge?: boolean;
}

/**
 * Throws StaleDataError when a copy read at `asOfMs` (sender's clock) is too
 * old to merge now (this node's clock), after `onRefused` has counted it.
 */
export function refuseIfStale(asOfMs: number, clock: Pick<Clock, 'now'>, policy: DataAgePolicy, what: string, onRefused?: () => void): void {
  if (policy.ignoreDataAge === true) return;
  const err = staleDataError(asOfMs, clock.now(), policy.maxDataAgeMs, what);
  if (err === undefined) return;
  onRefused?.();
  throw err;
}

/** How long collection waits between its two confirmations. */
export function confirmGapMs(bounds: { readonly maxDataAgeMs: number; readonly maxClockSkewMs: number }): number {
  return 2 * bounds.maxDataAgeMs + bounds.maxClockSkewMs;
}
