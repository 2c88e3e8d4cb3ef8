// Transport compliance: the same suite runs against the gRPC transport (real
// sockets on 127.0.0.1) and the in-memory network (real-time clock adapter),
// plus codec round-trip properties, gRPC-only and memory-only behaviour, and
// an opt-in throughput benchmark (TRANSPORT_BENCH=1).

import { strict as assert } from 'node:assert';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';

import fc from 'fast-check';

import {
  decodeEnvelope,
  encodeEnvelope,
  fromEnvelope,
  toEnvelope,
  type Message,
} from '../../src/transport/codec.js';
import { type FaultFilter, type GrpcTransport } from '../../src/transport/grpc.js';
import { createTestTransport } from '../helpers/node-tls.js';
import { MemoryNetwork } from '../../src/transport/memory.js';
import type {
  GetReq,
  ListKeysReq,
  PingReq,
  PutOriginReq,
  PutReplicaReq,
  Request,
  Response,
} from '../../src/transport/messages.js';
import { TransportError, type Handler, type Transport } from '../../src/transport/transport.js';
import { SeededRandom, type Clock, type Timer } from '../../src/util/runtime.js';
import type { Sibling, SiblingSet } from '../../src/version/dvv.js';
import { VirtualClock } from '../../src/sim/scheduler.js';
import { waitFor } from '../helpers/cluster.js';

// ---------------------------------------------------------------- fixtures

const BINARY = Uint8Array.from({ length: 256 }, (_, i) => i);
const UNICODE_KEY = 'dossier/日本語/ключ/🙂 ünïcødé';

function sib(node: string, counter: number, value: Uint8Array | null, extra: Partial<Sibling['meta']> = {}): Sibling {
  return { dot: { node, counter }, past: { a: 1, [node]: counter - 1 }, value, meta: { ts: 1_700_000_000_000 + counter, ...extra } };
}

const FIXTURE_SETS: Record<string, SiblingSet | null> = {
  missing: null,
  empty: { siblings: [] },
  binary: { siblings: [sib('n1', 3, BINARY, { contentType: 'application/octet-stream', headers: { etag: '"abc"' } })] },
  tombstone: { siblings: [sib('n1', 4, null)] },
  emptyValue: { siblings: [sib('n2', 2, new Uint8Array(0), { contentType: '' })] },
  siblings: {
    siblings: [sib('n1', 5, new TextEncoder().encode('left')), sib('n2', 7, null), sib('n3', 1, new Uint8Array(0))],
  },
  [UNICODE_KEY]: { siblings: [sib('nœud-β', 9, new TextEncoder().encode('värde ✓'), { headers: { 'x-amz-meta-名前': '値 🙂' } })] },
};

const BIG = Uint8Array.from({ length: 5 * 1024 * 1024 }, (_, i) => (i * 2654435761) >>> 24);
FIXTURE_SETS['big'] = { siblings: [sib('n1', 1, BIG)] };

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Answers the handlers hold back (key 'hold') until the test lets them go. */
const held: (() => void)[] = [];
function releaseHeld(): void {
  for (const release of held.splice(0)) release();
}

class HandlerError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** A test node: records what it received, answers from the fixtures. */
function makeHandler(self: string, received: { from: string; req: Request }[] = []): Handler {
  return async (from, req) => {
    received.push({ from, req });
    switch (req.type) {
      case 'putOrigin': {
        if (req.key === 'throw') throw new HandlerError('store_failed', 'disk on fire');
        const s: Sibling = {
          dot: { node: self, counter: 1 },
          past: req.context ?? {},
          value: req.value,
          meta: { ...req.meta, ts: 42 },
        };
        return { type: 'putOk', set: { siblings: [s] } };
      }
      case 'putReplica':
        return { type: 'putOk', set: req.set };
      case 'get': {
        if (req.key === 'throw') throw new HandlerError('store_failed', 'disk on fire');
        if (req.key === 'throwPlain') throw new Error('plain failure');
        if (req.key === 'hold') {
          await new Promise<void>((r) => held.push(r));
          return { type: 'getOk', set: null };
        }
        if (req.key.startsWith('slow')) {
          await sleep(Number(req.key.slice(4)) || 500);
          return { type: 'getOk', set: null };
        }
        if (req.key.startsWith('k')) {
          // Answer out of order: a random small delay per request.
          if (Math.random() < 0.5) await sleep(Math.random() * 5);
          else await new Promise((r) => setImmediate(r));
          return { type: 'getOk', set: { siblings: [sib(self, 1, new TextEncoder().encode(`${req.bucket}/${req.key}`))] } };
        }
        const set = FIXTURE_SETS[req.key];
        return { type: 'getOk', set: set === undefined ? null : set };
      }
      case 'listKeys':
        return {
          type: 'listKeysOk',
          keys: Object.entries(FIXTURE_SETS)
            .filter(([k, s]) => s !== null && k !== 'big' && k.startsWith(req.prefix) && k > req.after)
            .slice(0, req.limit)
            .map(([key, set]) => ({ key, set: set! })),
          truncated: true,
        };
      case 'ping':
        return { type: 'pong', node: self };
      case 'swim':
        return { type: 'swimOk' };
      case 'raft':
        return { type: 'raftOk' };
      case 'aeRoots':
      case 'aeHashes':
        return { type: 'aeHashesOk', hashes: new Uint8Array(8) };
      case 'aeLeafKeys':
        return { type: 'aeKeysOk', entries: [], truncated: false };
      case 'aeFetch':
        return { type: 'aeSetsOk', entries: req.keys.map((k) => ({ ...k, set: FIXTURE_SETS[k.key] ?? null })) };
      case 'aePush':
      case 'aeGcRemove':
        return { type: 'aeCountOk', count: req.entries.length };
      case 'aeGcCheck':
        return { type: 'aeGcStatesOk', states: req.entries.map(() => 0) };
    }
  };
}

async function rejectsWith(p: Promise<unknown>, kind: TransportError['kind'], code?: string): Promise<TransportError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof TransportError, `expected TransportError, got ${String(err)}`);
    assert.equal(err.kind, kind, `expected ${kind}, got ${err.kind}: ${err.message}`);
    if (code !== undefined) assert.equal(err.code, code);
    return err;
  }
  assert.fail(`expected a TransportError '${kind}', but the request succeeded`);
}

// ---------------------------------------------------------------- harnesses

interface Cluster {
  readonly t: Map<string, Transport & { reachable(node: string): boolean }>;
  readonly received: Map<string, { from: string; req: Request }[]>;
  /** A node id that exists in the address book but is not running. */
  readonly deadNode: string;
  /** Stops node id (in-flight requests to it time out) and starts it again. */
  stop(id: string): Promise<void>;
  start(id: string): Promise<void>;
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function grpcCluster(ids: string[]): Promise<Cluster> {
  const t = new Map<string, GrpcTransport>();
  const received = new Map<string, { from: string; req: Request }[]>();
  const ports = new Map<string, number>();
  const deadPort = await freePort();
  const peers = (): Map<string, string> => {
    const m = new Map<string, string>([['dead', `127.0.0.1:${deadPort}`]]);
    for (const [id, port] of ports) m.set(id, `127.0.0.1:${port}`);
    return m;
  };
  const startNode = async (id: string, port: number): Promise<void> => {
    const tr = await createTestTransport({ self: id, listen: `127.0.0.1:${port}`, peers: peers() });
    const rec = received.get(id) ?? [];
    received.set(id, rec);
    tr.serve(makeHandler(id, rec));
    t.set(id, tr);
    ports.set(id, tr.boundPort);
  };
  for (const id of ids) await startNode(id, 0);
  for (const tr of t.values()) tr.setPeers(peers());
  return {
    t,
    received,
    deadNode: 'dead',
    stop: async (id) => {
      await t.get(id)!.close();
    },
    start: async (id) => {
      await startNode(id, ports.get(id)!);
    },
    close: async () => {
      await Promise.all([...t.values()].map((x) => x.close()));
    },
  };
}

/** Real time for the memory network (the simulator brings a virtual one). */
const realClock: Clock = {
  now: () => Date.now(),
  setTimer: (ms, fn): Timer => {
    const h = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(h) };
  },
};

async function memoryCluster(ids: string[]): Promise<Cluster> {
  const net = new MemoryNetwork({ clock: realClock, random: new SeededRandom(7), minLatencyMs: 0, maxLatencyMs: 1 });
  const t = new Map<string, ReturnType<MemoryNetwork['transport']>>();
  const received = new Map<string, { from: string; req: Request }[]>();
  for (const id of ids) {
    const tr = net.transport(id);
    const rec: { from: string; req: Request }[] = [];
    received.set(id, rec);
    tr.serve(makeHandler(id, rec));
    t.set(id, tr);
  }
  return {
    t,
    received,
    deadNode: 'dead',
    stop: async (id) => net.crash(id),
    start: async (id) => net.restart(id),
    close: async () => {
      await Promise.all([...t.values()].map((x) => x.close()));
    },
  };
}

// ---------------------------------------------------------------- compliance suite

const IMPLEMENTATIONS: [string, (ids: string[]) => Promise<Cluster>][] = [
  ['grpc', grpcCluster],
  ['memory', memoryCluster],
];

for (const [name, make] of IMPLEMENTATIONS) {
  describe(`transport compliance: ${name}`, () => {
    let c: Cluster;
    before(async () => {
      c = await make(['a', 'b', 'c']);
    });
    after(async () => {
      await c.close();
    });
    const a = (): Transport => c.t.get('a')!;

    it('ping round-trip, to a peer and to self', async () => {
      const ping: PingReq = { type: 'ping' };
      assert.deepStrictEqual(await a().request('b', ping, 2000), { type: 'pong', node: 'b' });
      assert.deepStrictEqual(await a().request('c', ping, 2000), { type: 'pong', node: 'c' });
      assert.deepStrictEqual(await a().request('a', ping, 2000), { type: 'pong', node: 'a' });
      const last = c.received.get('b')!.at(-1)!;
      assert.equal(last.from, 'a');
    });

    it('get round-trip: binary, tombstone vs empty value, siblings, unicode, missing', async () => {
      for (const key of ['missing', 'empty', 'binary', 'tombstone', 'emptyValue', 'siblings', UNICODE_KEY]) {
        const req: GetReq = { type: 'get', bucket: 'bücket', key };
        const resp = await a().request('b', req, 2000);
        assert.deepStrictEqual(resp, { type: 'getOk', set: FIXTURE_SETS[key] }, key);
        assert.deepStrictEqual(c.received.get('b')!.at(-1)!.req, req);
      }
      const tomb = await a().request('b', { type: 'get', bucket: 'x', key: 'tombstone' }, 2000);
      const empty = await a().request('b', { type: 'get', bucket: 'x', key: 'emptyValue' }, 2000);
      assert.equal(tomb.set!.siblings[0]!.value, null);
      assert.ok(empty.set!.siblings[0]!.value instanceof Uint8Array);
      assert.equal(empty.set!.siblings[0]!.value.byteLength, 0);
    });

    it('putOrigin round-trip: every field, context null or not, hint or not, tombstone', async () => {
      const reqs: PutOriginReq[] = [
        {
          type: 'putOrigin',
          bucket: 'b1',
          key: UNICODE_KEY,
          value: BINARY,
          meta: { contentType: 'text/plain; charset=utf-8', headers: { 'x-amz-meta-a': 'ä', etag: '"1"' } },
          context: { n1: 3, 'nœud-β': 9007199254740991 },
          supersedeLocal: true,
          hintFor: 'c',
        },
        { type: 'putOrigin', bucket: '', key: 'k0', value: null, meta: {}, context: null, supersedeLocal: false, hintFor: null },
        { type: 'putOrigin', bucket: 'b', key: 'e', value: new Uint8Array(0), meta: { contentType: '' }, context: {}, supersedeLocal: false, hintFor: '' },
      ];
      for (const req of reqs) {
        const resp = await a().request('b', req, 2000);
        assert.deepStrictEqual(c.received.get('b')!.at(-1)!.req, req);
        assert.deepStrictEqual(resp, {
          type: 'putOk',
          set: { siblings: [{ dot: { node: 'b', counter: 1 }, past: req.context ?? {}, value: req.value, meta: { ...req.meta, ts: 42 } }] },
        });
      }
    });

    it('putReplica round-trip echoes the set exactly', async () => {
      for (const key of ['empty', 'binary', 'tombstone', 'emptyValue', 'siblings', UNICODE_KEY]) {
        const req: PutReplicaReq = { type: 'putReplica', bucket: 'b', key, set: FIXTURE_SETS[key]!, hintFor: key === 'binary' ? 'a' : null, asOf: 1_700_000_000_000 };
        const resp = await a().request('c', req, 2000);
        assert.deepStrictEqual(resp, { type: 'putOk', set: req.set });
        assert.deepStrictEqual(c.received.get('c')!.at(-1)!.req, req);
      }
    });

    it('listKeys round-trip', async () => {
      const req: ListKeysReq = { type: 'listKeys', bucket: 'b', prefix: '', after: 'binary', limit: 3 };
      const resp = await a().request('b', req, 2000);
      assert.deepStrictEqual(c.received.get('b')!.at(-1)!.req, req);
      const expected = Object.entries(FIXTURE_SETS)
        .filter(([k, s]) => s !== null && k !== 'big' && k > 'binary')
        .slice(0, 3)
        .map(([key, set]) => ({ key, set: set! }));
      assert.deepStrictEqual(resp, { type: 'listKeysOk', keys: expected, truncated: true });
    });

    it('5 MiB value both ways', async () => {
      const put: PutReplicaReq = { type: 'putReplica', bucket: 'b', key: 'big', set: FIXTURE_SETS['big']!, hintFor: null, asOf: 1_700_000_000_000 };
      const resp = await a().request('b', put, 10_000);
      assert.equal(resp.set.siblings[0]!.value!.byteLength, BIG.byteLength);
      assert.ok(Buffer.from(resp.set.siblings[0]!.value!).equals(Buffer.from(BIG)));
      const got = await a().request('b', { type: 'get', bucket: 'b', key: 'big' }, 10_000);
      assert.ok(Buffer.from(got.set!.siblings[0]!.value!).equals(Buffer.from(BIG)));
      const origin = await a().request(
        'c',
        { type: 'putOrigin', bucket: 'b', key: 'big', value: BIG, meta: {}, context: null, supersedeLocal: false, hintFor: null },
        10_000,
      );
      assert.ok(Buffer.from(origin.set.siblings[0]!.value!).equals(Buffer.from(BIG)));
    });

    it('1000 concurrent requests, multiplexed and answered out of order, all correct', async () => {
      const n = 1000;
      const reqs = Array.from({ length: n }, (_, i) => {
        const to = i % 3 === 0 ? 'c' : 'b';
        return { to, req: { type: 'get', bucket: `bk${i % 7}`, key: `k${i}` } as GetReq };
      });
      const resps = await Promise.all(reqs.map(({ to, req }) => a().request(to, req, 10_000)));
      for (let i = 0; i < n; i++) {
        const { to, req } = reqs[i]!;
        const s = resps[i]!.set!.siblings[0]!;
        assert.equal(s.dot.node, to);
        assert.equal(new TextDecoder().decode(s.value!), `${req.bucket}/${req.key}`);
      }
    });

    it("handler error -> 'remote' with its code, to a peer and to self", async () => {
      const err = await rejectsWith(a().request('b', { type: 'get', bucket: 'b', key: 'throw' }, 2000), 'remote', 'store_failed');
      assert.match(err.message, /disk on fire/);
      assert.equal(err.node, 'b');
      await rejectsWith(a().request('a', { type: 'get', bucket: 'b', key: 'throw' }, 2000), 'remote', 'store_failed');
      await rejectsWith(a().request('b', { type: 'get', bucket: 'b', key: 'throwPlain' }, 2000), 'remote', 'InternalError');
      // The stream survives handler errors.
      assert.deepStrictEqual(await a().request('b', { type: 'ping' }, 2000), { type: 'pong', node: 'b' });
    });

    it("deadline -> 'timeout', to a peer and to self", async () => {
      // The handler holds its answer until the request has failed, so only
      // the deadline can end it; timers never fire early, so neither can it.
      const t0 = Date.now();
      await rejectsWith(a().request('b', { type: 'get', bucket: 'b', key: 'hold' }, 100), 'timeout');
      assert.ok(Date.now() - t0 >= 95, `timed out after ${Date.now() - t0} ms, before the 100 ms deadline`);
      await rejectsWith(a().request('a', { type: 'get', bucket: 'b', key: 'hold' }, 100), 'timeout');
      // The late answers are dropped, and the connection carries on.
      releaseHeld();
      assert.deepStrictEqual(await a().request('b', { type: 'ping' }, 2000), { type: 'pong', node: 'b' });
    });

    it("unknown or stopped peer -> 'unreachable', refused rather than waited out", async () => {
      // A minute's deadline: had the request waited for it, the error would say so.
      const err = await rejectsWith(a().request(c.deadNode, { type: 'ping' }, 60_000), 'unreachable');
      assert.doesNotMatch(err.message, /deadline/);
      await rejectsWith(a().request('nobody-knows-me', { type: 'ping' }, 60_000), 'unreachable');
      assert.equal(c.t.get('a')!.reachable(c.deadNode), false);
    });

    it('peer restart: in-flight requests time out, later requests succeed again', async () => {
      assert.deepStrictEqual(await a().request('c', { type: 'ping' }, 2000), { type: 'pong', node: 'c' });
      assert.equal(c.t.get('a')!.reachable('c'), true);
      const inflight = rejectsWith(a().request('c', { type: 'get', bucket: 'b', key: 'slow1000' }, 1500), 'timeout');
      await waitFor(() => c.received.get('c')!.some((r) => r.req.type === 'get' && r.req.key === 'slow1000'), { what: 'c serving the slow request', intervalMs: 5 });
      await c.stop('c');
      await inflight;
      // While it is down: fails (unreachable once the stream is known dead).
      await assert.rejects(a().request('c', { type: 'ping' }, 500), TransportError);
      await c.start('c');
      const deadline = Date.now() + 30_000;
      for (;;) {
        try {
          assert.deepStrictEqual(await a().request('c', { type: 'ping' }, 1000), { type: 'pong', node: 'c' });
          break;
        } catch (err) {
          assert.ok(err instanceof TransportError && err.kind === 'unreachable', String(err));
          if (Date.now() > deadline) throw err;
          await sleep(50);
        }
      }
      assert.equal(c.t.get('a')!.reachable('c'), true);
    });
  });
}

// ---------------------------------------------------------------- codec properties

const arbNode = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 6 });
const arbCounter = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });
const arbVV = fc.dictionary(arbNode, fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), { maxKeys: 5, noNullPrototype: true });
const arbMeta = fc.record(
  {
    ts: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    contentType: fc.string({ unit: 'grapheme', maxLength: 20 }),
    // Stored headers are lower-case HTTP header names (x-amz-meta-* and a few
    // standard ones), so keys like `__proto__` cannot occur.
    headers: fc.dictionary(fc.string({ unit: 'grapheme', maxLength: 10 }).map((s) => `x-amz-meta-${s}`), fc.string({ unit: 'grapheme', maxLength: 20 }), {
      minKeys: 1,
      maxKeys: 4,
      noNullPrototype: true,
    }),
  },
  { requiredKeys: ['ts'], noNullPrototype: true },
);
const arbValue = fc.oneof(fc.constant(null), fc.uint8Array({ maxLength: 64 }), fc.constant(new Uint8Array(0)));
const arbSibling: fc.Arbitrary<Sibling> = fc.record({
  dot: fc.record({ node: arbNode, counter: arbCounter }, { noNullPrototype: true }),
  past: arbVV,
  value: arbValue,
  meta: arbMeta,
}, { noNullPrototype: true });
const arbSet: fc.Arbitrary<SiblingSet> = fc.record({ siblings: fc.array(arbSibling, { maxLength: 5 }) }, { noNullPrototype: true });
const arbStr = fc.string({ unit: 'grapheme', maxLength: 30 });
const arbHint = fc.option(arbNode, { nil: null });

const NN = { noNullPrototype: true } as const;
const arbUpdate = fc.oneof(
  fc.record({ node: arbNode, state: fc.constantFrom('alive' as const, 'dead' as const, 'left' as const), incarnation: fc.nat() }, NN),
  fc.record({ node: arbNode, state: fc.constant('suspect' as const), incarnation: fc.nat(), from: arbNode }, NN),
);
const arbAeShape = fc.record({ fanout: fc.constantFrom(2, 16, 256), depth: fc.integer({ min: 1, max: 5 }) }, NN);
const arbAeRef = fc.record({ bucket: arbStr, key: arbStr }, NN);
const arbAeDigest = fc.record({ bucket: arbStr, key: arbStr, digest: fc.stringMatching(/^[0-9a-f]{16}$/) }, NN);
const arbAeKeySet = fc.record({ bucket: arbStr, key: arbStr, set: fc.option(arbSet, { nil: null }) }, NN);
const arbMessage: fc.Arbitrary<Message> = fc.oneof(
  fc.record({
    type: fc.constant('putOrigin' as const),
    bucket: arbStr,
    key: arbStr,
    value: arbValue,
    meta: arbMeta.map(({ ts: _ts, ...rest }) => rest),
    context: fc.option(arbVV, { nil: null }),
    supersedeLocal: fc.boolean(),
    hintFor: arbHint,
  }, NN),
  fc.record({ type: fc.constant('putReplica' as const), bucket: arbStr, key: arbStr, set: arbSet, hintFor: arbHint, asOf: fc.nat({ max: Number.MAX_SAFE_INTEGER }) }, NN),
  fc.record({ type: fc.constant('get' as const), bucket: arbStr, key: arbStr }, NN),
  fc.record({
    type: fc.constant('listKeys' as const),
    bucket: arbStr,
    prefix: arbStr,
    after: arbStr,
    limit: fc.integer({ min: 0, max: 0xffffffff }),
  }, NN),
  fc.constant({ type: 'ping' as const }),
  fc.record({
    type: fc.constant('swim' as const),
    msg: fc.oneof(
      fc.record({ type: fc.constantFrom('swimPing' as const, 'swimAck' as const, 'swimNack' as const), seq: fc.nat(0x7fffffff), from: arbNode, updates: fc.array(arbUpdate, { maxLength: 4 }) }, NN),
      fc.record({ type: fc.constant('swimPingReq' as const), seq: fc.nat(0x7fffffff), from: arbNode, target: arbNode, updates: fc.array(arbUpdate, { maxLength: 4 }) }, NN),
    ),
  }, NN),
  fc.constant({ type: 'swimOk' as const }),
  // Anti-entropy (src/antientropy/protocol.ts).
  fc.record({ type: fc.constant('aeRoots' as const), shape: arbAeShape, partitions: fc.array(fc.nat(0xffffffff >>> 0), { maxLength: 5 }) }, NN),
  fc.record({ type: fc.constant('aeHashes' as const), shape: arbAeShape, partition: fc.nat(), level: fc.nat(8), indices: fc.array(fc.nat(), { maxLength: 5 }) }, NN),
  fc.record({
    type: fc.constant('aeLeafKeys' as const),
    shape: arbAeShape,
    partition: fc.nat(),
    leaves: fc.array(fc.nat(), { maxLength: 5 }),
    after: fc.option(arbAeRef, { nil: null }),
    limit: fc.nat(),
  }, NN),
  fc.record({ type: fc.constant('aeFetch' as const), partition: fc.nat(), keys: fc.array(arbAeRef, { maxLength: 3 }), maxBytes: fc.nat() }, NN),
  fc.record({ type: fc.constant('aePush' as const), partition: fc.nat(), entries: fc.array(arbAeKeySet, { maxLength: 3 }), asOf: fc.nat({ max: Number.MAX_SAFE_INTEGER }) }, NN),
  fc.record({ type: fc.constant('aeGcCheck' as const), partition: fc.nat(), entries: fc.array(arbAeDigest, { maxLength: 3 }) }, NN),
  fc.record({ type: fc.constant('aeGcRemove' as const), partition: fc.nat(), entries: fc.array(arbAeDigest, { maxLength: 3 }) }, NN),
  fc.record({ type: fc.constant('aeHashesOk' as const), hashes: fc.uint8Array({ maxLength: 48 }) }, NN),
  fc.record({ type: fc.constant('aeKeysOk' as const), entries: fc.array(arbAeDigest, { maxLength: 3 }), truncated: fc.boolean() }, NN),
  fc.record({ type: fc.constant('aeSetsOk' as const), entries: fc.array(arbAeKeySet, { maxLength: 3 }) }, NN),
  fc.record({ type: fc.constant('aeCountOk' as const), count: fc.nat() }, NN),
  fc.record({ type: fc.constant('aeGcStatesOk' as const), states: fc.array(fc.nat(2), { maxLength: 5 }) }, NN),
  fc.record({ type: fc.constant('putOk' as const), set: arbSet }, NN),
  fc.record({ type: fc.constant('getOk' as const), set: fc.option(arbSet, { nil: null }) }, NN),
  fc.record({
    type: fc.constant('listKeysOk' as const),
    keys: fc.array(fc.record({ key: arbStr, set: arbSet }, NN), { maxLength: 3 }),
    truncated: fc.boolean(),
  }, NN),
  fc.record({ type: fc.constant('pong' as const), node: arbNode }, NN),
  fc.record({ type: fc.constant('error' as const), code: arbStr, message: arbStr }, NN),
);

function wireRoundTrip(id: number, deadline: number, msg: Message): ReturnType<typeof fromEnvelope> {
  return fromEnvelope(decodeEnvelope(encodeEnvelope(toEnvelope(id, deadline, msg))));
}

describe('codec', () => {
  it('round-trips random sibling sets through the wire exactly', () => {
    fc.assert(
      fc.property(arbSet, fc.boolean(), (set, nullSet) => {
        const msg: Response = { type: 'getOk', set: nullSet ? null : set };
        assert.deepStrictEqual(wireRoundTrip(7, 0, msg).msg, msg);
      }),
      { numRuns: 500 },
    );
  });

  it('round-trips every message type with random contents', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.integer({ min: 0, max: 0xffffffff }), arbMessage, (id, dl, msg) => {
        const out = wireRoundTrip(id, dl, msg);
        assert.equal(out.id, id);
        assert.equal(out.deadlineMs, dl);
        assert.deepStrictEqual(out.msg, msg);
      }),
      { numRuns: 1000 },
    );
  });

  it('tells a tombstone from an empty value, and no set from an empty set', () => {
    const tomb = wireRoundTrip(1, 0, { type: 'getOk', set: { siblings: [sib('n', 1, null)] } }).msg;
    const empty = wireRoundTrip(1, 0, { type: 'getOk', set: { siblings: [sib('n', 1, new Uint8Array(0))] } }).msg;
    assert.equal((tomb as { set: SiblingSet }).set.siblings[0]!.value, null);
    assert.deepStrictEqual((empty as { set: SiblingSet }).set.siblings[0]!.value, new Uint8Array(0));
    assert.equal((wireRoundTrip(1, 0, { type: 'getOk', set: null }).msg as { set: unknown }).set, null);
    assert.deepStrictEqual((wireRoundTrip(1, 0, { type: 'getOk', set: { siblings: [] } }).msg as { set: unknown }).set, { siblings: [] });
  });

  it('an empty header map decodes as no headers (documented normalization)', () => {
    const out = wireRoundTrip(1, 0, { type: 'getOk', set: { siblings: [sib('n', 1, null, { headers: {} })] } }).msg as { set: SiblingSet };
    assert.equal('headers' in out.set.siblings[0]!.meta, false);
  });

  it('rejects an envelope without a body', () => {
    assert.throws(() => fromEnvelope(decodeEnvelope(encodeEnvelope({ id: 1, deadline_ms: 5 }))), /without body/);
  });
});

// ---------------------------------------------------------------- gRPC specifics

describe('grpc transport specifics', () => {
  it("a dropped request times out; a delayed one arrives; faults apply per destination", async () => {
    let filter: FaultFilter = () => 'pass';
    const a = await createTestTransport({ self: 'a', listen: '127.0.0.1:0', peers: new Map(), faults: (to, m) => filter(to, m) });
    const b = await createTestTransport({ self: 'b', listen: '127.0.0.1:0', peers: new Map() });
    try {
      a.setPeers(new Map([['b', `127.0.0.1:${b.boundPort}`]]));
      b.setPeers(new Map([['a', `127.0.0.1:${a.boundPort}`]]));
      a.serve(makeHandler('a'));
      b.serve(makeHandler('b'));
      assert.equal(a.reachable('b'), false);
      await a.request('b', { type: 'ping' }, 2000);
      assert.equal(a.reachable('b'), true);
      filter = () => 'drop';
      await rejectsWith(a.request('b', { type: 'ping' }, 150), 'timeout');
      filter = () => ({ delayMs: 100 });
      const t0 = Date.now();
      await a.request('b', { type: 'ping' }, 2000);
      assert.ok(Date.now() - t0 >= 95);
      filter = () => ({ delayMs: 300 });
      await rejectsWith(a.request('b', { type: 'ping' }, 100), 'timeout');
      // Responses pass the filter too (b -> a answers go through a's filter only when a is the server).
      filter = (to) => (to === 'b' ? 'drop' : 'pass');
      await rejectsWith(b.request('a', { type: 'ping' }, 150), 'timeout');
      a.setFaults(undefined);
      assert.deepStrictEqual(await b.request('a', { type: 'ping' }, 2000), { type: 'pong', node: 'a' });
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('large requests use the unary Call, bounded by maxMessageBytes', async () => {
    const a = await createTestTransport({ self: 'a', listen: '127.0.0.1:0', peers: new Map(), maxMessageBytes: 2 * 1024 * 1024, unaryAboveBytes: 64 * 1024 });
    const b = await createTestTransport({ self: 'b', listen: '127.0.0.1:0', peers: new Map(), maxMessageBytes: 2 * 1024 * 1024 });
    try {
      a.setPeers(new Map([['b', `127.0.0.1:${b.boundPort}`]]));
      b.serve(makeHandler('b'));
      const v = new Uint8Array(1024 * 1024).fill(7);
      const put = (value: Uint8Array): PutOriginReq => ({ type: 'putOrigin', bucket: 'b', key: 'v', value, meta: {}, context: null, supersedeLocal: false, hintFor: null });
      const r = await a.request('b', put(v), 5000);
      assert.equal(r.set.siblings[0]!.value!.byteLength, v.byteLength);
      await rejectsWith(a.request('b', put(new Uint8Array(3 * 1024 * 1024)), 5000), 'remote', 'MessageTooLarge');
      // The stream is unaffected.
      assert.deepStrictEqual(await a.request('b', { type: 'ping' }, 2000), { type: 'pong', node: 'b' });
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it("a peer without a handler answers 'remote' NotServing; close() rejects new requests", async () => {
    const a = await createTestTransport({ self: 'a', listen: '127.0.0.1:0', peers: new Map() });
    const b = await createTestTransport({ self: 'b', listen: '127.0.0.1:0', peers: new Map() });
    a.setPeers(new Map([['b', `127.0.0.1:${b.boundPort}`]]));
    await rejectsWith(a.request('b', { type: 'ping' }, 2000), 'remote', 'NotServing');
    await rejectsWith(a.request('a', { type: 'ping' }, 2000), 'remote', 'NotServing');
    await Promise.all([a.close(), b.close()]);
    await rejectsWith(a.request('b', { type: 'ping' }, 2000), 'unreachable');
  });

  it('a peer that accepts TCP but never speaks fails unreachable at the connect timeout, not the deadline', async () => {
    // A silent listener: the TCP connect succeeds, the HTTP/2 handshake never completes.
    const sockets: import('node:net').Socket[] = [];
    const silent = createServer((sock) => void sockets.push(sock));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as import('node:net').AddressInfo).port;
    const a = await createTestTransport({
      self: 'a',
      listen: '127.0.0.1:0',
      peers: new Map([['hole', `127.0.0.1:${port}`]]),
      connectTimeoutMs: 300,
    });
    try {
      const t0 = Date.now();
      const err = await rejectsWith(a.request('hole', { type: 'ping' }, 60_000), 'unreachable');
      assert.match(err.message, /connect timed out after 300 ms/);
      assert.ok(Date.now() - t0 >= 295, `failed after ${Date.now() - t0} ms, before the connect timeout`);
      // In backoff now: fails at once, without dialling again.
      const again = await rejectsWith(a.request('hole', { type: 'ping' }, 60_000), 'unreachable');
      assert.match(again.message, /reconnect in \d+ ms/);
      // A deadline shorter than the connect timeout: still 'unreachable' (never written).
      a.wake('hole'); // forget the backoff, so this request dials
      const short = await rejectsWith(a.request('hole', { type: 'ping' }, 100), 'unreachable');
      assert.match(short.message, /before the deadline/);
    } finally {
      await a.close();
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });
});

// ---------------------------------------------------------------- memory specifics


describe('memory network specifics', () => {
  async function scenario(seed: number): Promise<string[]> {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ clock, random: new SeededRandom(seed), minLatencyMs: 1, maxLatencyMs: 20 });
    const log: string[] = [];
    const ids = ['a', 'b', 'c', 'd'];
    const ts = ids.map((id) => net.transport(id));
    ts.forEach((t, i) => t.serve(async (from, req) => {
      log.push(`${clock.now().toFixed(3)} ${ids[i]}<-${from} ${req.type}`);
      return req.type === 'ping' ? { type: 'pong', node: ids[i]! } : { type: 'getOk', set: null };
    }));
    net.setDropRate(0.1);
    net.setDuplicateRate(0.1);
    net.partition('a', 'd', true);
    const results: Promise<void>[] = [];
    for (let i = 0; i < 60; i++) {
      const from = ts[i % 4]!;
      const to = ids[(i * 7 + 1) % 4]!;
      if (i === 30) net.crash('c');
      if (i === 45) net.restart('c');
      results.push(
        from.request(to, { type: 'ping' }, 100).then(
          (r) => void log.push(`${clock.now().toFixed(3)} ${from.self}->${to} ok ${r.node}`),
          (e: TransportError) => void log.push(`${clock.now().toFixed(3)} ${from.self}->${to} ${e.kind}`),
        ),
      );
      await clock.advance(3);
    }
    await clock.advance(500);
    await Promise.all(results);
    log.push(JSON.stringify(net.stats));
    return log;
  }

  it('is deterministic given the seed and the clock', async () => {
    const one = await scenario(1234);
    const two = await scenario(1234);
    const other = await scenario(99);
    assert.deepStrictEqual(one, two);
    assert.notDeepStrictEqual(one, other);
    assert.ok(one.some((l) => l.includes(' timeout')));
    assert.ok(one.some((l) => l.includes(' unreachable')));
  });

  it('partitions (one-way and both), heal, crash and restart', async () => {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ clock, random: new SeededRandom(1), minLatencyMs: 1, maxLatencyMs: 2 });
    const a = net.transport('a');
    const b = net.transport('b');
    const ra: { from: string; req: Request }[] = [];
    const rb: { from: string; req: Request }[] = [];
    a.serve(makeHandler('a', ra));
    b.serve(makeHandler('b', rb));
    const outcome = async (p: Promise<unknown>): Promise<string> => {
      const r = p.then(() => 'ok', (e: TransportError) => e.kind);
      await clock.advance(200);
      return r;
    };
    assert.equal(await outcome(a.request('b', { type: 'ping' }, 100)), 'ok');
    assert.equal(rb.length, 1);
    net.partition('a', 'b', true); // a -> b cut, b -> a fine
    assert.equal(await outcome(a.request('b', { type: 'ping' }, 100)), 'timeout');
    assert.equal(rb.length, 1); // the request was lost
    assert.equal(await outcome(b.request('a', { type: 'ping' }, 100)), 'timeout');
    assert.equal(ra.length, 1); // the request arrived, its answer was lost
    assert.equal(a.reachable('b'), false);
    assert.equal(b.reachable('a'), true);
    net.partition('b', 'a', true);
    assert.equal(await outcome(b.request('a', { type: 'ping' }, 100)), 'timeout');
    assert.equal(ra.length, 1);
    net.heal('b');
    assert.equal(await outcome(a.request('b', { type: 'ping' }, 100)), 'ok');
    net.partition('a', 'b');
    net.heal();
    assert.equal(await outcome(b.request('a', { type: 'ping' }, 100)), 'ok');
    // Crash with a request in flight: it times out; a new one is refused; after restart, fine.
    const slow = a.request('b', { type: 'get', bucket: 'x', key: 'binary' }, 100);
    net.crash('b');
    assert.equal(await outcome(slow), 'timeout');
    assert.equal(await outcome(a.request('b', { type: 'ping' }, 100)), 'unreachable');
    assert.equal(await outcome(b.request('a', { type: 'ping' }, 100)), 'unreachable');
    net.restart('b');
    assert.equal(await outcome(a.request('b', { type: 'ping' }, 100)), 'ok');
  });

  it('clones messages: nodes never share objects', async () => {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ clock, random: new SeededRandom(1) });
    const a = net.transport('a');
    const b = net.transport('b');
    let seen: Request | undefined;
    const stored: SiblingSet = { siblings: [sib('b', 1, new Uint8Array([1, 2, 3]))] };
    b.serve(async (_from, req) => {
      seen = req;
      return { type: 'putOk', set: stored };
    });
    const sent: PutReplicaReq = { type: 'putReplica', bucket: 'x', key: 'y', set: { siblings: [sib('a', 1, new Uint8Array([9]))] }, hintFor: null, asOf: 1_700_000_000_000 };
    const p = a.request('b', sent, 100);
    await clock.advance(50);
    const resp = await p;
    assert.deepStrictEqual(seen, sent);
    assert.notEqual(seen, sent);
    assert.notEqual((seen as PutReplicaReq).set.siblings[0]!.value, sent.set.siblings[0]!.value);
    assert.deepStrictEqual(resp.set, stored);
    assert.notEqual(resp.set.siblings[0]!.value, stored.siblings[0]!.value);
  });

  it("no handler -> 'remote' NotServing; closed transport -> 'unreachable'", async () => {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ clock, random: new SeededRandom(1) });
    const a = net.transport('a');
    net.transport('b');
    const p = rejectsWith(a.request('b', { type: 'ping' }, 100), 'remote', 'NotServing');
    const q = rejectsWith(a.request('a', { type: 'ping' }, 100), 'remote', 'NotServing');
    await clock.advance(50);
    await p;
    await q;
    await a.close();
    await rejectsWith(a.request('b', { type: 'ping' }, 100), 'unreachable');
    assert.notEqual(net.transport('a'), a);
  });

  it('duplicates reach the handler twice but settle the request once', async () => {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ clock, random: new SeededRandom(3) });
    net.setDuplicateRate(1);
    const a = net.transport('a');
    const b = net.transport('b');
    let calls = 0;
    b.serve(async () => {
      calls++;
      return { type: 'pong', node: 'b' };
    });
    const p = a.request('b', { type: 'ping' }, 100);
    await clock.advance(50);
    assert.deepStrictEqual(await p, { type: 'pong', node: 'b' });
    assert.equal(calls, 2);
  });
});

// ---------------------------------------------------------------- benchmark (opt-in)

describe('grpc throughput (TRANSPORT_BENCH=1)', { skip: process.env['TRANSPORT_BENCH'] !== '1' }, () => {
  async function run(label: string, make: (i: number) => Request, handler: Handler, inFlight: number, seconds: number): Promise<void> {
    const a = await createTestTransport({ self: 'a', listen: '127.0.0.1:0', peers: new Map() });
    const b = await createTestTransport({ self: 'b', listen: '127.0.0.1:0', peers: new Map() });
    a.setPeers(new Map([['b', `127.0.0.1:${b.boundPort}`]]));
    b.serve(handler);
    let i = 0;
    for (let w = 0; w < 2000; w++) await a.request('b', make(i++), 2000); // warm up
    let done = 0;
    const stopAt = Date.now() + seconds * 1000;
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const worker = async (): Promise<void> => {
      while (Date.now() < stopAt) {
        await a.request('b', make(i++), 5000);
        done++;
      }
    };
    await Promise.all(Array.from({ length: inFlight }, worker));
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    const cpuUs = (cpu.user + cpu.system) / done;
    console.log(`${label}: ${Math.round(done / secs)} req/s, ${cpuUs.toFixed(1)} µs CPU per round-trip (client+server, one process)`);
    await Promise.all([a.close(), b.close()]);
  }

  const stored: SiblingSet = { siblings: [sib('b', 3, new Uint8Array(100).fill(1), { contentType: 'text/plain' })] };

  it('get round-trips, 64 in flight', async () => {
    await run('get', (i) => ({ type: 'get', bucket: 'bench', key: `key-${i}` }), async () => ({ type: 'getOk', set: stored }), 64, 5);
  });

  it('putReplica with 4 KiB values, 64 in flight', async () => {
    const v = new Uint8Array(4096).fill(5);
    await run(
      'putReplica 4KiB',
      (i) => ({ type: 'putReplica', bucket: 'bench', key: `key-${i}`, set: { siblings: [sib('a', i + 1, v)] }, hintFor: null, asOf: 1_700_000_000_000 }),
      async (_from, req) => ({ type: 'putOk', set: (req as PutReplicaReq).set }),
      64,
      5,
    );
  });

  it('putReplica with 4 KiB values, answer without values, 64 in flight', async () => {
    const v = new Uint8Array(4096).fill(5);
    await run(
      'putReplica 4KiB (value-less answer)',
      (i) => ({ type: 'putReplica', bucket: 'bench', key: `key-${i}`, set: { siblings: [sib('a', i + 1, v)] }, hintFor: null, asOf: 1_700_000_000_000 }),
      async (_from, req) => ({ type: 'putOk', set: { siblings: (req as PutReplicaReq).set.siblings.map((s) => ({ ...s, value: null })) } }),
      64,
      5,
    );
  });
});
