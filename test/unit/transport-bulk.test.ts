// Large values on the gRPC transport: a write's answer leaves out the
// values the writer sent (codec Elision) and the transport puts them back,
// bulk requests go by the unary Call, and multi-MiB requests flow through
// the widened HTTP/2 windows in both directions.

import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';

import { PassThrough } from 'node:stream';
import { answerElision, CodecError, decodeEnvelope, encodeEnvelope, fromEnvelope, toEnvelope, type Envelope__Output } from '../../src/transport/codec.js';
import { ATTACH_MIN_BYTES, FrameReader, helloBytes, writeFrame } from '../../src/transport/bulk.js';
import { type GrpcTransport, type GrpcTransportOptions } from '../../src/transport/grpc.js';
import { createTestTransport } from '../helpers/node-tls.js';
import type { PutOriginReq, PutReplicaReq, Request, Response } from '../../src/transport/messages.js';
import type { Handler } from '../../src/transport/transport.js';
import { sync, type Sibling, type SiblingSet } from '../../src/version/dvv.js';

const MiB = 1024 * 1024;

function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = ((i + seed) * 2654435761) >>> 24;
  return b;
}

function sib(node: string, counter: number, value: Uint8Array | null): Sibling {
  return { dot: { node, counter }, past: {}, value, meta: { ts: 1_700_000_000_000 + counter } };
}

/** A replica holding one concurrent sibling of its own, merging what it is sent. */
function replica(self: string, held: Sibling): Handler {
  return async (_from, req: Request) => {
    switch (req.type) {
      case 'putReplica':
        return { type: 'putOk', set: sync({ siblings: [held] }, req.set) };
      case 'putOrigin':
        return { type: 'putOk', set: { siblings: [held, sib(self, 9, req.value)] } };
      case 'get':
        return { type: 'getOk', set: { siblings: [sib(self, 1, bytes(4 * MiB, 3))] } };
      default:
        return { type: 'pong', node: self };
    }
  };
}

async function pair(
  aOpts: Partial<GrpcTransportOptions> = {},
  bOpts: Partial<GrpcTransportOptions> = {},
): Promise<{ a: GrpcTransport; b: GrpcTransport; close: () => Promise<void> }> {
  const a = await createTestTransport({ self: 'a', listen: '127.0.0.1:0', peers: new Map(), ...aOpts });
  const b = await createTestTransport({ self: 'b', listen: '127.0.0.1:0', peers: new Map(), ...bOpts });
  a.setPeers(new Map([['b', `127.0.0.1:${b.boundPort}`]]));
  return { a, b, close: () => Promise.all([a.close(), b.close()]).then(() => undefined) };
}

describe('write answers leave out the values the writer sent', () => {
  const big = bytes(4 * MiB, 1);
  const theirs = sib('b', 4, bytes(300 * 1024, 2));
  const sent: SiblingSet = { siblings: [sib('a', 7, big)] };
  const putReplica: PutReplicaReq = { type: 'putReplica', bucket: '__chunks', key: 'k', set: sent, hintFor: null, asOf: 1_700_000_000_000 };
  const answer: Response = { type: 'putOk', set: sync({ siblings: [theirs] }, sent) };

  it('codec: the answer to a putReplica is small on the wire and decodes back whole', () => {
    const el = answerElision(putReplica);
    const wire = encodeEnvelope(toEnvelope(1, 0, answer, el));
    const plain = encodeEnvelope(toEnvelope(1, 0, answer));
    assert.ok(wire.length < plain.length - big.length + 1024, `elided ${wire.length} vs ${plain.length}`);
    // The sibling the writer did not send travels with its value.
    assert.ok(wire.length > theirs.value!.byteLength);
    assert.deepStrictEqual(fromEnvelope(decodeEnvelope(wire), el).msg, answer);
    // Without the request to restore from, an elided value is an error, never a tombstone.
    assert.throws(() => fromEnvelope(decodeEnvelope(wire)), CodecError);
  });

  it('codec: only a same-dot, same-size value is left out; small values always travel', () => {
    const el = answerElision(putReplica)!;
    assert.equal(el.omit!(sib('a', 7, new Uint8Array(big.byteLength))), true);
    assert.equal(el.omit!(sib('a', 7, new Uint8Array(10))), false);
    assert.equal(el.omit!(sib('a', 8, big)), false);
    const small: PutReplicaReq = { ...putReplica, set: { siblings: [sib('a', 7, new Uint8Array(100))] } };
    assert.equal(answerElision(small), undefined);
    assert.equal(answerElision({ type: 'get', bucket: 'b', key: 'k' }), undefined);
  });

  it('grpc: putReplica and putOrigin answers come back with the values restored', async () => {
    const { a, b, close } = await pair();
    try {
      b.serve(replica('b', theirs));
      const r = await a.request('b', putReplica, 10_000);
      assert.deepStrictEqual(r, answer);
      const origin: PutOriginReq = { type: 'putOrigin', bucket: '__chunks', key: 'k', value: big, meta: {}, context: null, supersedeLocal: true, hintFor: null };
      const o = await a.request('b', origin, 10_000);
      assert.equal(o.set.siblings.length, 2);
      assert.deepStrictEqual(o.set.siblings[1]!.value, big);
      assert.deepStrictEqual(o.set.siblings[0], theirs);
    } finally {
      await close();
    }
  });
});

describe('bulk requests and wide windows', () => {
  it('a bulk get answers 4 MiB over the unary Call while small requests keep flowing on the stream', async () => {
    const { a, b, close } = await pair();
    try {
      b.serve(replica('b', sib('b', 1, null)));
      await a.request('b', { type: 'ping' }, 5000);
      const gets = Array.from({ length: 8 }, () => a.request('b', { type: 'get', bucket: '__chunks', key: 'k' }, 20_000, { bulk: true }));
      const pings = Array.from({ length: 20 }, () => a.request('b', { type: 'ping' }, 20_000));
      for (const g of await Promise.all(gets)) assert.deepStrictEqual(g.set!.siblings[0]!.value, bytes(4 * MiB, 3));
      for (const p of await Promise.all(pings)) assert.deepStrictEqual(p, { type: 'pong', node: 'b' });
    } finally {
      await close();
    }
  });

  it('many 4 MiB writes in flight to one peer all complete well within a short deadline', async () => {
    const { a, b, close } = await pair();
    try {
      b.serve(replica('b', sib('b', 1, null)));
      const values = Array.from({ length: 16 }, (_, i) => bytes(4 * MiB, i));
      const t0 = Date.now();
      const writes = values.map((v, i) => a.request('b', { type: 'putReplica', bucket: '__chunks', key: `k${i}`, set: { siblings: [sib('a', i + 1, v)] }, hintFor: null, asOf: 1_700_000_000_000 }, 20_000));
      for (const [i, w] of (await Promise.all(writes)).entries()) assert.equal(w.set.siblings.find((s) => s.dot.node === 'a')!.value!.byteLength, 4 * MiB, `write ${i}`);
      assert.ok(Date.now() - t0 < 15_000);
    } finally {
      await close();
    }
  });
});

describe('bulk lane', () => {
  const big = bytes(4 * MiB, 5);
  const origin = (value: Uint8Array | null, key = 'k'): PutOriginReq => ({ type: 'putOrigin', bucket: '__chunks', key, value, meta: { contentType: 'x/y' }, context: { a: 1 }, supersedeLocal: true, hintFor: null });

  it('frames: big values travel as attachments and come back in place, whatever the read boundaries', async () => {
    const set: SiblingSet = { siblings: [sib('a', 1, big), sib('b', 2, bytes(100, 1)), sib('c', 3, null), sib('d', 4, bytes(ATTACH_MIN_BYTES, 2))] };
    const msgs: Request[] = [origin(big), { type: 'putReplica', bucket: 'b', key: 'k', set, hintFor: 'n9', asOf: 1_700_000_000_000 }, origin(new Uint8Array(0)), origin(null), { type: 'ping' }];
    // Write the frames into a pipe, then feed the bytes to a reader in odd-sized pieces.
    const pipe = new PassThrough();
    const chunks: Buffer[] = [];
    pipe.on('data', (c: Buffer) => chunks.push(c));
    const sockLike = pipe as unknown as import('node:net').Socket;
    (sockLike as unknown as { cork(): void; uncork(): void }).cork = () => {};
    (sockLike as unknown as { cork(): void; uncork(): void }).uncork = () => {};
    pipe.write(helloBytes('nœud-1'));
    msgs.forEach((m, i) => writeFrame(sockLike, toEnvelope(i + 1, 1000, m)));
    await new Promise((r) => setImmediate(r));
    const all = Buffer.concat(chunks);
    const got: Envelope__Output[] = [];
    let hello = '';
    const reader = new FrameReader((e) => got.push(e), (id) => (hello = id));
    for (let off = 0, step = 1; off < all.length; step = (step * 7 + 3) % 200_003) {
      const dst = reader.buffer();
      const n = Math.min(dst.length, all.length - off, step + 1);
      all.copy(dst, 0, off, off + n);
      reader.read(n);
      off += n;
    }
    assert.equal(hello, 'nœud-1');
    assert.deepStrictEqual(got.map((e) => fromEnvelope(e).msg), msgs);
    // The big values were not in the envelopes' bytes.
    assert.ok(all.length < big.byteLength * 2 + ATTACH_MIN_BYTES + 100 * 1024);
  });

  it('a malformed stream is an error, not a hang', () => {
    const reader = new FrameReader(() => undefined, () => undefined);
    const dst = reader.buffer();
    Buffer.from('GET / HTTP/1.1\r\n').copy(dst);
    assert.throws(() => reader.read(16), /not a ringstore bulk connection/);
  });

  it('big requests and answers take the bulk lane; the answers are whole', async () => {
    const logs: string[] = [];
    const { a, b, close } = await pair({ log: (m) => logs.push(m) });
    try {
      b.serve(replica('b', sib('b', 1, bytes(300 * 1024, 7))));
      const o = await a.request('b', origin(big), 10_000);
      assert.deepStrictEqual(o.set.siblings[1]!.value, big);
      assert.deepStrictEqual(o.set.siblings[0]!.value, bytes(300 * 1024, 7));
      const g = await a.request('b', { type: 'get', bucket: '__chunks', key: 'k' }, 10_000, { bulk: true });
      assert.deepStrictEqual(g.set!.siblings[0]!.value, bytes(4 * MiB, 3));
      assert.ok(logs.some((l) => l.includes('bulk lane to b')), logs.join('\n'));
      // Many at once, with small requests on the stream in between.
      const many = await Promise.all(Array.from({ length: 12 }, (_, i) => a.request('b', origin(big, `k${i}`), 20_000)));
      for (const r of many) assert.equal(r.set.siblings[1]!.value!.byteLength, big.byteLength);
      assert.deepStrictEqual(await a.request('b', { type: 'ping' }, 2000), { type: 'pong', node: 'b' });
    } finally {
      await close();
    }
  });

  it('without a bulk lane on the peer (or with it unreachable) big requests use the unary Call', async () => {
    const logs: string[] = [];
    const { a, b, close } = await pair({ log: (m) => logs.push(m) }, { bulk: false });
    try {
      b.serve(replica('b', sib('b', 1, null)));
      const o = await a.request('b', origin(big), 10_000);
      assert.deepStrictEqual(o.set.siblings[1]!.value, big);
      assert.ok(!logs.some((l) => l.includes('bulk lane to b')));
    } finally {
      await close();
    }
    const p2 = await pair({ log: (m) => logs.push(m) });
    try {
      p2.b.serve(replica('b', sib('b', 1, null)));
      await p2.a.request('b', { type: 'ping' }, 2000);
      // The port was announced, but nothing listens there any more.
      (p2.b as unknown as { bulkServer: import('node:net').Server }).bulkServer.close();
      const o = await p2.a.request('b', origin(big), 10_000);
      assert.deepStrictEqual(o.set.siblings[1]!.value, big);
      assert.ok(logs.some((l) => l.includes('bulk lane to b unavailable')), logs.join('\n'));
    } finally {
      await p2.close();
    }
  });

  it('faults apply on the bulk lane: a dropped big request times out', async () => {
    let drop = false;
    const { a, b, close } = await pair({ faults: () => (drop ? 'drop' : 'pass') });
    try {
      b.serve(replica('b', sib('b', 1, null)));
      await a.request('b', origin(big), 10_000);
      drop = true;
      await assert.rejects(a.request('b', origin(big), 300), (err: Error & { kind?: string }) => err.kind === 'timeout');
      drop = false;
      assert.equal((await a.request('b', origin(big), 10_000)).set.siblings.length, 2);
    } finally {
      await close();
    }
  });
});
