// Real clusters for integration tests: separate `ringstore server` processes
// on loopback, started the way `ringstore dev` starts them (same code), in a
// temporary folder, on free ports. Plus waitFor, the only way tests wait:
// poll a condition under a generous deadline, never sleep a fixed time.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startDevCluster, type DevNode } from '../../src/node/dev-cluster.js';
import type { Quorum } from '../../src/coordinator/types.js';

export interface TestNode {
  readonly id: string;
  /** http://127.0.0.1:PORT */
  readonly http: string;
  readonly grpc: string;
  /** http://127.0.0.1:PORT, the node's S3 endpoint. */
  readonly s3: string;
  /** 0 while stopped. */
  readonly pid: number;
  readonly log: string;
}

export interface TestCluster {
  readonly dir: string;
  /** Live view: pids change after restart. */
  readonly nodes: readonly TestNode[];
  readonly quorum: Quorum;
  /** The S3 key every node accepts. */
  readonly accessKey: string;
  readonly secretKey: string;
  /**
   * fetch() with the cluster's credentials: every test request to a node's
   * native or admin routes goes through here, so that the tests never depend
   * on an open API (issue 11 makes it sign; today it only adds a deadline).
   */
  fetch(url: string, init?: RequestInit): Promise<Response>;
  /** Sends `signal` (default SIGKILL) to the node and waits for it to exit. */
  kill(id: string, signal?: NodeJS.Signals): Promise<void>;
  /** Starts the node again on the same ports and data; resolves once it answers /health. */
  restart(id: string): Promise<TestNode>;
  /** Stops every node; removes the folder if the helper created it. */
  stop(): Promise<void>;
}

export interface StartClusterOptions {
  readonly nodes?: number;
  /** Use (and keep) this folder instead of a fresh temporary one. */
  readonly dir?: string;
  readonly quorum?: Quorum;
  readonly logLevel?: string;
  /** Extra settings for every node's config file, e.g. { antiEntropy: { intervalMs: 200 } }. */
  readonly nodeSettings?: Readonly<Record<string, unknown>>;
}

export async function startCluster(opts: StartClusterOptions = {}): Promise<TestCluster> {
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? mkdtempSync(path.join(os.tmpdir(), 'ringstore-test-'));
  const unexpected: string[] = [];
  let cluster;
  try {
    cluster = await startDevCluster({
      dir,
      nodes: opts.nodes ?? 3,
      basePort: 0,
      logLevel: opts.logLevel ?? 'info',
      healthTimeoutMs: 90_000,
      ...(opts.quorum !== undefined ? { quorum: opts.quorum } : {}),
      ...(opts.nodeSettings !== undefined ? { nodeSettings: opts.nodeSettings } : {}),
      onUnexpectedExit: (node: DevNode, code, signal) => {
        const line = `node ${node.id} exited unexpectedly (${signal ?? `code ${code}`}); log: ${node.log}`;
        unexpected.push(line);
        process.stderr.write(`[cluster helper] ${line}\n`);
      },
    });
  } catch (err) {
    if (ownDir) rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const dev = cluster;
  return {
    dir,
    nodes: dev.nodes,
    quorum: dev.quorum,
    accessKey: dev.accessKey,
    secretKey: dev.secretKey,
    fetch: (url, init) => fetch(url, { signal: AbortSignal.timeout(30_000), ...init }),
    kill: (id, signal = 'SIGKILL') => dev.kill(id, signal),
    restart: (id) => dev.restart(id),
    stop: async () => {
      await dev.stop();
      // Keep the logs of a run where a node died on its own: they are the bug report.
      if (!ownDir) return;
      if (unexpected.length === 0 && process.env['RINGSTORE_KEEP_TEST_DATA'] === undefined) rmSync(dir, { recursive: true, force: true });
      else process.stderr.write(`[cluster helper] cluster folder kept: ${dir}\n`);
    },
  };
}

export interface WaitForOptions {
  /** Default 30 s: generous, since CI machines stall. */
  readonly timeoutMs?: number;
  /** What is awaited, for the timeout message. */
  readonly what: string;
  readonly intervalMs?: number;
}

/** Polls `cond` until it returns true (a throw counts as false) or the deadline passes. */
export async function waitFor(cond: () => boolean | Promise<boolean>, opts: WaitForOptions): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await cond()) return;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError === undefined ? '' : ` (last attempt threw: ${lastError instanceof Error ? lastError.message : String(lastError)})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${opts.what}${why}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 50));
  }
}

// ---------------------------------------------------------------------------
// Fault injection (the cluster must run with nodeSettings { faults: true }).

export type FaultDirection = 'both' | 'in' | 'out';

async function faultCall(node: TestNode, method: 'POST' | 'DELETE', body?: unknown): Promise<void> {
  const res = await fetch(`${node.http}/_faults`, {
    method,
    ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
    signal: AbortSignal.timeout(10_000),
  });
  if (res.status !== 200) throw new Error(`${method} ${node.http}/_faults: ${res.status} ${await res.text()}`);
}

function nodeOf(cluster: TestCluster, id: string): TestNode {
  const n = cluster.nodes.find((x) => x.id === id);
  if (n === undefined) throw new Error(`no node ${id}`);
  return n;
}

/**
 * Cuts `id` off from `peers` (default: every other node): traffic between
 * them is dropped, in both directions unless told otherwise. Applied on
 * both ends, so each side sees the other go silent at once.
 */
export async function cut(cluster: TestCluster, id: string, peers?: readonly string[], direction: FaultDirection = 'both'): Promise<void> {
  const others = peers ?? cluster.nodes.map((n) => n.id).filter((x) => x !== id);
  const mirror: FaultDirection = direction === 'both' ? 'both' : direction === 'in' ? 'out' : 'in';
  await Promise.all([
    faultCall(nodeOf(cluster, id), 'POST', { drop: others, direction }),
    ...others.map((p) => faultCall(nodeOf(cluster, p), 'POST', { drop: [id], direction: mirror })),
  ]);
}

/** Removes every fault rule on the given nodes (default: all running nodes). */
export async function heal(cluster: TestCluster, ids?: readonly string[]): Promise<void> {
  const nodes = ids === undefined ? cluster.nodes.filter((n) => n.pid !== 0) : ids.map((i) => nodeOf(cluster, i));
  await Promise.all(nodes.map((n) => faultCall(n, 'DELETE')));
}

/** A node's membership view (GET /cluster/members): member id -> state. */
export async function memberStates(node: TestNode): Promise<Record<string, string>> {
  const res = await fetch(`${node.http}/cluster/members`, { signal: AbortSignal.timeout(5000) });
  const body = (await res.json()) as { members: { id: string; state: string }[] };
  return Object.fromEntries(body.members.map((m) => [m.id, m.state]));
}

/** Hints a node holds for others (GET /cluster/hints `pending`). */
export async function pendingHints(node: TestNode): Promise<number> {
  const res = await fetch(`${node.http}/cluster/hints`, { signal: AbortSignal.timeout(5000) });
  return ((await res.json()) as { pending: number }).pending;
}
