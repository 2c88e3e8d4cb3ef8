// A large body's digests on a worker thread (hash-worker.ts) must be exactly
// the event loop's: the same MD5 (the ETag), the same payload SHA-256, and
// chunks cut at the same places with the same addresses, whatever the
// pieces the body arrives in and whether its length was declared.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { ChunkHasher } from '../../src/s3/hash-worker.js';
import { CHUNK_SIZE, storeStream, type ChunkRef, type ChunkStore } from '../../src/s3/chunks.js';

const hex = (algo: string, b: Uint8Array): string => createHash(algo).update(b).digest('hex');

/** A copy of `b` in a buffer that owns its whole ArrayBuffer (what the hasher borrows). */
function owned(b: Buffer): Buffer {
  const out = Buffer.allocUnsafeSlow(b.length);
  b.copy(out);
  return out;
}

/** A chunk store that keeps what it is given and checks each address against the bytes. */
function memoryChunks(): { store: ChunkStore; held: Map<string, Buffer> } {
  const held = new Map<string, Buffer>();
  const store = {
    put: async (data: Buffer, address?: string): Promise<ChunkRef> => {
      const h = hex('sha256', data);
      if (address !== undefined) assert.equal(address, h, 'a chunk is stored under the SHA-256 of its bytes');
      held.set(h, Buffer.from(data));
      return [h, data.length];
    },
  } as unknown as ChunkStore;
  return { store, held };
}

/** `body` cut into pieces of awkward sizes, as a socket might deliver it. */
async function* piecesOf(body: Buffer): AsyncGenerator<Buffer> {
  const sizes = [1, 65_536, 7, 300_001, 1_048_576];
  for (let off = 0, i = 0; off < body.length; i++) {
    const n = Math.min(sizes[i % sizes.length]!, body.length - off);
    yield body.subarray(off, off + n);
    off += n;
  }
}

describe('hashing large bodies on a worker', () => {
  it('gives the MD5, the whole SHA-256 and each chunk address of node:crypto, and hands the bytes back intact', async () => {
    const a = randomBytes(CHUNK_SIZE);
    const b = randomBytes(123_457);
    const h = new ChunkHasher(true);
    // Both in flight at once: the worker takes them in order.
    const [ra, rb] = await Promise.all([h.chunk(owned(a)), h.chunk(owned(b))]);
    assert.equal(ra!.address, hex('sha256', a));
    assert.equal(rb!.address, hex('sha256', b));
    assert.deepEqual(ra!.buf, a);
    assert.deepEqual(rb!.buf, b);
    const d = await h.finish();
    const whole = Buffer.concat([a, b]);
    assert.equal(d.md5Hex, hex('md5', whole));
    assert.equal(d.sha256Hex, hex('sha256', whole));
    const unsigned = new ChunkHasher(false);
    await unsigned.chunk(Buffer.allocUnsafeSlow(10).fill(1));
    assert.equal((await unsigned.finish()).sha256Hex, undefined);
  });

  it('refuses a buffer that does not own its memory rather than detach its neighbours', async () => {
    const h = new ChunkHasher(false);
    const big = Buffer.allocUnsafeSlow(100);
    await assert.rejects(h.chunk(big.subarray(10)), /owns its whole ArrayBuffer/);
    h.abort();
  });

  for (const declared of [true, false]) {
    for (const size of [2 * CHUNK_SIZE + 1_000_003, CHUNK_SIZE, 1_500_000]) {
      it(`stores ${size} bytes (length ${declared ? 'declared' : 'unknown'}) in the same chunks, with the same digests, as hashing on the event loop`, async () => {
        const body = randomBytes(size);
        const plain = memoryChunks();
        const before = await storeStream(plain.store, piecesOf(body), 64 * 1024);
        const offloaded = memoryChunks();
        const hasher = new ChunkHasher(true);
        const after = await storeStream(offloaded.store, piecesOf(body), 64 * 1024, undefined, undefined, { hasher, expectedBytes: declared ? size : undefined });
        assert.deepEqual(after.chunks, before.chunks);
        assert.equal(after.size, size);
        assert.equal(after.inline, undefined);
        assert.equal(after.digests?.md5Hex, hex('md5', body));
        assert.equal(after.digests?.sha256Hex, hex('sha256', body));
        assert.deepEqual(Buffer.concat(after.chunks.map(([h]) => offloaded.held.get(h)!)), body);
      });
    }
  }

  it('a body shorter than declared, small enough to be inline, is still hashed and kept whole', async () => {
    const body = randomBytes(5000);
    const hasher = new ChunkHasher(false);
    const r = await storeStream(memoryChunks().store, piecesOf(body), 64 * 1024, undefined, undefined, { hasher, expectedBytes: 2 * CHUNK_SIZE });
    assert.deepEqual(r.inline, body);
    assert.deepEqual(r.chunks, []);
    assert.equal(r.digests?.md5Hex, hex('md5', body));
  });

  it('a failing chunk write fails the store, and the body is dropped from the worker', async () => {
    const failing = { put: async (): Promise<ChunkRef> => Promise.reject(new Error('disk on fire')) } as unknown as ChunkStore;
    const hasher = new ChunkHasher(false);
    await assert.rejects(storeStream(failing, piecesOf(randomBytes(CHUNK_SIZE + 10)), 64 * 1024, 1, undefined, { hasher, expectedBytes: undefined }), /disk on fire/);
    await assert.rejects(hasher.finish(), /twice or after abort/);
  });
});
