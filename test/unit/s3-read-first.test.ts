// S3 writes read first (coordinator/read-first.ts), and a conflict between
// an object and a delete is shown by ListObjectVersions (docs/s3.md,
// "Conflicts and versions"), on the in-process harness: real coordinators
// and stores, the AWS SDK over HTTP.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { CreateBucketCommand, GetObjectCommand, ListObjectVersionsCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { startHarness, type Harness } from './s3-harness.js';
import { Ring } from '../../src/ring/ring.js';
import { newEvent } from '../../src/version/dvv.js';

let h: Harness;
let s3: S3Client;

before(async () => {
  h = await startHarness({ nodes: 3 });
  s3 = h.client();
  await s3.send(new CreateBucketCommand({ Bucket: 'rfirst' }));
});

after(async () => {
  await h.close();
});

test('an S3 PUT replaces an acknowledged version its minting replica never received, even one stamped by a clock an hour ahead', async () => {
  // The harness's ring: the same layout, so the same partition.
  const ring = new Ring({ epoch: 1, partitions: 64, nodes: ['n1', 'n2', 'n3'].map((id) => ({ id, zone: id, weight: 1 })) });
  const partition = ring.partitionOf('rfirst', 'k');
  // "old" is on n2 and n3 (a W=2 write acknowledged there), not on n1, which serves S3 and mints the next write.
  const old = newEvent({ siblings: [] }, 'n2', {}, new TextEncoder().encode('old'), {}, Date.now() + 3_600_000).set;
  for (const id of ['n2', 'n3']) await h.stores.get(id)!.update(partition, 'rfirst', 'k', () => old);
  assert.equal(h.stores.get('n1')!.read('rfirst', 'k'), undefined);
  await s3.send(new PutObjectCommand({ Bucket: 'rfirst', Key: 'k', Body: 'new' }));
  const got = await s3.send(new GetObjectCommand({ Bucket: 'rfirst', Key: 'k' }));
  assert.equal(await got.Body!.transformToString(), 'new', 'the later PUT wins although the older version carries a later timestamp');
  const versions = await s3.send(new ListObjectVersionsCommand({ Bucket: 'rfirst', Prefix: 'k' }));
  assert.equal(versions.Versions?.length, 1, 'the PUT superseded the version its read found: no sibling left');
});

test('a delete marker concurrent with an object is listed beside it, and GET serves the later of the two', async () => {
  await s3.send(new PutObjectCommand({ Bucket: 'rfirst', Key: 'both', Body: 'kept' }));
  // A delete that saw nothing (the coordinator's blind tombstone): concurrent with the object, and later.
  await h.coordinators.get('n2')!.put({ bucket: await h.storage('rfirst'), key: 'both', value: null, context: null });
  const v = await s3.send(new ListObjectVersionsCommand({ Bucket: 'rfirst', Prefix: 'both' }));
  assert.equal(v.Versions?.length, 1, JSON.stringify(v));
  assert.equal(v.DeleteMarkers?.length, 1, JSON.stringify(v));
  assert.equal(v.DeleteMarkers![0]!.IsLatest, true);
  assert.equal(v.Versions![0]!.IsLatest, false);
  await assert.rejects(s3.send(new GetObjectCommand({ Bucket: 'rfirst', Key: 'both' })), (err: Error) => err.name === 'NoSuchKey');
});
