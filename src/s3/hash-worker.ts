// A large body's digests computed on worker threads instead of the event
// loop: its MD5 (the ETag), its SHA-256 when a signed payload needs it, and
// each 4 MiB chunk's SHA-256 (its address, chunks.ts), all in one job per
// chunk.
//
// Why: node:crypto hashes synchronously, and MD5 has neither an asynchronous
// nor a WebCrypto form; at about 600 MB/s a 16 MiB body's MD5 held the event
// loop for ~30 ms (more on a loaded machine: 67 ms per 16 MiB PUT in the
// session-6 profile), beside the chunk addresses' SHA-256 that WebCrypto ran
// on the thread pool after copying each chunk for the job.
//
// How: the chunk's own ArrayBuffer is *transferred* to the worker and back
// (no copy, and the bytes cannot change meanwhile: the sender's view is
// detached until they return). The worker walks the chunk once in slices
// small enough to stay in the core's cache, feeding every digest each slice
// in turn, so the memory is read from RAM once for all of them. The MD5
// and whole-body SHA-256 states live in the worker between a body's chunks;
// chunks of one body go to one worker in order, and a worker handles its
// messages in order, so the digests see the bytes in body order.

import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';

/** Bodies at least this long (or of unknown length) are hashed on a worker; smaller ones on the event loop (a round trip to a worker costs more than their hash). */
export const HASH_OFFLOAD_MIN = 1024 * 1024;

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
// Slices this big stay in L2 while every digest reads them.
const SLICE = 128 * 1024;
const bodies = new Map();
parentPort.on('message', (m) => {
  if (m.op === 'begin') {
    bodies.set(m.id, { md5: createHash('md5'), sha: m.sha256 ? createHash('sha256') : undefined });
    return;
  }
  const b = bodies.get(m.id);
  if (m.op === 'abort') {
    bodies.delete(m.id);
    return;
  }
  if (b === undefined) {
    if (m.op === 'chunk') parentPort.postMessage({ id: m.id, seq: m.seq, error: 'unknown body', ab: m.ab }, [m.ab]);
    else parentPort.postMessage({ id: m.id, seq: m.seq, error: 'unknown body' });
    return;
  }
  if (m.op === 'chunk') {
    const all = new Uint8Array(m.ab, 0, m.len);
    const addr = createHash('sha256');
    for (let o = 0; o < m.len; o += SLICE) {
      const s = all.subarray(o, Math.min(m.len, o + SLICE));
      b.md5.update(s);
      addr.update(s);
      if (b.sha !== undefined) b.sha.update(s);
    }
    parentPort.postMessage({ id: m.id, seq: m.seq, address: addr.digest('hex'), ab: m.ab }, [m.ab]);
  } else if (m.op === 'end') {
    bodies.delete(m.id);
    parentPort.postMessage({ id: m.id, seq: m.seq, md5: b.md5.digest('hex'), sha256: b.sha === undefined ? undefined : b.sha.digest('hex') });
  }
});
`;

interface Reply {
  readonly id: number;
  readonly seq: number;
  readonly error?: string;
  readonly ab?: ArrayBuffer;
  readonly address?: string;
  readonly md5?: string;
  readonly sha256?: string;
}

interface Waiter {
  resolve(r: Reply): void;
  reject(err: Error): void;
}

class HashThread {
  private worker: Worker | undefined;
  private readonly waiting = new Map<string, Waiter>();

  post(msg: { op: string; id: number; seq?: number; ab?: ArrayBuffer; len?: number; sha256?: boolean }, transfer?: ArrayBuffer[]): void {
    this.thread().postMessage(msg, transfer);
  }

  ask(msg: { op: string; id: number; seq: number; ab?: ArrayBuffer; len?: number }, transfer?: ArrayBuffer[]): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      const w = this.thread();
      // Referenced while an answer is awaited (the process must not exit under it), not otherwise.
      if (this.waiting.size === 0) w.ref();
      this.waiting.set(`${msg.id}:${msg.seq}`, { resolve, reject });
      try {
        w.postMessage(msg, transfer);
      } catch (err) {
        this.settled(`${msg.id}:${msg.seq}`);
        reject(err as Error);
      }
    });
  }

  private settled(key: string): Waiter | undefined {
    const waiter = this.waiting.get(key);
    this.waiting.delete(key);
    if (this.waiting.size === 0) this.worker?.unref();
    return waiter;
  }

  private thread(): Worker {
    if (this.worker !== undefined) return this.worker;
    const w = new Worker(WORKER_SOURCE, { eval: true, name: 'ringstore-hash' });
    w.on('message', (r: Reply) => {
      const waiter = this.settled(`${r.id}:${r.seq}`);
      if (r.error !== undefined) waiter?.reject(new Error(`hash worker: ${r.error}`));
      else waiter?.resolve(r);
    });
    const fail = (err: Error): void => {
      if (this.worker === w) this.worker = undefined;
      const waiting = [...this.waiting.values()];
      this.waiting.clear();
      for (const x of waiting) x.reject(err);
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`hash worker exited (${code})`)));
    // The thread never keeps a process alive: requests in flight do. (After the listeners: adding a 'message' listener refs it again.)
    w.unref();
    this.worker = w;
    return w;
  }
}

const THREADS = Math.max(1, Math.min(2, availableParallelism()));
const threads: HashThread[] = [];
let nextThread = 0;
let nextBody = 1;

/** The digests of a whole body. */
export interface BodyDigests {
  readonly md5Hex: string;
  /** Present when the hasher was asked for the body's SHA-256 (a signed payload). */
  readonly sha256Hex: string | undefined;
}

/**
 * One body's hashing on a worker. Call `chunk` for each piece of the body in
 * order (each a Buffer that owns its whole ArrayBuffer: Buffer.allocUnsafeSlow),
 * then `finish` once; `abort` when the body is abandoned.
 */
export class ChunkHasher {
  private readonly thread: HashThread;
  private readonly id = nextBody++;
  private seq = 0;
  private done = false;

  constructor(sha256: boolean) {
    if (threads.length < THREADS) threads.push(new HashThread());
    this.thread = threads[nextThread++ % threads.length]!;
    this.thread.post({ op: 'begin', id: this.id, sha256 });
  }

  /**
   * Hashes the next piece of the body: resolves with the same bytes (a new
   * Buffer over the returned memory; `buf` is detached meanwhile) and their
   * SHA-256 hex.
   */
  async chunk(buf: Buffer): Promise<{ readonly buf: Buffer; readonly address: string }> {
    if (this.done) throw new Error('ChunkHasher.chunk after finish or abort');
    const ab = buf.buffer;
    if (!(ab instanceof ArrayBuffer) || buf.byteOffset !== 0 || buf.byteLength !== ab.byteLength) throw new Error('ChunkHasher.chunk needs a Buffer that owns its whole ArrayBuffer');
    const len = buf.byteLength;
    const r = await this.thread.ask({ op: 'chunk', id: this.id, seq: this.seq++, ab, len }, [ab]);
    return { buf: Buffer.from(r.ab!, 0, len), address: r.address! };
  }

  /** The whole body's digests (every chunk() must have been awaited or be in flight: messages keep their order). */
  async finish(): Promise<BodyDigests> {
    if (this.done) throw new Error('ChunkHasher.finish twice or after abort');
    this.done = true;
    const r = await this.thread.ask({ op: 'end', id: this.id, seq: this.seq++ });
    return { md5Hex: r.md5!, sha256Hex: r.sha256 };
  }

  /** Drops the body's state in the worker; safe to call at any time, more than once. */
  abort(): void {
    if (this.done) return;
    this.done = true;
    try {
      this.thread.post({ op: 'abort', id: this.id });
    } catch {
      // The worker is gone, and its state with it.
    }
  }
}
