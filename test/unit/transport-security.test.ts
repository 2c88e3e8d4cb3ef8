// Refusals between nodes (issue 11 §1, docs/security.md "Between nodes"),
// on real sockets: the gRPC port and the bulk lane accept only mutual TLS
// from a member holding a cluster key; a peer's id is its certificate's,
// whatever its metadata or bulk hello claims; keys rotate through lists that
// share a key. The attackers here skip checking the server (they have
// nothing to lose), so every refusal is the server's own.

import { strict as assert } from 'node:assert';
import net from 'node:net';
import tls from 'node:tls';
import type * as http2 from 'node:http2';
import { after, before, describe, it } from 'node:test';

import * as grpc from '@grpc/grpc-js';

import { helloBytes, writeFrame } from '../../src/transport/bulk.js';
import { packageDefinition, toEnvelope, type Envelope__Output } from '../../src/transport/codec.js';
import type { ProtoGrpcType } from '../../src/transport/generated/ringstore.js';
import type { ReplicaClient } from '../../src/transport/generated/ringstore/v1/Replica.js';
import type { GrpcTransport } from '../../src/transport/grpc.js';
import { FROM_KEY } from '../../src/transport/grpc-wire.js';
import { TLS_SERVERNAME, type NodeTlsIdentity } from '../../src/transport/node-tls.js';
import type { PutOriginReq, Request } from '../../src/transport/messages.js';
import type { Handler } from '../../src/transport/transport.js';
import { waitFor } from '../helpers/cluster.js';
import { createTestTransport, testIdentity, testKey } from '../helpers/node-tls.js';

const OLD = testKey('kold', 1);
const NEW = testKey('knew', 2);
const OTHER = testKey('kold', 3); // same id as OLD, another secret: a different cluster
const MEMBERS = new Set(['a', 'b', 'c']);
const isMember = (id: string): boolean => MEMBERS.has(id);
const proto = grpc.loadPackageDefinition(packageDefinition()) as unknown as ProtoGrpcType;

interface Served {
  readonly t: GrpcTransport;
  readonly calls: { from: string; type: string }[];
  readonly warnings: string[];
  readonly logs: string[];
  /** HTTP/2 sessions the gRPC server opened (one per admitted connection). */
  sessions(): number;
  bulkPort(): number;
}

async function serve(self: string, keys = [OLD]): Promise<Served> {
  const calls: { from: string; type: string }[] = [];
  const warnings: string[] = [];
  const logs: string[] = [];
  const t = await createTestTransport({
    self,
    listen: '127.0.0.1:0',
    peers: new Map(),
    security: { identity: await testIdentity(self, keys), isMember },
    warn: (m) => warnings.push(m),
    log: (m) => logs.push(m),
  });
  const handler: Handler = async (from, req: Request) => {
    calls.push({ from, type: req.type });
    if (req.type === 'putOrigin') return { type: 'putOk', set: { siblings: [{ dot: { node: self, counter: 1 }, past: {}, value: req.value, meta: { ts: 1 } }] } };
    return { type: 'pong', node: self };
  };
  t.serve(handler);
  // The transport's gRPC server's listeners (grpc-js internals, as in grpc-server.ts): count the HTTP/2 sessions it opens.
  let sessions = 0;
  const h2s = (t as unknown as { server: { http2Servers: Map<http2.Http2SecureServer, unknown> } }).server.http2Servers;
  for (const h2 of h2s.keys()) h2.on('session', () => sessions++);
  return {
    t,
    calls,
    warnings,
    logs,
    sessions: () => sessions,
    bulkPort: () => ((t as unknown as { bulkServer: tls.Server }).bulkServer.address() as net.AddressInfo).port,
  };
}

const origin = (value: Uint8Array): PutOriginReq => ({ type: 'putOrigin', bucket: 'b', key: 'k', value, meta: {}, context: null, supersedeLocal: false, hintFor: null });

/** A gRPC client presenting `identity` (or none) that does not check the server. */
function attackerClient(port: number, identity: NodeTlsIdentity | undefined): ReplicaClient {
  const creds =
    identity === undefined
      ? grpc.credentials.createInsecure()
      : grpc.credentials.createFromSecureContext(tls.createSecureContext({ key: identity.key, cert: identity.certChain }), { rejectUnauthorized: false });
  return new proto.ringstore.v1.Replica(`127.0.0.1:${port}`, creds, { 'grpc.ssl_target_name_override': TLS_SERVERNAME, 'grpc.use_local_subchannel_pool': 1 });
}

/** One unary ping: the answer, or the gRPC status it failed with. */
function callPing(client: ReplicaClient, md = new grpc.Metadata()): Promise<Envelope__Output | grpc.ServiceError> {
  return new Promise((resolve) => {
    client.Call(toEnvelope(1, 5000, { type: 'ping' }), md, { deadline: Date.now() + 5000 }, (err, env) => resolve(err ?? (env as Envelope__Output)));
  });
}

/** A stream ping: resolves with the status the stream ended with, or 'answered'. */
function streamPing(client: ReplicaClient, md = new grpc.Metadata()): Promise<grpc.StatusObject | 'answered'> {
  return new Promise((resolve) => {
    const s = client.Stream(md);
    s.on('data', () => {
      s.cancel();
      resolve('answered');
    });
    s.on('error', () => undefined);
    s.on('status', (st: grpc.StatusObject) => resolve(st));
    s.write(toEnvelope(1, 5000, { type: 'ping' }));
  });
}

/**
 * A bulk-lane client (TLS with `identity`, or plain TCP) that does not check
 * the server: writes a hello naming `claims` and one request frame, and
 * resolves when the server closes the connection, with the bytes it got.
 */
function bulkAttack(port: number, identity: NodeTlsIdentity | undefined, claims: string): Promise<number> {
  return new Promise((resolve) => {
    const sock: net.Socket =
      identity === undefined
        ? net.connect({ host: '127.0.0.1', port })
        : tls.connect({ host: '127.0.0.1', port, key: identity.key, cert: identity.certChain, rejectUnauthorized: false, servername: TLS_SERVERNAME });
    let got = 0;
    sock.on('data', (d: Buffer) => (got += d.length));
    sock.on('error', () => undefined);
    sock.on('close', () => resolve(got));
    sock.write(helloBytes(claims));
    writeFrame(sock, toEnvelope(1, 5000, origin(new Uint8Array(256 * 1024).fill(9))));
    // A server that let it through would answer; one that refused closes. Either way, stop waiting eventually.
    setTimeout(() => sock.destroy(), 5000).unref();
  });
}

describe('between nodes: who may talk (mutual TLS, members only)', () => {
  let b: Served;
  const clients: ReplicaClient[] = [];
  const transports: GrpcTransport[] = [];
  const client = (port: number, identity: NodeTlsIdentity | undefined): ReplicaClient => {
    const c = attackerClient(port, identity);
    clients.push(c);
    return c;
  };
  before(async () => {
    b = await serve('b');
  });
  after(async () => {
    for (const c of clients) c.close();
    await Promise.all(transports.map((t) => t.close()));
    await b.t.close();
  });

  it('a process with the wrong cluster key gets no message through: the TLS handshake fails, no session opens, and the node says why', async () => {
    const before = { calls: b.calls.length, sessions: b.sessions(), refused: b.t.refusals.count };
    // Claiming a member's id does not help without the key.
    const wrong = await testIdentity('a', [OTHER]);
    const unary = await callPing(client(b.t.boundPort, wrong));
    assert.ok(!('id' in unary), 'the call must fail');
    assert.equal((unary as grpc.ServiceError).code, grpc.status.UNAVAILABLE);
    const stream = await streamPing(client(b.t.boundPort, wrong));
    assert.notEqual(stream, 'answered');
    // The same through a whole transport, the way a misconfigured node would try.
    const a = await createTestTransport({ self: 'a', listen: '127.0.0.1:0', peers: new Map([['b', `127.0.0.1:${b.t.boundPort}`]]), security: { identity: wrong, isMember } });
    transports.push(a);
    await assert.rejects(a.request('b', { type: 'ping' }, 3000), (err: Error & { kind?: string }) => err.kind === 'unreachable');
    // And on the bulk lane.
    assert.equal(await bulkAttack(b.bulkPort(), wrong, 'a'), 0);
    assert.equal(b.calls.length, before.calls, 'no request reached the handler');
    assert.equal(b.sessions(), before.sessions, 'no HTTP/2 session was opened');
    await waitFor(() => b.t.refusals.count >= before.refused + 4, { what: 'four refusals counted' });
    assert.ok(b.warnings.some((w) => /refused a gRPC connection .*TLS handshake failed/.test(w)), b.warnings.join('\n'));
    assert.ok(b.warnings.some((w) => /refused a bulk-lane connection .*TLS handshake failed/.test(w)), b.warnings.join('\n'));
  });

  it('a process with no certificate at all, or no TLS, is refused on both ports', async () => {
    const before = { calls: b.calls.length, sessions: b.sessions() };
    const plain = await callPing(client(b.t.boundPort, undefined));
    assert.equal((plain as grpc.ServiceError).code, grpc.status.UNAVAILABLE);
    const noCert = new proto.ringstore.v1.Replica(`127.0.0.1:${b.t.boundPort}`, grpc.credentials.createFromSecureContext(tls.createSecureContext({}), { rejectUnauthorized: false }), {
      'grpc.ssl_target_name_override': TLS_SERVERNAME,
      'grpc.use_local_subchannel_pool': 1,
    });
    clients.push(noCert);
    assert.equal(((await callPing(noCert)) as grpc.ServiceError).code, grpc.status.UNAVAILABLE);
    assert.equal(await bulkAttack(b.bulkPort(), undefined, 'a'), 0);
    assert.equal(b.calls.length, before.calls);
    assert.equal(b.sessions(), before.sessions);
  });

  it('a process with the right key but a non-member id is closed before HTTP/2 or the frame reader sees it', async () => {
    const before = { calls: b.calls.length, sessions: b.sessions() };
    const mallory = await testIdentity('mallory', [OLD]);
    const unary = await callPing(client(b.t.boundPort, mallory));
    assert.equal((unary as grpc.ServiceError).code, grpc.status.UNAVAILABLE);
    assert.equal(await bulkAttack(b.bulkPort(), mallory, 'mallory'), 0);
    const m = await createTestTransport({ self: 'mallory', listen: '127.0.0.1:0', peers: new Map([['b', `127.0.0.1:${b.t.boundPort}`]]), security: { identity: mallory, isMember: () => true } });
    transports.push(m);
    await assert.rejects(m.request('b', { type: 'ping' }, 3000), (err: Error & { kind?: string }) => err.kind === 'unreachable');
    assert.equal(b.calls.length, before.calls);
    assert.equal(b.sessions(), before.sessions, 'no HTTP/2 session was opened');
    assert.ok(b.warnings.some((w) => /refused a gRPC connection .*mallory is not a member/.test(w)), b.warnings.join('\n'));
    assert.ok(b.warnings.some((w) => /refused a bulk-lane connection .*mallory is not a member/.test(w)), b.warnings.join('\n'));
  });

  it("a member claiming another member's id in its metadata or bulk hello is refused; without a claim its id is its certificate's", async () => {
    const a = await testIdentity('a', [OLD]);
    const spoof = new grpc.Metadata();
    spoof.set(FROM_KEY, 'c');
    const before = b.calls.length;
    const unary = await callPing(client(b.t.boundPort, a), spoof);
    assert.equal((unary as grpc.ServiceError).code, grpc.status.PERMISSION_DENIED);
    assert.match((unary as grpc.ServiceError).details, /certificate names a but its metadata claims c/);
    const stream = await streamPing(client(b.t.boundPort, a), spoof);
    assert.notEqual(stream, 'answered');
    assert.equal((stream as grpc.StatusObject).code, grpc.status.PERMISSION_DENIED);
    assert.equal(await bulkAttack(b.bulkPort(), a, 'c'), 0);
    assert.equal(b.calls.length, before, 'no spoofed request reached the handler');
    // (b.warnings is rate-limited, and earlier tests used up its burst: the unthrottled record.)
    assert.ok(b.t.refusals.recent.some((w) => /bulk-lane connection .*\(a\): its certificate names a but its hello claims c/.test(w)), b.t.refusals.recent.join('\n'));
    // No claim at all: the handler is told the certificate's id.
    const plain = await callPing(client(b.t.boundPort, a));
    assert.ok('id' in plain, `the call must succeed: ${String((plain as grpc.ServiceError).details)}`);
    assert.deepStrictEqual(b.calls.at(-1), { from: 'a', type: 'ping' });
  });

  it('a member that is removed (setMembership) is refused from then on', async () => {
    const c = await testIdentity('c', [OLD]);
    assert.ok('id' in (await callPing(client(b.t.boundPort, c))));
    // c also holds an open stream and bulk-lane connection from before the change.
    const ct = await createTestTransport({ self: 'c', listen: '127.0.0.1:0', peers: new Map([['b', `127.0.0.1:${b.t.boundPort}`]]), security: { identity: c, isMember }, log: () => {} });
    transports.push(ct);
    assert.deepStrictEqual(await ct.request('b', { type: 'ping' }, 5000), { type: 'pong', node: 'b' });
    await ct.request('b', origin(new Uint8Array(1024 * 1024)), 10_000, { bulk: true });
    const seen = b.calls.length;
    b.t.setMembership((id) => id !== 'c' && isMember(id));
    try {
      // The bulk-lane connection first (the stream still up), then the stream.
      await assert.rejects(ct.request('b', origin(new Uint8Array(1024 * 1024)), 3000, { bulk: true }));
      await assert.rejects(ct.request('b', { type: 'ping' }, 3000));
      assert.equal(b.calls.length, seen, 'nothing from c reached the handler after its removal');
      assert.equal(((await callPing(client(b.t.boundPort, c))) as grpc.ServiceError).code, grpc.status.UNAVAILABLE);
      assert.equal(await bulkAttack(b.bulkPort(), c, 'c'), 0);
      assert.ok(b.t.refusals.recent.some((w) => /c is not a member/.test(w)));
      assert.ok(b.t.refusals.recent.some((w) => /ended the stream from c: no longer a member/.test(w)), b.t.refusals.recent.join('\n'));
      assert.ok(b.t.refusals.recent.some((w) => /bulk-lane connection .*\(c\): c is no longer a member/.test(w)), b.t.refusals.recent.join('\n'));
    } finally {
      b.t.setMembership(isMember);
    }
  });

  it('a client refuses a server whose certificate names another node than the one it dialled', async () => {
    const logs: string[] = [];
    const a = await createTestTransport({ self: 'a', listen: '127.0.0.1:0', peers: new Map([['c', `127.0.0.1:${b.t.boundPort}`]]), security: { identity: await testIdentity('a', [OLD]), isMember }, log: (m) => logs.push(m) });
    transports.push(a);
    await assert.rejects(a.request('c', { type: 'ping' }, 3000), (err: Error & { kind?: string }) => err.kind === 'unreachable');
    assert.ok(logs.some((l) => /the server is not c: its certificate names b/.test(l)), logs.join('\n'));
  });
});

describe('between nodes: cluster key rotation', () => {
  const started: Served[] = [];
  after(async () => {
    await Promise.all(started.map((s) => s.t.close()));
  });
  const node = async (self: string, keys: typeof OLD[]): Promise<Served> => {
    const s = await serve(self, keys);
    started.push(s);
    return s;
  };
  const connect = (from: Served, to: Served, id: string): void => from.t.setPeers(new Map([[id, `127.0.0.1:${to.t.boundPort}`]]));
  /** A ping on the stream and a 4 MiB write on the bulk lane, from -> to. */
  const talks = async (from: Served, to: Served, toId: string): Promise<void> => {
    connect(from, to, toId);
    assert.deepStrictEqual(await from.t.request(toId, { type: 'ping' }, 5000), { type: 'pong', node: toId });
    const big = new Uint8Array(4 * 1024 * 1024).fill(5);
    const r = await from.t.request(toId, origin(big), 10_000);
    assert.equal(r.set.siblings[0]!.value!.byteLength, big.byteLength);
    assert.ok(from.logs.some((l) => l.includes(`bulk lane to ${toId}`) && l.includes('established')), from.logs.join('\n'));
  };
  const refused = async (from: Served, to: Served, toId: string): Promise<void> => {
    connect(from, to, toId);
    const before = to.calls.length;
    await assert.rejects(from.t.request(toId, { type: 'ping' }, 3000), (err: Error & { kind?: string }) => err.kind === 'unreachable');
    assert.equal(to.calls.length, before);
  };

  it('nodes talk when their key lists share a key: [new, old] and [old] both ways, on the stream and the bulk lane', async () => {
    const a = await node('a', [OLD]);
    const b = await node('b', [NEW, OLD]);
    await talks(a, b, 'b');
    await talks(b, a, 'a');
    assert.deepStrictEqual(b.calls.at(-1), { from: 'a', type: 'putOrigin' });
  });

  it('[old, new] (new accepted, old still signing) talks to [new]; [old] and [new] alone refuse each other', async () => {
    const a = await node('a', [OLD]);
    const c = await node('c', [NEW]);
    const b = await node('b', [OLD, NEW]);
    await talks(b, c, 'c');
    await talks(c, b, 'b');
    await refused(a, c, 'c');
    await refused(c, a, 'a');
  });
});
