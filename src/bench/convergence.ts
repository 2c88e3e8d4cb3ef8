// Anti-entropy convergence benchmark (Dynamo §4.7): on a fresh 3-node dev
// cluster, cut one node off, write K keys on the other side, heal, and time
// how long until every node's Merkle root of every partition agrees, while
// a foreground load runs; compare the foreground latency during the repair
// with a quiet period before the cut.
//
// The foreground is reads (GET, R=2, through n1 and n2; every read also
// asks n3) of 1000 keys written before the cut: a foreground write changes
// the roots itself, and the roots of three nodes, read at slightly different
// moments, would then rarely agree however converged the cut keys are.
//
//   node dist/src/bench/convergence.js [--keys 10000] [--cut faults|kill]
//        [--value-size 1024] [--concurrency 8] [--quiet-seconds 10] [--ae '{"keysPerSec":5000}']
//
// --cut faults (default) drops all traffic between n3 and the others with
// the dev-only fault switch, so n3 keeps running and the heal is instant;
// --cut kill SIGKILLs n3 and restarts it (so the figure includes nothing of
// the restart: the clock starts once n3 answers /health and its peers see
// it alive). Prints one JSON line per phase, then a summary line.

import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { startDevCluster, type DevCluster, type DevNode } from '../node/dev-cluster.js';
import { Histogram, request, runPhase } from './load.js';
import { useCredentials } from './auth.js';

interface Options {
  keys: number;
  cut: 'faults' | 'kill';
  valueSize: number;
  concurrency: number;
  quietSeconds: number;
  ae: Record<string, unknown>;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { keys: 10_000, cut: 'faults', valueSize: 1024, concurrency: 8, quietSeconds: 10, ae: {} };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`${a} needs a value`);
    i++;
    if (a === '--keys') o.keys = Number(v);
    else if (a === '--cut') {
      if (v !== 'faults' && v !== 'kill') throw new Error('--cut faults|kill');
      o.cut = v;
    } else if (a === '--value-size') o.valueSize = Number(v);
    else if (a === '--concurrency') o.concurrency = Number(v);
    else if (a === '--quiet-seconds') o.quietSeconds = Number(v);
    else if (a === '--ae') o.ae = JSON.parse(v) as Record<string, unknown>;
    else throw new Error(`unknown option ${a}`);
  }
  return o;
}

const BUCKET = 'convergence';
const FG_KEYS = 1000;

async function json(agent: http.Agent, url: string, method = 'GET', body?: unknown): Promise<any> {
  const r = await request(agent, new URL(url), method, body === undefined ? undefined : Buffer.from(JSON.stringify(body)), body === undefined ? {} : { 'content-type': 'application/json' });
  if (r.status !== 200) throw new Error(`${method} ${url}: ${r.status} ${r.body.toString('utf8').slice(0, 300)}`);
  return JSON.parse(r.body.toString('utf8'));
}

async function rootsAgree(agent: http.Agent, nodes: readonly DevNode[]): Promise<boolean> {
  try {
    const all = await Promise.all(nodes.map((n) => json(agent, `${n.http}/_antientropy/roots`)));
    const first = all[0].partitions as Record<string, string>;
    return all.every((r) => {
      const p = r.partitions as Record<string, string>;
      return Object.keys(p).length === Object.keys(first).length && Object.entries(first).every(([k, h]) => p[k] === h);
    });
  } catch {
    return false;
  }
}

async function waitUntil(cond: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await cond())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function metricSum(agent: http.Agent, node: DevNode, name: string): Promise<number> {
  const r = await request(agent, new URL(`${node.http}/metrics`), 'GET');
  let sum = 0;
  for (const line of r.body.toString('utf8').split('\n')) if (line.startsWith(name)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ringstore-convergence-'));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const emit = (x: unknown): void => void process.stdout.write(JSON.stringify(x) + '\n');
  let cluster: DevCluster | undefined;
  try {
    cluster = await startDevCluster({
      dir,
      nodes: 3,
      basePort: 0,
      logLevel: 'warn',
      nodeSettings: { ...(o.cut === 'faults' ? { faults: true } : {}), ...(Object.keys(o.ae).length > 0 ? { antiEntropy: o.ae } : {}) },
    });
    useCredentials(cluster);
    const [n1, n2, n3] = cluster.nodes as [DevNode, DevNode, DevNode];
    const front = [n1, n2];
    await json(agent, `${n1.http}/buckets/${BUCKET}`, 'PUT');
    const value = Buffer.alloc(o.valueSize, 0x61);
    const put = async (node: DevNode, key: string): Promise<void> => {
      const r = await request(agent, new URL(`${node.http}/buckets/${BUCKET}/${key}`), 'PUT', value);
      if (r.status !== 200) throw new Error(`PUT ${key}: ${r.status} ${r.body.toString('utf8').slice(0, 200)}`);
    };
    // Foreground keys, everywhere before the measurements.
    for (let i = 0; i < FG_KEYS; i += 50) await Promise.all(Array.from({ length: 50 }, (_, j) => put(front[j % 2]!, `fg-${i + j}`)));
    await waitUntil(() => rootsAgree(agent, cluster!.nodes), 60_000, 'roots to agree after the preload');

    // The foreground: reads (R=2) of the fg keys through n1 and n2.
    const fgOp = async (i: number, w: number): Promise<{ bytes: number; verified: boolean }> => {
      const node = front[w % 2]!;
      const key = `fg-${(i * 7919) % FG_KEYS}`;
      const r = await request(agent, new URL(`${node.http}/buckets/${BUCKET}/${key}`), 'GET');
      if (r.status !== 200) throw new Error(`GET ${key}: ${r.status}`);
      return { bytes: r.body.length, verified: r.body.length === value.length };
    };
    const opName = 'get';
    const quiet = await runPhase('quiet', opName, o.concurrency, o.quietSeconds, fgOp);
    emit(quiet);

    // The cut.
    if (o.cut === 'faults') {
      await Promise.all([
        json(agent, `${n3.http}/_faults`, 'POST', { drop: [n1.id, n2.id], direction: 'both' }),
        json(agent, `${n1.http}/_faults`, 'POST', { drop: [n3.id], direction: 'both' }),
        json(agent, `${n2.http}/_faults`, 'POST', { drop: [n3.id], direction: 'both' }),
      ]);
    } else await cluster.kill(n3.id);
    const w0 = performance.now();
    let written = 0;
    let next = 0;
    await Promise.all(
      Array.from({ length: 64 }, async (_, w) => {
        while (next < o.keys) {
          const i = next++;
          await put(front[w % 2]!, `cut-${i}`);
          written++;
        }
      }),
    );
    emit({ phase: 'write during cut', keys: written, seconds: Math.round((performance.now() - w0) / 10) / 100 });

    // The heal, then the race: foreground load until every root agrees.
    const sumOf = async (name: string, nodes: readonly DevNode[]): Promise<number> => (await Promise.all(nodes.map((n) => metricSum(agent, n, name)))).reduce((a, b) => a + b, 0);
    const before = cluster.nodes.filter((n) => n.id !== n3.id || o.cut === 'faults');
    const repairedBefore = await sumOf('ringstore_antientropy_keys_repaired_total', before);
    const handedBefore = await sumOf('ringstore_hints_delivered_total', before);
    if (o.cut === 'faults') await Promise.all(cluster.nodes.map((n) => json(agent, `${n.http}/_faults`, 'DELETE')));
    else await cluster.restart(n3.id);
    const t0 = performance.now();
    // When every node's membership view holds everyone alive again (anti-entropy skips peers it holds down).
    let aliveS: number | undefined;
    let watching = true;
    void (async () => {
      while (aliveS === undefined && watching) {
        try {
          const views = await Promise.all(cluster!.nodes.map((n) => json(agent, `${n.http}/health`)));
          if (views.every((h) => Array.isArray(h.down) && h.down.length === 0)) aliveS = (performance.now() - t0) / 1000;
        } catch {
          // retried
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    let converged = false;
    const hist = new Histogram();
    let ops = 0;
    let errors = 0;
    let firstError: string | undefined;
    let i = 0;
    const load = Promise.all(
      Array.from({ length: o.concurrency }, async (_, w) => {
        while (!converged) {
          const s = performance.now();
          try {
            await fgOp(i++, w);
            hist.record(performance.now() - s);
            ops++;
          } catch (err) {
            errors++;
            firstError ??= err instanceof Error ? err.message : String(err);
          }
        }
      }),
    );
    await waitUntil(() => rootsAgree(agent, cluster!.nodes), 300_000, 'roots to agree after the heal');
    const convergeS = (performance.now() - t0) / 1000;
    converged = true;
    watching = false;
    await load;
    const repairedAfter = await sumOf('ringstore_antientropy_keys_repaired_total', cluster.nodes);
    const handedAfter = await sumOf('ringstore_hints_delivered_total', cluster.nodes);
    const round = (x: number): number => Math.round(x * 100) / 100;
    const repair = {
      phase: 'repair',
      op: opName,
      concurrency: o.concurrency,
      seconds: round(convergeS),
      ops,
      ops_per_s: Math.round(ops / convergeS),
      p50_ms: round(hist.quantile(0.5)),
      p95_ms: round(hist.quantile(0.95)),
      p99_ms: round(hist.quantile(0.99)),
      max_ms: round(hist.maxMs),
      errors,
      ...(firstError !== undefined ? { first_error: firstError } : {}),
    };
    emit(repair);
    emit({
      summary: 'convergence',
      cut: o.cut,
      keys_written_during_cut: written,
      converge_s: round(convergeS),
      all_alive_s: aliveS === undefined ? null : round(aliveS),
      keys_repaired_by_antientropy: repairedAfter - repairedBefore,
      hints_delivered: handedAfter - handedBefore,
      quiet_p99_ms: quiet.p99_ms,
      repair_p99_ms: repair.p99_ms,
      p99_ratio: round(repair.p99_ms / quiet.p99_ms),
      nproc: os.availableParallelism(),
    });
  } finally {
    await cluster?.stop();
    agent.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
