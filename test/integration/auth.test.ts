// Users, tokens and admin tokens on a real 3-node cluster (issue 11 §2-4),
// through the `ringstore` commands: a token made through one node works at
// once through every other (the control plane confirms an unknown token
// with a ReadIndex before refusing it), a revoked one is refused everywhere,
// another user's bucket is refused, and no answer carries a stored secret.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ringstoreBin } from '../../src/node/dev-cluster.js';
import { startCluster, waitFor, type TestCluster } from '../helpers/cluster.js';

const run = promisify(execFile);
let cluster: TestCluster;

async function ringstore(args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [ringstoreBin(), ...args], { env: { ...process.env, RINGSTORE_ADMIN_TOKEN: cluster.adminToken }, timeout: 60_000 });
  return stdout;
}

const as = (token: string): RequestInit => ({ headers: { authorization: `Bearer ${token}` } });
const codeOf = async (res: Response): Promise<string> => ((await res.json()) as { error: { code: string } }).error.code;

before(async () => {
  cluster = await startCluster({ nodes: 3, logLevel: 'warn' });
});
after(async () => {
  await cluster?.stop();
});

test('a token made through one node works at once through the others, and a revoked one is refused by all', async () => {
  const [n1, n2, n3] = cluster.nodes.map((n) => n.http) as [string, string, string];
  const made = JSON.parse(await ringstore(['token', 'create', '--user', 'bob', '--ttl', '1h', '--name', 'ci', '--node', n1, '--json'])) as { token: string; id: string; user: string; expires: string };
  assert.equal(made.user, 'bob');
  assert.match(made.token, /^rsu_/);
  assert.ok(Date.parse(made.expires) > Date.now());
  // Through n3 at once: no waiting for n3 to apply the entry.
  assert.equal((await cluster.fetch(`${n3}/buckets/bobs`, { method: 'POST', ...as(made.token) })).status, 200);
  assert.equal((await cluster.fetch(`${n2}/buckets/bobs/hello`, { method: 'PUT', body: 'from bob', ...as(made.token) })).status, 200);
  assert.equal(await (await cluster.fetch(`${n1}/buckets/bobs/hello`, as(made.token))).text(), 'from bob');

  // Ownership: the cluster's first user is refused bob's bucket, and bob the first user's.
  assert.equal((await cluster.fetch(`${n1}/buckets/dev-only`, { method: 'POST' })).status, 200);
  const denied = await cluster.fetch(`${n2}/buckets/bobs/hello`);
  assert.equal(denied.status, 403);
  assert.equal(await codeOf(denied), 'AccessDenied');
  assert.equal((await cluster.fetch(`${n3}/buckets/dev-only/x`, { method: 'PUT', body: 'no', ...as(made.token) })).status, 403);

  const listed = await ringstore(['token', 'list', '--user', 'bob', '--node', n2]);
  assert.match(listed, new RegExp(`^${made.id}  bob  expires `, 'm'));
  assert.ok(!listed.includes(made.token), 'a list never shows a token');

  await ringstore(['token', 'revoke', made.id, '--node', n2]);
  for (const n of [n1, n2, n3]) {
    await waitFor(async () => (await cluster.fetch(`${n}/buckets/bobs/hello`, as(made.token))).status === 401, { what: `the revoked token refused by ${n}` });
  }
  assert.equal(await codeOf(await cluster.fetch(`${n1}/buckets/bobs/hello`, as(made.token))), 'InvalidToken');
});

test('a user makes and revokes their own tokens on the native API', async () => {
  const n = cluster.nodes[0]!.http;
  const mine = (await (await cluster.fetch(`${n}/tokens`, { method: 'POST', body: JSON.stringify({ ttl: '2h', name: 'script' }) })).json()) as { token: string; id: string; user: string };
  assert.equal(mine.user, cluster.user);
  assert.equal((await cluster.fetch(`${n}/buckets`, as(mine.token))).status, 200);
  const list = (await (await cluster.fetch(`${n}/tokens`)).json()) as { tokens: { id: string }[] };
  assert.ok(list.tokens.some((t) => t.id === mine.id));
  assert.equal((await cluster.fetch(`${n}/tokens/${mine.id}`, { method: 'DELETE' })).status, 200);
  assert.equal((await cluster.fetch(`${n}/buckets`, as(mine.token))).status, 401);
});

test('admin tokens: made, scoped, listed without the token, revoked; a user token opens no admin route', async () => {
  const n = cluster.nodes[1]!.http;
  const at = JSON.parse(await ringstore(['admin-token', 'create', '--ttl', '1h', '--node', n, '--json'])) as { token: string; id: string; scope: string };
  assert.equal(at.scope, 'admin');
  assert.equal((await cluster.fetch(`${n}/cluster/members`, as(at.token))).status, 200);
  assert.equal(await codeOf(await cluster.fetch(`${n}/cluster/members`, as(cluster.userToken))), 'InvalidToken');
  for (const route of ['/cluster/members', '/_antientropy', '/_s3/gc', '/metrics', '/_auth/users', '/_faults']) {
    const res = await fetch(`${n}${route}`);
    assert.equal(res.status, 401, route);
    assert.equal(await codeOf(res), 'MissingAuthentication', route);
  }
  assert.equal((await fetch(`${n}/health`)).status, 200, '/health stays open');
  assert.ok(!(await ringstore(['admin-token', 'list', '--node', n])).includes(at.token));
  await ringstore(['admin-token', 'revoke', at.id, '--node', n]);
  await waitFor(async () => (await cluster.fetch(`${n}/cluster/members`, as(at.token))).status === 401, { what: 'the revoked admin token refused' });
});

test('no API answers a stored secret: keys, tokens and the control state show ids only', async () => {
  const n = cluster.nodes[2]!.http;
  const user = JSON.parse(await ringstore(['user', 'create', 'carol', '--node', n, '--json'])) as { access_key: string; secret_key: string };
  const token = JSON.parse(await ringstore(['token', 'create', '--user', 'carol', '--node', n, '--json'])) as { token: string };
  const secrets = [user.secret_key, token.token, cluster.secretKey, cluster.userToken, cluster.adminToken];
  for (const route of ['/cluster/control', '/_auth/users', '/_auth/keys', '/_auth/tokens', '/_auth/admin-tokens', '/_s3/keys', '/tokens']) {
    const text = await (await cluster.fetch(`${n}${route}`)).text();
    for (const s of secrets) assert.ok(!text.includes(s), `${route} shows no secret`);
    assert.ok(!/aesgcm:/.test(text), `${route} shows no sealed secret either`);
  }
  assert.match(await ringstore(['user', 'list', '--node', n]), /^carol {2}keys: RS[0-9A-F]+ {2}tokens: [0-9a-f]+$/m);
});
