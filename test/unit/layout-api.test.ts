// The layout admin routes (src/api/cluster-layout.ts) over a local control
// plane, and the CLI's text renderings of their answers (src/cli/layout.ts):
// stage, plan, apply --version N (412 when N is not current + 1), revert,
// precise 4xx codes for bad input.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { createLayoutApi } from '../../src/api/cluster-layout.js';
import { ApiError } from '../../src/api/errors.js';
import { parseUrl, sendError } from '../../src/api/http.js';
import { renderPlan, renderShow } from '../../src/cli/layout.js';
import { LocalControlPlane } from '../../src/control/plane.js';

let server: Server;
let base: string;
const plane = new LocalControlPlane(() => 1_000);

before(async () => {
  const handler = createLayoutApi({ plane, partitionBytes: () => Array.from({ length: 1024 }, () => 1 << 20) });
  // The handler alone, without the node's router (and its authentication, which the wiring step puts in front of it).
  server = createServer((req, res) => {
    handler(req, res, parseUrl(req.url), { route: 'other', startNs: 0n }).catch((err: unknown) => sendError(res, err instanceof ApiError ? err : new ApiError('InternalError', String(err))));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${base}${path}`, { method, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

test('assign, plan, apply --version 1 builds the first layout; a wrong version is refused with 412; show lists members and progress', async () => {
  for (const [node, zone] of [['n1', 'z1'], ['n2', 'z2'], ['n3', 'z3']]) assert.equal((await call('POST', '/cluster/layout', { op: 'assign', node, zone, capacity: 1_000_000 })).status, 200);
  const gw = await call('POST', '/cluster/layout', { op: 'assign', node: 'g1', zone: 'z1', gateway: true });
  assert.equal(gw.status, 200);
  assert.equal((gw.json.staged as unknown[]).length, 4);
  const plan = await call('GET', '/cluster/layout/plan');
  assert.equal(plan.status, 200);
  assert.equal(plan.json.nextVersion, 1);
  assert.equal(plan.json.assignment, undefined, 'the plan answer leaves the bulk assignment out');
  const text = renderPlan(plan.json);
  assert.match(text, /version 0 -> 1/);
  assert.match(text, /ringstore layout apply --version 1/);
  const wrong = await call('POST', '/cluster/layout', { op: 'apply', version: 2 });
  assert.equal(wrong.status, 412);
  assert.equal((wrong.json.error as Record<string, unknown>).reason, 'LayoutVersionMismatch');
  const applied = await call('POST', '/cluster/layout', { op: 'apply', version: 1 });
  assert.equal(applied.status, 200);
  assert.equal(applied.json.currentVersion, 1);
  const show = await call('GET', '/cluster/layout');
  const shown = renderShow(show.json);
  assert.match(shown, /layout version 1 \(1024 partitions x 3 replicas\)/);
  assert.match(shown, /g1 +z1 +gateway/);
  assert.match(shown, /no staged changes/);
});

test('a join stages, plans bytes moving to the new node, and reverts; a capacity change keeps the zone', async () => {
  assert.equal((await call('POST', '/cluster/layout', { op: 'assign', node: 'n4', zone: 'z1', capacity: 1_000_000 })).status, 200);
  assert.equal((await call('POST', '/cluster/layout', { op: 'assign', node: 'n2', capacity: 2_000_000 })).status, 200);
  const show = await call('GET', '/cluster/layout');
  const staged = show.json.staged as { op: string; member: { id: string; zone: string; capacity: number } }[];
  assert.deepEqual(staged.find((c) => c.member.id === 'n2')?.member.zone, 'z2');
  const plan = await call('GET', '/cluster/layout/plan');
  const n4 = (plan.json.nodes as { id: string; partitionsIn: number; bytesIn: number }[]).find((n) => n.id === 'n4')!;
  assert.ok(n4.partitionsIn > 0);
  assert.equal(n4.bytesIn, n4.partitionsIn * (1 << 20));
  assert.match(renderShow(show.json), /assign n4 zone=z1 capacity=/);
  assert.equal((await call('POST', '/cluster/layout', { op: 'revert' })).status, 200);
  assert.equal(((await call('GET', '/cluster/layout')).json.staged as unknown[]).length, 0);
});

test('bad input gets a precise 4xx: unknown op, a new node without a zone, removing a stranger, a body that is not JSON', async () => {
  const cases: [unknown, number, string][] = [
    [{ op: 'grow' }, 400, 'op must be'],
    [{ op: 'assign', node: 'n9', capacity: 5 }, 400, 'zone is required'],
    [{ op: 'assign', node: 'n9', zone: 'z', capacity: -1 }, 400, 'capacity'],
    [{ op: 'remove', node: 'zz' }, 404, 'no node zz'],
    [{ op: 'apply' }, 400, 'version is required'],
  ];
  for (const [body, status, text] of cases) {
    const r = await call('POST', '/cluster/layout', body);
    assert.equal(r.status, status, JSON.stringify(body));
    assert.match(String((r.json.error as Record<string, unknown>).message), new RegExp(text));
  }
  const junk = await fetch(`${base}/cluster/layout`, { method: 'POST', body: 'not json' });
  assert.equal(junk.status, 400);
  assert.equal((await call('DELETE', '/cluster/layout')).status, 405);
});
