// The quorum rule (Dynamo §4.5), in one place: N replicas per key, a read
// waits for R of them and a write for W, with 1 <= R, W <= N <= the number
// of nodes. The native API, the S3 API, the node's configuration and the
// coordinator all ask this module; none writes the bounds again.

import { InvalidRequestError } from './errors.js';

export interface Quorum {
  readonly n: number;
  readonly r: number;
  readonly w: number;
}

/** Some of n, r, w, as a request or a bucket gives them. */
export interface QuorumOverrides {
  readonly n?: number | undefined;
  readonly r?: number | undefined;
  readonly w?: number | undefined;
}

/** Dynamo's usual (3, 2, 2): R + W > N, so a read quorum meets every write quorum. */
export const DEFAULT_QUORUM: Quorum = { n: 3, r: 2, w: 2 };

/** Quorum numbers that break the rule; the details name what was asked and the cluster size. */
export class InvalidQuorumError extends InvalidRequestError {
  constructor(message: string, given: QuorumOverrides, clusterSize?: number) {
    super('InvalidQuorum', message, { n: given.n ?? null, r: given.r ?? null, w: given.w ?? null, ...(clusterSize === undefined ? {} : { nodes: clusterSize }) });
  }
}

/** What is wrong with q, if anything: each a whole number >= 1, r and w at most n, n at most the cluster size (when given). */
export function quorumProblem(q: Quorum, clusterSize?: number): string | undefined {
  for (const name of ['n', 'r', 'w'] as const) {
    const v = q[name];
    if (!Number.isSafeInteger(v) || v < 1) return `${name} must be a whole number of at least 1, got ${v}`;
  }
  if (clusterSize !== undefined && q.n > clusterSize) return `n=${q.n} is more than the ${clusterSize} nodes of the cluster`;
  if (q.r > q.n) return `r=${q.r} is more than n=${q.n}`;
  if (q.w > q.n) return `w=${q.w} is more than n=${q.n}`;
  return undefined;
}

/**
 * The quorum a request runs with: explicit values are checked strictly
 * (1 <= r, w <= n <= nodes); defaults (the bucket's or the cluster's) are
 * clamped to the n in force, so that `n=1` alone is a valid request.
 * Throws InvalidQuorumError.
 */
export function resolveQuorum(defaults: Quorum, given: QuorumOverrides, clusterSize: number): Quorum {
  const n = given.n ?? Math.min(defaults.n, clusterSize);
  const q = { n, r: given.r ?? Math.min(defaults.r, n), w: given.w ?? Math.min(defaults.w, n) };
  const problem = quorumProblem(q, clusterSize);
  if (problem !== undefined) throw new InvalidQuorumError(problem, given, clusterSize);
  return q;
}

/** A quorum clamped to what a cluster of `nodes` can give (the cluster-wide default on a small cluster). */
export function clampQuorum(q: Quorum, nodes: number): Quorum {
  const n = Math.max(1, Math.min(q.n, nodes));
  return { n, r: Math.min(q.r, n), w: Math.min(q.w, n) };
}

export function sameQuorum(a: Quorum, b: Quorum): boolean {
  return a.n === b.n && a.r === b.r && a.w === b.w;
}
