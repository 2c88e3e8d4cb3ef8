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
import { s3Bench } from './s3-bench.js';
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
  /** Large-object phases: object size, concurrency, seconds per phase. */
  readonly largeBytes?: number;
  readonly largeConcurrency?: number;
  readonly largeSeconds?: number;
  /** Only the put phase of the large objects (for profiling uploads). */
  readonly largePutOnly?: boolean;
  /** The search phase: files written (spread over 5 users) before searching. Default 100,000. */
  readonly searchFiles?: number;
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

async function startDevCluster(nodes: number): Promise<{ info: ClusterInfo; child: ChildProcess; dir: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ringstore-bench-'));
  const child = spawn(process.execPath, [BIN, 'dev', '--nodes', String(nodes), '--data', dir, '--base-port', '0'], { stdio: ['ignore', 'ignore', 'inherit'] });
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
  const started = opts.clusterFile === undefined ? await startDevCluster(opts.nodes) : undefined;
  const info = started?.info ?? (JSON.parse(readFileSync(opts.clusterFile as string, 'utf8')) as ClusterInfo);
  useCredentials({ userToken: info.user_token, adminToken: info.admin_token });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const bases = info.nodes.map((n) => n.http);
  const results: PhaseResult[] = [];
  const phases = new Set(opts.phases ?? DEFAULT_PHASES);
  try {
    if (phases.has('native')) results.push(...(await nativeBench(agent, bases, opts)));
    if (phases.has('s3-small') || phases.has('s3-large')) {
      results.push(
        ...(await s3Bench({
          nodes: info.nodes,
          accessKey: info.access_key,
          secretKey: info.secret_key,
          small: phases.has('s3-small') ? { valueBytes: opts.valueBytes, concurrencies: opts.concurrencies, seconds: opts.seconds } : undefined,
          large: phases.has('s3-large')
            ? { objectBytes: opts.largeBytes ?? 64 * 1024 * 1024, concurrency: opts.largeConcurrency ?? 4, seconds: opts.largeSeconds ?? opts.seconds, skipGet: opts.largePutOnly ?? false }
            : undefined,
          print: (r) => console.log(JSON.stringify(r)),
        })),
      );
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

async function nativeBench(agent: http.Agent, bases: readonly string[], opts: BenchOptions): Promise<PhaseResult[]> {
  const results: PhaseResult[] = [];
  {
    const mk = await request(agent, new URL('/buckets/bench', bases[0]), 'PUT');
    if (mk.status !== 200) throw new Error(`creating the bench bucket failed: ${mk.status} ${mk.body.toString()}`);
    // A sample of values, reused round-robin, so generating them costs nothing during the phase.
    const samples = Array.from({ length: 256 }, (_, i) => valueFor(i, opts.valueBytes));
    let written = 0;
    for (const c of opts.concurrencies) {
      const base = written;
      const r = await runPhase(`put-c${c}`, 'put', c, opts.seconds, async (i, w) => {
        const k = base + i;
        const res = await request(agent, new URL(`/buckets/bench/k${k}`, bases[w % bases.length]), 'PUT', samples[k % 256], { 'content-type': 'application/octet-stream' });
        if (res.status !== 200) throw new Error(`put ${res.status}: ${res.body.toString().slice(0, 200)}`);
        return { bytes: opts.valueBytes, verified: true };
      });
      written = base + r.ops + r.errors;
      results.push(r);
      console.log(JSON.stringify(r));
    }
    const okKeys = written;
    for (const c of opts.concurrencies) {
      const r = await runPhase(`get-c${c}`, 'get', c, opts.seconds, async (i, w) => {
        const k = (i * 7919) % okKeys;
        const res = await request(agent, new URL(`/buckets/bench/k${k}`, bases[(w + 1) % bases.length]), 'GET');
        if (res.status === 404) return { bytes: 0, verified: true }; // a put that errored
        if (res.status !== 200) throw new Error(`get ${res.status}: ${res.body.toString().slice(0, 200)}`);
        return { bytes: res.body.length, verified: res.body.equals(samples[k % 256]!) };
      });
      results.push(r);
      console.log(JSON.stringify(r));
    }
  }
  return results;
}
