// A local cluster of separate node processes (`ringstore dev` in cli/dev.ts,
// the benchmarks, and the integration tests through test/helpers/cluster.ts). Each node is a real
// `ringstore server` child with its own LMDB folder, config file and log file
// under one directory; ports are chosen once and remembered there, so that a
// restart on the same directory brings back the same cluster with its data.
//
// The node set can change while it runs (issue 10, docs/layout.md): addNode
// starts a process that joins through a member (`server --join`), then
// stages, plans and applies its assignment through the admin routes, as an
// operator would with `ringstore layout`; removeNode decommissions one (its
// data moves to the new owners first) and stops it. dev-state.json remembers
// the set by id, so a restart brings back exactly the nodes that are left,
// and ids are never handed out twice in a folder: a fresh node minting
// versions under an old id could repeat the old node's dots.

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

/** What addNode and removeNode report while they work (the CLI draws it; --json prints it). */
export interface LayoutProgressEvent {
  readonly phase: 'starting' | 'joining' | 'staging' | 'applied' | 'syncing' | 'dropping' | 'stopping' | 'done';
  readonly message: string;
  readonly node: string;
  /** The layout version being moved to, once applied. */
  readonly version?: number;
  /** Layout versions live (1 once nothing moves). */
  readonly liveVersions?: number;
  /** Over every running node: partitions synced for `version` and to sync, bytes pulled since each node started. */
  readonly partitionsDone?: number;
  readonly partitionsTotal?: number;
  readonly bytesPulled?: number;
  /** Nodes that have not reported synced for `version` yet. */
  readonly waitingFor?: readonly string[];
  /** On `applied`: the plan that was committed (GET /cluster/layout/plan's answer before the apply: replicas and bytes moving, balance). */
  readonly plan?: Readonly<Record<string, unknown>>;
}

export interface LayoutChangeOptions {
  /** Wait until the data has moved (one layout version live, every node synced). Default true. */
  readonly wait?: boolean;
  /** Default 30 minutes. */
  readonly timeoutMs?: number;
  readonly onProgress?: (e: LayoutProgressEvent) => void;
  /** removeNode: called once the leaving node owns and holds nothing, while it still runs (a test looks at it then). */
  readonly beforeStop?: (node: DevNode) => Promise<void>;
}

export interface AddNodeOptions extends LayoutChangeOptions {
  /** Default "local", the zone of the founding nodes. */
  readonly zone?: string;
  /** Bytes the node offers; default 1 TiB, what each founding node has (weight 1). */
  readonly capacity?: number;
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
  /**
   * Starts a node with a new id, lets it join, assigns it (zone, capacity)
   * and applies the change; by default waits until the data has moved.
   * Layout changes run one at a time.
   */
  addNode(opts?: AddNodeOptions): Promise<DevNode>;
  /**
   * Decommissions a node: stages its removal, applies it, waits until its
   * data is on the new owners and it holds nothing, then stops it and
   * forgets it (its data folder is wiped; the id is never used again). A
   * node that is not running when this is called is taken as dead for good:
   * it is let go with skip-dead and the new owners rebuild its partitions
   * from the surviving replicas.
   */
  removeNode(id: string, opts?: LayoutChangeOptions): Promise<void>;
}

interface StateNode {
  readonly id: string;
  readonly httpPort: number;
  readonly grpcPort: number;
  readonly s3Port?: number;
  readonly filesPort?: number;
  /** Added by addNode: it joins through a member instead of founding (its config says `join`). */
  readonly joined?: boolean;
  readonly zone?: string;
  /** Bytes offered (layout capacity); absent: 1 TiB (weight 1). */
  readonly capacity?: number;
}

interface DevState {
  readonly version: 1;
  readonly partitions: number;
  /** The bucket defaults every node was started with (kept so that a grown or shrunk cluster restarts with the same). */
  readonly quorum?: Quorum;
  /** The highest node number ever handed out in this folder (n1, n2, ...): a new node gets the next one. */
  readonly lastNodeNumber?: number;
  /** The cluster keys every node of this dev cluster shares (node/cluster-keys.ts); made on first start. */
  readonly clusterKeys?: readonly { readonly id: string; readonly key: string }[];
  /** The cluster's generated credentials (no secret has a default outside this file's folder); made on first start. */
  readonly credentials?: { readonly user: string; readonly accessKey: string; readonly secretKey: string; readonly userToken: string; readonly adminToken: string };
  readonly nodes: readonly StateNode[];
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

/** A layout capacity as a node's ring weight (control-wiring.ts's layoutNodeOf reads weight as nominal TiB). */
const TIB = 2 ** 40;
const weightOf = (capacity: number | undefined): number => Math.max(0.001, (capacity ?? TIB) / TIB);

/** The number in an id of the form n<k>, else 0. */
function nodeNumber(id: string): number {
  const m = /^n(\d+)$/.exec(id);
  return m === null ? 0 : Number(m[1]);
}

type Json = Record<string, unknown>;

interface NodeSync {
  readonly syncing: number | null;
  readonly partitionsTotal: number;
  readonly partitionsDone: number;
  readonly bytesPulled: number;
  readonly ownsNothing: boolean;
}

interface LayoutAnswer {
  readonly currentVersion: number;
  readonly readVersion: number;
  readonly live: readonly { readonly version: number; readonly members: readonly { readonly id: string }[]; readonly storageNodes: readonly string[] }[];
  readonly progress: Readonly<Record<string, { readonly seen: number; readonly synced: number; readonly readSeen: number }>>;
  readonly staged: readonly unknown[];
  readonly sync?: NodeSync;
}

/** A refusal of an admin route, with its HTTP status (412: the plan or version moved on). */
class AdminError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
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
    const count = previous?.nodes.length ?? opts.nodes ?? 3;
    if (!Number.isInteger(count) || count < 1 || count > 64) throw new Error(`--nodes must be from 1 to 64, got ${count}`);
    if (previous !== undefined && opts.nodes !== undefined && previous.nodes.length !== opts.nodes) {
      throw new Error(
        `${dir} holds a ${previous.nodes.length}-node cluster (${previous.nodes.map((n) => n.id).join(', ')}); start it without --nodes (or with --nodes ${previous.nodes.length}), change its size while it runs with \`ringstore dev add-node\` / \`ringstore dev remove-node ID\`, or use another --data folder`,
      );
    }
    const partitions = previous?.partitions ?? opts.partitions ?? DEFAULT_PARTITIONS;
    const quorum = opts.quorum ?? previous?.quorum ?? defaultQuorumFor(count);

    // The node set: the one this folder holds (by id: nodes added and removed
    // while it ran are what they are), else n1..n<count>.
    const wanted: StateNode[] = previous?.nodes.map((n) => ({ ...n })) ?? Array.from({ length: count }, (_, i) => ({ id: `n${i + 1}`, httpPort: 0, grpcPort: 0 }));
    // Ports: remembered ones first, then the requested base, then any free one.
    const taken = new Set<number>();
    const stateNodes: StateNode[] = [];
    for (let i = 0; i < wanted.length; i++) {
      const prev = previous?.nodes.find((n) => n.id === wanted[i]!.id);
      const base = opts.basePort;
      const wantHttp = base === undefined ? (prev?.httpPort ?? DEFAULT_HTTP_PORT + i) : base === 0 ? prev?.httpPort : base + i;
      const wantGrpc = base === undefined ? (prev?.grpcPort ?? DEFAULT_GRPC_PORT + i) : base === 0 ? prev?.grpcPort : base + 100 + i;
      const wantS3 = base === undefined ? (prev?.s3Port ?? DEFAULT_S3_PORT + i) : base === 0 ? prev?.s3Port : base + 200 + i;
      const wantFiles = base === undefined ? (prev?.filesPort ?? DEFAULT_FILES_GRPC_PORT + i) : base === 0 ? prev?.filesPort : base + 300 + i;
      stateNodes.push({
        ...wanted[i]!,
        httpPort: await choosePort(wantHttp, taken),
        grpcPort: await choosePort(wantGrpc, taken),
        s3Port: await choosePort(wantS3, taken),
        filesPort: await choosePort(wantFiles, taken),
      });
    }
    const clusterKeys = previous?.clusterKeys ?? [generateClusterKey()];
    // Generated once per folder: a restart keeps the cluster's credentials.
    const credentials = previous?.credentials ?? generateCredentials('dev');
    let lastNodeNumber = Math.max(previous?.lastNodeNumber ?? 0, ...stateNodes.map((n) => nodeNumber(n.id)));
    const saveState = (): void => {
      const state: DevState = { version: 1, partitions, quorum, lastNodeNumber, nodes: stateNodes, clusterKeys, credentials };
      writeJsonAtomic(path.join(dir, STATE_FILE), state);
    };
    saveState();

    const memberOf = (p: StateNode): Json => ({ id: p.id, grpc: `127.0.0.1:${p.grpcPort}`, http: `127.0.0.1:${p.httpPort}`, zone: p.zone ?? 'local', weight: weightOf(p.capacity) });
    const makeNode = (p: StateNode): DevNode => {
      const home = path.join(dir, p.id);
      mkdirSync(home, { recursive: true });
      return {
        id: p.id,
        pid: 0,
        http: `http://127.0.0.1:${p.httpPort}`,
        grpc: `127.0.0.1:${p.grpcPort}`,
        s3: `http://127.0.0.1:${p.s3Port!}`,
        files: `127.0.0.1:${p.filesPort!}`,
        httpPort: p.httpPort,
        grpcPort: p.grpcPort,
        s3Port: p.s3Port!,
        data: path.join(home, 'data'),
        log: path.join(home, 'node.log'),
        configFile: path.join(home, 'config.json'),
        running: false,
      };
    };
    /**
     * A node's config file. `members` gives the addresses of the others (the
     * configured ones win over the layout's: a port that changed on a restart
     * is then still found); `join` makes a node that was added later wait for
     * the leader's snapshot instead of founding a cluster of its own, should
     * its Raft folder be empty.
     */
    const writeConfig = (node: DevNode, p: StateNode, members: readonly Json[], join: string | undefined): void => {
      writeJsonAtomic(node.configFile, {
        id: p.id,
        zone: p.zone ?? 'local',
        weight: weightOf(p.capacity),
        dataDir: node.data,
        http: `127.0.0.1:${p.httpPort}`,
        grpc: `127.0.0.1:${p.grpcPort}`,
        advertiseHttp: `127.0.0.1:${p.httpPort}`,
        advertiseGrpc: `127.0.0.1:${p.grpcPort}`,
        members,
        ...(join !== undefined ? { join } : {}),
        partitions,
        quorum,
        logLevel: opts.logLevel ?? 'info',
        s3: `127.0.0.1:${p.s3Port!}`,
        filesGrpc: `127.0.0.1:${p.filesPort!}`,
        user: credentials.user,
        accessKey: credentials.accessKey,
        secretKey: credentials.secretKey,
        userToken: credentials.userToken,
        adminToken: credentials.adminToken,
        clusterKeys,
        ...(opts.faults === true ? { faults: true } : {}),
        ...opts.nodeSettings,
      });
    };

    const nodes: DevNode[] = stateNodes.map(makeNode);
    /**
     * Every node's config file names every current node: read only when a
     * process starts, it lets a node restarted later reach (and accept) the
     * nodes added or gone since it was written, even if its own Raft log is
     * too old to know them.
     */
    const writeConfigs = (): void => {
      const allMembers = stateNodes.map(memberOf);
      stateNodes.forEach((p) => {
        const node = nodes.find((n) => n.id === p.id)!;
        const other = stateNodes.find((x) => x.id !== p.id);
        writeConfig(node, p, allMembers, p.joined === true && other !== undefined ? `127.0.0.1:${other.httpPort}` : undefined);
      });
    };
    writeConfigs();

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

    // ------------------------------------------------------------ layout changes

    /** One admin route on one node; refusals become AdminError with the route's message. */
    const adminOn = async (node: DevNode, method: 'GET' | 'POST', route: string, body?: Json): Promise<Json> => {
      const res = await fetch(`${node.http}${route}`, {
        method,
        headers: { authorization: `Bearer ${credentials.adminToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(30_000),
      });
      const answer = (await res.json().catch(() => ({}))) as Json;
      if (!res.ok) {
        const e = (answer.error ?? {}) as Json;
        throw new AdminError(`${method} ${route} on ${node.id}: ${res.status} ${String(e.code ?? '')}: ${String(e.message ?? '')}`, res.status);
      }
      return answer;
    };
    /** The admin route on the first running node that answers (other than `avoid`): any member will do. */
    const admin = async (method: 'GET' | 'POST', route: string, body?: Json, avoid?: string): Promise<Json> => {
      let last: unknown = new Error('no node is running');
      for (const n of nodes) {
        if (!n.running || n.id === avoid) continue;
        try {
          return await adminOn(n, method, route, body);
        } catch (err) {
          // A refusal is the cluster's answer; only an unreachable node makes us ask the next.
          if (err instanceof AdminError) throw err;
          last = err;
        }
      }
      throw last;
    };

    const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

    /** Stages `change`, then applies the plan as the next version (re-planning if another change raced it); returns the version and its plan. */
    const stageAndApply = async (change: Json, deadline: number): Promise<{ version: number; plan: Json }> => {
      for (;;) {
        try {
          await admin('POST', '/cluster/layout', change);
          break;
        } catch (err) {
          // 404: the node has not been recorded by its join yet.
          if (!(err instanceof AdminError && err.status === 404) || Date.now() > deadline) throw err;
          await pause(200);
        }
      }
      for (;;) {
        const plan = await admin('GET', '/cluster/layout/plan');
        const version = plan.nextVersion as number;
        try {
          await admin('POST', '/cluster/layout', { op: 'apply', version });
          return { version, plan };
        } catch (err) {
          if (!(err instanceof AdminError && err.status === 412) || Date.now() > deadline) throw err;
          await pause(200);
        }
      }
    };

    /** Every running node's own view (GET /cluster/layout with its `sync`); nodes that do not answer are left out. */
    const views = async (): Promise<Map<string, LayoutAnswer>> => {
      const out = new Map<string, LayoutAnswer>();
      await Promise.all(
        nodes
          .filter((n) => n.running)
          .map(async (n) => {
            try {
              out.set(n.id, (await adminOn(n, 'GET', '/cluster/layout')) as unknown as LayoutAnswer);
            } catch {
              // Down or restarting: it is waited for through the others' view of its progress.
            }
          }),
      );
      return out;
    };

    const metric = async (node: DevNode, name: string): Promise<number | undefined> => {
      const res = await fetch(`${node.http}/metrics`, { headers: { authorization: `Bearer ${credentials.adminToken}` }, signal: AbortSignal.timeout(10_000) });
      const text = await res.text();
      const line = text.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
      return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
    };

    /**
     * Waits until `version` is the only live version in every running node's
     * view and every node has reported synced for it; meanwhile lets a dead
     * node go (skip-dead) each time it holds retirement back, and reports
     * progress. `leaving`, if running, must also own nothing and hold no key
     * and no hint before this returns.
     */
    const settle = async (node: string, version: number, o: { dead?: string; leaving?: DevNode; deadline: number; onProgress?: (e: LayoutProgressEvent) => void }): Promise<void> => {
      let lastReport = '';
      for (;;) {
        const v = await views();
        const any = [...v.values()][0];
        if (any !== undefined) {
          // A dead node never reports: seen and readSeen are taken for it, each time they move on (docs/layout.md).
          if (o.dead !== undefined) {
            const p = any.progress[o.dead];
            if (p !== undefined && (p.seen < any.currentVersion || p.readSeen < any.readVersion)) {
              await admin('POST', '/cluster/layout', { op: 'skip-dead', node: o.dead }).catch((err: unknown) => {
                if (!(err instanceof AdminError && err.status === 404)) throw err;
              });
            }
          }
          const waitingFor = Object.entries(any.progress)
            .filter(([id, p]) => id !== o.dead && p.synced < version && any.live.some((l) => l.version === version && l.storageNodes.includes(id)))
            .map(([id]) => id)
            .sort();
          let done = 0;
          let total = 0;
          let bytes = 0;
          for (const [id, a] of v) {
            const s = a.sync;
            if (s === undefined) continue;
            bytes += s.bytesPulled;
            if (s.syncing === version) {
              done += s.partitionsDone;
              total += s.partitionsTotal;
            } else if ((any.progress[id]?.synced ?? 0) >= version && s.syncing === null) {
              done += s.partitionsTotal;
              total += s.partitionsTotal;
            }
          }
          const oneLive = [...v.values()].every((a) => a.live.length === 1 && a.currentVersion === version);
          const allSynced = waitingFor.length === 0 && [...v.values()].every((a) => a.sync === undefined || a.sync.syncing === null);
          let leftover = false;
          if (o.leaving !== undefined && o.leaving.running) {
            const mine = v.get(o.leaving.id);
            leftover = mine === undefined || mine.sync?.ownsNothing !== true || (await metric(o.leaving, 'ringstore_merkle_keys').catch(() => undefined)) !== 0 || (await hintsPending(o.leaving)) !== 0;
          }
          // A tracked node this dev cluster does not run holds every change back (it never reports seen): say so.
          const stalled = Object.keys(any.progress).filter((id) => id !== o.dead && nodes.some((n) => n.id === id && !n.running));
          const phase = oneLive && allSynced && o.leaving !== undefined ? 'dropping' : 'syncing';
          const e: LayoutProgressEvent = {
            phase,
            node,
            version,
            liveVersions: any.live.length,
            partitionsDone: done,
            partitionsTotal: total,
            bytesPulled: bytes,
            waitingFor,
            message:
              phase === 'syncing'
                ? `version ${version}: ${any.live.length} versions live; ${waitingFor.length === 0 ? 'old versions retiring' : `waiting for ${waitingFor.join(', ')} to sync`} (${done}/${total} partitions)${stalled.length > 0 ? `; ${stalled.join(', ')} ${stalled.length === 1 ? 'is' : 'are'} not running and every node waits for its reports: restart it, or remove it (dev remove-node ID) if it is gone for good` : ''}`
                : o.leaving !== undefined
                  ? `version ${version} is the only one live; ${o.leaving.id} dropping what it held`
                  : `version ${version} is the only one live; every node has synced`,
          };
          const key = `${e.phase}/${e.liveVersions}/${done}/${total}/${waitingFor.join(',')}`;
          if (key !== lastReport) {
            lastReport = key;
            o.onProgress?.(e);
          }
          if (oneLive && allSynced && !leftover) return;
        }
        if (Date.now() > o.deadline) throw new Error(`timed out waiting for layout version ${version} to settle (last: ${lastReport})`);
        await pause(250);
      }
    };

    const hintsPending = async (node: DevNode): Promise<number | undefined> => {
      try {
        const res = await fetch(`${node.http}/health`, { signal: AbortSignal.timeout(5000) });
        return ((await res.json()) as { hints_pending?: number }).hints_pending;
      } catch {
        return undefined;
      }
    };

    // One layout change at a time: a second would only be refused (the staging moved under its plan).
    let queue: Promise<unknown> = Promise.resolve();
    const serial = <T>(fn: () => Promise<T>): Promise<T> => {
      const run = queue.then(fn, fn);
      queue = run.catch(() => undefined);
      return run;
    };

    const addNode = (o: AddNodeOptions = {}): Promise<DevNode> =>
      serial(async () => {
        if (stopped) throw new Error('the dev cluster is stopping');
        const deadline = Date.now() + (o.timeoutMs ?? 30 * 60_000);
        const via = nodes.find((n) => n.running);
        if (via === undefined) throw new Error('no node is running to join through');
        const capacity = o.capacity ?? TIB;
        if (!Number.isSafeInteger(capacity) || capacity <= 0) throw new Error(`capacity must be a positive number of bytes, got ${capacity}`);
        // A number never used in this folder (and no folder of that name left behind).
        let k = lastNodeNumber + 1;
        while (existsSync(path.join(dir, `n${k}`))) k++;
        const id = `n${k}`;
        lastNodeNumber = k;
        const taken = new Set(stateNodes.flatMap((p) => [p.httpPort, p.grpcPort, p.s3Port ?? 0, p.filesPort ?? 0]));
        const p: StateNode = {
          id,
          httpPort: await choosePort(undefined, taken),
          grpcPort: await choosePort(undefined, taken),
          s3Port: await choosePort(undefined, taken),
          filesPort: await choosePort(undefined, taken),
          joined: true,
          zone: o.zone ?? 'local',
          capacity,
        };
        const node = makeNode(p);
        // Its own member list is only itself until it has joined: the Raft snapshot brings the rest (node/control-join.ts).
        writeConfig(node, p, [memberOf(p)], `127.0.0.1:${via.httpPort}`);
        stateNodes.push(p);
        nodes.push(node);
        saveState();
        o.onProgress?.({ phase: 'starting', node: id, message: `starting ${id} (http ${node.http}, s3 ${node.s3}); it joins through ${via.id}` });
        const child = spawnNode(node);
        writeClusterFile();
        await waitHealthy(node, child, Math.min(deadline, Date.now() + (opts.healthTimeoutMs ?? 60_000)));
        o.onProgress?.({ phase: 'joining', node: id, message: `${id} is up and has the cluster's state; assigning it (zone ${p.zone!}, capacity ${capacity} bytes)` });
        const { version, plan } = await stageAndApply({ op: 'assign', node: id, zone: p.zone!, capacity }, deadline);
        o.onProgress?.({ phase: 'applied', node: id, version, plan, message: `applied layout version ${version}: ${id} takes its share (${String(plan.replicasMoved)} partition replicas move)` });
        // It has the cluster's state by now: from here on its config lists everyone, as the others' do.
        writeConfigs();
        if (o.wait !== false) await settle(id, version, { deadline, ...(o.onProgress !== undefined ? { onProgress: o.onProgress } : {}) });
        o.onProgress?.({ phase: 'done', node: id, version, message: `${id} is in the cluster: http ${node.http}, s3 ${node.s3}, grpc ${node.grpc}` });
        return node;
      });

    const removeNode = (id: string, o: LayoutChangeOptions = {}): Promise<void> =>
      serial(async () => {
        if (stopped) throw new Error('the dev cluster is stopping');
        const deadline = Date.now() + (o.timeoutMs ?? 30 * 60_000);
        const node = find(id);
        const dead = !children.has(id);
        if (nodes.filter((n) => n.running && n.id !== id).length === 0) throw new Error(`${id} is the only running node: nothing could take its data`);
        const h = (await admin('GET', '/cluster/layout', undefined, id)) as unknown as LayoutAnswer;
        const current = h.live[h.live.length - 1];
        let version = h.currentVersion;
        if (current?.members.some((m) => m.id === id) === true) {
          o.onProgress?.({ phase: 'staging', node: id, message: dead ? `${id} is not running: removing it as dead for good; its partitions are rebuilt from the surviving replicas` : `removing ${id}: its data moves to the new owners first` });
          const applied = await stageAndApply({ op: 'remove', node: id }, deadline);
          version = applied.version;
          o.onProgress?.({ phase: 'applied', node: id, version, plan: applied.plan, message: `applied layout version ${version} without ${id} (${String(applied.plan.replicasMoved)} partition replicas move)` });
        }
        if (o.wait !== false || !dead) await settle(id, version, { ...(dead ? { dead: id } : { leaving: node }), deadline, ...(o.onProgress !== undefined ? { onProgress: o.onProgress } : {}) });
        if (!dead) await o.beforeStop?.(node);
        o.onProgress?.({ phase: 'stopping', node: id, version, message: dead ? `version ${version} settled without ${id}: forgetting it and wiping its data folder` : `${id} owns nothing and holds nothing: stopping it and wiping its data folder` });
        await kill(id, 'SIGTERM');
        // The id is never used again (lastNodeNumber, and the folder with its log stays), so nothing can mint its dots anew.
        rmSync(node.data, { recursive: true, force: true });
        nodes.splice(nodes.indexOf(node), 1);
        stateNodes.splice(
          stateNodes.findIndex((p) => p.id === id),
          1,
        );
        saveState();
        writeConfigs();
        writeClusterFile();
        o.onProgress?.({ phase: 'done', node: id, version, message: `${id} removed; ${nodes.length} nodes left: ${nodes.map((n) => n.id).join(', ')}` });
      });

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
      addNode,
      removeNode,
    };
  } catch (err) {
    unlock();
    throw err;
  }
}
