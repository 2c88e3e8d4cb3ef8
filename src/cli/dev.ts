// `ringstore dev`: starts a local cluster of node processes
// (node/dev-cluster.ts), prints where to reach it, and stops it on Ctrl-C.
//
// `ringstore dev add-node` and `ringstore dev remove-node ID` change the node
// set of a RUNNING `ringstore dev` (issue 10). That process owns the folder
// (its lock) and the node processes (they exit with it), so the commands
// cannot act on their own: dev listens on a UNIX socket in the folder
// (DIR/dev.sock, owner-only like the rest of it) and they send it one
// request each, a JSON line; dev answers with progress lines, then a last
// line that says done or error. The work is dev's: a client that goes away
// (Ctrl-C) does not stop a change half-way.

import { chmodSync, existsSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import path from 'node:path';
import cliProgress from 'cli-progress';
import { startDevCluster, type DevCluster, type DevNode, type LayoutProgressEvent } from '../node/dev-cluster.js';
import { parseSize } from '../node/config.js';
import { humanSize } from './shell/paths.js';

/** The control socket of the `ringstore dev` running on `dir`. */
export function devSocketPath(dir: string): string {
  return path.join(path.resolve(dir), 'dev.sock');
}

type Request = { op: 'add-node'; zone?: string; capacity?: number; wait?: boolean } | { op: 'remove-node'; node: string; wait?: boolean };

type Reply = ({ type: 'progress' } & LayoutProgressEvent) | { type: 'done'; node?: NodeInfo; nodes: NodeInfo[] } | { type: 'error'; message: string };

interface NodeInfo {
  id: string;
  pid: number;
  http: string;
  s3: string;
  grpc: string;
  files_grpc: string;
  data: string;
  log: string;
}

const info = (n: DevNode): NodeInfo => ({ id: n.id, pid: n.pid, http: n.http, s3: n.s3, grpc: n.grpc, files_grpc: n.files, data: n.data, log: n.log });

function parseRequest(line: string): Request {
  const r = JSON.parse(line) as Record<string, unknown>;
  const wait = r.wait === false ? false : undefined;
  if (r.op === 'add-node') {
    if (r.zone !== undefined && (typeof r.zone !== 'string' || r.zone === '')) throw new Error('zone must be a non-empty string');
    if (r.capacity !== undefined && (typeof r.capacity !== 'number' || !Number.isSafeInteger(r.capacity) || r.capacity <= 0)) throw new Error('capacity must be a positive number of bytes');
    return { op: 'add-node', ...(r.zone !== undefined ? { zone: r.zone as string } : {}), ...(r.capacity !== undefined ? { capacity: r.capacity as number } : {}), ...(wait !== undefined ? { wait } : {}) };
  }
  if (r.op === 'remove-node') {
    if (typeof r.node !== 'string' || r.node === '') throw new Error('node is required');
    return { op: 'remove-node', node: r.node, ...(wait !== undefined ? { wait } : {}) };
  }
  throw new Error(`op must be add-node or remove-node, not ${JSON.stringify(r.op)}`);
}

/** Serves add-node / remove-node requests for `cluster` on its folder's socket. */
export async function serveDevSocket(cluster: DevCluster): Promise<Server> {
  const file = devSocketPath(cluster.dir);
  // dev holds the folder's lock: a socket file left here is a previous dev's, dead.
  if (existsSync(file)) rmSync(file, { force: true });
  const server = createServer((sock: Socket) => {
    let buf = '';
    let handled = false;
    const send = (r: Reply): void => {
      if (!sock.destroyed) sock.write(JSON.stringify(r) + '\n');
    };
    sock.on('error', () => undefined);
    sock.on('data', (d) => {
      if (handled) return;
      buf += d.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl < 0) {
        if (buf.length > 64 * 1024) sock.destroy();
        return;
      }
      handled = true;
      let req: Request;
      try {
        req = parseRequest(buf.slice(0, nl));
      } catch (err) {
        send({ type: 'error', message: `bad request: ${(err as Error).message}` });
        sock.end();
        return;
      }
      const onProgress = (e: LayoutProgressEvent): void => {
        console.error(`ringstore dev: ${e.message}`);
        send({ type: 'progress', ...e });
      };
      const work =
        req.op === 'add-node'
          ? cluster.addNode({ ...(req.zone !== undefined ? { zone: req.zone } : {}), ...(req.capacity !== undefined ? { capacity: req.capacity } : {}), ...(req.wait !== undefined ? { wait: req.wait } : {}), onProgress }).then((n) => info(n))
          : cluster.removeNode(req.node, { ...(req.wait !== undefined ? { wait: req.wait } : {}), onProgress }).then(() => undefined);
      work.then(
        (node) => {
          send({ type: 'done', ...(node !== undefined ? { node } : {}), nodes: cluster.nodes.map(info) });
          sock.end();
        },
        (err: unknown) => {
          console.error(`ringstore dev: ${req.op} failed: ${(err as Error).message}`);
          send({ type: 'error', message: (err as Error).message });
          sock.end();
        },
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(file, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // The socket changes the cluster: only the folder's owner may use it.
  chmodSync(file, 0o600);
  server.unref();
  return server;
}

export interface DevFlags {
  readonly nodes?: number;
  readonly data: string;
  readonly basePort?: number;
  readonly logLevel: string;
  /** Fault injection on every node (POST /_faults with the admin token). */
  readonly faults?: boolean;
  /** The nodes' storeLog setting (on/off), when given. */
  readonly storeLog?: string;
}

export async function runDev(flags: DevFlags): Promise<void> {
  let cluster: DevCluster | undefined;
  let stopping = false;
  let socket: Server | undefined;
  const stop = (why: string): void => {
    if (stopping) return;
    stopping = true;
    console.error(`ringstore dev: ${why}; stopping the nodes...`);
    socket?.close();
    rmSync(devSocketPath(flags.data), { force: true });
    void (cluster?.stop() ?? Promise.resolve()).then(
      () => {
        console.error('ringstore dev: stopped; data kept in ' + path.resolve(flags.data));
        process.exit(0);
      },
      (err: unknown) => {
        console.error(`ringstore dev: stop failed: ${(err as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  try {
    cluster = await startDevCluster({
      dir: flags.data,
      ...(flags.nodes !== undefined ? { nodes: flags.nodes } : {}),
      ...(flags.basePort !== undefined ? { basePort: flags.basePort } : {}),
      logLevel: flags.logLevel,
      ...(flags.faults === true ? { faults: true } : {}),
      ...(flags.storeLog !== undefined ? { nodeSettings: { storeLog: flags.storeLog } } : {}),
      onUnexpectedExit: (node, code, signal) => {
        console.error(
          `ringstore dev: node ${node.id} (pid ${node.pid}) exited unexpectedly (${signal ?? `code ${code}`}); the others keep running. Its log: ${node.log}`,
        );
      },
    });
  } catch (err) {
    console.error(`ringstore dev: ${(err as Error).message}`);
    process.exit(1);
  }
  if (stopping) return;
  try {
    socket = await serveDevSocket(cluster);
  } catch (err) {
    console.error(`ringstore dev: cannot listen on ${devSocketPath(flags.data)} (${(err as Error).message}): dev add-node / remove-node will not reach this cluster`);
  }
  const summary = {
    nodes: cluster.nodes.map((n) => ({ id: n.id, pid: n.pid, http: n.http, s3: n.s3, grpc: n.grpc, files_grpc: n.files, data: n.data, log: n.log })),
    user: cluster.user,
    access_key: cluster.accessKey,
    secret_key: cluster.secretKey,
    user_token: cluster.userToken,
    admin_token: cluster.adminToken,
    quorum: cluster.quorum,
  };
  const a = cluster.nodes[0]!.http;
  const b = cluster.nodes[1 % cluster.nodes.length]!.http;
  console.log(JSON.stringify(summary, null, 2));
  console.log(`
ringstore dev: ${cluster.nodes.length} nodes up; cluster file ${cluster.clusterFile}; node logs in ${path.resolve(flags.data)}/<id>/node.log

Every port needs credentials (they are in ${cluster.clusterFile}, and only there). Next, type:
TOKEN=${cluster.userToken}
curl -H "Authorization: Bearer $TOKEN" -X POST ${a}/buckets/photos
curl -H "Authorization: Bearer $TOKEN" -X PUT --data-binary 'hello ringstore' -H 'content-type: text/plain' ${a}/buckets/photos/notes/hello.txt
curl -H "Authorization: Bearer $TOKEN" ${b}/buckets/photos/notes/hello.txt
curl -H "Authorization: Bearer $TOKEN" -H 'accept: application/json' ${b}/buckets/photos/notes/hello.txt
curl -H "Authorization: Bearer $TOKEN" -F file=@package.json ${a}/buckets/photos/files
curl -H "Authorization: Bearer $TOKEN" ${a}/buckets/photos
curl -H "Authorization: Bearer $TOKEN" -X DELETE ${a}/buckets/photos/notes/hello.txt

Admin routes (/cluster/*, /metrics, /_s3/*, /_auth/*${flags.faults === true ? ', /_faults (on)' : ''}) take the admin token:
curl -H "Authorization: Bearer ${cluster.adminToken}" ${a}/cluster/members

S3 on every node (first: ${cluster.nodes[0]!.s3}), access key ${cluster.accessKey}, secret key ${cluster.secretKey}:
AWS_ACCESS_KEY_ID=${cluster.accessKey} AWS_SECRET_ACCESS_KEY=${cluster.secretKey} aws --endpoint-url ${cluster.nodes[0]!.s3} s3 ls

The gRPC file API (proto/files/v1/files.proto, docs/grpc-files.md) on every node (first: ${cluster.nodes[0]!.files}); the shell:
  npx ringstore shell --cluster ${cluster.clusterFile}

Grow or shrink it while it runs (another terminal; data moves before a node leaves):
  npx ringstore dev add-node${flags.data === path.join('.data', 'dev') ? '' : ` --data ${flags.data}`}
  npx ringstore dev remove-node ${cluster.nodes[0]!.id}${flags.data === path.join('.data', 'dev') ? '' : ` --data ${flags.data}`}

Ctrl-C stops the cluster; run the same command again to restart it with its data.`);

}

// ------------------------------------------------------------------ clients

export interface DevChangeFlags {
  readonly data: string;
  readonly json?: boolean;
  /** --no-wait: return once the change is applied, without waiting for the data to move. */
  readonly wait?: boolean;
}

const human = humanSize;

/** Sends one request to the running dev on `dir` and renders its progress; resolves with its last reply. */
async function ask(dir: string, req: Request, json: boolean): Promise<Extract<Reply, { type: 'done' }>> {
  const file = devSocketPath(dir);
  const sock = createConnection(file);
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', (err: NodeJS.ErrnoException) =>
      reject(new Error(err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? `no ringstore dev is running on ${path.resolve(dir)} (start it with \`ringstore dev --data ${dir}\`, then run this in another terminal)` : `cannot reach ringstore dev at ${file}: ${err.message}`)),
    );
  });
  sock.write(JSON.stringify(req) + '\n');
  const tty = !json && process.stdout.isTTY === true;
  const bar = tty ? new cliProgress.SingleBar({ format: ' moving data [{bar}] {value}/{total} partitions  {state}', hideCursor: true, clearOnComplete: false }, cliProgress.Presets.shades_classic) : undefined;
  let barOn = false;
  let lastLine = 0;
  let last: Reply | undefined;
  let buf = '';
  const handle = (r: Reply): void => {
    last = r;
    if (json) {
      console.log(JSON.stringify(r));
      return;
    }
    if (r.type !== 'progress') return;
    if (r.phase === 'syncing' || r.phase === 'dropping') {
      const total = Math.max(1, r.partitionsTotal ?? 0);
      const state = `${r.liveVersions ?? '?'} ${r.liveVersions === 1 ? 'version' : 'versions'} live, ${human(r.bytesPulled ?? 0)} pulled${r.waitingFor !== undefined && r.waitingFor.length > 0 ? `, waiting for ${r.waitingFor.join(' ')}` : ''}`;
      if (bar !== undefined) {
        if (!barOn) bar.start(total, r.partitionsDone ?? 0, { state });
        barOn = true;
        bar.setTotal(total);
        bar.update(Math.min(total, r.partitionsDone ?? 0), { state });
        return;
      }
      // Without a terminal: a line per phase change, and at most one every 2 s while it moves.
      if (r.phase === 'syncing' && Date.now() - lastLine < 2000) return;
      lastLine = Date.now();
    } else if (barOn) {
      bar!.stop();
      barOn = false;
    }
    console.log(r.message);
  };
  await new Promise<void>((resolve, reject) => {
    sock.on('data', (d) => {
      buf += d.toString('utf8');
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim() !== '') handle(JSON.parse(line) as Reply);
      }
    });
    sock.once('error', reject);
    sock.once('close', () => resolve());
  });
  if (barOn) bar!.stop();
  const end = last as Reply | undefined;
  if (end === undefined) throw new Error('ringstore dev closed the connection without an answer (did it stop?)');
  if (end.type === 'error') throw new Error(end.message);
  if (end.type !== 'done') throw new Error('ringstore dev closed the connection before the change finished (did it stop?); see `ringstore layout status`');
  return end;
}

function fail(err: unknown, what: string): void {
  console.error(`ringstore dev ${what}: ${(err as Error).message}`);
  process.exitCode = 1;
}

export async function runAddNode(flags: DevChangeFlags & { zone?: string; capacity?: string }): Promise<void> {
  try {
    const capacity = flags.capacity === undefined ? undefined : parseSize(flags.capacity, '--capacity');
    const done = await ask(flags.data, { op: 'add-node', ...(flags.zone !== undefined ? { zone: flags.zone } : {}), ...(capacity !== undefined ? { capacity } : {}), ...(flags.wait === false ? { wait: false } : {}) }, flags.json === true);
    if (flags.json === true) return;
    const n = done.node!;
    console.log(`added ${n.id}\n  http ${n.http}\n  s3   ${n.s3}\n  grpc ${n.grpc}\n  files_grpc ${n.files_grpc}\n  data ${n.data}\n  log  ${n.log}`);
    console.log(`nodes now: ${done.nodes.map((x) => x.id).join(', ')}`);
  } catch (err) {
    fail(err, 'add-node');
  }
}

export async function runRemoveNode(id: string, flags: DevChangeFlags): Promise<void> {
  try {
    const done = await ask(flags.data, { op: 'remove-node', node: id, ...(flags.wait === false ? { wait: false } : {}) }, flags.json === true);
    if (flags.json === true) return;
    console.log(`removed ${id}; nodes now: ${done.nodes.map((x) => x.id).join(', ')}`);
  } catch (err) {
    fail(err, 'remove-node');
  }
}
