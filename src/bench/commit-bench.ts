// Issue 13 §2: does a group-committed append-only log (one fdatasync per
// batch) beat LMDB's batched commit (pages fdatasync, then meta page sync)
// for small durable writes under concurrency, on this machine's disk?
//
//   npm run build && node dist/src/bench/commit-bench.js [--seconds 5] [--concurrency 16,64] [--size 4096] [--dir /tmp]
//
// Each closed-loop writer puts a fresh 4 KiB value and waits until it is
// durable: for LMDB the put's promise with overlappingSync off (as
// store/lmdb-store.ts opens it), for the log the fdatasync of the batch its
// record went out in. Both batch whatever arrives while a sync is in flight.
//
// `store` and `store+log` are the real ReplicaStore.update() of a node's
// store (store/lmdb-store.ts) without and with the write log in front
// (store/write-log.ts, issue 13 §2), each update a new key of `size` bytes;
// cpuUs is this process's CPU per update (less sensitive to a busy machine
// than the throughput). --kinds picks which to run (default all five).

import { mkdtempSync, openSync, rmSync, writeSync, fdatasyncSync, closeSync } from 'node:fs';
import { fdatasync, write } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { open } from 'lmdb';
import { openLmdbStore } from '../store/lmdb-store.js';

const fdatasyncP = promisify(fdatasync);
const writeP = promisify(write);

interface Result {
  readonly kind: string;
  readonly concurrency: number;
  readonly opsPerS: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly syncs: number;
  readonly cpuUs?: number;
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] as number;
}

async function closedLoop(concurrency: number, seconds: number, op: (i: number) => Promise<void>): Promise<{ ops: number; lat: number[]; wallS: number }> {
  const lat: number[] = [];
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  let n = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const s = performance.now();
        await op(n++);
        lat.push(performance.now() - s);
      }
    }),
  );
  return { ops: lat.length, lat: lat.sort((a, b) => a - b), wallS: (performance.now() - t0) / 1000 };
}

async function lmdbRun(dir: string, concurrency: number, seconds: number, size: number): Promise<Result> {
  const env = open({ path: join(dir, `lmdb-${concurrency}`), overlappingSync: false, encoder: { useRecords: false } });
  const db = env.openDB<Uint8Array, number>({ name: 'data' });
  const value = new Uint8Array(size).fill(7);
  let commits = 0;
  let last: unknown;
  const r = await closedLoop(concurrency, seconds, async (i) => {
    const p = db.put(i, value);
    if (p !== last) {
      commits++;
      last = p;
    }
    await p;
  });
  await env.close();
  return { kind: 'lmdb', concurrency, opsPerS: r.ops / r.wallS, p50Ms: pct(r.lat, 0.5), p99Ms: pct(r.lat, 0.99), syncs: commits };
}

/** An append-only log with group commit: one write + one fdatasync per batch of whatever queued meanwhile. */
class GroupLog {
  private queue: { buf: Uint8Array; done: () => void }[] = [];
  private running = false;
  syncs = 0;
  constructor(private readonly fd: number) {}
  append(buf: Uint8Array): Promise<void> {
    return new Promise((done) => {
      this.queue.push({ buf, done });
      if (!this.running) void this.drain();
    });
  }
  private async drain(): Promise<void> {
    this.running = true;
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      const all = Buffer.concat(batch.map((b) => b.buf));
      await writeP(this.fd, all);
      await fdatasyncP(this.fd);
      this.syncs++;
      for (const b of batch) b.done();
    }
    this.running = false;
  }
}

async function logRun(dir: string, concurrency: number, seconds: number, size: number): Promise<Result> {
  const path = join(dir, `log-${concurrency}`);
  const fd = openSync(path, 'a');
  // Preallocate-free, as a naive log would be: every batch also grows the file (metadata on fdatasync).
  const log = new GroupLog(fd);
  const rec = new Uint8Array(size + 32).fill(7);
  const r = await closedLoop(concurrency, seconds, () => log.append(rec));
  closeSync(fd);
  return { kind: 'log', concurrency, opsPerS: r.ops / r.wallS, p50Ms: pct(r.lat, 0.5), p99Ms: pct(r.lat, 0.99), syncs: log.syncs };
}

/** The same log over a file written (and synced) to its full size first, so that fdatasync carries no size change. */
async function preallocLogRun(dir: string, concurrency: number, seconds: number, size: number): Promise<Result> {
  const path = join(dir, `plog-${concurrency}`);
  const fd = openSync(path, 'w+');
  const chunk = Buffer.alloc(1 << 20);
  for (let i = 0; i < 512; i++) writeSync(fd, chunk);
  fdatasyncSync(fd);
  let pos = 0;
  const rec = new Uint8Array(size + 32).fill(7);
  let queue: { done: () => void }[] = [];
  let running = false;
  let syncs = 0;
  const drain = async (): Promise<void> => {
    running = true;
    while (queue.length > 0) {
      const batch = queue;
      queue = [];
      const all = Buffer.alloc(batch.length * rec.byteLength, 7);
      await new Promise<void>((ok, no) => write(fd, all, 0, all.byteLength, pos % (500 << 20), (e) => (e ? no(e) : ok())));
      pos += all.byteLength;
      await fdatasyncP(fd);
      syncs++;
      for (const b of batch) b.done();
    }
    running = false;
  };
  const r = await closedLoop(concurrency, seconds, () => new Promise<void>((done) => {
    queue.push({ done });
    if (!running) void drain();
  }));
  closeSync(fd);
  return { kind: 'log-prealloc', concurrency, opsPerS: r.ops / r.wallS, p50Ms: pct(r.lat, 0.5), p99Ms: pct(r.lat, 0.99), syncs };
}

/** The node's store, update() of fresh keys, with or without the write log. */
async function storeRun(dir: string, concurrency: number, seconds: number, size: number, log: boolean): Promise<Result> {
  const store = await openLmdbStore(join(dir, `store-${log ? 'log' : 'lmdb'}-${concurrency}`), { log });
  const value = new Uint8Array(size).fill(7);
  const cpu0 = process.cpuUsage();
  const r = await closedLoop(concurrency, seconds, async (i) => {
    await store.update(i % 64, 'bench', `k/${i}`, () => ({ siblings: [{ dot: { node: 'b', counter: i + 1 }, past: {}, value, meta: { ts: i } }] }));
  });
  const cpu = process.cpuUsage(cpu0);
  const passes = store.writeLog?.stats.passes ?? 0;
  await store.close();
  return { kind: log ? 'store+log' : 'store', concurrency, opsPerS: r.ops / r.wallS, p50Ms: pct(r.lat, 0.5), p99Ms: pct(r.lat, 0.99), syncs: passes, cpuUs: (cpu.user + cpu.system) / Math.max(1, r.ops) };
}

const RUNS: Record<string, (dir: string, c: number, seconds: number, size: number) => Promise<Result>> = {
  lmdb: lmdbRun,
  log: logRun,
  'log-prealloc': preallocLogRun,
  store: (d, c, s, z) => storeRun(d, c, s, z, false),
  'store+log': (d, c, s, z) => storeRun(d, c, s, z, true),
};

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const arg = (name: string, dflt: string): string => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? (args[i + 1] ?? dflt) : dflt;
  };
  const seconds = Number(arg('seconds', '5'));
  const size = Number(arg('size', '4096'));
  const conc = arg('concurrency', '1,16,64').split(',').map(Number);
  const kinds = arg('kinds', Object.keys(RUNS).join(',')).split(',');
  for (const k of kinds) if (RUNS[k] === undefined) throw new Error(`unknown kind ${k} (known: ${Object.keys(RUNS).join(', ')})`);
  const dir = mkdtempSync(join(arg('dir', tmpdir()), 'rs-commit-bench-'));
  try {
    for (const c of conc) {
      for (const k of kinds) {
        const r = await RUNS[k]!(dir, c, seconds, size);
        // For the store kinds `syncs` is the applier's LMDB passes (0 without the log), so perSync is updates per pass.
        console.log(JSON.stringify({ ...r, opsPerS: Math.round(r.opsPerS), p50Ms: +r.p50Ms.toFixed(2), p99Ms: +r.p99Ms.toFixed(2), perSync: +(r.opsPerS * seconds / Math.max(1, r.syncs)).toFixed(1), ...(r.cpuUs !== undefined ? { cpuUs: Math.round(r.cpuUs) } : {}) }));
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
