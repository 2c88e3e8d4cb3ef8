// S3 phases of `npm run bench`: small objects (4 KiB put/get through the S3
// port, signed like any client's request) and large objects (64 MiB put/get),
// every read checked byte for byte, with the peak memory of each node.

import { createCipheriv, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { runPhase, type PhaseResult } from './load.js';
import { s3Request, type S3Endpoint } from './s3-client.js';

export interface NodeMemory {
  readonly node: string;
  /** Peak resident set during the phase (VmHWM, reset at the start of the phase when the kernel allows it). */
  readonly hwm_mb: number;
  /** Highest anonymous RSS sampled during the phase (heap, buffers: what the process allocated, not LMDB's mapped pages). */
  readonly peak_anon_mb: number;
  /** CPU time (user + system) the node used during the phase. */
  readonly cpu_s: number;
}

export interface S3PhaseResult extends PhaseResult {
  /** What was measured: 'ringstore' (the cluster) or 's3rver' (the single-copy reference). */
  readonly target?: string;
  readonly object_bytes: number;
  /** Memory and CPU of each node during the phase. */
  readonly rss?: readonly NodeMemory[];
  /** CPU time the benchmark client itself used (it shares the machine). */
  readonly client_cpu_s?: number;
}

export interface BenchNode {
  readonly id: string;
  readonly pid: number;
  readonly s3: string;
}

/** utime + stime of a process, in seconds (clock ticks assumed 100 Hz, as on every Linux Node supports). */
function cpuSeconds(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

function statusKb(pid: number, field: string): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? 0 : Number(m[1]);
  } catch {
    return 0;
  }
}

/**
 * Watches the nodes' memory and CPU during a phase: resets the peak-RSS mark
 * (writing 5 to clear_refs, Linux >= 4.0) and samples anonymous RSS.
 */
export class NodeWatch {
  private readonly peakAnon = new Map<number, number>();
  private readonly cpuAtStart = new Map<number, number>();
  private readonly timer: NodeJS.Timeout;
  constructor(private readonly nodes: readonly BenchNode[]) {
    for (const n of nodes) {
      this.cpuAtStart.set(n.pid, cpuSeconds(n.pid));
      try {
        writeFileSync(`/proc/${n.pid}/clear_refs`, '5');
      } catch {
        // not Linux, or not allowed: VmHWM is then the peak since the node started
      }
    }
    this.sample();
    this.timer = setInterval(() => this.sample(), 100);
  }
  private sample(): void {
    for (const n of this.nodes) this.peakAnon.set(n.pid, Math.max(this.peakAnon.get(n.pid) ?? 0, statusKb(n.pid, 'RssAnon')));
  }
  /** Stops sampling (idempotent) and reports. */
  stop(): NodeMemory[] {
    clearInterval(this.timer);
    this.sample();
    const mb = (kb: number) => Math.round(kb / 102.4) / 10;
    return this.nodes.map((n) => ({
      node: n.id,
      hwm_mb: mb(statusKb(n.pid, 'VmHWM')),
      peak_anon_mb: mb(this.peakAnon.get(n.pid) ?? 0),
      cpu_s: Math.round((cpuSeconds(n.pid) - (this.cpuAtStart.get(n.pid) ?? 0)) * 100) / 100,
    }));
  }
}

export async function withMemory(nodes: readonly BenchNode[], objectBytes: number, run: () => Promise<PhaseResult>): Promise<S3PhaseResult> {
  const watch = new NodeWatch(nodes);
  const cpu0 = process.cpuUsage();
  try {
    const r = await run();
    const cpu = process.cpuUsage(cpu0);
    return { ...r, object_bytes: objectBytes, rss: watch.stop(), client_cpu_s: Math.round((cpu.user + cpu.system) / 1e4) / 100 };
  } finally {
    watch.stop();
  }
}

/**
 * Deterministic object contents: an AES-CTR keystream (fast, incompressible),
 * stamped with the object number and a per-run salt every STAMP bytes so
 * that no two objects share a chunk, not even with an earlier run against
 * the same cluster (chunks are deduplicated by content hash).
 */
const STAMP = 1024 * 1024;
const RUN_SALT = randomBytes(4).readUInt32BE(0);
class Contents {
  readonly buf: Buffer;
  constructor(size: number) {
    const c = createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), Buffer.alloc(16, 0));
    this.buf = Buffer.concat([c.update(Buffer.alloc(size)), c.final()]);
  }
  /** Makes buf the contents of object k. */
  stamp(k: number): Buffer {
    for (let o = 0; o + 4 <= this.buf.length; o += STAMP) {
      this.buf.writeUInt32BE(k >>> 0, o);
      if (o + 8 <= this.buf.length) this.buf.writeUInt32BE(RUN_SALT, o + 4);
    }
    return this.buf;
  }
}

export interface S3BenchOptions {
  readonly nodes: readonly BenchNode[];
  readonly accessKey: string;
  readonly secretKey: string;
  readonly small: { readonly valueBytes: number; readonly concurrencies: readonly number[]; readonly seconds: number } | undefined;
  /** Every size at every concurrency, a put phase then a get phase each. */
  readonly large: { readonly objectBytes: readonly number[]; readonly concurrencies: readonly number[]; readonly seconds: number; readonly skipGet?: boolean } | undefined;
  readonly print: (r: S3PhaseResult) => void;
  /** Recorded in every result (default 'ringstore'). */
  readonly target?: string;
}

export async function s3Bench(opts: S3BenchOptions): Promise<S3PhaseResult[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256, timeout: 10_000 }); // idle sockets: see bench.ts
  const eps: S3Endpoint[] = opts.nodes.map((n) => ({ url: n.s3, accessKey: opts.accessKey, secretKey: opts.secretKey }));
  const results: S3PhaseResult[] = [];
  const push = (r: S3PhaseResult): void => {
    const tagged = { target: opts.target ?? 'ringstore', ...r };
    results.push(tagged);
    opts.print(tagged);
  };
  const bucket = `bench-s3-${Date.now().toString(36)}`;
  try {
    const mk = await s3Request(agent, eps[0]!, 'PUT', `/${bucket}`);
    if (mk.status !== 200) throw new Error(`creating bucket ${bucket} failed: ${mk.status} ${mk.body.toString().slice(0, 300)}`);

    if (opts.small !== undefined) {
      const { valueBytes, concurrencies, seconds } = opts.small;
      const contents = new Contents(valueBytes);
      const samples = Array.from({ length: 256 }, (_, i) => Buffer.from(contents.stamp(i)));
      let written = 0;
      for (const c of concurrencies) {
        const base = written;
        const r = await withMemory(opts.nodes, valueBytes, () =>
          runPhase(`s3-put-${kib(valueBytes)}-c${c}`, 'put', c, seconds, async (i, w) => {
            const k = base + i;
            const res = await s3Request(agent, eps[w % eps.length]!, 'PUT', `/${bucket}/s/${k}`, { body: samples[k % 256]!, headers: { 'content-type': 'application/octet-stream' } });
            if (res.status !== 200) throw new Error(`put ${res.status}: ${res.body.toString().slice(0, 200)}`);
            return { bytes: valueBytes, verified: true };
          }),
        );
        written = base + r.ops + r.errors;
        push(r);
      }
      for (const c of concurrencies) {
        const r = await withMemory(opts.nodes, valueBytes, () =>
          runPhase(`s3-get-${kib(valueBytes)}-c${c}`, 'get', c, seconds, async (i, w) => {
            const k = (i * 7919) % written;
            const res = await s3Request(agent, eps[(w + 1) % eps.length]!, 'GET', `/${bucket}/s/${k}`);
            if (res.status === 404) return { bytes: 0, verified: true }; // a put that errored
            if (res.status !== 200) throw new Error(`get ${res.status}: ${res.body.toString().slice(0, 200)}`);
            return { bytes: res.bytes, verified: res.body.equals(samples[k % 256]!) };
          }),
        );
        push(r);
      }
    }

    if (opts.large !== undefined) {
      const { seconds } = opts.large;
      for (const objectBytes of opts.large.objectBytes) {
        for (const concurrency of opts.large.concurrencies) {
          const perWorker = Array.from({ length: concurrency }, () => new Contents(objectBytes));
          const PIECE = 1024 * 1024;
          const done: number[] = [];
          const prefix = `l${mib(objectBytes)}c${concurrency}`;
          const put = await withMemory(opts.nodes, objectBytes, () =>
            runPhase(`s3-put-${mib(objectBytes)}-c${concurrency}`, 'put', concurrency, seconds, async (i, w) => {
              const body = perWorker[w]!.stamp(i);
              const pieces: Buffer[] = [];
              for (let o = 0; o < body.length; o += PIECE) pieces.push(body.subarray(o, Math.min(body.length, o + PIECE)));
              const res = await s3Request(agent, eps[w % eps.length]!, 'PUT', `/${bucket}/${prefix}/${i}`, { body: pieces, headers: { 'content-type': 'application/octet-stream' } });
              if (res.status !== 200) throw new Error(`put ${res.status}: ${res.body.toString().slice(0, 200)}`);
              done.push(i);
              return { bytes: objectBytes, verified: true };
            }),
          );
          push(put);
          if (done.length > 0 && opts.large.skipGet !== true) {
            const get = await withMemory(opts.nodes, objectBytes, () =>
              runPhase(`s3-get-${mib(objectBytes)}-c${concurrency}`, 'get', concurrency, seconds, async (i, w) => {
                const k = done[(i * 7919) % done.length]!;
                const expect = perWorker[w]!.stamp(k);
                let off = 0;
                let same = true;
                const res = await s3Request(agent, eps[(w + 1) % eps.length]!, 'GET', `/${bucket}/${prefix}/${k}`, {
                  onData: (c) => {
                    if (same && !c.equals(expect.subarray(off, off + c.length))) same = false;
                    off += c.length;
                  },
                });
                if (res.status !== 200) throw new Error(`get ${res.status}: ${res.body.toString().slice(0, 200)}`);
                return { bytes: res.bytes, verified: same && off === objectBytes };
              }),
            );
            push(get);
          }
        }
      }
    }
  } finally {
    agent.destroy();
  }
  return results;
}

const kib = (b: number): string => (b % 1024 === 0 ? `${b / 1024}k` : `${b}b`);
const mib = (b: number): string => (b % (1024 * 1024) === 0 ? `${b / 1024 / 1024}m` : kib(b));
