// The Raft control plane in real node processes (issue 9, docs/raft.md "How
// it runs"): a dev cluster elects a leader, a command proposed through any
// node is applied on all of them, and every node then holds the same control
// state (GET /cluster/control).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ringstoreBin } from '../../src/node/dev-cluster.js';
import { startCluster, waitFor, type TestCluster, type TestNode } from '../helpers/cluster.js';

const run = promisify(execFile);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

interface Spawned {
  readonly http: string;
  readonly child: ChildProcess;
  readonly log: string;
  stop(): Promise<void>;
}

/** A `ringstore server` of its own on free loopback ports, with `args`; resolves once it answers /health. */
async function spawnServer(cluster: TestCluster, id: string, dataDir: string, args: string[]): Promise<Spawned> {
  const [http, grpc, s3, files] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const log = path.join(dataDir, '..', `${id}.log`);
  const fd = openSync(log, 'a');
  const child = spawn(
    process.execPath,
    [ringstoreBin(), 'server', '--id', id, '--data', dataDir, '--http', `127.0.0.1:${http}`, '--grpc', `127.0.0.1:${grpc}`, '--s3', `127.0.0.1:${s3}`, '--files-grpc', `127.0.0.1:${files}`, '--advertise-http', `127.0.0.1:${http}`, '--advertise-grpc', `127.0.0.1:${grpc}`, ...args],
    { stdio: ['ignore', fd, fd] },
  );
  closeSync(fd);
  const url = `http://127.0.0.1:${http}`;
  await waitFor(async () => (await cluster.fetch(`${url}/health`)).status === 200, { what: `${id} answering /health (log ${log})`, timeoutMs: 60_000 });
  return {
    http: url,
    child,
    log,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

interface RaftView {
  role: string;
  term: number;
  leader: string | null;
  commit: number;
  applied: number;
  voters: string[];
  learners: string[];
  members: { id: string; role: string; match: number | null; last_contact_ms_ago: number | null }[];
}

interface ControlView {
  applied: number;
  layout: { version: number; nodes: { id: string }[] };
  buckets: { name: string; id: number; owner: string }[];
  users: { id: string }[];
  access_keys: { access_key_id: string; user: string; secret?: unknown }[];
}

async function getJson<T>(cluster: TestCluster, url: string): Promise<T> {
  const res = await cluster.fetch(url);
  assert.equal(res.status, 200, `${url}: ${res.status}`);
  return (await res.json()) as T;
}

function raft(cluster: TestCluster, n: TestNode): Promise<RaftView> {
  return getJson<RaftView>(cluster, `${n.http}/cluster/raft`);
}

/** The control state a node applied (without the answering node's id, so that states compare). */
async function control(cluster: TestCluster, n: TestNode): Promise<ControlView> {
  const { node: _node, ...state } = await getJson<ControlView & { node: string }>(cluster, `${n.http}/cluster/control`);
  return state;
}

async function propose(cluster: TestCluster, n: TestNode, cmd: unknown): Promise<{ status: number; body: { ok: boolean; result?: { ok: boolean; code?: string; bucket?: { id: number; owner: string } }; error?: { code: string } } }> {
  const res = await cluster.fetch(`${n.http}/cluster/control/commands`, { method: 'POST', body: JSON.stringify(cmd), headers: { 'content-type': 'application/json' } });
  return { status: res.status, body: (await res.json()) as never };
}

/** The leader every given node agrees on, once they all agree. */
async function agreedLeader(cluster: TestCluster, nodes: readonly TestNode[], timeoutMs = 30_000): Promise<string> {
  let leader = '';
  await waitFor(
    async () => {
      const views = await Promise.all(nodes.map((n) => raft(cluster, n)));
      const l = views[0]?.leader;
      if (l === null || l === undefined || !views.every((v) => v.leader === l)) return false;
      leader = l;
      return true;
    },
    { what: `one leader seen by ${nodes.map((n) => n.id).join(', ')}`, timeoutMs },
  );
  return leader;
}

describe('a 3-node dev cluster runs the Raft control plane', () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await startCluster({ nodes: 3 });
  });
  after(async () => {
    await cluster?.stop();
  });

  test('the nodes elect one leader, and all three are voters of the founding configuration', async () => {
    const leader = await agreedLeader(cluster, cluster.nodes);
    const views = await Promise.all(cluster.nodes.map((n) => raft(cluster, n)));
    assert.deepEqual(views[0]?.voters, ['n1', 'n2', 'n3']);
    assert.deepEqual(views[0]?.learners, []);
    assert.equal(views.filter((v) => v.role === 'leader').length, 1);
    const lv = views.find((v) => v.role === 'leader');
    assert.equal(lv && cluster.nodes.find((n) => n.id === leader) !== undefined, true);
    // The leader sees every member's match index.
    assert.equal(lv?.members.length, 3);
    for (const m of lv?.members ?? []) assert.equal(typeof m.match, 'number');
  });

  test('a command proposed through each node is applied on all of them, with the same control state everywhere', async () => {
    await agreedLeader(cluster, cluster.nodes);
    for (const [i, n] of cluster.nodes.entries()) {
      const r = await propose(cluster, n, { type: 'createBucket', name: `milestone-${i}`, owner: `owner-${i}` });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.result?.ok, true, JSON.stringify(r.body));
      // Applied on the proposing node before it answered.
      const c = await control(cluster, n);
      assert.ok(c.buckets.some((b) => b.name === `milestone-${i}` && b.owner === `owner-${i}`));
    }
    // A second creation of a taken name is refused with the first owner, whichever node it goes through.
    const again = await propose(cluster, cluster.nodes[2] as TestNode, { type: 'createBucket', name: 'milestone-0', owner: 'someone-else' });
    assert.equal(again.body.result?.ok, false);
    assert.equal(again.body.result?.code, 'BucketAlreadyExists');
    assert.equal(again.body.result?.bucket?.owner, 'owner-0');

    let states: string[] = [];
    await waitFor(
      async () => {
        states = (await Promise.all(cluster.nodes.map((n) => control(cluster, n)))).map((c) => JSON.stringify(c));
        return states.every((s) => s === states[0]);
      },
      { what: 'identical control states on every node' },
    );
    const c = JSON.parse(states[0] as string) as ControlView;
    assert.deepEqual(c.buckets.map((b) => b.name).sort(), ['milestone-0', 'milestone-1', 'milestone-2']);
    assert.deepEqual(c.layout.nodes.map((x) => x.id), ['n1', 'n2', 'n3']);
  });

  test('the control routes refuse bad input with a code, and never show a secret', async () => {
    const n = cluster.nodes[0] as TestNode;
    const bad = await propose(cluster, n, { type: 'createBucket', owner: 'x' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error?.code, 'InvalidArgument');
    const notJson = await cluster.fetch(`${n.http}/cluster/control/commands`, { method: 'POST', body: '{' });
    assert.equal(notJson.status, 400);
    assert.equal(((await notJson.json()) as { error: { code: string } }).error.code, 'MalformedRequest');
    assert.equal((await propose(cluster, n, { type: 'putUser', user: 'alice' })).body.result?.ok, true);
    const key = await propose(cluster, n, { type: 'putAccessKey', accessKeyId: 'AKIDRAFTTEST', secret: 'very-secret-value', user: 'alice' });
    assert.equal(key.body.result?.ok, true);
    const text = await (await cluster.fetch(`${n.http}/cluster/control`)).text();
    assert.ok(text.includes('AKIDRAFTTEST'));
    assert.ok(!text.includes('very-secret-value'));
  });

  test('ringstore status prints the members, the leader and the layout version, and --json the same facts', async () => {
    const leader = await agreedLeader(cluster, cluster.nodes);
    const n = cluster.nodes[1] as TestNode;
    const json = JSON.parse((await run(process.execPath, [ringstoreBin(), 'status', '--node', n.http, '--json'])).stdout) as {
      leader: string;
      quorum: boolean;
      healthy: boolean;
      layout_version: number;
      voters: string[];
      members: { id: string; member: string; reachable: boolean }[];
    };
    assert.equal(json.leader, leader);
    assert.equal(json.quorum, true);
    assert.equal(json.healthy, true);
    assert.equal(json.layout_version, 1);
    assert.deepEqual(json.members.map((m) => [m.id, m.member, m.reachable]), [
      ['n1', 'voter', true],
      ['n2', 'voter', true],
      ['n3', 'voter', true],
    ]);
    const text = (await run(process.execPath, [ringstoreBin(), 'status', '--node', n.http])).stdout;
    assert.match(text, /cluster: healthy/);
    assert.match(text, new RegExp(`leader:  ${leader} \\(term \\d+\\)`));
  });

  test('the metrics show the term, the commit and applied indexes and the proposals', async () => {
    const n = cluster.nodes[0] as TestNode;
    const text = await (await cluster.fetch(`${n.http}/metrics`)).text();
    for (const name of ['ringstore_raft_term', 'ringstore_raft_commit_index', 'ringstore_raft_applied_index', 'ringstore_raft_leader_changes_total', 'ringstore_raft_proposals_total']) {
      assert.match(text, new RegExp(`^${name}`, 'm'), name);
    }
    assert.match(text, /ringstore_raft_proposals_total\{result="applied"[^}]*\} [1-9]/);
  });

  test('a node started with --join through a member\'s HTTP address is recorded in the layout, added as a learner, and catches up by snapshot', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ringstore-join-'));
    const via = (cluster.nodes[1] as TestNode).http.replace('http://', '');
    const joiner = await spawnServer(cluster, 'n4', path.join(dir, 'data'), ['--join', via, '--zone', 'local']);
    try {
      await waitFor(async () => (await raft(cluster, cluster.nodes[0] as TestNode)).learners.includes('n4'), { what: 'n4 a learner in the configuration' });
      const states = async (): Promise<string[]> => [...(await Promise.all(cluster.nodes.map((n) => control(cluster, n)))), await getJson<ControlView & { node?: string }>(cluster, `${joiner.http}/cluster/control`).then(({ node: _n, ...c }) => c)].map((c) => JSON.stringify(c));
      await waitFor(async () => new Set(await states()).size === 1, { what: 'n4 holding the same control state as the founders' });
      const c = await control(cluster, cluster.nodes[0] as TestNode);
      assert.deepEqual(c.layout.nodes.map((n) => n.id), ['n1', 'n2', 'n3', 'n4']);
      assert.equal(c.layout.version, 2);
      assert.ok(c.buckets.some((b) => b.name === 'milestone-0'));
      const v = await getJson<RaftView>(cluster, `${joiner.http}/cluster/raft`);
      assert.deepEqual(v.voters, ['n1', 'n2', 'n3']);
      assert.deepEqual(v.learners, ['n4']);
      // A learner proposes through the leader like anyone.
      assert.equal((await propose(cluster, { ...(cluster.nodes[0] as TestNode), http: joiner.http }, { type: 'putUser', user: 'via-n4' })).body.result?.ok, true);
    } finally {
      await joiner.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('control backup saves the state with mode 0600, and control restore makes it a one-voter cluster elsewhere', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ringstore-restore-'));
    try {
      const file = path.join(dir, 'control.json');
      const out = JSON.parse((await run(process.execPath, [ringstoreBin(), 'control', 'backup', file, '--node', (cluster.nodes[2] as TestNode).http, '--json'])).stdout) as { buckets: number; applied: number };
      assert.equal(statSync(file).mode & 0o777, 0o600);
      const saved = JSON.parse(readFileSync(file, 'utf8')) as { format: string; buckets: { name: string }[]; accessKeys: { secret: string }[] };
      assert.equal(saved.format, 'ringstore-control');
      assert.equal(out.buckets, saved.buckets.length);
      assert.ok(saved.accessKeys.some((k) => k.secret === 'very-secret-value'), 'a backup keeps the secrets');

      const data = path.join(dir, 'r1');
      const restored = JSON.parse((await run(process.execPath, [ringstoreBin(), 'control', 'restore', file, '--id', 'r1', '--data', data, '--json'])).stdout) as { index: number };
      assert.ok(restored.index >= out.applied);
      // Restoring over a log is refused without --force.
      await assert.rejects(run(process.execPath, [ringstoreBin(), 'control', 'restore', file, '--id', 'r1', '--data', data]), /already holds a Raft log/);
      const r1 = await spawnServer(cluster, 'r1', data, []);
      try {
        await waitFor(async () => (await getJson<RaftView>(cluster, `${r1.http}/cluster/raft`)).role === 'leader', { what: 'r1 leading alone' });
        const c = await getJson<ControlView>(cluster, `${r1.http}/cluster/control`);
        assert.deepEqual(c.buckets.map((b) => b.name).sort(), saved.buckets.map((b) => b.name).sort());
        assert.ok(c.layout.nodes.some((n) => n.id === 'r1'));
        const r = await propose(cluster, { ...(cluster.nodes[0] as TestNode), http: r1.http }, { type: 'createBucket', name: 'after-restore', owner: 'x' });
        assert.equal(r.body.result?.ok, true);
        // Ids keep growing past every restored bucket's.
        assert.ok((r.body.result?.bucket?.id ?? 0) > Math.max(...c.buckets.map((b) => b.id)));
      } finally {
        await r1.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // Last: it takes the cluster down to one node.
  test('after losing two of three voters for good, --force-new-cluster restarts the survivor as a one-voter cluster with its state', async () => {
    const before = await control(cluster, cluster.nodes[0] as TestNode);
    await cluster.kill('n2');
    await cluster.kill('n3');
    await cluster.kill('n1', 'SIGTERM');
    const configFile = path.join(cluster.dir, 'n1', 'config.json');
    const logFile = path.join(cluster.dir, 'n1', 'force.log');
    const fd = openSync(logFile, 'a');
    const child = spawn(process.execPath, [ringstoreBin(), 'server', '--config', configFile, '--force-new-cluster'], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    const n1 = cluster.nodes[0] as TestNode;
    try {
      await waitFor(async () => (await raft(cluster, n1)).role === 'leader', { what: 'n1 leading alone after --force-new-cluster', timeoutMs: 60_000 });
      const v = await raft(cluster, n1);
      assert.deepEqual(v.voters, ['n1']);
      const after = await control(cluster, n1);
      assert.deepEqual(after.buckets, before.buckets);
      assert.equal((await propose(cluster, n1, { type: 'createBucket', name: 'after-force', owner: 'x' })).body.result?.ok, true);
      assert.match(readFileSync(logFile, 'utf8'), /UNSAFE DISASTER RECOVERY/);
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  });
});

describe('a 5-node dev cluster survives kill -9 of its Raft leader', () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await startCluster({ nodes: 5 });
  });
  after(async () => {
    await cluster?.stop();
  });

  test('a new leader is elected, proposals continue through the others, the old leader catches up, and every node holds the same control state', async (t) => {
    const oldLeader = await agreedLeader(cluster, cluster.nodes);
    const views = await Promise.all(cluster.nodes.map((n) => raft(cluster, n)));
    assert.deepEqual(views[0]?.voters, ['n1', 'n2', 'n3', 'n4', 'n5']);

    // Bucket creation through every node, throughout.
    const acknowledged = new Map<string, string>();
    let failures = 0;
    let seq = 0;
    let running = true;
    const down = new Set<string>();
    const proposer = async (n: TestNode): Promise<void> => {
      while (running) {
        if (down.has(n.id)) {
          await new Promise((r) => setTimeout(r, 50));
          continue;
        }
        const name = `kill-${n.id}-${++seq}`;
        try {
          const r = await propose(cluster, n, { type: 'createBucket', name, owner: n.id });
          if (r.status === 200 && r.body.result?.ok === true) acknowledged.set(name, n.id);
          else failures++;
        } catch {
          failures++;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    };
    const proposers = cluster.nodes.map((n) => proposer(n));
    await waitFor(() => acknowledged.size >= 20, { what: '20 buckets created before the kill' });

    const old = cluster.nodes.find((n) => n.id === oldLeader) as TestNode;
    down.add(oldLeader);
    const killedAt = Date.now();
    await cluster.kill(oldLeader, 'SIGKILL');
    const live = cluster.nodes.filter((n) => n.id !== oldLeader);
    let newLeader = '';
    await waitFor(
      async () => {
        const vs = await Promise.all(live.map((n) => raft(cluster, n)));
        const l = vs[0]?.leader;
        if (l === null || l === undefined || l === oldLeader || !vs.every((v) => v.leader === l)) return false;
        newLeader = l;
        return true;
      },
      { what: 'a new leader seen by every live node', intervalMs: 20 },
    );
    const electionMs = Date.now() - killedAt;
    t.diagnostic(`election after kill -9 of ${oldLeader}: ${electionMs} ms (new leader ${newLeader})`);

    // Proposals continue through the others.
    const before = acknowledged.size;
    await waitFor(() => [...acknowledged.keys()].filter((k) => !k.startsWith(`kill-${oldLeader}-`)).length >= before + 20, { what: '20 more buckets created through the live nodes' });

    // The old leader restarts and catches up.
    await cluster.restart(oldLeader);
    down.delete(oldLeader);
    await waitFor(async () => (await raft(cluster, old)).leader === newLeader, { what: `${oldLeader} follows ${newLeader}` });
    const after = acknowledged.size;
    await waitFor(() => acknowledged.size >= after + 10, { what: '10 more buckets with every node up' });
    running = false;
    await Promise.all(proposers);

    let states: ControlView[] = [];
    await waitFor(
      async () => {
        states = await Promise.all(cluster.nodes.map((n) => control(cluster, n)));
        return states.every((s) => JSON.stringify(s) === JSON.stringify(states[0]));
      },
      { what: 'identical control states on all five nodes' },
    );
    const final = states[0] as ControlView;
    const owners = new Map(final.buckets.map((b) => [b.name, b.owner]));
    // Every acknowledged creation is there, with its owner; ids are never reused.
    for (const [name, owner] of acknowledged) assert.equal(owners.get(name), owner, name);
    assert.equal(new Set(final.buckets.map((b) => b.id)).size, final.buckets.length);
    t.diagnostic(`${acknowledged.size} creations acknowledged, ${failures} failed or timed out around the kill`);
  });
});

describe('a 6-node dev cluster (5 voters, 1 learner) replaces a dead voter on its own', () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await startCluster({ nodes: 6, nodeSettings: { raft: { replaceAfterMs: 3000 } } });
  });
  after(async () => {
    await cluster?.stop();
  });

  test('the learner is promoted and the dead voter demoted; restarted, it follows as a learner', async (t) => {
    const leader = await agreedLeader(cluster, cluster.nodes);
    const v0 = await raft(cluster, cluster.nodes[0] as TestNode);
    assert.deepEqual(v0.voters, ['n1', 'n2', 'n3', 'n4', 'n5']);
    assert.deepEqual(v0.learners, ['n6']);
    const victim = ['n1', 'n2', 'n3', 'n4', 'n5'].find((id) => id !== leader) as string;
    const killedAt = Date.now();
    await cluster.kill(victim);
    const live = cluster.nodes.filter((n) => n.id !== victim);
    await waitFor(
      async () => {
        const vs = await Promise.all(live.map((n) => raft(cluster, n)));
        return vs.every((v) => v.voters.includes('n6') && !v.voters.includes(victim) && v.learners.includes(victim) && v.voters.length === 5);
      },
      { what: `n6 promoted and ${victim} demoted on every live node`, timeoutMs: 60_000 },
    );
    t.diagnostic(`${victim} replaced by n6 ${Date.now() - killedAt} ms after kill -9 (replaceAfterMs 3000)`);
    // Commands still commit with the new voters.
    assert.equal((await propose(cluster, live[0] as TestNode, { type: 'putUser', user: 'after-replacement' })).body.result?.ok, true);
    await cluster.restart(victim);
    const back = cluster.nodes.find((n) => n.id === victim) as TestNode;
    await waitFor(
      async () => {
        const [a, b] = await Promise.all([control(cluster, back), control(cluster, live[0] as TestNode)]);
        return JSON.stringify(a) === JSON.stringify(b) && a.users.some((u) => u.id === 'after-replacement');
      },
      { what: `${victim} caught up as a learner` },
    );
    const vb = await raft(cluster, back);
    assert.ok(vb.learners.includes(victim));
    assert.equal(vb.voters.length, 5);
  });
});
