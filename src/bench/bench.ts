// `npm run bench`: starts a 3-node dev cluster in a temporary folder, drives
// 4 KiB puts then gets through the native API at concurrency 16 and 64, then
// the S3 phases (s3-bench.ts: 4 KiB through the S3 port at the same
// concurrencies, 64 MiB objects at concurrency 4), checks every value it
// reads, and prints one JSON line per phase.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import { request, runPhase, type PhaseResult } from './load.js';
import { s3Bench, withMemory, type S3PhaseResult } from './s3-bench.js';
import { startS3rver } from './s3rver.js';
import { searchBench } from './search-bench.js';
import { useCredentials } from './auth.js';

/** The groups of phases `--phases` selects from. */
export const PHASE_GROUPS = ['native', 's3-small', 's3-large', 'search'] as const;
/** What runs without --phases: search (100,000 writes first) only when asked. */
export const DEFAULT_PHASES: readonly PhaseGroup[] = ['native', 's3-small', 's3-large'];
export type PhaseGroup = (typeof PHASE_GROUPS)[number];

export interface BenchOptions {
  readonly nodes: number;
  readonly seconds: number;
  readonly valueBytes: number;
  readonly concurrencies: readonly number[];
  /** Use an already running cluster (its cluster.json) instead of starting one. */
  readonly clusterFile?: string;
  /** Default: all. */
  readonly phases?: readonly PhaseGroup[];
  /** Large-object phases: object sizes and concurrencies (each size at each), seconds per phase. */
  readonly largeBytes?: readonly number[];
  readonly largeConcurrency?: readonly number[];
  readonly largeSeconds?: number;
  /** Only the put phase of the large objects (for profiling uploads). */
  readonly largePutOnly?: boolean;
  /** The search phase: files written (spread over 5 users) before searching. Default 100,000. */
  readonly searchFiles?: number;
  /** Also run the S3 phases against s3rver (one unsynced copy) and print the ratios. */
  readonly s3rver?: boolean;
  /** The dev cluster's nodes with the write log in front of the store or without (on/off); default theirs. */
  readonly storeLog?: string;
}

interface ClusterInfo {
  readonly nodes: readonly { id: string; pid: number; http: string; s3: string }[];
  readonly access_key: string;
  readonly secret_key: string;
  readonly user_token: string;
  readonly admin_token: string;
}

const BIN = fileURLToPath(new URL('../../../bin/ringstore.js', import.meta.url));

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function startDevCluster(nodes: number, storeLog?: string): Promise<{ info: ClusterInfo; child: ChildProcess; dir: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ringstore-bench-'));
  const child = spawn(process.execPath, [BIN, 'dev', '--nodes', String(nodes), '--data', dir, '--base-port', '0', ...(storeLog !== undefined ? ['--store-log', storeLog] : [])], { stdio: ['ignore', 'ignore', 'inherit'] });
  const file = path.join(dir, 'cluster.json');
  const agent = new http.Agent({ keepAlive: true });
  const info = await waitFor('the dev cluster', 60_000, async () => {
    if (!existsSync(file)) return undefined;
    const c = JSON.parse(readFileSync(file, 'utf8')) as ClusterInfo;
    for (const n of c.nodes) if ((await request(agent, new URL('/health', n.http), 'GET')).status !== 200) return undefined;
    return c;
  });
  agent.destroy();
  return { info, child, dir };
}

/** The value for key i: deterministic, so a read can be checked without remembering it. */
function valueFor(i: number, size: number): Buffer {
  const out = Buffer.alloc(size);
  let seed = createHash('sha256').update(`bench-${i}`).digest();
  for (let o = 0; o < size; o += seed.length) {
    seed.copy(out, o);
    seed = createHash('sha256').update(seed).digest();
  }
  return out;
}

export async function bench(opts: BenchOptions): Promise<PhaseResult[]> {
  const started = opts.clusterFile === undefined ? await startDevCluster(opts.nodes, opts.storeLog) : undefined;
  const info = started?.info ?? (JSON.parse(readFileSync(opts.clusterFile as string, 'utf8')) as ClusterInfo);
  useCredentials({ userToken: info.user_token, adminToken: info.admin_token });
  // Idle sockets leave the pool after 10 s: a node closes a connection idle
  // for 20 s, and Node 20's agent ignores the Keep-Alive hint, so a socket
  // idle for about that long (the three a c4 phase had not needed since the
  // c4 phase before it) was reused as the node closed it and a 64 MiB PUT
  // failed with EPIPE. The request timeout (s3-client.ts) replaces this one
  // while a socket is in use.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256, timeout: 10_000 });
  const bases = info.nodes.map((n) => n.http);
  const results: PhaseResult[] = [];
  const phases = new Set(opts.phases ?? DEFAULT_PHASES);
  try {
    if (phases.has('native')) results.push(...(await nativeBench(agent, bases, info.nodes, opts)));
    if (phases.has('s3-small') || phases.has('s3-large')) {
      const s3Phases = (target: string, nodes: readonly { id: string; pid: number; s3: string }[], accessKey: string, secretKey: string): Promise<S3PhaseResult[]> =>
        s3Bench({
          target,
          nodes,
          accessKey,
          secretKey,
          small: phases.has('s3-small') ? { valueBytes: opts.valueBytes, concurrencies: opts.concurrencies, seconds: opts.seconds } : undefined,
          large: phases.has('s3-large')
            ? { objectBytes: opts.largeBytes ?? [64 * 1024 * 1024], concurrencies: opts.largeConcurrency ?? [4], seconds: opts.largeSeconds ?? opts.seconds, skipGet: opts.largePutOnly ?? false }
            : undefined,
          print: (r) => console.log(JSON.stringify(r)),
        });
      const ours = await s3Phases('ringstore', info.nodes, info.access_key, info.secret_key);
      results.push(...ours);
      if (opts.s3rver === true) {
        const ref = await startS3rver();
        try {
          const theirs = await s3Phases('s3rver', [{ id: 's3rver', pid: ref.pid, s3: ref.url }], ref.accessKey, ref.secretKey);
          results.push(...theirs);
          for (const line of compare(ours, theirs)) console.log(JSON.stringify(line));
        } finally {
          await ref.stop();
        }
      }
    }
    if (phases.has('search')) results.push(...(await searchBench(agent, bases, { files: opts.searchFiles ?? 100_000, users: 5, concurrency: 64, runs: 10, print: (r) => console.log(JSON.stringify(r)) })));
  } finally {
    agent.destroy();
    if (started !== undefined) {
      started.child.kill('SIGTERM');
      await new Promise((r) => started.child.once('exit', r));
      rmSync(started.dir, { recursive: true, force: true });
    }
  }
  return results;
}

async function nativeBench(agent: http.Agent, bases: readonly string[], nodes: ClusterInfo['nodes'], opts: BenchOptions): Promise<PhaseResult[]> {
  const results: PhaseResult[] = [];
  {
    const mk = await request(agent, new URL('/buckets/bench', bases[0]), 'PUT');
    if (mk.status !== 200) throw new Error(`creating the bench bucket failed: ${mk.status} ${mk.body.toString()}`);
    // A sample of values, reused round-robin, so generating them costs nothing during the phase.
    const samples = Array.from({ length: 256 }, (_, i) => valueFor(i, opts.valueBytes));
    let written = 0;
    for (const c of opts.concurrencies) {
      const base = written;
      const r = await withMemory(nodes, opts.valueBytes, () =>
        runPhase(`put-c${c}`, 'put', c, opts.seconds, async (i, w) => {
          const k = base + i;
          const res = await request(agent, new URL(`/buckets/bench/k${k}`, bases[w % bases.length]), 'PUT', samples[k % 256], { 'content-type': 'application/octet-stream' });
          if (res.status !== 200) throw new Error(`put ${res.status}: ${res.body.toString().slice(0, 200)}`);
          return { bytes: opts.valueBytes, verified: true };
        }),
      );
      written = base + r.ops + r.errors;
      results.push(r);
      console.log(JSON.stringify(r));
    }
    const okKeys = written;
    for (const c of opts.concurrencies) {
      const r = await withMemory(nodes, opts.valueBytes, () =>
        runPhase(`get-c${c}`, 'get', c, opts.seconds, async (i, w) => {
          const k = (i * 7919) % okKeys;
          const res = await request(agent, new URL(`/buckets/bench/k${k}`, bases[(w + 1) % bases.length]), 'GET');
          if (res.status === 404) return { bytes: 0, verified: true }; // a put that errored
          if (res.status !== 200) throw new Error(`get ${res.status}: ${res.body.toString().slice(0, 200)}`);
          return { bytes: res.body.length, verified: res.body.equals(samples[k % 256]!) };
        }),
      );
      results.push(r);
      console.log(JSON.stringify(r));
    }
  }
  return results;
}

/** Server CPU per operation in ms: every watched process's CPU over the phase's operations. */
export function serverCpuMsPerOp(r: S3PhaseResult): number | undefined {
  if (r.rss === undefined || r.ops === 0) return undefined;
  const cpu = r.rss.reduce((t, n) => t + n.cpu_s, 0);
  return Math.round((cpu * 1000 * 1000) / r.ops) / 1000;
}

export interface Comparison {
  readonly compare: string;
  readonly ringstore: Summary;
  readonly s3rver: Summary;
  /** ringstore / s3rver: above 1 means ringstore did more (ops/s, MB/s) or took longer (p99, CPU). */
  readonly ratio: { readonly ops_per_s: number; readonly mb_per_s: number; readonly p99_ms: number; readonly server_cpu_ms_per_op: number | null };
}

interface Summary {
  readonly ops_per_s: number;
  readonly mb_per_s: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
  readonly server_cpu_ms_per_op: number | null;
  readonly errors: number;
}

/** One line per phase both ran: ringstore's figures, s3rver's, and their ratios. */
export function compare(ours: readonly S3PhaseResult[], theirs: readonly S3PhaseResult[]): Comparison[] {
  const sum = (r: S3PhaseResult): Summary => ({
    ops_per_s: r.ops_per_s,
    mb_per_s: r.mb_per_s,
    p50_ms: r.p50_ms,
    p99_ms: r.p99_ms,
    server_cpu_ms_per_op: serverCpuMsPerOp(r) ?? null,
    errors: r.errors,
  });
  const ratio = (a: number | null, b: number | null): number => (a === null || b === null || b === 0 ? NaN : Math.round((a / b) * 100) / 100);
  const out: Comparison[] = [];
  for (const o of ours) {
    const t = theirs.find((x) => x.phase === o.phase);
    if (t === undefined) continue;
    const a = sum(o);
    const b = sum(t);
    out.push({
      compare: o.phase,
      ringstore: a,
      s3rver: b,
      // From the unrounded rates: large objects run at a few per second.
      ratio: { ops_per_s: ratio(o.ops / o.seconds, t.ops / t.seconds), mb_per_s: ratio(a.mb_per_s, b.mb_per_s), p99_ms: ratio(a.p99_ms, b.p99_ms), server_cpu_ms_per_op: a.server_cpu_ms_per_op === null ? null : ratio(a.server_cpu_ms_per_op, b.server_cpu_ms_per_op) },
    });
  }
  return out;
}
