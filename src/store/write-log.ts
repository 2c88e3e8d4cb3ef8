// A node's write-ahead log for small replica writes (issue 13 §2): records
// appended to preallocated segment files with group commit, so that an
// acknowledged small write costs one fdatasync shared by everything that
// queued meanwhile, instead of an LMDB commit's two (pages, then meta page).
// logged-replicas.ts keeps what the log holds in memory and applies it to
// LMDB in the background; this file only knows bytes and sequence numbers.
//
// Durable when: append()'s `durable` resolves after the write(2) of the batch
// holding the record and the fdatasync(2) of its segment returned. Batches go
// out one at a time, so a durable record has every earlier record durable too
// (a log prefix), which is what replay relies on.
//
// Why preallocated: fdatasync of a file whose size changed must also write
// the inode (and, on ext4/xfs, the journal), which made a growing log no
// cheaper than LMDB (BENCHMARKS.md, "Cheaper commits"). Each segment is
// written to its full size with zeros and synced once when it is created
// (zeros rather than fallocate: unwritten extents would turn into a metadata
// change on first write), so later fdatasyncs carry only data. Segments are
// then reused in turn once the applier's checkpoint covers every record in
// them.
//
// Record framing (little-endian): u32 payload length, u32 CRC32 of (length,
// seq, payload), u64 seq, payload. Replay walks each segment from offset 0
// and keeps records while the CRC holds and each seq is the previous one plus
// one; it stops at the first that fails. That rejects a torn tail (the CRC)
// and the records a recycled segment still holds from its previous use
// (their seqs are lower). Sequence numbers never repeat: after a restart
// writing resumes well past the highest seq seen (resumeAfter), so records
// of a batch that was in flight at a crash, beyond a torn record where replay
// cannot see them, can never pass for new ones.
//
// Segment files are named *.wal (the durability shim ignores *.log files).

import { closeSync, fdatasync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, statSync, writev, writeSync, fdatasyncSync } from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';

export const RECORD_HEADER_BYTES = 16;

export interface WriteLogOptions {
  /** Segment files (at least 2). Default 3. */
  readonly segments?: number;
  /** Bytes of each new segment file. Default 16 MiB. Existing files keep their size. */
  readonly segmentBytes?: number;
  /**
   * Test-only bug switch: acknowledge a batch after its write(2) but before
   * its fdatasync, which the kill -9 test under the durability shim must
   * catch (test/durability/shim.test.ts). Never set it otherwise.
   */
  readonly bugAckBeforeSync?: boolean;
}

export const DEFAULT_SEGMENTS = 3;
export const DEFAULT_SEGMENT_BYTES = 16 * 1024 * 1024;

/** What the segments held when the log was opened, for replay. */
export interface ScannedLog {
  /** Every record found in a valid chain, by seq (seqs are unique over the log's life). */
  readonly records: ReadonlyMap<number, Buffer>;
  /** The highest seq seen in any chain (0 if none). */
  readonly maxSeq: number;
}

interface Pending {
  readonly seq: number;
  readonly buf: Buffer;
  readonly done: () => void;
  readonly fail: (err: unknown) => void;
}

/** One record's bytes as they go into a segment. */
export function frame(seq: number, payload: Uint8Array): Buffer {
  const buf = Buffer.allocUnsafe(RECORD_HEADER_BYTES + payload.byteLength);
  buf.set(payload, RECORD_HEADER_BYTES);
  writeHeader(buf, seq);
  return buf;
}

/** Fills in the header of a record whose payload is already at RECORD_HEADER_BYTES. */
function writeHeader(buf: Buffer, seq: number): void {
  const len = buf.length - RECORD_HEADER_BYTES;
  buf.writeUInt32LE(len, 0);
  buf.writeBigUInt64LE(BigInt(seq), 8);
  buf.writeUInt32LE(recordCrc(buf, len), 4);
}

function recordCrc(buf: Buffer, len: number): number {
  return crc32(buf.subarray(8, RECORD_HEADER_BYTES + len), crc32(buf.subarray(0, 4)));
}

/** The records of one segment, from offset 0 up to the first that is torn, stale or not a record. */
export function scanSegment(buf: Buffer): { seq: number; payload: Buffer }[] {
  const out: { seq: number; payload: Buffer }[] = [];
  let off = 0;
  let prev = -1;
  while (off + RECORD_HEADER_BYTES <= buf.length) {
    const len = buf.readUInt32LE(off);
    if (len === 0 || off + RECORD_HEADER_BYTES + len > buf.length) break;
    const rec = buf.subarray(off, off + RECORD_HEADER_BYTES + len);
    if (rec.readUInt32LE(4) !== recordCrc(rec, len)) break;
    const seq = Number(rec.readBigUInt64LE(8));
    if (prev >= 0 && seq !== prev + 1) break;
    out.push({ seq, payload: rec.subarray(RECORD_HEADER_BYTES) });
    prev = seq;
    off += RECORD_HEADER_BYTES + len;
  }
  return out;
}

function segmentName(i: number): string {
  return `seg-${i}.wal`;
}

/** Creates a segment of `bytes` zeros, synced, under its final name only once complete. */
function preallocate(dir: string, i: number, bytes: number): void {
  const tmp = path.join(dir, `${segmentName(i)}.tmp`);
  const fd = openSync(tmp, 'w');
  try {
    const chunk = Buffer.alloc(Math.min(bytes, 1 << 20));
    for (let off = 0; off < bytes; off += chunk.length) writeSync(fd, chunk, 0, Math.min(chunk.length, bytes - off), off);
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path.join(dir, segmentName(i)));
  syncDir(dir);
}

function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** One pwritev of the batch's records (no copy into one buffer). */
function writeAt(fd: number, bufs: Buffer[], bytes: number, position: number): Promise<void> {
  return new Promise((ok, no) => {
    writev(fd, bufs, position, (err, n) => {
      if (err !== null) no(err);
      else if (n !== bytes) no(new Error(`write-log: short write (${n} of ${bytes} bytes)`));
      else ok();
    });
  });
}

function datasync(fd: number): Promise<void> {
  return new Promise((ok, no) => fdatasync(fd, (err) => (err !== null ? no(err) : ok())));
}

export class WriteLog {
  private queue: Pending[] = [];
  private running: Promise<void> | undefined;
  private failed: unknown;
  private closed = false;
  /** Per segment, the highest seq written into it in its current use (0: none). */
  private readonly segMaxSeq: number[];
  private cur: number;
  private offset = 0;
  private nextSeq: number;
  private applied: number;
  private synced = 0;
  /** Records appended and not yet covered by a checkpoint: [seq, bytes], oldest first. */
  private readonly unapplied: [number, number][] = [];
  private unappliedHead = 0;
  private unappliedBytes = 0;
  private checkpointWaiters: (() => void)[] = [];
  /** Largest payload append() takes; the caller keeps bigger writes out of the log. */
  readonly maxPayloadBytes: number;
  /** Bytes of unapplied records beyond which hasRoom() is false. */
  readonly admitBytes: number;
  /** Called when the writer waits for a segment: the applier must checkpoint. */
  onNeedCheckpoint: () => void = () => undefined;

  private constructor(
    readonly dir: string,
    private readonly fds: readonly number[],
    private readonly segBytes: readonly number[],
    private readonly bugAckBeforeSync: boolean,
  ) {
    this.segMaxSeq = fds.map(() => 0);
    this.cur = 0;
    this.nextSeq = 1;
    this.applied = 0;
    const smallest = Math.min(...segBytes);
    this.maxPayloadBytes = Math.min(1 << 20, Math.floor(smallest / 4)) - RECORD_HEADER_BYTES;
    this.admitBytes = Math.floor(segBytes.reduce((a, b) => a + b, 0) / 2);
  }

  /**
   * Opens (creating and preallocating what is missing) the segments in
   * `dir` and reads what they hold. Nothing is written until start().
   */
  static open(dir: string, opts: WriteLogOptions = {}): { log: WriteLog; scanned: ScannedLog } {
    const segments = Math.max(2, opts.segments ?? DEFAULT_SEGMENTS);
    const bytes = opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    if (bytes < 64 * 1024) throw new RangeError(`write-log: segments of ${bytes} bytes are too small`);
    mkdirSync(dir, { recursive: true });
    const present = new Set(readdirSync(dir));
    const records = new Map<number, Buffer>();
    let maxSeq = 0;
    const fds: number[] = [];
    const sizes: number[] = [];
    let newest = -1;
    let newestSeq = 0;
    try {
      // Existing segments beyond `segments` (the setting was lowered) are read and kept in use.
      let n = segments;
      while (present.has(segmentName(n))) n++;
      for (let i = 0; i < n; i++) {
        const file = path.join(dir, segmentName(i));
        if (!present.has(segmentName(i))) preallocate(dir, i, bytes);
        const buf = readFileSync(file);
        for (const r of scanSegment(buf)) {
          records.set(r.seq, r.payload);
          if (r.seq > maxSeq) maxSeq = r.seq;
          if (r.seq > newestSeq) {
            newestSeq = r.seq;
            newest = i;
          }
        }
        sizes.push(statSync(file).size);
        fds.push(openSync(file, 'r+'));
      }
    } catch (err) {
      for (const fd of fds) closeSync(fd);
      throw err;
    }
    const log = new WriteLog(dir, fds, sizes, opts.bugAckBeforeSync === true);
    log.cur = (newest + 1) % fds.length;
    return { log, scanned: { records, maxSeq } };
  }

  /**
   * The first seq to write after a restart, given the highest seq seen and
   * the checkpoint: beyond any record of a batch that was in flight at the
   * crash (a batch holds fewer records than a segment has bytes).
   */
  resumeAfter(maxSeen: number, applied: number): number {
    return Math.max(maxSeen, applied) + Math.max(...this.segBytes) + 1;
  }

  /**
   * Starts writing at `nextSeq`, at the start of a segment other than the one
   * written last. Call only once everything replay found is applied and
   * checkpointed (every segment is then free).
   */
  start(nextSeq: number, applied: number): void {
    this.nextSeq = nextSeq;
    this.applied = applied;
    this.synced = nextSeq - 1;
    this.offset = 0;
    this.segMaxSeq.fill(0);
  }

  /** The seq of the last record appended (0 before any). */
  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  /** The last seq whose batch is written and fdatasynced (every earlier one is too). */
  get syncedSeq(): number {
    return this.synced;
  }

  /** Bytes appended and not yet checkpointed. */
  get pendingBytes(): number {
    return this.unappliedBytes;
  }

  /** False when the writers should wait for the applier (back-pressure). */
  hasRoom(): boolean {
    return this.unappliedBytes < this.admitBytes;
  }

  /**
   * Queues a record: `record` holds its payload from RECORD_HEADER_BYTES on
   * (the header is written here, in place, so the payload is not copied).
   * Its seq is assigned now, in call order. `durable` resolves once it is
   * written and fdatasynced. The caller must not change `record` after.
   */
  append(record: Buffer): { seq: number; durable: Promise<void> } {
    if (this.closed) throw new Error('write-log: closed');
    const payloadBytes = record.length - RECORD_HEADER_BYTES;
    if (payloadBytes <= 0 || payloadBytes > this.maxPayloadBytes) throw new RangeError(`write-log: payload of ${payloadBytes} bytes`);
    if (this.failed !== undefined) return { seq: 0, durable: Promise.reject(this.failed as Error) };
    const seq = this.nextSeq++;
    const buf = record;
    writeHeader(buf, seq);
    this.unapplied.push([seq, buf.length]);
    this.unappliedBytes += buf.length;
    const durable = new Promise<void>((done, fail) => this.queue.push({ seq, buf, done, fail }));
    this.running ??= this.drain().finally(() => (this.running = undefined));
    return { seq, durable };
  }

  /** Every record up to `seq` is applied to LMDB and checkpointed there: their segments may be reused. */
  checkpointed(seq: number): void {
    if (seq <= this.applied) return;
    this.applied = seq;
    while (this.unappliedHead < this.unapplied.length && this.unapplied[this.unappliedHead]![0] <= seq) {
      this.unappliedBytes -= this.unapplied[this.unappliedHead]![1];
      this.unappliedHead++;
    }
    if (this.unappliedHead > 1024 && this.unappliedHead * 2 > this.unapplied.length) {
      this.unapplied.splice(0, this.unappliedHead);
      this.unappliedHead = 0;
    }
    for (const w of this.checkpointWaiters.splice(0)) w();
  }

  /** Resolves when every record appended so far has been written and synced (or failed). */
  async idle(): Promise<void> {
    while (this.running !== undefined) await this.running;
  }

  async close(): Promise<void> {
    await this.idle();
    this.closed = true;
    for (const fd of this.fds) closeSync(fd);
  }

  /** Group commit: each round writes and syncs everything that queued while the last one was in flight. */
  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      let i = 0;
      try {
        while (i < batch.length) {
          // The part of the batch that fits in the current segment; a record never spans two.
          const start = i;
          let bytes = 0;
          while (i < batch.length && this.offset + bytes + batch[i]!.buf.length <= this.segBytes[this.cur]!) bytes += batch[i++]!.buf.length;
          if (i === start) {
            await this.nextSegment();
            continue;
          }
          const part = batch.slice(start, i);
          await writeAt(this.fds[this.cur]!, part.map((p) => p.buf), bytes, this.offset);
          this.offset += bytes;
          this.segMaxSeq[this.cur] = part[part.length - 1]!.seq;

          const last = part[part.length - 1]!.seq;
          if (this.bugAckBeforeSync) {
            this.synced = last;
            for (const p of part) p.done();
          }
          await datasync(this.fds[this.cur]!);
          this.synced = last;
          for (const p of part) p.done();
        }
      } catch (err) {
        // The segment's state on disk is unknown now: fail this batch and every later append (fail-stop).
        this.failed = err;
        for (const p of [...batch.slice(i), ...this.queue.splice(0)]) p.fail(err);
        return;
      }
    }
  }

  /** Moves to the next segment, waiting (back-pressure) until the checkpoint covers what it holds. */
  private async nextSegment(): Promise<void> {
    const next = (this.cur + 1) % this.fds.length;
    while (this.segMaxSeq[next]! > this.applied) {
      const covered = new Promise<void>((ok) => this.checkpointWaiters.push(ok));
      this.onNeedCheckpoint();
      await covered;
    }
    this.cur = next;
    this.offset = 0;
    this.segMaxSeq[next] = 0;
  }
}
