// Bounds on an HTTP listener (node/limits.ts, issue 11 §5): requests and
// bytes in flight answered 503 SlowDown with a code, connections past the
// cap closed at accept, a slow-loris connection cut by the header timeout,
// oversized headers refused, and /health still answering under load.

import { strict as assert } from 'node:assert';
import { Agent, createServer, get as httpGet, type Server } from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { applyHttpLimits, DEFAULT_LIMITS, refuseJson, RequestGate } from '../../src/node/limits.js';

const LIMITS = { ...DEFAULT_LIMITS, maxConnections: 4, maxRequestsInFlight: 2, maxBytesInFlight: 1000, headersTimeoutMs: 400, requestTimeoutMs: 2000, idleTimeoutMs: 1500, maxHeaderBytes: 2048 };

let server: Server;
let port: number;
const held: (() => void)[] = [];

before(async () => {
  server = createServer((req, res) => {
    if (req.url === '/health') return void res.end('ok');
    if (req.url === '/hold') return void held.push(() => res.end('held'));
    req.resume();
    req.on('end', () => res.end('done'));
  });
  applyHttpLimits(server, LIMITS, new RequestGate(LIMITS), refuseJson);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as net.AddressInfo).port;
});

after(async () => {
  for (const h of held.splice(0)) h();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

/** One raw HTTP exchange on a fresh connection: the status line and body, or '' when the server closed it. */
function raw(text: string, waitMs = 3000): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (d) => (got += d.toString('latin1')));
    s.on('error', () => undefined);
    s.on('close', () => resolve(got));
    s.setTimeout(waitMs, () => s.destroy());
    s.write(text);
  });
}

describe('HTTP listener limits', () => {
  it('answers 503 SlowDown with a code past the requests in flight, and lets /health through', async () => {
    const a = fetch(`http://127.0.0.1:${port}/hold`);
    const b = fetch(`http://127.0.0.1:${port}/hold`);
    while (held.length < 2) await new Promise((r) => setTimeout(r, 5));
    const third = await fetch(`http://127.0.0.1:${port}/x`);
    assert.equal(third.status, 503);
    assert.equal(third.headers.get('retry-after'), '1');
    assert.equal(((await third.json()) as { error: { code: string } }).error.code, 'SlowDown');
    assert.equal((await fetch(`http://127.0.0.1:${port}/health`)).status, 200);
    for (const h of held.splice(0)) h();
    assert.equal(await (await a).text(), 'held');
    await (await b).text();
    assert.equal((await fetch(`http://127.0.0.1:${port}/x`)).status, 200, 'admitted again once the others finished');
  });

  it('answers 503 SlowDown past the body bytes in flight', async () => {
    const a = fetch(`http://127.0.0.1:${port}/hold`, { method: 'PUT', body: 'x'.repeat(800) });
    while (held.length < 1) await new Promise((r) => setTimeout(r, 5));
    const big = await fetch(`http://127.0.0.1:${port}/x`, { method: 'PUT', body: 'y'.repeat(300) });
    assert.equal(big.status, 503);
    for (const h of held.splice(0)) h();
    await (await a).text();
  });

  it('cuts a slow-loris connection at the header timeout and refuses oversized headers', async () => {
    const t0 = Date.now();
    const slow = await raw('GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ', 10_000);
    assert.ok(Date.now() - t0 < 8000, 'closed well before the client gave up');
    assert.ok(slow === '' || slow.startsWith('HTTP/1.1 408'), slow);
    const huge = await raw(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(4096)}\r\n\r\n`);
    assert.match(huge, /^HTTP\/1\.1 431/);
  });

  it('closes a slow-loris connection that drips its headers a byte at a time, past the header deadline', async () => {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    await new Promise((r) => s.once('connect', r));
    const t0 = Date.now();
    const drip = setInterval(() => s.writable && s.write('a'), 100);
    s.write('GET / HTTP/1.1\r\nX-Drip: ');
    await new Promise((r) => s.once('close', r));
    clearInterval(drip);
    const took = Date.now() - t0;
    assert.ok(took >= LIMITS.headersTimeoutMs - 50 && took < LIMITS.idleTimeoutMs, `closed after ${took} ms`);
  });

  it('closes connections past the cap at accept', async () => {
    const socks: net.Socket[] = [];
    for (let i = 0; i < LIMITS.maxConnections; i++) {
      const s = net.connect(port, '127.0.0.1');
      s.on('error', () => undefined);
      socks.push(s);
      await new Promise((r) => s.once('connect', r));
    }
    const extra = await raw('GET /x HTTP/1.1\r\nHost: x\r\n\r\n', 2000);
    assert.equal(extra, '', 'the connection past the cap is closed without an answer');
    for (const s of socks) s.destroy();
  });

  it('advertises a keep-alive timeout well inside the header deadline that closes an idle connection', async () => {
    const own = createServer((_req, res) => res.end('ok'));
    own.keepAliveTimeout = 65_000; // as api/http.ts creates its servers
    const limits = { ...LIMITS, headersTimeoutMs: 8000, idleTimeoutMs: 60_000 };
    applyHttpLimits(own, limits, new RequestGate(limits), refuseJson);
    await new Promise<void>((r) => own.listen(0, '127.0.0.1', r));
    try {
      const res = await fetch(`http://127.0.0.1:${(own.address() as net.AddressInfo).port}/`);
      await res.text();
      // A client told 60 s would reuse a connection the header deadline closed at 8 s; told 8 s, it races the close.
      assert.equal(res.headers.get('keep-alive'), 'timeout=6');
      assert.equal(res.headers.get('connection'), 'keep-alive');
    } finally {
      own.closeAllConnections();
      await new Promise((r) => own.close(r));
    }
  });

  it('adds one close listener per connection, however many requests a keep-alive connection carries', async () => {
    const own = createServer((_req, res) => res.end('ok'));
    const limits = { ...LIMITS, headersTimeoutMs: 5000, idleTimeoutMs: 60_000 };
    applyHttpLimits(own, limits, new RequestGate(limits), refuseJson);
    const sockets = new Set<net.Socket>();
    let socket: net.Socket | undefined;
    own.on('connection', (s: net.Socket) => sockets.add((socket = s)));
    await new Promise<void>((r) => own.listen(0, '127.0.0.1', r));
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const port = (own.address() as net.AddressInfo).port;
      const get = (): Promise<void> =>
        new Promise((resolve, reject) => {
          httpGet({ port, host: '127.0.0.1', path: '/', agent }, (res) => {
            res.resume();
            res.on('end', () => resolve());
          }).on('error', reject);
        });
      await get();
      const first = socket!.listenerCount('close');
      for (let i = 0; i < 20; i++) await get();
      assert.equal(sockets.size, 1, 'the requests shared one connection');
      assert.equal(socket!.listenerCount('close'), first, 'twenty more requests on the same connection added no listener');
    } finally {
      agent.destroy();
      own.closeAllConnections();
      await new Promise((r) => own.close(r));
    }
  });
});
