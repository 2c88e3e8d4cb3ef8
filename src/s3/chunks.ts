// Large objects as content-addressed chunks on the ring (docs/s3.md, "Large
// objects"). A chunk's key in the system bucket `__chunks` is the
// SHA-256 of its bytes, so identical chunks are one key (stored once), every
// write of a chunk writes the same bytes (no conflict can change them), and a
// reader can tell a good copy from a corrupt one without any quorum: a chunk
// read asks one replica, checks the hash, and only on mismatch (or absence)
// asks the others, then rewrites the good bytes so the corrupt copy is
// superseded everywhere.
//
// Chunk size: 4 MiB. Large enough that the per-chunk cost (one quorum write
// of a few hundred bytes of metadata, one key in LMDB, one gRPC message)
// stays small against the data, so a few chunks in flight saturate the
// links; small enough that a node holds only a bounded handful of them per
// transfer (WRITE_PARALLEL + 1 on upload, READ_AHEAD on download) and that
// each stays far below gRPC's 64 MiB message limit even when a whole sibling
// set with two concurrent copies is shipped.

import { webcrypto } from 'node:crypto';
import type { Coordinator } from '../coordinator/coordinator.js';
import type { NodeId, SiblingSet } from '../version/dvv.js';
import { S3Error } from './errors.js';
import type { BodyDigests, ChunkHasher } from './hash-worker.js';

export const CHUNK_BUCKET = '__chunks';
export const CHUNK_SIZE = 4 * 1024 * 1024;
/** Objects up to this size live inline in their key; larger ones become chunks. */
export const INLINE_MAX = 64 * 1024;
export const WRITE_PARALLEL = 4;
export const READ_AHEAD = 3;
/**
 * Chunk writes in flight per node, across all requests: each is 4 MiB to
 * three replicas; beyond a handful the links and fsyncs queue up, replica
 * deadlines pass and live nodes are taken for dead. Requests wait here instead.
 */
export const NODE_WRITES_MAX = 8;
export const NODE_READS_MAX = 16;

/** A counting semaphore with a FIFO queue. */
export class Semaphore {
  private readonly waiting: (() => void)[] = [];
  constructor(private free: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next !== undefined) next();
      else this.free++;
    }
  }
}

/** [sha256 hex, byte length] */
export type ChunkRef = readonly [string, number];

/** Reads one replica at a time; the node wiring provides it over the transport. */
export interface ReplicaReader {
  /** The replicas that hold bucket/key, best first (this node first when it is one). */
  replicas(bucket: string, key: string): readonly NodeId[];
  read(node: NodeId, bucket: string, key: string): Promise<SiblingSet | null>;
}

export interface ChunkStats {
  written: number;
  read: number;
  corruptSkipped: number;
  repaired: number;
  cacheHits: number;
  cacheMisses: number;
}

/**
 * A chunk's address, SHA-256 hex, computed on the libuv thread pool:
 * WebCrypto's digest runs as an asynchronous job, so the event loop does not
 * spend the few milliseconds a 4 MiB chunk takes; it reads, MD5s and ships
 * the next piece meanwhile, and on a multi-core machine both run at once.
 * (It copies the bytes for the job, about a tenth of the hash's cost.)
 */
const sha256 = async (b: Uint8Array): Promise<string> => Buffer.from(await webcrypto.subtle.digest('SHA-256', b)).toString('hex');

/** A byte-bounded LRU of verified chunks: content-addressed, so never stale. */
class ChunkCache {
  private readonly map = new Map<string, Buffer>();
  private bytes = 0;
  constructor(private readonly maxBytes: number) {}
  get(h: string): Buffer | undefined {
    const b = this.map.get(h);
    if (b !== undefined) {
      this.map.delete(h);
      this.map.set(h, b);
    }
    return b;
  }
  set(h: string, b: Buffer): void {
    if (b.length > this.maxBytes / 4 || this.map.has(h)) return;
    this.map.set(h, b);
    this.bytes += b.length;
    for (const [k, v] of this.map) {
      if (this.bytes <= this.maxBytes) break;
      this.map.delete(k);
      this.bytes -= v.length;
    }
  }
}

export class ChunkStore {
  readonly stats: ChunkStats = { written: 0, read: 0, corruptSkipped: 0, repaired: 0, cacheHits: 0, cacheMisses: 0 };
  private readonly cache: ChunkCache | undefined;
  private readonly writes = new Semaphore(NODE_WRITES_MAX);
  private readonly reads = new Semaphore(NODE_READS_MAX);

  constructor(
    private readonly coordinator: Coordinator,
    private readonly reader?: ReplicaReader,
    cacheBytes = 0,
  ) {
    this.cache = cacheBytes > 0 ? new ChunkCache(cacheBytes) : undefined;
  }

  /** Writes a chunk; `address`, when the caller already hashed exactly these bytes, saves the hash pass. */
  async put(data: Buffer, address?: string): Promise<ChunkRef> {
    const h = address ?? (await sha256(data));
    await this.write(h, data);
    this.stats.written++;
    return [h, data.length];
  }

  private async write(h: string, data: Buffer): Promise<void> {
    // Replace rather than add a sibling: the same bytes again (dedupe) or
    // a resurrection of a chunk a collector had deleted.
    await this.writes.run(() => this.coordinator.put({ bucket: CHUNK_BUCKET, key: h, value: data, context: null, supersedeVisible: true }));
  }

  /** The chunk's verified bytes; tries every replica before giving up. */
  async get(ref: ChunkRef): Promise<Buffer> {
    const [h, size] = ref;
    const cached = this.cache?.get(h);
    if (cached !== undefined) {
      this.stats.cacheHits++;
      return cached;
    }
    this.stats.cacheMisses++;
    this.stats.read++;
    let corrupt = false;
    const check = async (set: SiblingSet | null): Promise<Buffer | undefined> => {
      for (const s of set?.siblings ?? []) {
        if (s.value === null) continue;
        if (s.value.length === size && (await sha256(s.value)) === h) return Buffer.from(s.value.buffer, s.value.byteOffset, s.value.byteLength);
        corrupt = true;
        this.stats.corruptSkipped++;
      }
      return undefined;
    };
    let good: Buffer | undefined;
    if (this.reader !== undefined) {
      for (const node of this.reader.replicas(CHUNK_BUCKET, h)) {
        const set = await this.reads.run(() => this.reader!.read(node, CHUNK_BUCKET, h)).catch(() => null);
        good = await check(set);
        if (good !== undefined) break;
        if (set !== null) corrupt = true;
      }
    } else {
      // Without per-replica reads: the first replica to answer, then a quorum.
      good = await check((await this.reads.run(() => this.coordinator.get({ bucket: CHUNK_BUCKET, key: h, r: 1 }))).set);
      if (good === undefined) good = await check((await this.coordinator.get({ bucket: CHUNK_BUCKET, key: h })).set);
    }
    if (good === undefined) throw new S3Error('InternalError', `chunk ${h} is missing or corrupt on every replica read`);
    if (corrupt) {
      // Rewrite the good bytes: the new version supersedes the corrupt copies.
      this.stats.repaired++;
      void this.write(h, good).catch(() => undefined);
    }
    this.cache?.set(h, good);
    return good;
  }
}

/** The result of storing a body: inline bytes for small objects, chunk refs otherwise. */
export interface StoredBody {
  readonly inline: Buffer | undefined;
  readonly chunks: ChunkRef[];
  readonly size: number;
  /** The body's digests, when a hasher computed them (storeStream's `offload`). */
  readonly digests?: BodyDigests;
}

/** A body hashed on a worker as it is stored (BodyReader.offloadHashes). */
export interface HashOffload {
  readonly hasher: ChunkHasher;
  /** The body's decoded length when declared: chunk buffers are allocated at their final size. */
  readonly expectedBytes: number | undefined;
}

/**
 * Cuts a stream into CHUNK_SIZE chunks and writes them with WRITE_PARALLEL in
 * flight; reading the source pauses while the window is full, so memory stays
 * bounded whatever the object size. Bodies up to `inlineMax` come back inline.
 */
export async function storeStream(
  store: ChunkStore,
  source: AsyncIterable<Buffer>,
  inlineMax = INLINE_MAX,
  parallel = WRITE_PARALLEL,
  /**
   * The SHA-256 hex of everything `source` yielded, once it is exhausted, if
   * the caller computed it (a SigV4 signed payload): a body that makes one
   * chunk uses it as the chunk's address instead of hashing the bytes again.
   */
  wholeSha256?: () => string | undefined,
  /**
   * Hash on a worker instead: every chunk goes to `hasher` (which gives back
   * its address with the body's running MD5 advanced), and the result
   * carries the body's digests. Pieces are copied straight into each
   * chunk's own buffer (the one copy Buffer.concat made), which the worker
   * borrows without copying.
   */
  offload?: HashOffload,
): Promise<StoredBody> {
  let parts: Buffer[] = [];
  let fill = 0;
  let size = 0;
  // With offload: the chunk being filled, allocated at its final size when the body's length is known.
  let cur: Buffer | undefined;
  let flushed = 0;
  const hasher = offload?.hasher;
  const refs: (ChunkRef | undefined)[] = [];
  const inflight = new Set<Promise<void>>();
  let failure: unknown;
  let finished = false;
  const flush = async (buf: Buffer, address?: string): Promise<void> => {
    const idx = refs.length;
    refs.push(undefined);
    flushed += buf.length;
    // hasher.chunk posts to the worker before its first await, so chunks reach it in body order.
    const stored = hasher !== undefined ? hasher.chunk(buf).then((h) => store.put(h.buf, h.address)) : store.put(buf, address);
    const p: Promise<void> = stored.then(
      (ref) => {
        refs[idx] = ref;
      },
      (err: unknown) => {
        failure ??= err;
      },
    );
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
    while (inflight.size >= parallel) await Promise.race(inflight);
    if (failure !== undefined) throw failure;
  };
  const nextChunk = (): Buffer => {
    const left = offload?.expectedBytes !== undefined ? offload.expectedBytes - flushed : CHUNK_SIZE;
    // allocUnsafeSlow: a buffer that owns its ArrayBuffer, so the worker can borrow it (never the shared pool).
    return Buffer.allocUnsafeSlow(left > 0 ? Math.min(CHUNK_SIZE, left) : CHUNK_SIZE);
  };
  /** The filled part of `cur` as a buffer of exactly that size (a copy only when the body was not as long as declared). */
  const exact = (b: Buffer, n: number): Buffer => {
    if (b.length === n) return b;
    const out = Buffer.allocUnsafeSlow(n);
    b.copy(out, 0, 0, n);
    return out;
  };
  try {
    for await (const piece of source) {
      size += piece.length;
      let off = 0;
      while (off < piece.length) {
        if (hasher !== undefined) {
          cur ??= nextChunk();
          const take = Math.min(cur.length - fill, piece.length - off);
          piece.copy(cur, fill, off, off + take);
          fill += take;
          off += take;
          if (fill === cur.length) {
            const buf = cur;
            cur = undefined;
            fill = 0;
            await flush(buf);
          }
          continue;
        }
        const take = Math.min(CHUNK_SIZE - fill, piece.length - off);
        parts.push(piece.subarray(off, off + take));
        fill += take;
        off += take;
        if (fill === CHUNK_SIZE) {
          const buf = Buffer.concat(parts, fill);
          parts = [];
          fill = 0;
          await flush(buf);
        }
      }
    }
    if (hasher !== undefined) {
      if (refs.length === 0 && fill <= inlineMax) {
        // Short for a hashed body (it declared more, or nothing): still hashed by the worker, kept inline.
        const inline = (await hasher.chunk(exact(cur ?? Buffer.allocUnsafeSlow(0), fill))).buf;
        finished = true;
        return { inline, chunks: [], size, digests: await hasher.finish() };
      }
      if (fill > 0) await flush(exact(cur!, fill));
      const digests = hasher.finish();
      digests.catch(() => undefined); // awaited below, unless a chunk write fails first
      finished = true;
      await Promise.all(inflight);
      if (failure !== undefined) throw failure;
      return { inline: undefined, chunks: refs as ChunkRef[], size, digests: await digests };
    }
    if (refs.length === 0 && fill <= inlineMax) return { inline: Buffer.concat(parts, fill), chunks: [], size };
    // The whole body in one chunk: the payload's hash is this chunk's address (one hash pass serves both).
    if (fill > 0) await flush(Buffer.concat(parts, fill), refs.length === 0 ? wholeSha256?.() : undefined);
    await Promise.all(inflight);
    if (failure !== undefined) throw failure;
    return { inline: undefined, chunks: refs as ChunkRef[], size };
  } finally {
    if (!finished) hasher?.abort();
    await Promise.allSettled([...inflight]);
  }
}

/**
 * The bytes [start, end) of an object made of `chunks`, in order, fetching
 * up to READ_AHEAD chunks ahead of the consumer.
 */
export async function* readRange(store: ChunkStore, chunks: readonly ChunkRef[], start: number, end: number, ahead = READ_AHEAD): AsyncGenerator<Buffer> {
  const wanted: { ref: ChunkRef; from: number; to: number }[] = [];
  let pos = 0;
  for (const ref of chunks) {
    const cs = pos;
    const ce = pos + ref[1];
    pos = ce;
    if (ce <= start || cs >= end) continue;
    wanted.push({ ref, from: Math.max(start, cs) - cs, to: Math.min(end, ce) - cs });
  }
  const queue: Promise<Buffer>[] = [];
  let next = 0;
  const fill = () => {
    while (queue.length < ahead && next < wanted.length) {
      const p = store.get(wanted[next++]!.ref);
      p.catch(() => undefined); // awaited below; a consumer that stops early must not leave an unhandled rejection
      queue.push(p);
    }
  };
  for (let i = 0; i < wanted.length; i++) {
    fill();
    const buf = await queue.shift()!;
    const w = wanted[i]!;
    yield w.from === 0 && w.to === buf.length ? buf : buf.subarray(w.from, w.to);
  }
}
