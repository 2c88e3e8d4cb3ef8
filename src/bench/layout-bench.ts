// `npm run bench -- --layout` (issue 10): how fast a node's share of the data
// moves when a node joins, and what the move costs the foreground.
//
//   1. a 3-node dev cluster in a temporary folder (node/dev-cluster.ts);
//   2. load: `bytes` of native values (default 1 GiB in 256 KiB values);
//   3. foreground before: 4 KiB puts and gets at a low concurrency, p99;
//   4. add a node (DevCluster.addNode: join, assign, apply) while the same
//      foreground load runs, until one layout version is live and every node
//      has synced; the time from apply to settled and the bytes the plan said
//      would move give MB/s;
//   5. a check that the new node holds its share, and one JSON line per phase
//      plus a summary.
//
// Anti-entropy pairs with the owners of every live version, so it moves data
// to the new node alongside the layout sync: the figure is the cluster's,
// not the sync's alone.

import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { startDevCluster, type DevCluster, type LayoutProgressEvent } from '../node/dev-cluster.js';
import { Histogram, request, runPhase, type PhaseResult } from './load.js';
import { useCredentials } from './auth.js';

export interface LayoutBenchOptions {
  /** Bytes loaded before the move (one replica's worth). Default 1 GiB. */
  readonly bytes?: number;
  /** Size of each loaded value. Default 256 KiB. */
  readonly valueBytes?: number;
  /** Concurrency of the load. Default 16. */
  readonly loadConcurrency?: number;
  /** Foreground probe: value size, concurrency of puts and of gets, seconds of the "before" phases. */
  readonly probeBytes?: number;
  readonly probeConcurrency?: number;
  readonly probeSeconds?: number;
  /** layoutSyncRate of every node (bytes/s); default the node's own (64 MiB/s). */
  readonly syncBytesPerSecond?: number;
  /** Keep the cluster folder (its node logs) instead of removing it. */
  readonly keep?: boolean;
  readonly print?: (line: Record<string, unknown>) => void;
}

export interface LayoutBenchResult {
  readonly bytes_loaded: number;
  readonly load_seconds: number;
  readonly load_mb_per_s: number;
  readonly join_seconds: number;
  readonly sync_seconds: number;
  readonly bytes_moved: number | null;
  readonly replicas_moved: number | null;
  readonly move_mb_per_s: number | null;
  readonly new_node_keys: number | null;
  readonly before: readonly PhaseResult[];
  readonly during: readonly PhaseResult[];
}

/** Deterministic, cheap, incompressible-looking bytes: a value is recognisable by its key. */
function fill(i: number, size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = (i + 1) * 2654435761;
  for (let o = 0; o + 4 <= size; o += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out.writeInt32LE(x | 0, o);
  }
  for (let o = size - (size % 4); o < size; o++) out[o] = i & 0xff;
  return out;
}

const round = (x: number): number => Math.round(x * 100) / 100;

function summarize(phase: string, op: string, concurrency: number, seconds: number, hist: Histogram, ops: number, bytes: number, errors: number, firstError: string | undefined): PhaseResult {
  return {
    phase,
    op,
    concurrency,
    seconds: round(seconds),
    ops,
    ops_per_s: Math.round(ops / seconds),
    mb_per_s: round(bytes / seconds / 1e6),
    p50_ms: round(hist.quantile(0.5)),
    p95_ms: round(hist.quantile(0.95)),
    p99_ms: round(hist.quantile(0.99)),
    max_ms: round(hist.maxMs),
    errors,
    verify_failures: 0,
    ...(firstError !== undefined ? { first_error: firstError } : {}),
  };
}

async function metric(agent: http.Agent, base: string, name: string): Promise<number | null> {
  const res = await request(agent, new URL('/metrics', base), 'GET');
  const line = res.body
    .toString()
    .split('\n')
    .find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
  return line === undefined ? null : Number(line.slice(line.lastIndexOf(' ') + 1));
}

export async function layoutBench(opts: LayoutBenchOptions = {}): Promise<LayoutBenchResult> {
  const total = opts.bytes ?? 1024 ** 3;
  const valueBytes = opts.valueBytes ?? 256 * 1024;
  const probeBytes = opts.probeBytes ?? 4096;
  const probeConcurrency = opts.probeConcurrency ?? 4;
  const probeSeconds = opts.probeSeconds ?? 10;
  const print = opts.print ?? ((l) => console.log(JSON.stringify(l)));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ringstore-layout-bench-'));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  let cluster: DevCluster | undefined;
  try {
    cluster = await startDevCluster({
      dir,
      nodes: 3,
      basePort: 0,
      logLevel: 'info',
      healthTimeoutMs: 120_000,
      ...(opts.syncBytesPerSecond !== undefined ? { nodeSettings: { layoutSyncRate: String(opts.syncBytesPerSecond) } } : {}),
    });
    const c = cluster;
    useCredentials(c);
    // The founding nodes only: the foreground must not count the new node's start-up as errors.
    const founders = c.nodes.map((n) => n.http);
    const bases = (): string[] => founders;
    for (const b of ['layoutbench', 'probe']) {
      const r = await request(agent, new URL(`/buckets/${b}`, bases()[0]), 'PUT');
      if (r.status !== 200) throw new Error(`creating bucket ${b}: ${r.status} ${r.body.toString()}`);
    }

    // ---- load
    const keys = Math.ceil(total / valueBytes);
    const samples = Array.from({ length: 64 }, (_, i) => fill(i, valueBytes));
    let next = 0;
    let loadErrors = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: opts.loadConcurrency ?? 16 }, async (_, w) => {
        for (let i = next++; i < keys; i = next++) {
          for (let attempt = 0; ; attempt++) {
            const res = await request(agent, new URL(`/buckets/layoutbench/v${i}`, bases()[(i + w) % bases().length]), 'PUT', samples[i % samples.length], { 'content-type': 'application/octet-stream' }).catch((err: unknown) => ({ status: 0, body: Buffer.from(String(err)) }));
            if (res.status === 200) break;
            loadErrors++;
            if (attempt >= 5) throw new Error(`loading v${i}: ${res.status} ${res.body.toString().slice(0, 200)}`);
          }
        }
      }),
    );
    const loadSeconds = (performance.now() - t0) / 1000;
    const loaded = keys * valueBytes;
    print({ phase: 'load', keys, value_bytes: valueBytes, bytes: loaded, seconds: round(loadSeconds), mb_per_s: round(loaded / loadSeconds / 1e6), retried: loadErrors });

    // ---- foreground before the move
    const probeValue = fill(999_999, probeBytes);
    let probeKeys = 0;
    const put = async (i: number, w: number): Promise<{ bytes: number; verified: boolean }> => {
      const res = await request(agent, new URL(`/buckets/probe/p${i}`, bases()[w % bases().length]), 'PUT', probeValue, { 'content-type': 'application/octet-stream' });
      if (res.status !== 200) throw new Error(`put ${res.status}: ${res.body.toString().slice(0, 200)}`);
      probeKeys = Math.max(probeKeys, i + 1);
      return { bytes: probeBytes, verified: true };
    };
    const get = async (i: number, w: number): Promise<{ bytes: number; verified: boolean }> => {
      const k = (i * 7919) % Math.max(1, probeKeys);
      const res = await request(agent, new URL(`/buckets/probe/p${k}`, bases()[(w + 1) % bases().length]), 'GET');
      if (res.status === 404) return { bytes: 0, verified: true };
      if (res.status !== 200) throw new Error(`get ${res.status}: ${res.body.toString().slice(0, 200)}`);
      return { bytes: res.body.length, verified: res.body.equals(probeValue) };
    };
    const before: PhaseResult[] = [];
    before.push(await runPhase('put-before', 'put', probeConcurrency, probeSeconds, put));
    before.push(await runPhase('get-before', 'get', probeConcurrency, probeSeconds, get));
    for (const r of before) print({ ...r });

    // ---- add a node while the foreground runs
    let done = false;
    const hist = { put: new Histogram(), get: new Histogram() };
    const count = { put: 0, get: 0, putErr: 0, getErr: 0 };
    const firstError: { put?: string; get?: string } = {};
    let putSeq = probeKeys;
    let tApply = 0;
    let plan: Record<string, unknown> | undefined;
    const foreground = async (op: 'put' | 'get', w: number): Promise<void> => {
      while (!done) {
        const t = performance.now();
        try {
          if (op === 'put') await put(putSeq++, w);
          else await get(Math.floor(Math.random() * 1e9), w);
          hist[op].record(performance.now() - t);
          count[op]++;
        } catch (err) {
          if (op === 'put') count.putErr++;
          else count.getErr++;
          firstError[op] ??= (err as Error).message;
        }
      }
    };
    const fg = [...Array.from({ length: probeConcurrency }, (_, w) => foreground('put', w)), ...Array.from({ length: probeConcurrency }, (_, w) => foreground('get', w))];
    const tStart = performance.now();
    let lastProgress = 0;
    const onProgress = (e: LayoutProgressEvent): void => {
      if (e.phase === 'applied') {
        tApply = performance.now();
        plan = e.plan as Record<string, unknown> | undefined;
      }
      if (e.phase === 'syncing' && performance.now() - lastProgress < 5000) return;
      lastProgress = performance.now();
      print({ phase: 'progress', t_s: round((performance.now() - tStart) / 1000), event: e.phase, message: e.message });
    };
    let added;
    try {
      added = await c.addNode({ onProgress, timeoutMs: 60 * 60_000 });
    } finally {
      done = true;
      await Promise.all(fg);
    }
    const tSettled = performance.now();
    const duringSeconds = (tSettled - tApply) / 1000;
    const during = [
      summarize('put-during', 'put', probeConcurrency, duringSeconds, hist.put, count.put, count.put * probeBytes, count.putErr, firstError.put),
      summarize('get-during', 'get', probeConcurrency, duringSeconds, hist.get, count.get, count.get * probeBytes, count.getErr, firstError.get),
    ];
    for (const r of during) print({ ...r });
    const bytesMoved = typeof plan?.bytesMoved === 'number' ? plan.bytesMoved : null;
    const result: LayoutBenchResult = {
      bytes_loaded: loaded,
      load_seconds: round(loadSeconds),
      load_mb_per_s: round(loaded / loadSeconds / 1e6),
      join_seconds: round((tApply - tStart) / 1000),
      sync_seconds: round(duringSeconds),
      bytes_moved: bytesMoved,
      replicas_moved: typeof plan?.replicasMoved === 'number' ? plan.replicasMoved : null,
      move_mb_per_s: bytesMoved === null ? null : round(bytesMoved / duringSeconds / 1e6),
      new_node_keys: await metric(agent, added.http, 'ringstore_merkle_keys').catch(() => null),
      before,
      during,
    };
    print({ phase: 'summary', node_added: added.id, ...result, before: undefined, during: undefined });
    return result;
  } finally {
    agent.destroy();
    await cluster?.stop();
    if (opts.keep === true) console.error(`layout bench: cluster folder kept: ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}
