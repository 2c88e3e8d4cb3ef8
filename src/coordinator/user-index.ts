// The per-user file index (seed 003: "list all of a user's files", "search
// them"). Every object has an owner: the user whose access key wrote it (S3,
// the gRPC file API), or on the native API, which has no authentication yet,
// the owner of the bucket (which is also the only user S3 lets write there).
//
// The index is ordinary replicated data: one key per file in the system
// bucket `__users`, named `<user>/<bucket>/<key>` (the user percent-encoded
// so that it has no '/'), holding a small JSON record (size, type, mtime,
// etag). Writes maintain it with one extra quorum write (a "replace" write,
// like S3's PUT, or a tombstone for a delete); anti-entropy, read repair and
// hinted handoff cover it like any other key.
//
// Entries are named by bucket name (what the user sees) and record the
// bucket's id: a listing skips the entries of a bucket that is gone or was
// made again under its name (deps.isCurrent), so a bucket deleted while a
// node was down never lists its old files under a new bucket of that name.
//
// Placement: `__users` is a grouped bucket (ring/ring.ts GROUPED_BUCKETS),
// whose keys are placed by their first segment, the user. So all of one
// user's entries live in one partition, on that partition's N replicas, and
// a listing or search asks exactly those replicas (listKeys with the prefix
// `<user>/`), never the rest of the cluster. Why not one key per user
// holding a sorted set: every write would rewrite the whole set (20,000
// files are megabytes per write), and concurrent writes would need a merge
// rule for the set; one small key per file costs one small write, and
// concurrent writes of one file are the ordinary sibling case. The price: a
// user with many files concentrates their index on N nodes, and a search
// reads that user's whole index (it is a scan, filtered on the node that
// coordinates the search).

import { QuorumError, type PutRequest, type PutResult, type ReplicaFailure } from './types.js';
import type { ListKeysOk } from '../transport/messages.js';
import type { Transport } from '../transport/transport.js';
import { compareCodePoints } from '../store/key-order.js';
import { liveSiblings, lwwWinner, sync, type NodeId, type SiblingSet } from '../version/dvv.js';
import type { Clock, Timer } from '../util/runtime.js';
import { fileMatcher } from './file-match.js';
import { replicaFailure } from './targets.js';

export const USER_INDEX_BUCKET = '__users';
/** The owner of files written where nobody is authenticated and no bucket owner is known. */
export const ANONYMOUS_USER = 'anonymous';

export interface FileEntry {
  readonly owner: string;
  readonly bucket: string;
  /** The id of the bucket the file was written to (coordinator/buckets-types.ts); absent in entries from before bucket ids. */
  readonly bucketId?: number;
  readonly key: string;
  readonly size: number;
  readonly contentType: string;
  readonly mtimeMs: number;
  readonly etag: string | undefined;
}

export interface FileWritten extends FileDeleted {
  readonly size: number;
  readonly contentType?: string | undefined;
  readonly etag?: string | undefined;
  readonly mtimeMs?: number;
}

export interface FileDeleted {
  readonly owner: string;
  /** The bucket's name, as clients see it. */
  readonly bucket: string;
  /** The bucket's id (BucketInfo.id). */
  readonly bucketId?: number;
  readonly key: string;
  /** The W of the file's own write: its index entry is written with the same (at most the index's N). */
  readonly w?: number | undefined;
}

/**
 * What a write path calls after its write succeeded: one call per path.
 * Never rejects: the object write already happened, so a failed index write
 * is reported to the node's log (onError) and left for the next write of
 * that file to correct. Resolves when the entry is written with the file's
 * W, or after waitMs at most: the entry lives in another partition than the
 * file, whose replicas may be out of reach when the file's are not (a
 * node cut off from the others still takes W=1 writes of keys it owns), and
 * the index must not make an available write slow. The write then goes on
 * in the background.
 */
export interface FileEvents {
  written(e: FileWritten): Promise<void>;
  deleted(e: FileDeleted): Promise<void>;
}

/** The slice of ring/ring.ts the index needs. */
export interface IndexRingView {
  partitionOf(bucket: string, key: string): number;
  preference(partition: number, n: number): { owners: NodeId[]; fallbacks: NodeId[] };
}

export interface UserIndexDeps {
  /** This node: asked first when it holds the user's index (its answer needs no network). */
  readonly self?: NodeId;
  readonly coordinator: { put(req: PutRequest): Promise<PutResult> };
  readonly transport: Pick<Transport, 'request'>;
  readonly ring: () => IndexRingView;
  readonly isAlive: (node: NodeId) => boolean;
  readonly now: () => number;
  /** Replicas of the index and answers a listing needs (the cluster defaults). */
  readonly n: number;
  readonly r: number;
  readonly onError?: (err: unknown, what: string) => void;
  /** Deadline of one listKeys request. Default 10 s. */
  readonly timeoutMs?: number;
  /** Keys per listKeys answer. Default SCAN_PAGE. */
  readonly pageSize?: number;
  /** Longest a write waits for its index entry (then it goes on in the background). Default INDEX_WAIT_MS. */
  readonly waitMs?: number;
  /** Timers for waitMs; without one, writes wait for the index write to finish. */
  readonly clock?: Pick<Clock, 'setTimer'>;
  /** Whether entries of this bucket name and id belong to the bucket that has the name now; without it every entry lists. */
  readonly isCurrent?: (bucket: string, bucketId: number | undefined) => boolean;
}

export interface ListOptions {
  /** Only paths (`bucket/key`) starting with this. */
  readonly prefix?: string;
  /** Only paths strictly after this one (paging). */
  readonly after?: string;
  readonly limit: number;
}

export interface ListOutcome {
  readonly files: FileEntry[];
  /** More files follow the last one (ask again with after = its path). */
  readonly truncated: boolean;
  /** The nodes that answered: R of the user's index replicas. */
  readonly replicas: readonly NodeId[];
  /** Index entries read (search: before filtering). */
  readonly scanned: number;
}

/** How long a file write waits for its index entry at most. */
export const INDEX_WAIT_MS = 1000;

/** Internal page size of scans: bounds each listKeys answer (a few hundred KB). */
export const SCAN_PAGE = 5000;

/** The user as the first segment of an index key: no '/', and reversible. */
export function encodeUser(user: string): string {
  return encodeURIComponent(user);
}

export function indexKey(owner: string, bucket: string, key: string): string {
  return `${encodeUser(owner)}/${bucket}/${key}`;
}

/** `<user>/<bucket>/<key>` back into its parts (undefined for a malformed key). */
export function parseIndexKey(k: string): { owner: string; bucket: string; key: string } | undefined {
  const a = k.indexOf('/');
  const b = a < 0 ? -1 : k.indexOf('/', a + 1);
  if (a <= 0 || b < 0 || b === a + 1 || b === k.length - 1) return undefined;
  let owner: string;
  try {
    owner = decodeURIComponent(k.slice(0, a));
  } catch {
    return undefined;
  }
  return { owner, bucket: k.slice(a + 1, b), key: k.slice(b + 1) };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface EntryRecord {
  readonly size: number;
  readonly type: string;
  readonly mtime: number;
  readonly etag?: string;
  /** The bucket's id. */
  readonly bid?: number;
}

/** The file an index key's siblings describe, or undefined when it was deleted. Concurrent entries: the latest write wins. */
export function entryOf(k: string, set: SiblingSet): FileEntry | undefined {
  const parts = parseIndexKey(k);
  const winner = lwwWinner({ siblings: liveSiblings(set) });
  if (parts === undefined || winner === undefined || winner.value === null) return undefined;
  let rec: EntryRecord;
  try {
    rec = JSON.parse(decoder.decode(winner.value)) as EntryRecord;
  } catch {
    return undefined;
  }
  return { ...parts, ...(rec.bid !== undefined ? { bucketId: rec.bid } : {}), size: rec.size, contentType: rec.type, mtimeMs: rec.mtime, etag: rec.etag };
}

export class UserIndex implements FileEvents {
  constructor(private readonly deps: UserIndexDeps) {}

  async written(e: FileWritten): Promise<void> {
    const rec: EntryRecord = {
      size: e.size,
      type: e.contentType ?? 'application/octet-stream',
      mtime: e.mtimeMs ?? this.deps.now(),
      ...(e.etag !== undefined ? { etag: e.etag } : {}),
      ...(e.bucketId !== undefined ? { bid: e.bucketId } : {}),
    };
    await this.write(e, encoder.encode(JSON.stringify(rec)), 'index write');
  }

  async deleted(e: FileDeleted): Promise<void> {
    await this.write(e, null, 'index delete');
  }

  /**
   * An update replaces: no context, superseding every entry the origin
   * replica holds (S3's PUT semantics), so an index key keeps one version
   * unless two writes race.
   */
  private async write(e: FileDeleted, value: Uint8Array | null, what: string): Promise<void> {
    const done = this.deps.coordinator
      .put({
        bucket: USER_INDEX_BUCKET,
        key: indexKey(e.owner, e.bucket, e.key),
        value,
        meta: value === null ? {} : { contentType: 'application/json' },
        context: null,
        supersedeVisible: true,
        ...(e.w !== undefined ? { w: Math.max(1, Math.min(e.w, this.deps.n)) } : {}),
      })
      .then(
        () => undefined,
        (err: unknown) => this.deps.onError?.(err, `${what} of ${e.bucket}/${e.key} for ${e.owner}`),
      );
    const clock = this.deps.clock;
    if (clock === undefined) return done;
    let timer: Timer | undefined;
    await Promise.race([done, new Promise<void>((resolve) => (timer = clock.setTimer(this.deps.waitMs ?? INDEX_WAIT_MS, resolve)))]);
    timer?.cancel();
  }

  /** The user's files in path order (`bucket/key`), a page at a time. */
  async list(user: string, opts: ListOptions): Promise<ListOutcome> {
    const files: FileEntry[] = [];
    let scanned = 0;
    const replicas = new Set<NodeId>();
    for await (const { key, set } of this.scan(user, replicas, opts.prefix ?? '', opts.after)) {
      scanned++;
      const f = entryOf(key, set);
      if (f === undefined || !this.current(f)) continue;
      if (files.length >= opts.limit) return { files, truncated: true, replicas: [...replicas], scanned };
      files.push(f);
    }
    return { files, truncated: false, replicas: [...replicas], scanned };
  }

  /** The user's files whose path matches the query (file-match.ts: substring or glob), in path order. */
  async search(user: string, query: string, opts: { limit: number; prefix?: string }): Promise<ListOutcome> {
    const match = fileMatcher(query);
    const files: FileEntry[] = [];
    let scanned = 0;
    const replicas = new Set<NodeId>();
    for await (const { key, set } of this.scan(user, replicas, opts.prefix ?? '', undefined)) {
      scanned++;
      const f = entryOf(key, set);
      if (f === undefined || !this.current(f) || !match(`${f.bucket}/${f.key}`)) continue;
      if (files.length >= opts.limit) return { files, truncated: true, replicas: [...replicas], scanned };
      files.push(f);
    }
    return { files, truncated: false, replicas: [...replicas], scanned };
  }

  private current(f: FileEntry): boolean {
    return this.deps.isCurrent === undefined || this.deps.isCurrent(f.bucket, f.bucketId);
  }

  /**
   * Who can answer for the user's index, in the order they are asked: the
   * live owners of the user's partition (this node first when it is one),
   * then the live fallbacks, which hold the hints of writes made while an
   * owner was down (Dynamo §4.6). `need` is R, or every owner if fewer.
   */
  candidates(user: string): { nodes: NodeId[]; need: number } {
    const ring = this.deps.ring();
    const { owners, fallbacks } = ring.preference(ring.partitionOf(USER_INDEX_BUCKET, encodeUser(user)), this.deps.n);
    const alive = owners.filter((id) => this.deps.isAlive(id)).sort((a, b) => Number(b === this.deps.self) - Number(a === this.deps.self));
    return { nodes: [...alive, ...fallbacks.filter((id) => this.deps.isAlive(id))], need: Math.min(this.deps.r, owners.length) };
  }

  /**
   * Index keys of one user under a path prefix, merged across the
   * replicas, in code-point order. As the coordinator's list: when a
   * replica's answer is cut at its limit, the merged page ends at that
   * replica's last key (keys beyond it might be missing), and the next
   * round starts after it. Like a quorum read, every round needs R
   * answers: it asks R candidates, and another for each that fails.
   */
  private async *scan(user: string, answered: Set<NodeId>, pathPrefix: string, pathAfter: string | undefined): AsyncGenerator<{ key: string; set: SiblingSet }> {
    const base = `${encodeUser(user)}/`;
    const prefix = base + pathPrefix;
    let after = pathAfter !== undefined ? base + pathAfter : '';
    const { nodes, need } = this.candidates(user);
    for (;;) {
      const req = { type: 'listKeys', bucket: USER_INDEX_BUCKET, prefix, after, limit: this.deps.pageSize ?? SCAN_PAGE } as const;
      const failed: ReplicaFailure[] = [];
      let next = 0;
      const ask = async (): Promise<{ node: NodeId; a: ListKeysOk } | undefined> => {
        while (next < nodes.length) {
          const node = nodes[next++]!;
          try {
            return { node, a: await this.deps.transport.request(node, req, this.deps.timeoutMs ?? 10_000) };
          } catch (err) {
            failed.push(replicaFailure(node, err));
          }
        }
        return undefined;
      };
      const ok = (await Promise.all(Array.from({ length: need }, ask))).filter((x) => x !== undefined);
      if (ok.length < need) throw new QuorumError('read', need, ok.map((x) => x.node), failed, 'none');
      for (const x of ok) answered.add(x.node);
      let bound: string | undefined;
      for (const { a } of ok) {
        const last = a.keys[a.keys.length - 1];
        if (a.truncated && last !== undefined && (bound === undefined || compareCodePoints(last.key, bound) < 0)) bound = last.key;
      }
      const byKey = new Map<string, SiblingSet>();
      for (const { a } of ok) {
        for (const k of a.keys) {
          if (bound !== undefined && compareCodePoints(k.key, bound) > 0) continue;
          const cur = byKey.get(k.key);
          byKey.set(k.key, cur === undefined ? k.set : sync(cur, k.set));
        }
      }
      for (const k of [...byKey.keys()].sort(compareCodePoints)) yield { key: k, set: byKey.get(k)! };
      if (bound === undefined) return;
      after = bound;
    }
  }
}
