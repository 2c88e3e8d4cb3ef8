// `ringstore dev add-node` / `remove-node` as a user types them (issue 10):
// against a running `ringstore dev` (its DIR/dev.sock), with --json progress,
// cluster.json kept current, a clear refusal when no dev runs or the node is
// unknown, and a restart of `ringstore dev` that brings back the node set it
// was left with (by id), data included.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ringstoreBin } from '../../src/node/dev-cluster.js';
import { waitFor } from '../helpers/cluster.js';
import { signedFetch } from '../helpers/auth.js';

interface ClusterFile {
  nodes: { id: string; pid: number; http: string }[];
  user_token: string;
  admin_token: string;
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'ringstore-devlayout-'));
const started: ChildProcess[] = [];

after(() => {
  for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

const clusterFile = (): ClusterFile => JSON.parse(readFileSync(path.join(dir, 'cluster.json'), 'utf8')) as ClusterFile;

async function startDev(args: string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, [ringstoreBin(), 'dev', '--data', dir, '--log-level', 'warn', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
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
    { timeoutMs: 120_000, what: 'ringstore dev to report its nodes up' },
  );
  return child;
}

/** Runs a `ringstore` command to its end. */
function run(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [ringstoreBin(), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d.toString()));
    child.stderr.on('data', (d) => (err += d.toString()));
    child.once('exit', (code) => resolve({ code, out, err }));
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once('exit', () => r()));
}

test('dev add-node and remove-node change a running dev cluster; a restart brings back the nodes it was left with', { timeout: 600_000 }, async () => {
  const none = await run(['dev', 'add-node', '--data', path.join(dir, 'nothing-here')]);
  assert.equal(none.code, 1);
  assert.match(none.err, /no ringstore dev is running on/);

  const dev = await startDev(['--nodes', '3', '--base-port', '0']);
  const first = clusterFile();
  const fetchAs = (url: string, init?: RequestInit): Promise<Response> => signedFetch({ userToken: first.user_token, adminToken: first.admin_token }, url, init);
  assert.equal((await fetchAs(`${first.nodes[0]!.http}/buckets/keep`, { method: 'POST' })).status, 200);
  for (let i = 0; i < 20; i++) assert.equal((await fetchAs(`${first.nodes[i % 3]!.http}/buckets/keep/k${i}`, { method: 'PUT', body: `value ${i}` })).status, 200);

  // add-node --json: progress lines, then the answer with the new node.
  const added = await run(['dev', 'add-node', '--data', dir, '--json']);
  assert.equal(added.code, 0, added.err);
  const lines = added.out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; phase?: string; node?: { id: string; http: string } });
  assert.ok(lines.some((l) => l.type === 'progress' && l.phase === 'applied'));
  const done = lines[lines.length - 1]!;
  assert.equal(done.type, 'done');
  assert.equal(done.node?.id, 'n4');
  assert.deepEqual(
    clusterFile().nodes.map((n) => n.id),
    ['n1', 'n2', 'n3', 'n4'],
  );
  const layout = (await (await fetchAs(`${done.node!.http}/cluster/layout`)).json()) as { live: { storageNodes: string[] }[] };
  assert.deepEqual(layout.live.length, 1);
  assert.deepEqual([...layout.live[0]!.storageNodes].sort(), ['n1', 'n2', 'n3', 'n4']);

  const unknown = await run(['dev', 'remove-node', 'n9', '--data', dir]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.err, /no node n9/);

  // remove-node (text): returns once n1 has stopped; --data before the subcommand's own flags works too.
  const n1 = first.nodes.find((n) => n.id === 'n1')!;
  const removed = await run(['dev', 'remove-node', '-d', dir, 'n1']);
  assert.equal(removed.code, 0, removed.err);
  assert.match(removed.out, /removed n1; nodes now: n2, n3, n4/);
  assert.throws(() => process.kill(n1.pid, 0), 'n1 has stopped');
  assert.deepEqual(
    clusterFile().nodes.map((n) => n.id),
    ['n2', 'n3', 'n4'],
  );

  // Restart: the node set is the one left (not n1..n3), with the data.
  dev.kill('SIGTERM');
  await exited(dev);
  await startDev([]);
  const again = clusterFile();
  assert.deepEqual(
    again.nodes.map((n) => n.id),
    ['n2', 'n3', 'n4'],
  );
  for (let i = 0; i < 20; i++) {
    const res = await fetchAs(`${again.nodes[i % 3]!.http}/buckets/keep/k${i}?r=3`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), `value ${i}`);
  }
  // A new node after a restart still gets a new id.
  const next = await run(['dev', 'add-node', '--data', dir, '--no-wait']);
  assert.equal(next.code, 0, next.err);
  assert.match(next.out, /added n5/);
});
