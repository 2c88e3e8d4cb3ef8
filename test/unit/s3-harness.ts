// An in-process ringstore cluster behind the S3 server, for S3 unit tests:
// real Coordinators, Ring, MemoryStores and the in-memory network, on the
// system clock; the S3 server listens on a loopback port and the AWS SDK
// talks to it over real HTTP.

import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { S3Client } from '@aws-sdk/client-s3';
import { ControlBucketCatalog } from '../../src/control/bucket-catalog.js';
import { LocalControlPlane } from '../../src/control/plane.js';
import { storageBucket } from '../../src/coordinator/buckets-types.js';
import { Coordinator } from '../../src/coordinator/coordinator.js';
import { PassiveLiveness } from '../../src/membership/liveness.js';
import { systemClock } from '../../src/node/real-runtime.js';
import { Ring } from '../../src/ring/ring.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { MemoryNetwork } from '../../src/transport/memory.js';
import { SeededRandom } from '../../src/util/runtime.js';
import { StaticCredentials, type AccessKey } from '../../src/s3/credentials.js';
import { createS3Server } from '../../src/s3/server.js';
import { chunkReads } from '../../src/coordinator/chunk-reads.js';
import type { ChunkStore } from '../../src/s3/chunks.js';
import type { ObjectCache } from '../../src/s3/cache.js';

export const KEY: AccessKey = { accessKey: 'AKIATESTKEY000000001', secretKey: 'test-secret-key-0123456789', owner: 'dev', createdMs: 0 };
export const OTHER: AccessKey = { accessKey: 'AKIAOTHERKEY00000002', secretKey: 'other-secret-key-9876543210', owner: 'mallory', createdMs: 0 };

export interface Harness {
  readonly endpoint: string;
  readonly port: number;
  readonly stores: ReadonlyMap<string, MemoryStore>;
  readonly coordinators: ReadonlyMap<string, Coordinator>;
  readonly chunks: ChunkStore;
  /** The small-object read cache (undefined when off). */
  readonly objects: ObjectCache | undefined;
  /** The bucket catalog (over a local control plane). */
  readonly catalog: ControlBucketCatalog;
  /** The storage names of every bucket, as the chunk collector wants them. */
  storageBuckets(): Promise<string[]>;
  /** The name the store keeps a bucket's objects under (its id: coordinator/buckets-types.ts storageBucket). */
  storage(bucket: string): Promise<string>;
  client(key?: AccessKey, extra?: Record<string, unknown>): S3Client;
  close(): Promise<void>;
}

export async function startHarness(opts: { nodes?: number } = {}): Promise<Harness> {
  const ids = Array.from({ length: opts.nodes ?? 3 }, (_, i) => `n${i + 1}`);
  const clock = systemClock;
  const net = new MemoryNetwork({ clock, random: new SeededRandom(7), minLatencyMs: 0, maxLatencyMs: 0 });
  const ring = new Ring({ epoch: 1, partitions: 64, nodes: ids.map((id) => ({ id, zone: id, weight: 1 })) });
  const stores = new Map<string, MemoryStore>();
  const coordinators = new Map<string, Coordinator>();
  const livenesses: PassiveLiveness[] = [];
  for (const id of ids) {
    const store = new MemoryStore();
    const transport = net.transport(id);
    const liveness = new PassiveLiveness(clock, (node) => transport.request(node, { type: 'ping' }, 1000).then(() => true, () => false));
    livenesses.push(liveness);
    const c = new Coordinator({ self: id, store, transport, clock, random: new SeededRandom(id.length), ring: () => ring, liveness, config: { replicaTimeoutMs: 10_000 } });
    transport.serve(c.handle);
    stores.set(id, store);
    coordinators.set(id, c);
  }
  const self = ids[0]!;
  const coordinator = coordinators.get(self)!;
  const catalog = new ControlBucketCatalog({
    plane: new LocalControlPlane(() => clock.now()),
    isEmpty: async (storage) => (await coordinator.list({ bucket: storage, limit: 1 })).keys.length === 0,
  });
  const server = createS3Server({
    coordinator,
    catalog,
    clock,
    credentials: new StaticCredentials([KEY, OTHER]),
    replicaReader: chunkReads({ transport: net.transport(self), ring: () => ring, n: Math.min(3, ids.length) }),
    chunkCacheBytes: 0,
    logger: { error: (obj, msg) => process.stderr.write(`[s3] ${msg} ${String((obj as { err?: unknown }).err)}\n`) },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const endpoint = `http://127.0.0.1:${port}`;
  const clients: S3Client[] = [];
  const chunks = server.chunks;
  return {
    endpoint,
    port,
    stores,
    coordinators,
    chunks,
    objects: server.objects,
    catalog,
    storageBuckets: async () => (await catalog.list({ confirmed: true })).map(storageBucket),
    async storage(bucket) {
      const info = await catalog.get(bucket);
      assert.ok(info !== undefined, `bucket ${bucket} exists`);
      return storageBucket(info);
    },
    client(key = KEY, extra = {}) {
      const c = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: key.accessKey, secretAccessKey: key.secretKey }, ...extra });
      clients.push(c);
      return c;
    },
    async close() {
      for (const c of clients) c.destroy();
      for (const l of livenesses) l.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The SDK's hash constructor for request signing in tests (SigV4's SHA-256 and HMAC), over node:crypto. */
export class Sha256 {
  private readonly h;
  constructor(secret?: string | Uint8Array) {
    this.h = secret === undefined ? createHash('sha256') : createHmac('sha256', Buffer.from(secret as Uint8Array));
  }
  update(d: string | Uint8Array): void {
    this.h.update(d);
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.h.digest()));
  }
  reset(): void {}
}

/** The S3 error code and HTTP status a rejected SDK call carries; fails the test if the call succeeds. */
export async function s3Failure(p: Promise<unknown>): Promise<{ code: string; status: number | undefined }> {
  try {
    await p;
  } catch (err) {
    const e = err as { name: string; Code?: string; $metadata?: { httpStatusCode?: number } };
    return { code: e.Code ?? e.name, status: e.$metadata?.httpStatusCode };
  }
  assert.fail('expected the request to fail');
}
