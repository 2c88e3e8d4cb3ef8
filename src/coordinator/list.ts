// Listing a bucket: every node's keys, merged page by page.

import { clampListLimit } from './sibling-cap.js';
import { QuorumError, type ListRequest, type ListResult, type ReplicaFailure } from './types.js';
import { replicaFailure } from './targets.js';
import type { CoordinatorEnv } from './deps.js';
import { EMPTY_SET, sync, type NodeId, type SiblingSet } from '../version/dvv.js';
import { compareCodePoints } from '../store/key-order.js';

/**
 * Live keys of a bucket across the cluster, in key order. Every node is
 * asked for its keys after `after`; a key's replicas are reconciled so a
 * tombstone on one node hides a stale value on another. When a node's
 * answer was cut at its limit, the merged page stops at that node's last
 * key, since keys beyond it might be missing from the page.
 */
export async function list(env: CoordinatorEnv, req: ListRequest): Promise<ListResult> {
  const ring = env.deps.ring();
  const members = [...ring.nodes];
  const nodes = req.strict === true ? members : members.filter((id) => env.deps.liveness.isAlive(id));
  const limit = clampListLimit(req.limit);
  let after = req.after ?? '';
  const out: { key: string; set: SiblingSet }[] = [];
  // Pages of tombstones can hide live keys behind them: keep asking until
  // the page is full or every node is exhausted.
  for (let round = 0; round < 64; round++) {
    const failures = new Map<NodeId, ReplicaFailure>();
    const answers = await Promise.all(
      nodes.map((node) =>
        env.call(node, { type: 'listKeys', bucket: req.bucket, prefix: req.prefix ?? '', after, limit, ...(req.omitValues === true ? { omitValues: true } : {}) }).catch((err: unknown) => {
          failures.set(node, replicaFailure(node, err));
          return undefined;
        }),
      ),
    );
    // Each failed node with its own reason, in member order.
    const failed = nodes.flatMap((n) => failures.get(n) ?? []);
    if (req.strict === true && failed.length > 0) {
      throw new QuorumError('read', nodes.length, nodes.filter((_, i) => answers[i] !== undefined), failed, 'none');
    }
    const ok = answers.filter((a): a is NonNullable<typeof a> => a !== undefined);
    if (ok.length === 0) {
      const down = members.filter((m) => !nodes.includes(m)).map((node) => ({ node, code: 'NodeDown', reason: 'down in the local membership view' }));
      throw new QuorumError('read', 1, [], [...failed, ...down], 'none');
    }
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
