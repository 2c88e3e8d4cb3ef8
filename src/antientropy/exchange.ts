// The Merkle exchange of one pair of replicas (Dynamo §4.7): compare the
// roots of the partitions both hold, descend level by level only into the
// children that differ, list the keys (with set digests) under differing
// leaves on both sides, fetch the peer's sets for keys that differ, merge
// them here with `sync`, and push the merged set back wherever the peer's
// digest differs from it. Both replicas hold the join of their sets
// afterwards; since `sync` is a join-semilattice merge the result does not
// depend on which side ran it or on concurrent writes and read repairs.

import { isTombstoneOnly, type NodeId, type SiblingSet } from '../version/dvv.js';
import { hashEquals, keyDigestHex, type Hash64, ZERO_HASH } from './merkle.js';
import type { AeCountOk, AeKeyDigest, AeKeyRef, AeKeySet, AeKeysOk, AeSetsOk } from './protocol.js';
import { keyId, leafKeyDigests, mergeCopy, refuseStaleCopy, request, RoundCounters, type AeEnv } from './env.js';
import { decodeHashes, setBytes } from './wire.js';

interface Diff {
  readonly bucket: string;
  readonly key: string;
  /** The peer's digest, undefined when it holds nothing. */
  readonly remote: string | undefined;
}

export class MerkleExchange {
  constructor(private readonly env: AeEnv) {}

  /** The partitions (of `partitions`) whose roots differ between this node and `peer`. */
  async compareRoots(peer: NodeId, partitions: readonly number[]): Promise<number[]> {
    const differing: number[] = [];
    const CHUNK = 4096;
    for (let i = 0; i < partitions.length; i += CHUNK) {
      const chunk = partitions.slice(i, i + CHUNK);
      const resp = await request(this.env, peer, { type: 'aeRoots', shape: this.env.shape, partitions: chunk });
      const theirs = decodeHashes(resp.hashes, chunk.length);
      chunk.forEach((p, j) => {
        if (!hashEquals(theirs[j]!, this.env.deps.store.forest.root(p))) differing.push(p);
      });
    }
    return differing;
  }

  /**
   * Brings one partition of this node and `peer` to the join of both:
   * descend the trees where they differ, compare the keys under differing
   * leaves, fetch, merge, push. Returns the number of keys that differed.
   */
  async exchangePartition(peer: NodeId, partition: number, c: RoundCounters = new RoundCounters()): Promise<number> {
    const leaves = await this.differingLeaves(peer, partition);
    if (leaves.length === 0) return 0;
    const leafSet = new Set(leaves);
    const remote = await this.remoteLeafKeys(peer, partition, leaves);
    const local = this.localLeafKeys(partition, leafSet);
    const diffs: Diff[] = [];
    for (const [k, l] of local) {
      const r = remote.get(k);
      if (r?.digest !== l.digest) diffs.push({ bucket: l.bucket, key: l.key, remote: r?.digest });
    }
    for (const [k, r] of remote) if (!local.has(k)) diffs.push({ bucket: r.bucket, key: r.key, remote: r.digest });
    c.keysCompared += local.size + remote.size;
    for (let i = 0; i < diffs.length && !this.env.state.stopped; i += this.env.config.keysPerBatch) {
      await this.repairBatch(peer, partition, diffs.slice(i, i + this.env.config.keysPerBatch), c);
    }
    return diffs.length;
  }

  /** Descends from the root, level by level, into the children whose hashes differ. */
  private async differingLeaves(peer: NodeId, partition: number): Promise<number[]> {
    const { fanout, depth } = this.env.shape;
    const tree = this.env.deps.store.forest.peek(partition);
    const local = (level: number, index: number): Hash64 => tree?.node(level, index) ?? ZERO_HASH;
    let frontier = [0];
    for (let level = 0; level < depth && frontier.length > 0; level++) {
      const resp = await request(this.env, peer, { type: 'aeHashes', shape: this.env.shape, partition, level, indices: frontier });
      const theirs = decodeHashes(resp.hashes, frontier.length * fanout);
      const next: number[] = [];
      frontier.forEach((parent, i) => {
        for (let j = 0; j < fanout; j++) {
          const child = parent * fanout + j;
          if (!hashEquals(theirs[i * fanout + j]!, local(level + 1, child))) next.push(child);
        }
      });
      frontier = next;
    }
    return frontier;
  }

  private async remoteLeafKeys(peer: NodeId, partition: number, leaves: readonly number[]): Promise<Map<string, AeKeyDigest>> {
    const out = new Map<string, AeKeyDigest>();
    let after: AeKeyRef | null = null;
    for (;;) {
      const resp: AeKeysOk = await request(this.env, peer, { type: 'aeLeafKeys', shape: this.env.shape, partition, leaves, after, limit: this.env.config.keysPerPage });
      for (const e of resp.entries) out.set(keyId(e.bucket, e.key), e);
      const last = resp.entries[resp.entries.length - 1];
      if (!resp.truncated || last === undefined) return out;
      after = { bucket: last.bucket, key: last.key };
    }
  }

  private localLeafKeys(partition: number, leaves: ReadonlySet<number>): Map<string, AeKeyDigest> {
    const out = new Map<string, AeKeyDigest>();
    for (const e of leafKeyDigests(this.env, partition, leaves)) out.set(keyId(e.bucket, e.key), e);
    return out;
  }

  private async repairBatch(peer: NodeId, partition: number, batch: readonly Diff[], c: RoundCounters): Promise<void> {
    await this.env.limiter.take(batch.length);
    if (this.env.state.stopped) return;
    // Everything this batch merges or pushes is read after this instant.
    const asOf = this.env.deps.clock.now();
    // 1. The peer's sets for the keys it holds, in byte-bounded pages.
    const fetched = new Map<string, SiblingSet>();
    let want: AeKeyRef[] = batch.filter((d) => d.remote !== undefined).map((d) => ({ bucket: d.bucket, key: d.key }));
    while (want.length > 0) {
      const resp: AeSetsOk = await request(this.env, peer, { type: 'aeFetch', partition, keys: want, maxBytes: this.env.config.maxBatchBytes });
      if (resp.entries.length === 0) break;
      for (const e of resp.entries) {
        if (e.set === null || e.set.siblings.length === 0) continue;
        fetched.set(keyId(e.bucket, e.key), e.set);
        for (const sib of e.set.siblings) c.bytesPulled += sib.value?.byteLength ?? 0;
      }
      want = want.slice(resp.entries.length);
    }
    // A peer's copies that took too long to arrive are not merged (data-age.ts); next round fetches again.
    refuseStaleCopy(this.env, asOf, `aeFetch from ${peer}`);
    // 2. Merge them here; all at once, so the store commits them together.
    let pulled = 0;
    const ring = this.env.deps.ring();
    const merged = await Promise.all(
      batch.map(async (d) => {
        const theirs = fetched.get(keyId(d.bucket, d.key));
        if (theirs === undefined) return this.env.deps.store.read(d.bucket, d.key);
        // BUGGIFY skipTombstones: a deleted key is not pulled.
        if (this.env.deps.bugs?.skipTombstones === true && isTombstoneOnly(theirs)) return this.env.deps.store.read(d.bucket, d.key);
        const r = await mergeCopy(this.env, ring, d.bucket, d.key, theirs);
        if (r.changed) pulled++;
        return r.set;
      }),
    );
    c.keysPulled += pulled;
    if (pulled > 0) this.env.deps.events?.pulled?.(peer, pulled);
    // 3. Push the merged set wherever the peer's differs from it.
    const pushes: AeKeySet[] = [];
    batch.forEach((d, i) => {
      const set = merged[i];
      if (set === undefined || set.siblings.length === 0) return;
      // BUGGIFY skipTombstones: a deleted key is not pushed.
      if (this.env.deps.bugs?.skipTombstones === true && isTombstoneOnly(set)) return;
      if (keyDigestHex(d.bucket, d.key, set) !== d.remote) pushes.push({ bucket: d.bucket, key: d.key, set });
    });
    let pushed = 0;
    for (const chunk of this.byBytes(pushes)) {
      const resp: AeCountOk = await request(this.env, peer, { type: 'aePush', partition, entries: chunk, asOf });
      pushed += resp.count;
    }
    c.keysPushed += pushed;
    if (pushed > 0) this.env.deps.events?.pushed?.(peer, pushed);
  }

  private *byBytes(entries: readonly AeKeySet[]): Iterable<AeKeySet[]> {
    let chunk: AeKeySet[] = [];
    let bytes = 0;
    for (const e of entries) {
      const b = setBytes(e.set);
      if (chunk.length > 0 && bytes + b > this.env.config.maxBatchBytes) {
        yield chunk;
        chunk = [];
        bytes = 0;
      }
      chunk.push(e);
      bytes += b;
    }
    if (chunk.length > 0) yield chunk;
  }
}
