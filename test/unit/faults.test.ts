// The dev-only fault switch (node/faults.ts, api/cluster.ts): which messages
// a rule drops or delays, that a dropped answer turns into a timeout for the
// requester while the request itself was handled, and that the HTTP switch
// refuses to work (403) unless the node was started with faults enabled.

import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { Registry } from 'prom-client';

import { createFaultsApi } from '../../src/api/faults.js';
import { createHttpServer } from '../../src/api/http.js';
import { testAuth, type TestAuth } from '../helpers/auth.js';
import { FaultInjector } from '../../src/node/faults.js';
import { MemoryNetwork } from '../../src/transport/memory.js';
import { TransportError } from '../../src/transport/transport.js';
import { SeededRandom, type Clock, type Timer } from '../../src/util/runtime.js';

const realClock: Clock = {
  now: () => Date.now(),
  setTimer: (ms, fn): Timer => {
    const h = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(h) };
  },
};

describe('FaultInjector', () => {
  test('rules by peer and direction; drop beats delay; self is never cut', () => {
    const f = new FaultInjector('n1');
    assert.equal(f.verdict('n2', 'out'), 'pass');
    f.set({ drop: ['n2'], delay: ['n2', 'n3'], delayMs: 50 });
    assert.equal(f.verdict('n2', 'out'), 'drop');
    assert.equal(f.verdict('n2', 'in'), 'drop');
    assert.deepEqual(f.verdict('n3', 'in'), { delayMs: 50 });
    assert.equal(f.verdict('n1', 'in'), 'pass');
    f.set({ drop: ['n2'], direction: 'in' });
    assert.equal(f.verdict('n2', 'in'), 'drop');
    assert.equal(f.verdict('n2', 'out'), 'pass');
    f.set({ drop: ['n2'], direction: 'out' });
    assert.equal(f.verdict('n2', 'in'), 'pass');
    assert.equal(f.outgoing('n2', { type: 'ping' }), 'drop');
    f.clear();
    assert.equal(f.outgoing('n2', { type: 'ping' }), 'pass');
    // The answer to a request dropped on arrival is dropped on the way out, whatever the rules.
    assert.equal(f.outgoing('n2', { type: 'error', code: 'FaultDropped', message: '' }), 'drop');
    assert.throws(() => f.set({ direction: 'sideways' as never }), RangeError);
    assert.throws(() => f.set({ delay: ['n2'] }), RangeError);
    assert.throws(() => f.set({ drop: 'n2' as never }), RangeError);
  });

  test('an answer from a peer cut "in" is lost: the request was handled there, the requester times out', async () => {
    const net = new MemoryNetwork({ clock: realClock, random: new SeededRandom(1), minLatencyMs: 0, maxLatencyMs: 1 });
    const a = net.transport('a');
    const b = net.transport('b');
    let handled = 0;
    b.serve(async () => {
      handled++;
      return { type: 'pong', node: 'b' };
    });
    a.serve(async () => ({ type: 'pong', node: 'a' }));
    const f = new FaultInjector('a');
    const ta = f.wrapTransport(a);
    assert.deepEqual(await ta.request('b', { type: 'ping' }, 1000), { type: 'pong', node: 'b' });
    f.set({ drop: ['b'], direction: 'in' });
    const t0 = Date.now();
    await assert.rejects(ta.request('b', { type: 'ping' }, 200), (e: unknown) => e instanceof TransportError && e.kind === 'timeout');
    assert.ok(Date.now() - t0 >= 190, 'fails at the deadline, like a lost packet');
    assert.equal(handled, 2, 'the request itself got through');
    f.set({ delay: ['b'], delayMs: 100, direction: 'in' });
    const t1 = Date.now();
    await ta.request('b', { type: 'ping' }, 1000);
    assert.ok(Date.now() - t1 >= 95);
    // A request arriving from a cut peer is not handled.
    f.set({ drop: ['b'], direction: 'in' });
    const wrapped = f.wrapHandler(async () => ({ type: 'pong', node: 'a' }));
    await assert.rejects(wrapped('b', { type: 'ping' }), (e: unknown) => (e as { code?: string }).code === 'FaultDropped');
    assert.deepEqual(await wrapped('c', { type: 'ping' }), { type: 'pong', node: 'a' });
    await Promise.all([a.close(), b.close()]);
  });
});

describe('the /_faults switch', () => {
  let auth: TestAuth;
  let fetch: TestAuth['fetch'];
  before(async () => {
    auth = await testAuth();
    fetch = auth.fetch;
  });

  async function serve(faults: FaultInjector | undefined): Promise<{ url: string; close(): Promise<void> }> {
    const server = createHttpServer({ self: 'n1', logger: pino({ level: 'silent' }), registry: new Registry(), auth: auth.http, mounts: [{ prefix: '/_faults', handler: createFaultsApi(faults) }] });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/_faults`,
      close: () => new Promise((r) => server.close(() => r())),
    };
  }

  test('needs an admin token even when enabled: none is 401, a user token 401, a metrics-read token 403', async () => {
    const s = await serve(new FaultInjector('n1'));
    try {
      const none = await globalThis.fetch(s.url, { method: 'POST', body: '{"drop":["n2"]}' });
      assert.equal(none.status, 401);
      assert.equal(((await none.json()) as { error: { code: string } }).error.code, 'MissingAuthentication');
      const user = await fetch(s.url, { headers: { authorization: `Bearer ${auth.userToken}` } });
      assert.equal(((await user.json()) as { error: { code: string } }).error.code, 'InvalidToken');
      const metrics = await auth.directory.createAdminToken('metrics-read', 0);
      const scoped = await fetch(s.url, { headers: { authorization: `Bearer ${metrics.token}` } });
      assert.equal(scoped.status, 403);
      assert.equal(((await scoped.json()) as { error: { code: string } }).error.code, 'InsufficientScope');
    } finally {
      await s.close();
    }
  });

  test('is refused with 403 unless the node was started with faults enabled', async () => {
    const s = await serve(undefined);
    try {
      for (const method of ['GET', 'POST', 'DELETE']) {
        const res = await fetch(s.url, { method, ...(method === 'POST' ? { body: '{"drop":["n2"]}' } : {}) });
        assert.equal(res.status, 403, method);
        const body = (await res.json()) as { error: { code: string } };
        assert.equal(body.error.code, 'Forbidden');
      }
    } finally {
      await s.close();
    }
  });

  test('sets, shows and heals the rules when enabled', async () => {
    const f = new FaultInjector('n1');
    const s = await serve(f);
    try {
      let res = await fetch(s.url, { method: 'POST', body: JSON.stringify({ drop: ['n2'], delay: ['n3'], delayMs: 200, direction: 'out' }) });
      assert.equal(res.status, 200);
      assert.equal(f.verdict('n2', 'out'), 'drop');
      res = await fetch(s.url);
      const body = (await res.json()) as { drop: string[]; delay: string[]; delayMs: number; direction: string };
      assert.deepEqual([body.drop, body.delay, body.delayMs, body.direction], [['n2'], ['n3'], 200, 'out']);
      assert.equal((await fetch(s.url, { method: 'POST', body: '{"drop": "n2"}' })).status, 400);
      assert.equal((await fetch(s.url, { method: 'POST', body: '{"cut": ["n2"]}' })).status, 400);
      assert.equal((await fetch(s.url, { method: 'DELETE' })).status, 200);
      assert.equal(f.verdict('n2', 'out'), 'pass');
    } finally {
      await s.close();
    }
  });
});
