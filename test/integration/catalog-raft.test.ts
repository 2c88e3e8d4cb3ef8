// Buckets through the Raft control plane in real processes (issue 9: "a
// 5-node dev cluster, with bucket creation and listing running throughout:
// kill -9 of the leader; a new leader is elected and bucket creation
// continues through the other nodes; the old leader restarts and catches
// up; every node then holds the same metadata"). Buckets are created through
// the native API and S3, round robin over the live nodes; each one is looked
// up at once through another node (a ReadIndex there, not a wait), and at the
// end every node lists the same buckets.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CreateBucketCommand, ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { startCluster, waitFor, type TestCluster, type TestNode } from '../helpers/cluster.js';

async function leaderOf(cluster: TestCluster, nodes: readonly TestNode[]): Promise<string> {
  let leader = '';
  await waitFor(
    async () => {
      const views = await Promise.all(
        nodes.map(async (n) => {
          try {
            return ((await (await cluster.fetch(`${n.http}/cluster/raft`)).json()) as { leader: string | null }).leader;
          } catch {
            return null;
          }
        }),
      );
      const l = views[0];
      if (l === null || l === undefined || !views.every((v) => v === l) || !nodes.some((n) => n.id === l)) return false;
      leader = l;
      return true;
    },
    { what: `one leader among ${nodes.map((n) => n.id).join(', ')}`, timeoutMs: 60_000 },
  );
  return leader;
}

/** Bucket names a node lists through the native API (local memory). */
async function nativeList(cluster: TestCluster, n: TestNode): Promise<string[]> {
  const res = await cluster.fetch(`${n.http}/buckets`);
  assert.equal(res.status, 200);
  return ((await res.json()) as { buckets: { name: string }[] }).buckets.map((b) => b.name);
}

/** Retries what the control plane may refuse while it has no leader (503); anything else fails the test. */
async function untilAvailable<T>(what: string, attempt: () => Promise<{ retry: true; why: string } | { retry: false; value: T }>): Promise<{ value: T; retries: number }> {
  const deadline = Date.now() + 90_000;
  let retries = 0;
  for (;;) {
    const r = await attempt();
    if (!r.retry) return { value: r.value, retries };
    retries++;
    if (Date.now() > deadline) assert.fail(`${what}: still unavailable after 90 s (${r.why})`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('bucket creation and listing through a 5-node cluster while its Raft leader is killed', () => {
  let cluster: TestCluster;
  const clients: S3Client[] = [];
  before(async () => {
    cluster = await startCluster({ nodes: 5 });
  });
  after(async () => {
    for (const c of clients) c.destroy();
    await cluster?.stop();
  });

  test('creation goes on through the other nodes, each bucket is found at once through another node, and every node ends with the same buckets', async () => {
    const s3 = (n: TestNode): S3Client => {
      const c = new S3Client({ endpoint: n.s3, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: cluster.accessKey, secretAccessKey: cluster.secretKey }, maxAttempts: 1 });
      clients.push(c);
      return c;
    };
    const oldLeader = await leaderOf(cluster, cluster.nodes);
    const created: string[] = [];
    let down: string | undefined;
    let retries = 0;

    const live = (): TestNode[] => cluster.nodes.filter((n) => n.id !== down);
    const createNative = async (through: TestNode, name: string): Promise<void> => {
      const r = await untilAvailable(`native create ${name} through ${through.id}`, async () => {
        let res: Response;
        try {
          res = await cluster.fetch(`${through.http}/buckets/${name}`, { method: 'PUT' });
        } catch (err) {
          return { retry: true, why: String(err) };
        }
        const body = (await res.json()) as { ok: boolean; created?: boolean; bucket?: { name: string }; error?: { code: string } };
        if (res.status === 503) return { retry: true, why: body.error?.code ?? '503' };
        assert.equal(res.status, 200, JSON.stringify(body));
        return { retry: false, value: body };
      });
      retries += r.retries;
      // A retry after an unknown outcome may find its own earlier creation: created false, same bucket.
      assert.equal(r.value.bucket?.name, name);
    };
    const createS3 = async (through: TestNode, name: string): Promise<void> => {
      const client = s3(through);
      const r = await untilAvailable(`S3 create ${name} through ${through.id}`, async () => {
        try {
          await client.send(new CreateBucketCommand({ Bucket: name }));
          return { retry: false, value: undefined };
        } catch (err) {
          const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
          if (e.$metadata?.httpStatusCode === 503 || e.$metadata?.httpStatusCode === undefined) return { retry: true, why: e.name ?? String(err) };
          throw err;
        }
      });
      retries += r.retries;
    };
    const foundThrough = async (n: TestNode, name: string): Promise<void> => {
      const r = await untilAvailable(`GET /buckets/${name} through ${n.id}`, async () => {
        let res: Response;
        try {
          res = await cluster.fetch(`${n.http}/buckets/${name}`);
        } catch (err) {
          return { retry: true, why: String(err) };
        }
        if (res.status === 503) return { retry: true, why: '503' };
        return { retry: false, value: res.status };
      });
      // Never a NoSuchBucket for a bucket whose creation was answered: the node confirms before it says so.
      assert.equal(r.value, 200, `bucket ${name} created elsewhere, looked up through ${n.id}`);
    };

    let i = 0;
    const round = async (): Promise<void> => {
      const nodes = live();
      const a = nodes[i % nodes.length] as TestNode;
      const b = nodes[(i + 1) % nodes.length] as TestNode;
      const nat = `nat-${i}`;
      const viaS3 = `s3b-${i}`;
      await Promise.all([createNative(a, nat), createS3(b, viaS3)]);
      created.push(nat, viaS3);
      await Promise.all([foundThrough(b, nat), foundThrough(a, viaS3)]);
      // Listing runs throughout too (local memory: it may trail, never fail).
      const listed = await nativeList(cluster, nodes[(i + 2) % nodes.length] as TestNode);
      assert.ok(Array.isArray(listed));
      i++;
    };

    for (let k = 0; k < 5; k++) await round();
    // kill -9 of the leader, while creation goes on through the others.
    const killing = cluster.kill(oldLeader, 'SIGKILL');
    down = oldLeader;
    await Promise.all([killing, (async () => {
      for (let k = 0; k < 3; k++) await round();
    })()]);
    const newLeader = await leaderOf(cluster, live());
    assert.notEqual(newLeader, oldLeader);
    for (let k = 0; k < 5; k++) await round();
    // The old leader restarts and catches up.
    await cluster.restart(oldLeader);
    down = undefined;
    for (let k = 0; k < 3; k++) await round();

    const expected = [...created].sort();
    let views: string[][] = [];
    await waitFor(
      async () => {
        views = await Promise.all(cluster.nodes.map((n) => nativeList(cluster, n)));
        return views.every((v) => JSON.stringify(v) === JSON.stringify(expected));
      },
      { what: 'every node lists every created bucket, and nothing else', timeoutMs: 60_000 },
    );
    // S3 lists them too, through each node, for the owner that made them.
    for (const n of cluster.nodes) {
      const out = await s3(n).send(new ListBucketsCommand({}));
      const mine = (out.Buckets ?? []).map((b) => b.Name ?? '');
      for (const name of created.filter((c) => c.startsWith('s3b-'))) assert.ok(mine.includes(name), `${n.id} lists ${name} over S3`);
    }
    process.stderr.write(`catalog-raft: ${created.length} buckets, ${retries} retries while the control plane had no leader\n`);
  });
});
