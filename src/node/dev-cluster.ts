// A local cluster of separate node processes (`ringstore dev` in cli/dev.ts,
// the benchmarks, and the integration tests through test/helpers/cluster.ts). Each node is a real
// `ringstore server` child with its own LMDB folder, config file and log file
// under one directory; ports are chosen once and remembered there, so that a
// restart on the same directory brings back the same cluster with its data.

import { generateClusterKey } from './cluster-keys.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Quorum } from '../coordinator/types.js';
import { DEFAULT_PARTITIONS } from '../ring/layout.js';
import { DEFAULT_FILES_GRPC_PORT, DEFAULT_GRPC_PORT, DEFAULT_HTTP_PORT, DEFAULT_S3_PORT } from './config.js';
import { generateCredentials } from './auth-wiring.js';

export interface DevClusterOptions {
  readonly dir: string;
  /** Default: as many as the directory was created with, else 3. */
  readonly nodes?: number;
  /**
   * First HTTP port (gRPC ports start 100 above, S3 ports 200 above, the
   * gRPC file API 300 above).
   * Default: the ports this directory used last time, else 9001/9101/9201.
   * 0: any free ports. A busy port is replaced by a free one either way.
   */
  readonly basePort?: number;
  readonly logLevel?: string;
  /** Bucket defaults; default n=min(3, nodes), r=w=majority of n. */
  readonly quorum?: Quorum;
  readonly partitions?: number;
  /** How long the nodes have to answer /health. Default 60 s. */
  readonly healthTimeoutMs?: number;
  /**
   * Extra settings written into every node's config file (any setting
   * config.ts knows, e.g. { antiEntropy: { intervalMs: 200 } }); they last
   * for the life of the directory's config files, restarts included.
   */
  readonly nodeSettings?: Readonly<Record<string, unknown>>;
  /** Turn on fault injection (POST /_faults, with an admin token) on every node: `ringstore dev --faults`. */
  readonly faults?: boolean;
  /** Called when a node exits without having been asked to. */
  readonly onUnexpectedExit?: (node: DevNode, code: number | null, signal: NodeJS.Signals | null) => void;
}

export interface DevNode {
  readonly id: string;
  /** 0 while the node is not running. */
  pid: number;
  /** http://127.0.0.1:PORT */
  readonly http: string;
  /** 127.0.0.1:PORT */
  readonly grpc: string;
  /** http://127.0.0.1:PORT of the S3 API */
  readonly s3: string;
  /** 127.0.0.1:PORT of the public gRPC file API */
  readonly files: string;
  readonly httpPort: number;
  readonly grpcPort: number;
  readonly s3Port: number;
  /** The node's LMDB folder. */
  readonly data: string;
  readonly log: string;
  readonly configFile: string;
  running: boolean;
}

export interface DevCluster {
  readonly dir: string;
  readonly clusterFile: string;
  readonly nodes: readonly DevNode[];
  readonly quorum: Quorum;
  /** The cluster's first user, its S3 key and API token, and an admin token (also in cluster.json). */
  readonly user: string;
  readonly accessKey: string;
  readonly secretKey: string;
  readonly userToken: string;
  readonly adminToken: string;
  /** Sends `signal` (default SIGKILL) to one node and waits until it has exited. */
  kill(id: string, signal?: NodeJS.Signals): Promise<void>;
  /** Starts a stopped node again (stopping it first if it runs) and waits until it answers /health. */
  restart(id: string): Promise<DevNode>;
  /** SIGTERM to every node, SIGKILL to any still running after the grace period; releases the directory. */
  stop(): Promise<void>;
}

interface DevState {
  readonly version: 1;
  readonly partitions: number;
  /** The cluster keys every node of this dev cluster shares (node/cluster-keys.ts); made on first start. */
  readonly clusterKeys?: readonly { readonly id: string; readonly key: string }[];
  /** The cluster's generated credentials (no secret has a default outside this file's folder); made on first start. */
  readonly credentials?: { readonly user: string; readonly accessKey: string; readonly secretKey: string; readonly userToken: string; readonly adminToken: string };
  readonly nodes: readonly { readonly id: string; readonly httpPort: number; readonly grpcPort: number; readonly s3Port?: number; readonly filesPort?: number }[];
}

const STATE_FILE = 'dev-state.json';
const LOCK_FILE = 'dev.pid';
const STOP_GRACE_MS = 20_000;

/** The `ringstore` launcher this module belongs to (bin/ringstore.js), or the compiled CLI entry. */
export function ringstoreBin(): string {
  const bin = fileURLToPath(new URL('../../../bin/ringstore.js', import.meta.url));
  return existsSync(bin) ? bin : fileURLToPath(new URL('../cli/main.js', import.meta.url));
}

export function defaultQuorumFor(nodes: number): Quorum {
  const n = Math.min(3, nodes);
  const majority = Math.floor(n / 2) + 1;
  return { n, r: majority, w: majority };
}

function writeJsonAtomic(file: string, value: unknown): void {
  const tmp = `${file}.tmp-${process.pid}`;
  // Owner-only: these files hold the cluster's keys and credentials.
  writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n', { mode: 0o600 });
  renameSync(tmp, file);
}

function readState(dir: string): DevState | undefined {
  const file = path.join(dir, STATE_FILE);
  if (!existsSync(file)) return undefined;
  try {
    const s = JSON.parse(readFileSync(file, 'utf8')) as DevState;
    if (s.version === 1 && Array.isArray(s.nodes)) return s;
  } catch {
    // A damaged state file only costs us the remembered ports.
  }
  return undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** One dev cluster per directory: two would fight over ports and LMDB folders. */
function lockDir(dir: string): () => void {
  const file = path.join(dir, LOCK_FILE);
  if (existsSync(file)) {
    const pid = Number(readFileSync(file, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
      throw new Error(`a dev cluster is already running on ${dir} (pid ${pid}); stop it first or use another --data folder`);
    }
  }
  writeFileSync(file, `${process.pid}\n`);
  return () => {
    try {
      if (readFileSync(file, 'utf8').trim() === String(process.pid)) rmSync(file);
    } catch {
      // Already gone.
    }
  };
}

function tryListen(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(undefined));
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
      const bound = (srv.address() as { port: number }).port;
      srv.close(() => resolve(bound));
    });
  });
}

/** `wanted` if it is free on loopback and not taken already, else a free port the OS picks. */
async function choosePort(wanted: number | undefined, taken: Set<number>): Promise<number> {
  if (wanted !== undefined && wanted > 0 && !taken.has(wanted) && (await tryListen(wanted)) !== undefined) {
    taken.add(wanted);
    return wanted;
  }
  for (let attempt = 0; attempt < 50; attempt++) {
    const p = await tryListen(0);
    if (p !== undefined && !taken.has(p)) {
      taken.add(p);
      return p;
    }
  }
  throw new Error('could not find a free port on 127.0.0.1');
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

async function healthy(node: DevNode): Promise<boolean> {
  try {
    const res = await fetch(`${node.http}/health`, { signal: AbortSignal.timeout(2000) });
    if (res.status !== 200) return false;
    const body = (await res.json()) as { node?: string; auth_ready?: boolean };
    // Up means usable: the node also knows the cluster's credentials (they are bootstrapped through Raft).
    return body.node === node.id && body.auth_ready !== false;
  } catch {
    return false;
  }
}

/**
 * Whether `observer` holds `id` alive: with SWIM, its view says alive and it
 * has heard from `id` since `sinceMs` (so it knows this incarnation of the
 * process, and its transport is connecting to it rather than backing off);
 * with the passive detector, `id` is not in its /health `down` list.
 */
async function seesAlive(observer: DevNode, id: string, sinceMs: number, adminToken: string): Promise<boolean> {
  try {
    const res = await fetch(`${observer.http}/cluster/members`, { signal: AbortSignal.timeout(2000), headers: { authorization: `Bearer ${adminToken}` } });
    if (res.status === 200) {
      const body = (await res.json()) as { detector?: string; members?: { id: string; state: string; last_heard_ms_ago: number | null }[] };
      if (body.detector === 'swim') {
        const m = body.members?.find((x) => x.id === id);
        return m !== undefined && m.state === 'alive' && m.last_heard_ms_ago !== null && Date.now() - m.last_heard_ms_ago >= sinceMs;
      }
    }
    const health = await fetch(`${observer.http}/health`, { signal: AbortSignal.timeout(2000) });
    if (health.status !== 200) return false;
    const body = (await health.json()) as { down?: unknown };
    return !Array.isArray(body.down) || !body.down.includes(id);
  } catch {
    return false;
  }
}

export async function startDevCluster(opts: DevClusterOptions): Promise<DevCluster> {
  const dir = path.resolve(opts.dir);
  mkdirSync(dir, { recursive: true });
  const unlock = lockDir(dir);
  const children = new Map<string, ChildProcess>();
  const expectedExit = new Set<string>();
  let stopped = false;

  try {
    const previous = readState(dir);
    const count = opts.nodes ?? previous?.nodes.length ?? 3;
    if (!Number.isInteger(count) || count < 1 || count > 64) throw new Error(`--nodes must be from 1 to 64, got ${count}`);
    if (previous !== undefined && previous.nodes.length !== count) {
      throw new Error(
        `${dir} holds a ${previous.nodes.length}-node cluster; start it with --nodes ${previous.nodes.length} (changing the layout of a dev cluster is not supported yet) or use another --data folder`,
      );
    }
    const partitions = previous?.partitions ?? opts.partitions ?? DEFAULT_PARTITIONS;
    const quorum = opts.quorum ?? defaultQuorumFor(count);

    // Ports: remembered ones first, then the requested base, then any free one.
    const taken = new Set<number>();
    const ports: { id: string; httpPort: number; grpcPort: number; s3Port: number; filesPort: number }[] = [];
    for (let i = 0; i < count; i++) {
      const id = `n${i + 1}`;
      const prev = previous?.nodes.find((n) => n.id === id);
      const base = opts.basePort;
      const wantHttp = base === undefined ? (prev?.httpPort ?? DEFAULT_HTTP_PORT + i) : base === 0 ? prev?.httpPort : base + i;
      const wantGrpc = base === undefined ? (prev?.grpcPort ?? DEFAULT_GRPC_PORT + i) : base === 0 ? prev?.grpcPort : base + 100 + i;
      const wantS3 = base === undefined ? (prev?.s3Port ?? DEFAULT_S3_PORT + i) : base === 0 ? prev?.s3Port : base + 200 + i;
      const wantFiles = base === undefined ? (prev?.filesPort ?? DEFAULT_FILES_GRPC_PORT + i) : base === 0 ? prev?.filesPort : base + 300 + i;
      ports.push({
        id,
        httpPort: await choosePort(wantHttp, taken),
        grpcPort: await choosePort(wantGrpc, taken),
        s3Port: await choosePort(wantS3, taken),
        filesPort: await choosePort(wantFiles, taken),
      });
    }
    const clusterKeys = previous?.clusterKeys ?? [generateClusterKey()];
    // Generated once per folder: a restart keeps the cluster's credentials.
    const credentials = previous?.credentials ?? generateCredentials('dev');
    const state: DevState = { version: 1, partitions, nodes: ports, clusterKeys, credentials };
    writeJsonAtomic(path.join(dir, STATE_FILE), state);

    const members = ports.map((p) => ({ id: p.id, grpc: `127.0.0.1:${p.grpcPort}`, http: `127.0.0.1:${p.httpPort}`, zone: 'local', weight: 1 }));
    const nodes: DevNode[] = ports.map((p) => {
      const home = path.join(dir, p.id);
      mkdirSync(home, { recursive: true });
      const node: DevNode = {
        id: p.id,
        pid: 0,
        http: `http://127.0.0.1:${p.httpPort}`,
        grpc: `127.0.0.1:${p.grpcPort}`,
        s3: `http://127.0.0.1:${p.s3Port}`,
        files: `127.0.0.1:${p.filesPort}`,
        httpPort: p.httpPort,
        grpcPort: p.grpcPort,
        s3Port: p.s3Port,
        data: path.join(home, 'data'),
        log: path.join(home, 'node.log'),
        configFile: path.join(home, 'config.json'),
        running: false,
      };
      writeJsonAtomic(node.configFile, {
        id: p.id,
        zone: 'local',
        weight: 1,
        dataDir: node.data,
        http: `127.0.0.1:${p.httpPort}`,
        grpc: `127.0.0.1:${p.grpcPort}`,
        advertiseHttp: `127.0.0.1:${p.httpPort}`,
        advertiseGrpc: `127.0.0.1:${p.grpcPort}`,
        members,
        partitions,
        quorum,
        logLevel: opts.logLevel ?? 'info',
        s3: `127.0.0.1:${p.s3Port}`,
        filesGrpc: `127.0.0.1:${p.filesPort}`,
        user: credentials.user,
        accessKey: credentials.accessKey,
        secretKey: credentials.secretKey,
        userToken: credentials.userToken,
        adminToken: credentials.adminToken,
        clusterKeys,
        ...(opts.faults === true ? { faults: true } : {}),
        ...opts.nodeSettings,
      });
      return node;
    });

    const clusterFile = path.join(dir, 'cluster.json');
    const writeClusterFile = (): void => {
      writeJsonAtomic(clusterFile, {
        nodes: nodes.map((n) => ({ id: n.id, pid: n.pid, http: n.http, grpc: n.grpc, s3: n.s3, files_grpc: n.files, data: n.data, log: n.log, running: n.running })),
        user: credentials.user,
        access_key: credentials.accessKey,
        secret_key: credentials.secretKey,
        user_token: credentials.userToken,
        admin_token: credentials.adminToken,
        quorum,
        partitions,
        dir,
      });
    };

    const bin = ringstoreBin();
    const env: NodeJS.ProcessEnv = {};
    // The node's config file is the whole truth: RINGSTORE_* variables of the caller must not override it.
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('RINGSTORE_')) env[k] = v;

    const spawnNode = (node: DevNode): ChildProcess => {
      const fd = openSync(node.log, 'a');
      let child: ChildProcess;
      try {
        child = spawn(process.execPath, [bin, 'server', '--config', node.configFile, '--exit-with-parent'], {
          // Own process group: a Ctrl-C in the terminal reaches only `dev`, which then stops the nodes in order.
          detached: true,
          stdio: ['ignore', fd, fd, 'ipc'],
          env,
        });
      } finally {
        closeSync(fd);
      }
      node.pid = child.pid ?? 0;
      node.running = true;
      children.set(node.id, child);
      // The IPC channel exists only so that nodes notice when `dev` dies; it must not keep `dev` alive.
      child.channel?.unref();
      child.once('exit', (code, signal) => {
        if (children.get(node.id) === child) children.delete(node.id);
        node.running = false;
        if (!expectedExit.delete(node.id) && !stopped) {
          opts.onUnexpectedExit?.(node, code, signal);
          try {
            writeClusterFile();
          } catch {
            // Best effort: the file is informational.
          }
        }
      });
      return child;
    };

    const waitHealthy = async (node: DevNode, child: ChildProcess, deadline: number): Promise<void> => {
      for (;;) {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`node ${node.id} exited (${child.exitCode ?? child.signalCode}) before serving; last lines of ${node.log}:\n${tail(node.log, 20)}`);
        }
        if (await healthy(node)) return;
        if (Date.now() > deadline) throw new Error(`node ${node.id} did not answer ${node.http}/health in time; last lines of ${node.log}:\n${tail(node.log, 20)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };

    const waitExit = (child: ChildProcess): Promise<void> =>
      child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r()));

    const find = (id: string): DevNode => {
      const n = nodes.find((x) => x.id === id);
      if (n === undefined) throw new Error(`no node ${id} in this cluster (nodes: ${nodes.map((x) => x.id).join(', ')})`);
      return n;
    };

    const kill = async (id: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
      const node = find(id);
      const child = children.get(id);
      if (child === undefined) return;
      expectedExit.add(id);
      child.kill(signal);
      await waitExit(child);
      node.pid = 0;
      writeClusterFile();
    };

    const stopAll = async (): Promise<void> => {
      const running = [...children.entries()];
      for (const [id, child] of running) {
        expectedExit.add(id);
        child.kill('SIGTERM');
      }
      const force = setTimeout(() => {
        for (const [, child] of running) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }, STOP_GRACE_MS);
      await Promise.all(running.map(([, c]) => waitExit(c)));
      clearTimeout(force);
    };

    const deadline = Date.now() + (opts.healthTimeoutMs ?? 60_000);
    try {
      const started = nodes.map((n) => ({ node: n, child: spawnNode(n) }));
      await Promise.all(started.map(({ node, child }) => waitHealthy(node, child, deadline)));
    } catch (err) {
      await stopAll();
      throw err;
    }
    writeClusterFile();

    return {
      dir,
      clusterFile,
      nodes,
      quorum,
      user: credentials.user,
      accessKey: credentials.accessKey,
      secretKey: credentials.secretKey,
      userToken: credentials.userToken,
      adminToken: credentials.adminToken,
      kill,
      restart: async (id: string): Promise<DevNode> => {
        const node = find(id);
        if (children.has(id)) await kill(id, 'SIGTERM');
        const startedMs = Date.now();
        const child = spawnNode(node);
        const deadline = Date.now() + (opts.healthTimeoutMs ?? 60_000);
        await waitHealthy(node, child, deadline);
        writeClusterFile();
        // Back means back for everyone: wait until no running node still holds it down.
        for (const other of nodes) {
          if (other === node || !other.running) continue;
          while (!(await seesAlive(other, id, startedMs, credentials.adminToken))) {
            if (Date.now() > deadline) throw new Error(`node ${other.id} still believes ${id} is down after its restart`);
            await new Promise((r) => setTimeout(r, 100));
          }
        }
        return node;
      },
      stop: async (): Promise<void> => {
        if (stopped) return;
        stopped = true;
        await stopAll();
        for (const n of nodes) n.pid = 0;
        try {
          writeClusterFile();
        } finally {
          unlock();
        }
      },
    };
  } catch (err) {
    unlock();
    throw err;
  }
}
