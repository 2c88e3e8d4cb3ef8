// The bulk lane's frame header is bounded before anything is allocated for
// it (issue 11 review: a frame could declare 256 MiB of header and 65,536
// attachments of 1 GiB each): a declared size or attachment count past the
// limit closes the connection, and a frame that stops short holds only
// what arrived.

import tls from 'node:tls';
import { clientTlsOptions, serverTlsOptions } from '../../src/transport/node-tls.js';
import { testIdentity } from '../helpers/node-tls.js';
import { strict as assert } from 'node:assert';
import net from 'node:net';
import { describe, it } from 'node:test';

import { ATTACH_MIN_BYTES, BulkFrameError, FrameReader, frameProblem, helloBytes } from '../../src/transport/bulk.js';
import { acceptBulkConnection, DEFAULT_BULK_SERVER_LIMITS } from '../../src/transport/grpc-bulk-lane.js';

const MiB = 1024 * 1024;

function prefix(headerLength: number, lengths: number[]): Buffer {
  const b = Buffer.alloc(8 + 4 * lengths.length);
  b.writeUInt32BE(headerLength, 0);
  b.writeUInt32BE(lengths.length, 4);
  lengths.forEach((l, i) => b.writeUInt32BE(l, 8 + 4 * i));
  return b;
}

function feed(reader: FrameReader, bytes: Buffer): void {
  for (let off = 0; off < bytes.length; ) {
    const dst = reader.buffer();
    const n = Math.min(dst.length, bytes.length - off);
    bytes.copy(dst, 0, off, off + n);
    reader.read(n);
    off += n;
  }
}

describe('bulk-lane frame limits', () => {
  it('refuses a declared header, attachment count, attachment size or total past the limit', () => {
    const max = 8 * MiB;
    assert.match(frameProblem(max, max + 1, 0) ?? '', /header/);
    assert.match(frameProblem(max, 10, max / ATTACH_MIN_BYTES + 1) ?? '', /attachments/);
    assert.match(frameProblem(max, 10, 1, [100]) ?? '', /at least/);
    assert.match(frameProblem(max, 10, 2, [4 * MiB, 4 * MiB]) ?? '', /frame of/);
    assert.equal(frameProblem(max, 10, 2, [4 * MiB, 4 * MiB - 10]), undefined);
  });

  it('the reader throws at the prefix, before allocating the header or the attachments', () => {
    const reader = new FrameReader(() => assert.fail('no envelope'), undefined, 8 * MiB);
    assert.throws(() => feed(reader, prefix(256 * MiB, [])), BulkFrameError);
    const r2 = new FrameReader(() => assert.fail('no envelope'), undefined, 8 * MiB);
    assert.doesNotThrow(() => feed(r2, prefix(16, [ATTACH_MIN_BYTES])), 'a frame within the limits is read on');
    const r3 = new FrameReader(() => assert.fail('no envelope'), undefined, 64 * MiB);
    assert.throws(() => feed(r3, prefix(10, [1024 * MiB])), /frame of/);
    const r4 = new FrameReader(() => assert.fail('no envelope'), undefined, 64 * MiB);
    assert.throws(() => feed(r4, prefix(10, new Array(65_536).fill(ATTACH_MIN_BYTES))), /attachments/);
  });

  it('after a malformed frame the reader stays safe to call: buffer() never throws (the fuzz suite found it crashing the node)', () => {
    const reader = new FrameReader(() => assert.fail('no envelope'), undefined, 8 * MiB);
    assert.throws(() => feed(reader, Buffer.concat([prefix(8, []), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])])));
    assert.doesNotThrow(() => reader.buffer());
    assert.throws(() => reader.read(1), BulkFrameError);
  });

  it('a hello with an empty or oversized node id is refused', () => {
    const reader = new FrameReader(() => undefined, () => undefined);
    assert.throws(() => feed(reader, helloBytes('x'.repeat(300))), /node id of 300 bytes/);
    const r2 = new FrameReader(() => undefined, () => undefined);
    assert.throws(() => feed(r2, helloBytes('')), /node id of 0 bytes/);
  });

  it('the server closes a connection that declares a frame past the limit, one that sends no hello, and connections past the cap', async () => {
    const sockets = new Set<net.Socket>();
    const limits = { ...DEFAULT_BULK_SERVER_LIMITS, maxFrameBytes: 8 * MiB, maxConnections: 2, helloTimeoutMs: 300 };
    // Mutual TLS as between nodes (node-tls.ts): the limits apply to members' connections too.
    const [srvId, n1Id] = await Promise.all([testIdentity('srv'), testIdentity('n1')]);
    const server = tls.createServer(serverTlsOptions(srvId), (s) => acceptBulkConnection(s, 'n1', () => assert.fail('no request'), sockets, () => undefined, limits));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const closed = (s: net.Socket): Promise<void> => new Promise((r) => (s.destroyed ? r() : s.on('close', () => r())));
    const dial = (): Promise<net.Socket> =>
      new Promise((resolve) => {
        const s = tls.connect({ port, host: '127.0.0.1', ...clientTlsOptions(n1Id, 'srv') }, () => resolve(s));
        s.on('error', () => undefined);
      });
    try {
      const huge = await dial();
      huge.write(Buffer.concat([helloBytes('n1'), prefix(16, [1024 * MiB])]));
      await closed(huge);

      const silent = await dial();
      const t0 = Date.now();
      await closed(silent);
      assert.ok(Date.now() - t0 >= 200, 'closed by the hello timeout');
      // The server's ends close a moment after the clients' ends.
      for (let i = 0; i < 200 && sockets.size > 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(sockets.size, 0);
      const a = await dial();
      a.write(helloBytes('n1'));
      const b = await dial();
      b.write(helloBytes('n1'));
      const c = await dial();
      await closed(c);
      assert.ok(!a.destroyed && !b.destroyed, 'the connections under the cap stay open');
      a.destroy();
      b.destroy();
    } finally {
      for (const s of sockets) s.destroy();
      server.close();
    }
  });
});
