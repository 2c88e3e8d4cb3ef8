// `ringstore dev` as a user runs it (docs/api.md, "The dev cluster"): separate node processes,
// cluster.json, a clean stop on SIGTERM, a restart on the same folder with
// the same ports and all data, a killed node that leaves the others running,
// no orphans when dev itself is killed, and a busy port replaced.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ringstoreBin } from '../../src/node/dev-cluster.js';
import { waitFor } from '../helpers/cluster.js';
import { signedFetch } from '../helpers/auth.js';

interface ClusterFile {
  nodes: { id: string; pid: number; http: string; grpc: string; data: string; log: string }[];
  quorum: { n: number; r: number; w: number };
  access_key: string;
  secret_key: string;
  user_token: string;
  admin_token: string;
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'ringstore-devtest-'));
const started: ChildProcess[] = [];

after(() => {
  for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

interface Dev {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  cluster: ClusterFile;
  /** fetch() with the credentials of the cluster file (test/helpers/auth.ts). */
  fetch: (url: string, init?: RequestInit) => Promise<Response>;
}

async function startDev(args: string[]): Promise<Dev> {
  const child = spawn(process.execPath, [ringstoreBin(), 'dev', '--data', dir, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d.toString()));
  child.stderr!.on('data', (d) => (err += d.toString()));
  await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`dev exited ${child.exitCode}: ${err}`);
      return /nodes up/.test(out);
    },
    { timeoutMs: 90_000, what: 'ringstore dev to report its nodes up' },
  );
  const cluster = JSON.parse(readFileSync(path.join(dir, 'cluster.json'), 'utf8')) as ClusterFile;
  return { child, out: () => out, err: () => err, cluster, fetch: (url, init) => signedFetch({ userToken: cluster.user_token, adminToken: cluster.admin_token }, url, init) };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((r) => child.once('exit', (code) => r(code)));
}

let ports: string[] = [];

test('dev starts three node processes, writes cluster.json, prints it, and stops them all on SIGTERM', async () => {
  const dev = await startDev(['--nodes', '3', '--base-port', '0']);
  const c = dev.cluster;
  assert.equal(c.nodes.length, 3);
  assert.deepEqual(c.quorum, { n: 3, r: 2, w: 2 });
  assert.equal(new Set(c.nodes.map((n) => n.pid)).size, 3, 'one process per node');
  for (const n of c.nodes) {
    assert.ok(n.pid !== dev.child.pid);
    assert.match(n.http, /^http:\/\/127\.0\.0\.1:\d+$/);
    const h = (await (await dev.fetch(`${n.http}/health`)).json()) as { node: string };
    assert.equal(h.node, n.id);
  }
  assert.ok(dev.out().includes(c.nodes[0]!.http), 'prints the addresses');
  ports = c.nodes.map((n) => n.http);

  // Generated credentials, in cluster.json only (owner-only), and printed with the next command to type.
  assert.match(c.access_key, /^RS[0-9A-F]{18}$/);
  assert.match(c.user_token, /^rsu_/);
  assert.match(c.admin_token, /^rsa_/);
  assert.equal(statSync(path.join(dir, 'cluster.json')).mode & 0o077, 0, 'cluster.json is readable by its owner only');
  assert.ok(dev.out().includes(`Authorization: Bearer $TOKEN`) && dev.out().includes(c.user_token), 'prints the token and how to use it');

  const a = c.nodes[0]!.http;
  // Nobody in without a key: no token is a 401 with a code; /health stays open.
  const anonymous = await fetch(`${a}/buckets/kept`, { method: 'POST' });
  assert.equal(anonymous.status, 401);
  assert.equal(((await anonymous.json()) as { error: { code: string } }).error.code, 'MissingAuthentication');
  assert.equal((await fetch(`${a}/cluster/members`)).status, 401);
  assert.equal((await dev.fetch(`${a}/buckets/kept`, { method: 'POST' })).status, 200);
  assert.equal((await dev.fetch(`${a}/buckets/kept/before-restart`, { method: 'PUT', body: 'still here' })).status, 200);

  dev.child.kill('SIGTERM');
  assert.equal(await exited(dev.child), 0);
  for (const n of c.nodes) assert.equal(alive(n.pid), false, `node ${n.id} stopped`);
});

test('a restart on the same folder reuses the ports and keeps every write', async () => {
  const dev = await startDev([]);
  assert.deepEqual(
    dev.cluster.nodes.map((n) => n.http),
    ports,
  );
  for (const n of dev.cluster.nodes) {
    const res = await dev.fetch(`${n.http}/buckets/kept/before-restart?r=3`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'still here');
  }

  // A node killed behind dev's back is reported; the others keep serving.
  const victim = dev.cluster.nodes[2]!;
  process.kill(victim.pid, 'SIGKILL');
  await waitFor(() => dev.err().includes(`node ${victim.id}`), { what: 'dev to report the killed node' });
  assert.equal(dev.child.exitCode, null, 'dev keeps running');
  const w = await dev.fetch(`${dev.cluster.nodes[0]!.http}/buckets/kept/while-one-down?w=2`, { method: 'PUT', body: 'x' });
  assert.equal(w.status, 200);

  // dev killed outright: its nodes notice and stop by themselves.
  dev.child.kill('SIGKILL');
  await exited(dev.child);
  for (const n of dev.cluster.nodes.slice(0, 2)) {
    await waitFor(() => !alive(n.pid), { timeoutMs: 30_000, what: `node ${n.id} to exit after dev died` });
  }
});

test('a busy port is replaced by a free one, and the data is still there', async () => {
  const busyPort = Number(new URL(ports[0]!).port);
  const blocker: Server = createServer();
  await new Promise<void>((r) => blocker.listen(busyPort, '127.0.0.1', r));
  try {
    const dev = await startDev([]);
    const n1 = dev.cluster.nodes[0]!;
    assert.notEqual(n1.http, ports[0]);
    const res = await dev.fetch(`${n1.http}/buckets/kept/before-restart`);
    assert.equal(await res.text(), 'still here');
    assert.equal((await dev.fetch(`${dev.cluster.nodes[1]!.http}/buckets/kept/while-one-down`)).status, 200);
    dev.child.kill('SIGINT');
    assert.equal(await exited(dev.child), 0);
  } finally {
    await new Promise((r) => blocker.close(r));
  }
});

test('a second dev on a folder in use is refused', async () => {
  const dev = await startDev([]);
  try {
    const second = spawn(process.execPath, [ringstoreBin(), 'dev', '--data', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
    started.push(second);
    let err = '';
    second.stderr!.on('data', (d) => (err += d.toString()));
    assert.equal(await exited(second), 1);
    assert.match(err, /already running/);
  } finally {
    dev.child.kill('SIGTERM');
    await exited(dev.child);
  }
});
