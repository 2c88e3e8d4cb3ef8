// Nodes prove who they are (issue 11 §1, docs/security.md "Between nodes"),
// against real node processes: this test process plays the intruder on the
// nodes' gRPC ports and bulk lanes, and then rotates the cluster key of the
// running cluster with rolling restarts.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';

import * as grpc from '@grpc/grpc-js';

import { generateClusterKey, parseClusterKeys, type ClusterKey } from '../../src/node/cluster-keys.js';
import { issueNodeIdentity } from '../../src/node/tls-identity.js';
import { packageDefinition, toEnvelope, type Envelope__Output } from '../../src/transport/codec.js';
import type { ProtoGrpcType } from '../../src/transport/generated/ringstore.js';
import { createGrpcTransport, type GrpcTransport } from '../../src/transport/grpc.js';
import { BULK_PORT_KEY, FROM_KEY } from '../../src/transport/grpc-wire.js';
import { clientTlsOptions, grpcChannelCredentials, SECURE_CHANNEL_OPTIONS, type NodeTlsIdentity } from '../../src/transport/node-tls.js';
import { helloBytes, writeFrame } from '../../src/transport/bulk.js';
import type { PutOriginReq } from '../../src/transport/messages.js';
import { startCluster, waitFor, type TestCluster, type TestNode } from '../helpers/cluster.js';

let cluster: TestCluster;
let keys: ClusterKey[];
const transports: GrpcTransport[] = [];

before(async () => {
  cluster = await startCluster({ nodes: 3 });
  keys = parseClusterKeys((JSON.parse(readFileSync(path.join(cluster.dir, 'dev-state.json'), 'utf8')) as { clusterKeys: unknown }).clusterKeys);
});

after(async () => {
  await Promise.all(transports.map((t) => t.close()));
  await cluster?.stop();
});

const node = (id: string): TestNode => cluster.nodes.find((n) => n.id === id) as TestNode;
const putOrigin = (key: string, size = 16): PutOriginReq => ({
  type: 'putOrigin',
  bucket: 'nodeauth',
  key,
  value: new Uint8Array(size).fill(42),
  meta: {},
  context: null,
  supersedeLocal: false,
  hintFor: null,
});

/** A transport in this process that presents `identity` (the nodes' own kind of client). */
async function intruder(identity: NodeTlsIdentity, to: TestNode): Promise<GrpcTransport> {
  const t = await createGrpcTransport({ self: identity.self, listen: '127.0.0.1:0', peers: new Map([[to.id, to.grpc]]), security: { identity, isMember: () => true }, connectTimeoutMs: 5000 });
  transports.push(t);
  return t;
}

/** What the replica `to` holds for a key, asked as a true member (the test process holds the cluster key). */
async function held(to: TestNode, key: string): Promise<number> {
  const t = await intruder(await issueNodeIdentity('n1', keys), to);
  const r = await t.request(to.id, { type: 'get', bucket: 'nodeauth', key }, 10_000);
  await t.close();
  return r.set?.siblings.length ?? 0;
}

/** The bulk-lane port `to` announces to members, read from its stream headers. */
async function bulkPortOf(to: TestNode): Promise<number> {
  const proto = grpc.loadPackageDefinition(packageDefinition()) as unknown as ProtoGrpcType;
  const client = new proto.ringstore.v1.Replica(to.grpc, grpcChannelCredentials(await issueNodeIdentity('n1', keys), to.id), SECURE_CHANNEL_OPTIONS);
  try {
    return await new Promise<number>((resolve, reject) => {
      const s = client.Stream(new grpc.Metadata());
      s.on('metadata', (md: grpc.Metadata) => {
        resolve(Number(md.get(BULK_PORT_KEY)[0]));
        s.cancel();
      });
      s.on('error', () => undefined);
      s.on('status', (st: grpc.StatusObject) => reject(new Error(st.details)));
    });
  } finally {
    client.close();
  }
}

/** Writes a hello and a put frame on `to`'s bulk lane with `identity` (not checking the server); resolves with the bytes answered before it closed. */
function bulkAttempt(host: string, port: number, identity: NodeTlsIdentity, claims: string, key: string): Promise<number> {
  return new Promise((resolve) => {
    const sock = tls.connect({ ...clientTlsOptions(identity, 'n2'), host, port, rejectUnauthorized: false, checkServerIdentity: () => undefined });
    let got = 0;
    sock.on('data', (d: Buffer) => (got += d.length));
    sock.on('error', () => undefined);
    sock.on('close', () => resolve(got));
    sock.write(helloBytes(claims));
    writeFrame(sock, toEnvelope(1, 10_000, putOrigin(key, 128 * 1024)));
    setTimeout(() => sock.end(), 3000).unref();
  });
}

function logOf(n: TestNode): string {
  return readFileSync(n.log, 'utf8');
}

test('a process with the wrong cluster key gets no write through gRPC or the bulk lane, and the node logs the refusal', async () => {
  const target = node('n2');
  const other = parseClusterKeys([{ ...generateClusterKey(), id: keys[0]!.id }]); // the right key id, another secret
  const wrong = await issueNodeIdentity('n1', other);
  const t = await intruder(wrong, target);
  await assert.rejects(t.request('n2', putOrigin('wrong-key'), 5000), (err: Error & { kind?: string }) => err.kind === 'unreachable');
  await assert.rejects(t.request('n2', putOrigin('wrong-key-bulk', 2 * 1024 * 1024), 5000, { bulk: true }));
  const port = await bulkPortOf(target);
  assert.equal(await bulkAttempt('127.0.0.1', port, wrong, 'n1', 'wrong-key-lane'), 0);
  await waitFor(() => /refused a gRPC connection from .*TLS handshake failed/.test(logOf(target)), { what: 'n2 to log the refused gRPC connection' });
  await waitFor(() => /refused a bulk-lane connection from .*TLS handshake failed/.test(logOf(target)), { what: 'n2 to log the refused bulk-lane connection' });
  for (const key of ['wrong-key', 'wrong-key-bulk', 'wrong-key-lane']) assert.equal(await held(target, key), 0, `${key} must not be written`);
});

test('a process with the right key but a non-member id is refused on both ports; with a member id the same write goes through', async () => {
  const target = node('n3');
  const mallory = await issueNodeIdentity('mallory', keys);
  const t = await intruder(mallory, target);
  await assert.rejects(t.request('n3', putOrigin('non-member'), 5000), (err: Error & { kind?: string }) => err.kind === 'unreachable');
  const port = await bulkPortOf(target);
  assert.equal(await bulkAttempt('127.0.0.1', port, mallory, 'mallory', 'non-member-lane'), 0);
  await waitFor(() => /refused a gRPC connection from .*mallory is not a member/.test(logOf(target)), { what: 'n3 to log mallory on gRPC' });
  await waitFor(() => /refused a bulk-lane connection from .*mallory is not a member/.test(logOf(target)), { what: 'n3 to log mallory on the bulk lane' });
  assert.equal(await held(target, 'non-member'), 0);
  assert.equal(await held(target, 'non-member-lane'), 0);
  // The control: the cluster key and a member's id are what it takes.
  const member = await intruder(await issueNodeIdentity('n1', keys), target);
  await member.request('n3', putOrigin('member'), 10_000);
  assert.equal(await held(target, 'member'), 1);
});

test("a member claiming another member's id is refused (metadata) or cut off (bulk hello)", async () => {
  const target = node('n2');
  const n1 = await issueNodeIdentity('n1', keys);
  const proto = grpc.loadPackageDefinition(packageDefinition()) as unknown as ProtoGrpcType;
  const client = new proto.ringstore.v1.Replica(target.grpc, grpcChannelCredentials(n1, 'n2'), SECURE_CHANNEL_OPTIONS);
  const md = new grpc.Metadata();
  md.set(FROM_KEY, 'n3');
  const answer = await new Promise<Envelope__Output | grpc.ServiceError>((resolve) =>
    client.Call(toEnvelope(1, 5000, putOrigin('spoofed')), md, { deadline: Date.now() + 10_000 }, (err, env) => resolve(err ?? (env as Envelope__Output))),
  );
  client.close();
  assert.equal((answer as grpc.ServiceError).code, grpc.status.PERMISSION_DENIED);
  assert.equal(await bulkAttempt('127.0.0.1', await bulkPortOf(target), n1, 'n3', 'spoofed-lane'), 0);
  await waitFor(() => /its certificate names n1 but its hello claims n3/.test(logOf(target)), { what: 'n2 to log the spoofed hello' });
  assert.equal(await held(target, 'spoofed'), 0);
  assert.equal(await held(target, 'spoofed-lane'), 0);
});

/** Rewrites a node's cluster keys in its config file and restarts it (the restart waits until every other node sees it alive again). */
async function restartWithKeys(id: string, ks: ClusterKey[]): Promise<void> {
  const file = path.join(cluster.dir, id, 'config.json');
  const cfg = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  cfg['clusterKeys'] = ks.map((k) => ({ id: k.id, key: k.key.toString('hex') }));
  writeFileSync(file, JSON.stringify(cfg, null, 2));
  await cluster.restart(id);
}

async function writeAndReadEverywhere(key: string): Promise<void> {
  await cluster.fetch(`${node('n1').http}/buckets/rotation`, { method: 'PUT' });
  const put = await cluster.fetch(`${node('n1').http}/buckets/rotation/${key}?w=3`, { method: 'PUT', body: key });
  assert.equal(put.status, 200, await put.text());
  for (const n of cluster.nodes) {
    const res = await cluster.fetch(`${n.http}/buckets/rotation/${key}?r=3`);
    assert.equal(res.status, 200, `${n.id}: ${res.status}`);
    assert.equal(await res.text(), key);
  }
}

test('the cluster key rotates without downtime: roll every node to [new, old], then to [new]; W=3 writes and R=3 reads work at every step', async () => {
  const old = keys[0]!;
  const fresh = parseClusterKeys([generateClusterKey()])[0]!;
  await writeAndReadEverywhere('before');
  for (const id of ['n1', 'n2', 'n3']) {
    await restartWithKeys(id, [fresh, old]);
    await writeAndReadEverywhere(`add-${id}`);
  }
  for (const id of ['n1', 'n2', 'n3']) {
    await restartWithKeys(id, [fresh]);
    await writeAndReadEverywhere(`drop-${id}`);
  }
  // The old key no longer opens anything.
  const t = await intruder(await issueNodeIdentity('n1', [old]), node('n2'));
  await assert.rejects(t.request('n2', { type: 'ping' }, 5000), (err: Error & { kind?: string }) => err.kind === 'unreachable');
});
