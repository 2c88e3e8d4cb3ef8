// The Raft control plane in real node processes (issue 9, docs/raft.md "How
// it runs"): a dev cluster elects a leader, a command proposed through any
// node is applied on all of them, and every node then holds the same control
// state (GET /cluster/control).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ringstoreBin } from '../../src/node/dev-cluster.js';
import { startCluster, waitFor, type TestCluster, type TestNode } from '../helpers/cluster.js';

const run = promisify(execFile);

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
    // /cluster/* needs the admin token: the command reads it from RINGSTORE_ADMIN_TOKEN.
    const env = { ...process.env, RINGSTORE_ADMIN_TOKEN: cluster.adminToken };
    const json = JSON.parse((await run(process.execPath, [ringstoreBin(), 'status', '--node', n.http, '--json'], { env })).stdout) as {
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
    const text = (await run(process.execPath, [ringstoreBin(), 'status', '--node', n.http], { env })).stdout;
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
