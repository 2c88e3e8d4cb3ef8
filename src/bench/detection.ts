// Failure detection benchmark (SWIM, Lifeguard): on a fresh dev cluster under a
// steady foreground load,
//
//  1. detection: `kill -9` one node, then time until every other node's
//     SWIM view holds it dead (each node's transition time is read from its
//     own /cluster/members `state_since_ms_ago`, so polling does not blur
//     it); restart it and wait until everyone sees it alive again; repeat
//     for --trials victims in turn;
//  2. false positives: run the load with no fault at all for
//     --quiet-seconds and count, from every node's SWIM counters, the
//     members it suspected (and saw refute) and the ones it declared dead.
//
//   node dist/src/bench/detection.js [--nodes 5] [--trials 5] [--quiet-seconds 120]
//        [--concurrency 8] [--value-size 1024] [--swim '{"probeIntervalMs":500}']
//
// Prints one JSON line per trial and per phase, then a summary line.

import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { startDevCluster, type DevCluster, type DevNode } from '../node/dev-cluster.js';
import { Histogram, request } from './load.js';
import { authHeader, useCredentials } from './auth.js';

interface Options {
  nodes: number;
  trials: number;
  quietSeconds: number;
  concurrency: number;
  valueSize: number;
  swim: Record<string, unknown>;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { nodes: 5, trials: 5, quietSeconds: 120, concurrency: 8, valueSize: 1024, swim: {} };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    const int = (): number => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new Error(`${a} needs a non-negative integer`);
      i++;
      return n;
    };
    if (a === '--nodes') o.nodes = int();
    else if (a === '--trials') o.trials = int();
    else if (a === '--quiet-seconds') o.quietSeconds = int();
    else if (a === '--concurrency') o.concurrency = int();
    else if (a === '--value-size') o.valueSize = int();
    else if (a === '--swim') {
      o.swim = JSON.parse(v ?? '{}') as Record<string, unknown>;
      i++;
    } else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

interface MemberJson {
  id: string;
  state: string;
  state_since_ms_ago: number;
}

interface MembersJson {
  node: string;
  members: MemberJson[];
  counters: Record<string, number> | null;
}

async function members(n: DevNode): Promise<MembersJson | undefined> {
  try {
    const res = await fetch(`${n.http}/cluster/members`, { signal: AbortSignal.timeout(5000), headers: authHeader(`${n.http}/cluster/members`) });
    return (await res.json()) as MembersJson;
  } catch {
    return undefined;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A closed-loop foreground load (PUT then GET of random keys) over every running node, until stopped. */
function foreground(cluster: DevCluster, excluded: ReadonlySet<string>, concurrency: number, valueSize: number): { samples: string[]; stop(): Promise<{ ops: number; errors: number; toKilled: number; p50: number; p99: number; opsPerS: number }> } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency * 2 });
  const hist = new Histogram();
  let ops = 0;
  let errors = 0;
  let toKilled = 0;
  const samples: string[] = [];
  let running = true;
  const value = Buffer.alloc(valueSize, 7);
  const started = performance.now();
  const workers = Array.from({ length: concurrency }, async (_, w) => {
    for (let i = 0; running; i++) {
      const up = cluster.nodes.filter((n) => !excluded.has(n.id));
      const n = up[(w + i) % up.length];
      if (n === undefined) {
        await sleep(50);
        continue;
      }
      const key = `k${(w * 1_000_003 + i * 7919) % 20_000}`;
      const t0 = performance.now();
      try {
        const put = await request(agent, new URL(`${n.http}/buckets/detect/${key}`), 'PUT', value);
        const get = await request(agent, new URL(`${n.http}/buckets/detect/${key}`), 'GET');
        if (put.status !== 200 || (get.status !== 200 && get.status !== 300)) {
          errors++;
          const bad = put.status !== 200 ? put : get;
          if (samples.length < 5) samples.push(`${put.status !== 200 ? 'PUT' : 'GET'} ${bad.status} ${bad.body.toString('utf8').slice(0, 300)}`);
        }
        hist.record((performance.now() - t0) / 2);
        ops += 2;
      } catch (err) {
        // A connection to the node just killed fails on the client side: not the cluster's answer.
        if (excluded.has(n.id)) toKilled++;
        else {
          errors++;
          if (samples.length < 5) samples.push(`client: ${(err as Error).message}`);
        }
      }
    }
  });
  return {
    samples,
    stop: async () => {
      running = false;
      await Promise.all(workers);
      agent.destroy();
      const s = (performance.now() - started) / 1000;
      return { ops, errors, toKilled, p50: hist.quantile(0.5), p99: hist.quantile(0.99), opsPerS: Math.round(ops / s) };
    },
  };
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ringstore-detect-'));
  const cluster = await startDevCluster({
    dir,
    nodes: o.nodes,
    basePort: 0,
    logLevel: 'warn',
    healthTimeoutMs: 90_000,
    nodeSettings: Object.keys(o.swim).length > 0 ? { swim: o.swim } : {},
  });
  useCredentials(cluster);
  const out = (x: unknown): void => console.log(JSON.stringify(x));
  try {
    const first = cluster.nodes[0] as DevNode;
    const created = await fetch(`${first.http}/buckets/detect`, { method: 'PUT', headers: authHeader(`${first.http}/buckets/detect`) });
    if (created.status !== 200) throw new Error(`create bucket: ${created.status}`);
    // The load avoids the node being killed and restarted (a client would fail over).
    const excluded = new Set<string>();
    const load = foreground(cluster, excluded, o.concurrency, o.valueSize);
    await sleep(2000);

    // ---- 1. detection after kill -9
    const trials: { victim: string; first_ms: number; all_ms: number; per_node_ms: Record<string, number> }[] = [];
    for (let t = 0; t < o.trials; t++) {
      const victim = cluster.nodes[(t + 1) % cluster.nodes.length] as DevNode;
      const others = cluster.nodes.filter((n) => n !== victim);
      excluded.add(victim.id);
      const killedAt = Date.now();
      await cluster.kill(victim.id, 'SIGKILL');
      const deadAt = new Map<string, number>();
      while (deadAt.size < others.length) {
        if (Date.now() - killedAt > 120_000) throw new Error(`${victim.id} not declared dead by everyone within 120 s`);
        await Promise.all(
          others.map(async (n) => {
            if (deadAt.has(n.id)) return;
            const at = Date.now();
            const m = (await members(n))?.members.find((x) => x.id === victim.id);
            if (m?.state === 'dead') deadAt.set(n.id, at - m.state_since_ms_ago);
          }),
        );
        await sleep(25);
      }
      const perNode = Object.fromEntries([...deadAt].map(([id, at]) => [id, at - killedAt]));
      const times = Object.values(perNode);
      const trial = { victim: victim.id, first_ms: Math.min(...times), all_ms: Math.max(...times), per_node_ms: perNode };
      trials.push(trial);
      out({ phase: 'detect', trial: t + 1, ...trial });
      await cluster.restart(victim.id); // waits until every node sees it alive again
      excluded.delete(victim.id);
      await sleep(2000);
    }

    // ---- 2. false positives over a quiet run under load
    const before = new Map<string, Record<string, number>>();
    for (const n of cluster.nodes) before.set(n.id, (await members(n))?.counters ?? {});
    const loadStats0 = Date.now();
    await sleep(o.quietSeconds * 1000);
    const quiet: Record<string, { suspicions: number; deaths: number; refuted: number; probes: number; health_score_end: number }> = {};
    let deaths = 0;
    let suspicions = 0;
    let probes = 0;
    for (const n of cluster.nodes) {
      const res = await fetch(`${n.http}/cluster/members`, { headers: authHeader(`${n.http}/cluster/members`) });
      const body = (await res.json()) as MembersJson & { health_score: number };
      const c = body.counters ?? {};
      const b = before.get(n.id) ?? {};
      const d = (k: string): number => (c[k] ?? 0) - (b[k] ?? 0);
      quiet[n.id] = { suspicions: d('suspicions'), deaths: d('deaths'), refuted: d('falsePositiveRefutes'), probes: d('probesSent'), health_score_end: body.health_score };
      deaths += d('deaths');
      suspicions += d('suspicions');
      probes += d('probesSent');
    }
    const fg = await load.stop();
    out({ phase: 'quiet', seconds: Math.round((Date.now() - loadStats0) / 1000), per_node: quiet });
    const all = trials.map((t) => t.all_ms).sort((a, b) => a - b);
    const firsts = trials.map((t) => t.first_ms).sort((a, b) => a - b);
    const median = (xs: number[]): number => (xs.length === 0 ? 0 : (xs[Math.floor((xs.length - 1) / 2)] as number));
    out({
      summary: true,
      nodes: o.nodes,
      nproc: os.cpus().length,
      swim: o.swim,
      detect_all_ms: { median: median(all), min: all[0] ?? null, max: all[all.length - 1] ?? null },
      detect_first_ms: { median: median(firsts), min: firsts[0] ?? null, max: firsts[firsts.length - 1] ?? null },
      quiet_seconds: o.quietSeconds,
      false_deaths: deaths,
      false_suspicions: suspicions,
      probes,
      foreground: { ops_per_s: fg.opsPerS, p50_ms: fg.p50, p99_ms: fg.p99, errors: fg.errors, connections_to_killed_node_cut: fg.toKilled, first_errors: load.samples },
    });
  } finally {
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
