// The small-object read cache (src/s3/cache.ts): a hot key is read with a
// values-free quorum read and served from the cache only when the quorum's
// winner is the cached version; writes through other nodes, deletes and
// concurrent siblings are never hidden by it.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { startHarness, type Harness } from './s3-harness.js';
import { encodeObject } from '../../src/s3/object-model.js';
import { ObjectCache } from '../../src/s3/cache.js';
import type { Coordinator } from '../../src/coordinator/coordinator.js';

async function text(s3: S3Client, key: string): Promise<string | undefined> {
  try {
    const got = await s3.send(new GetObjectCommand({ Bucket: 'hot', Key: key }));
    return await got.Body!.transformToString();
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchKey') return undefined;
    throw err;
  }
}

/** Where the store keeps bucket "hot" (its id), set once it exists. */
let hot = '';

/** A write through another node's coordinator, as an S3 PUT there would make it. */
async function putElsewhere(c: Coordinator, key: string, body: string | null): Promise<void> {
  if (body === null) {
    const read = await c.get({ bucket: hot, key });
    await c.put({ bucket: hot, key, value: null, context: read.context });
    return;
  }
  const v = new TextEncoder().encode(body);
  const e = encodeObject({ etag: 'e'.repeat(32), size: v.length, contentType: 'text/plain', headers: {} }, { inline: v });
  await c.put({ bucket: hot, key, value: e.value, meta: e.meta, context: null, supersedeVisible: true });
}

describe('S3 small-object read cache', () => {
  let h: Harness;
  let s3: S3Client;
  let cache: ObjectCache;
  before(async () => {
    h = await startHarness();
    s3 = h.client();
    cache = h.objects!;
    await s3.send(new CreateBucketCommand({ Bucket: 'hot' }));
    hot = await h.storage('hot');
  });
  after(async () => {
    await h.close();
  });

  test('a hot key is served from the cache, and a write through another node is seen at once', async () => {
    await s3.send(new PutObjectCommand({ Bucket: 'hot', Key: 'k', Body: 'one' }));
    const before = { ...cache.stats };
    assert.equal(await text(s3, 'k'), 'one');
    assert.equal(await text(s3, 'k'), 'one');
    assert.equal(cache.stats.hits - before.hits, 2, 'the PUT through this node filled the cache');
    await putElsewhere(h.coordinators.get('n3')!, 'k', 'two');
    assert.equal(await text(s3, 'k'), 'two');
    assert.equal(cache.stats.stale - before.stale, 1);
    assert.equal(await text(s3, 'k'), 'two');
    assert.equal(cache.stats.hits - before.hits, 3);
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'hot', Key: 'k' }));
    assert.equal(head.ContentLength, 3);
  });

  test('a delete through another node is seen at once', async () => {
    await s3.send(new PutObjectCommand({ Bucket: 'hot', Key: 'd', Body: 'here' }));
    assert.equal(await text(s3, 'd'), 'here');
    await putElsewhere(h.coordinators.get('n2')!, 'd', null);
    assert.equal(await text(s3, 'd'), undefined);
    await s3.send(new PutObjectCommand({ Bucket: 'hot', Key: 'd', Body: 'back' }));
    assert.equal(await text(s3, 'd'), 'back');
  });

  test('concurrent siblings: the cache serves the same winner a full read picks', async () => {
    await putElsewhere(h.coordinators.get('n1')!, 's', 'first');
    assert.equal(await text(s3, 's'), 'first');
    // Two writes that do not see each other (no context, not superseding): siblings.
    const v = (b: string) => {
      const x = new TextEncoder().encode(b);
      return encodeObject({ etag: 'f'.repeat(32), size: x.length, contentType: 'text/plain', headers: {} }, { inline: x });
    };
    const a = v('left');
    const b = v('right');
    await h.coordinators.get('n2')!.put({ bucket: hot, key: 's', value: a.value, meta: a.meta, context: null });
    await h.coordinators.get('n3')!.put({ bucket: hot, key: 's', value: b.value, meta: b.meta, context: null });
    const full = await h.coordinators.get('n1')!.get({ bucket: hot, key: 's' });
    assert.ok(full.set.siblings.length >= 2);
    const got = await text(s3, 's');
    assert.equal(await text(s3, 's'), got);
    assert.ok(got === 'left' || got === 'right');
  });

  test('the cache is bounded by bytes and forgets the least recently used keys', () => {
    const c = new ObjectCache(64 * 1024);
    for (let i = 0; i < 20; i++) c.set('b', `k${i}`, `n1:${i}`, new Uint8Array(7000));
    assert.ok(c.stats.bytes <= 64 * 1024);
    assert.equal(c.get('b', 'k0', 'n1:0'), undefined);
    assert.ok(c.get('b', 'k19', 'n1:19') !== undefined);
    assert.equal(c.get('b', 'k19', 'n1:18'), undefined, 'another version of the key is a miss');
    c.set('b', 'big', 'n1:1', new Uint8Array(65 * 1024));
    assert.equal(c.has('b', 'big'), false, 'values above the limit are not cached');
  });
});
