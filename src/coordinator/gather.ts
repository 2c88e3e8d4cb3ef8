// Fan-out to replicas with an early answer: `quorum` resolves as soon as
// `needed` calls succeeded, or once every call has settled when that cannot
// happen (so a failure reports every replica that did apply the write);
// `all` resolves once every call has settled. Late replies keep landing in `ok`/`failed` after the
// quorum answered, which is what read repair and hinted writes need.

import type { NodeId } from '../version/dvv.js';
import type { ReplicaFailure } from './types.js';

export interface Gathered<T> {
  readonly ok: { readonly node: NodeId; readonly value: T }[];
  readonly failed: ReplicaFailure[];
  readonly quorum: Promise<void>;
  readonly all: Promise<void>;
}

export function gather<T>(nodes: readonly NodeId[], call: (node: NodeId) => Promise<T>, needed: number, failure: (node: NodeId, err: unknown) => ReplicaFailure): Gathered<T> {
  return gatherUntil(nodes, call, (ok) => ok.length >= needed, failure);
}

/**
 * As gather, with the quorum a predicate over the successes so far: a write
 * while a layout change is in progress needs a write quorum in the owner
 * set of every live version, not a count (docs/layout.md).
 */
export function gatherUntil<T>(nodes: readonly NodeId[], call: (node: NodeId) => Promise<T>, enough: (ok: readonly { readonly node: NodeId; readonly value: T }[]) => boolean, failure: (node: NodeId, err: unknown) => ReplicaFailure): Gathered<T> {
  const ok: { node: NodeId; value: T }[] = [];
  const failed: ReplicaFailure[] = [];
  let resolveQuorum!: () => void;
  const quorum = new Promise<void>((r) => (resolveQuorum = r));
  const settle = () => {
    if (enough(ok)) resolveQuorum();
  };
  if (enough(ok)) resolveQuorum();
  const all = Promise.all(
    nodes.map((node) =>
      call(node).then(
        (value) => {
          ok.push({ node, value });
          settle();
        },
        (err: unknown) => {
          failed.push(failure(node, err));
          settle();
        },
      ),
    ),
  ).then(() => resolveQuorum());
  return { ok, failed, quorum, all };
}
