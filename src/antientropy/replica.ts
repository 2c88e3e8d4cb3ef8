// The replica side of anti-entropy: what a node answers when a peer
// compares trees with it, fetches or pushes sets, or checks and removes
// tombstones for collection.

import type { NodeId } from '../version/dvv.js';
import { compareKeyRefs } from '../store/key-order.js';
import { type Hash64, ZERO_HASH } from './merkle.js';
import {
  GC_ABSENT,
  GC_OTHER,
  GC_SAME,
  type AeCountOk,
  type AeGcStatesOk,
  type AeHashesOk,
  type AeKeyDigest,
  type AeKeySet,
  type AeKeysOk,
  type AeRequest,
  type AeResponse,
  type AeSetsOk,
  type AeShape,
} from './protocol.js';
import { leafKeyDigests, mergeCopy, refuseStaleCopy, sameTombstones, type AeEnv } from './env.js';
import type { TombstoneCollector } from './collection.js';
import { encodeHashes, setBytes } from './wire.js';

export class AeReplica {
  constructor(
    private readonly env: AeEnv,
    private readonly collector: TombstoneCollector,
  ) {}

  /** Answers another node's anti-entropy request. */
  async handle(_from: NodeId, req: AeRequest): Promise<AeResponse> {
    const { store } = this.env.deps;
    const forest = store.forest;
    switch (req.type) {
      case 'aeRoots': {
        this.checkShape(req.shape);
        return { type: 'aeHashesOk', hashes: encodeHashes(req.partitions.map((p) => forest.root(p))) } satisfies AeHashesOk;
      }
      case 'aeHashes': {
        this.checkShape(req.shape);
        const { fanout, depth } = this.env.shape;
        if (!Number.isInteger(req.level) || req.level < 0 || req.level >= depth) throw new RangeError(`aeHashes: level ${req.level} out of range`);
        const tree = forest.peek(req.partition);
        const hashes: Hash64[] = [];
        for (const index of req.indices) {
          if (tree === undefined) {
            if (!Number.isInteger(index) || index < 0 || index >= fanout ** req.level) throw new RangeError(`aeHashes: index ${index} out of range`);
            for (let j = 0; j < fanout; j++) hashes.push(ZERO_HASH);
          } else hashes.push(...tree.children(req.level, index));
        }
        return { type: 'aeHashesOk', hashes: encodeHashes(hashes) };
      }
      case 'aeLeafKeys': {
        this.checkShape(req.shape);
        const leaves = new Set(req.leaves);
        const limit = Math.max(1, req.limit);
        const entries: AeKeyDigest[] = [];
        // The store starts after `after`, so a page does not rescan the
        // partition before it. The check stays because a wrapper that drops
        // the optional argument still type-checks, and it keeps paging making
        // progress should the store's order ever disagree with compareKeyRefs.
        for (const e of leafKeyDigests(this.env, req.partition, leaves, req.after ?? undefined)) {
          if (req.after !== null && compareKeyRefs(e, req.after) <= 0) continue;
          if (entries.length >= limit) return { type: 'aeKeysOk', entries, truncated: true } satisfies AeKeysOk;
          entries.push(e);
        }
        return { type: 'aeKeysOk', entries, truncated: false };
      }
      case 'aeFetch': {
        const entries: AeKeySet[] = [];
        let bytes = 0;
        for (const k of req.keys) {
          const set = store.read(k.bucket, k.key) ?? null;
          const b = setBytes(set);
          if (entries.length > 0 && bytes + b > req.maxBytes) break;
          entries.push({ bucket: k.bucket, key: k.key, set });
          bytes += b;
        }
        return { type: 'aeSetsOk', entries } satisfies AeSetsOk;
      }
      case 'aePush': {
        refuseStaleCopy(this.env, req.asOf, 'aePush');
        const ring = this.env.deps.ring();
        const results = await Promise.all(
          req.entries.map((e) => (e.set === null || e.set.siblings.length === 0 ? undefined : mergeCopy(this.env, ring, e.bucket, e.key, e.set))),
        );
        return { type: 'aeCountOk', count: results.filter((r) => r?.changed === true).length } satisfies AeCountOk;
      }
      case 'aeGcCheck': {
        const states = req.entries.map((e) => {
          const cur = store.read(e.bucket, e.key);
          if (cur === undefined || cur.siblings.length === 0) return this.env.deps.pendingHint?.(e.bucket, e.key) === true ? GC_OTHER : GC_ABSENT;
          if (this.env.deps.pendingHint?.(e.bucket, e.key) === true) return GC_OTHER;
          return sameTombstones(e, cur) ? GC_SAME : GC_OTHER;
        });
        return { type: 'aeGcStatesOk', states } satisfies AeGcStatesOk;
      }
      case 'aeGcRemove': {
        const count = await this.collector.removeIfSame(req.entries);
        return { type: 'aeCountOk', count };
      }
    }
  }

  private checkShape(shape: AeShape): void {
    if (shape.fanout !== this.env.shape.fanout || shape.depth !== this.env.shape.depth) {
      throw new Error(`anti-entropy: Merkle tree shape mismatch (peer ${shape.fanout}^${shape.depth}, here ${this.env.shape.fanout}^${this.env.shape.depth}); configure every node alike`);
    }
  }
}
