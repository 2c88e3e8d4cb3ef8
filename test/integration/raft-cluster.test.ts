// The Raft control plane in real node processes (issue 9, docs/raft.md "How
// it runs"): a dev cluster elects a leader, a command proposed through any
// node is applied on all of them, and every node then holds the same control
// state (GET /cluster/control).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, waitFor, type TestCluster, type TestNode } from '../helpers/cluster.js';

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
});
