// The quorum rule (Dynamo §4.5): N replicas per key, a read waits for R of
// them and a write for W, with 1 <= R, W <= N <= cluster size.

import { InvalidRequestError } from './errors.js';

export interface Quorum {
  readonly n: number;
  readonly r: number;
  readonly w: number;
}

export const DEFAULT_QUORUM: Quorum = { n: 3, r: 2, w: 2 };

/** The quorum a request runs with in a cluster of `size` nodes: given values, else the defaults. */
export function quorumFor(defaults: Quorum, size: number, n?: number, r?: number, w?: number): Quorum {
  const q = { n: n ?? Math.min(defaults.n, size), r: r ?? defaults.r, w: w ?? defaults.w };
  const ok = (x: number) => Number.isInteger(x) && x >= 1;
  if (!ok(q.n) || !ok(q.r) || !ok(q.w) || q.r > q.n || q.w > q.n || q.n > size) {
    throw new InvalidRequestError('InvalidQuorum', `need 1 <= r, w <= n <= ${size} (cluster size); got n=${q.n} r=${q.r} w=${q.w}`);
  }
  return q;
}
