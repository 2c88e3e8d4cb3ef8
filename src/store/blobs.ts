// Big values beside the LMDB environment, one file each ("blobs"), for
// lmdb-store.ts. LMDB commits are serialized: every value of a batch is
// copied twice on the JS thread (msgpack, then into LMDB's dirty pages) while
// the write transaction is held, and the batch's one fdatasync then waits for
// all of it; with 4 MiB chunks arriving from three coordinators, commits of
// tens of MB made every write on the node, small or big, wait hundreds of
// milliseconds (measured: 4 MiB updates at 150-450 ms p50, 60-80 MB/s per
// node). Blob files are written by the libuv thread pool in parallel, straight
// from the received buffer, each fdatasync'ed with its directory before the
// LMDB transaction that refers to it commits: an acknowledged write is as
// durable as before, and a crash in between leaves at worst a file nothing
// refers to.
//
// Layout: <data>/blobs/<2 hex>/<24 hex>: the name's first two digits are its
// directory, the rest random (names need only be unique within the node; a
// name is never reused).

import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import path from 'node:path';

/** Values at least this big are stored as blob files. */
export const SPILL_BYTES = 256 * 1024;

/**
 * How long a replaced blob file stays before it is deleted: a reader that
 * took the LMDB entry naming it just before the replacing commit still finds
 * it. Reads are synchronous, so any delay is ample; 2 s covers a stalled
 * event loop.
 */
const UNLINK_DELAY_MS = 2000;

export class BlobDir {
  readonly root: string;
  private readonly pendingUnlinks = new Map<NodeJS.Timeout, readonly string[]>();
  private readonly dirSyncs = new Map<string, { running: Promise<void> | undefined; queued: Promise<void> | undefined }>();
  private seq = randomBytes(2).readUInt16BE(0) * 32;
  private readonly unlinking = new Set<Promise<void>>();

  constructor(dataDir: string) {
    this.root = path.join(dataDir, 'blobs');
    for (let i = 0; i < 256; i++) mkdirSync(path.join(this.root, hex2(i)), { recursive: true });
  }

  pathOf(name: string): string {
    if (!/^[0-9a-f]{24}$/.test(name)) throw new Error(`LmdbStore: bad blob name ${JSON.stringify(name)}`);
    return path.join(this.root, name.slice(0, 2), name);
  }

  /** Writes a new blob file and makes it and its directory entry durable; resolves with its name. */
  async write(value: Uint8Array): Promise<string> {
    // Consecutive files share a directory, so that the directory syncs of
    // concurrent writes coalesce (syncDir); over time they spread over all 256.
    const name = hex2(Math.floor(this.seq++ / 32) % 256) + randomBytes(11).toString('hex');
    const file = this.pathOf(name);
    const fh = await open(file, 'wx');
    try {
      // One write call for the whole value (writeFile would cut it into 512 KiB calls).
      for (let off = 0; off < value.byteLength; ) off += (await fh.write(value, off, value.byteLength - off, off)).bytesWritten;
      await fh.datasync();
    } finally {
      await fh.close();
    }
    await this.syncDir(path.dirname(file));
    return name;
  }

  /**
   * fsyncs a directory so that the entries created in it so far are durable.
   * Group commit: while one sync runs, callers wait for the next one, which
   * starts when it ends and covers all of them.
   */
  private syncDir(dir: string): Promise<void> {
    let st = this.dirSyncs.get(dir);
    if (st === undefined) {
      st = { running: undefined, queued: undefined };
      this.dirSyncs.set(dir, st);
    }
    const state = st;
    if (state.running === undefined) {
      state.running = fsyncDir(dir).finally(() => {
        state.running = undefined;
        if (state.queued === undefined) this.dirSyncs.delete(dir);
      });
      return state.running;
    }
    state.queued ??= state.running
      .catch(() => undefined)
      .then(() => {
        state.queued = undefined;
        this.dirSyncs.set(dir, state);
        return this.syncDir(dir);
      });
    return state.queued;
  }

  readSync(name: string, size: number): Buffer {
    let b: Buffer;
    try {
      b = readFileSync(this.pathOf(name));
    } catch (err) {
      throw new Error(`LmdbStore: blob ${name} unreadable: ${(err as Error).message}`);
    }
    if (b.length !== size) throw new Error(`LmdbStore: blob ${name} has ${b.length} bytes, expected ${size}`);
    return b;
  }

  /** Deletes blob files no entry refers to any more, after UNLINK_DELAY_MS. */
  release(names: readonly string[]): void {
    if (names.length === 0) return;
    const t = setTimeout(() => {
      this.pendingUnlinks.delete(t);
      this.removeNow(names);
    }, UNLINK_DELAY_MS);
    t.unref();
    this.pendingUnlinks.set(t, names);
  }

  /** Deletes blob files at once (files written for an update that did not use them). */
  removeNow(names: readonly string[]): void {
    for (const n of names) {
      const p = unlink(this.pathOf(n)).catch(() => undefined);
      this.unlinking.add(p);
      void p.finally(() => this.unlinking.delete(p));
    }
  }

  /** Every blob file name on disk (for the orphan sweep). */
  *names(): Iterable<string> {
    for (let i = 0; i < 256; i++) {
      let entries: string[];
      try {
        entries = readdirSync(path.join(this.root, hex2(i)));
      } catch {
        continue;
      }
      for (const e of entries) if (/^[0-9a-f]{24}$/.test(e)) yield e;
    }
  }

  /** Runs the delayed deletions now and waits for them (on close: no reader is left). */
  async flush(): Promise<void> {
    for (const [t, names] of this.pendingUnlinks) {
      clearTimeout(t);
      this.removeNow(names);
    }
    this.pendingUnlinks.clear();
    await Promise.all([...this.unlinking]);
  }

  /** Deletes, synchronously, blob files whose names `referenced` does not hold (at open, before any write). */
  removeUnreferenced(referenced: ReadonlySet<string>): number {
    let n = 0;
    for (const name of [...this.names()]) {
      if (referenced.has(name)) continue;
      rmSync(this.pathOf(name), { force: true });
      n++;
    }
    return n;
  }
}

const hex2 = (i: number): string => i.toString(16).padStart(2, '0');

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
