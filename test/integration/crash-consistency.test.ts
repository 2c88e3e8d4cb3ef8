// Crash consistency (issue 11, "What it must show"): a `kill -9` of the
// node serving a PUT, or a CompleteMultipartUpload, at varying moments
// leaves the object as it was or as it was being written, never a mix: a
// manifest is written only after every chunk it names, and one write of one
// key is one LMDB transaction on each replica. Real processes; the killed
// node is restarted and the object read through every node.

import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { startCluster, waitFor, type TestCluster } from '../helpers/cluster.js';

const MiB = 1024 * 1024;
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Bytes that differ everywhere from another fill's (so any mix of two shows). */
function fill(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size + 4);
  for (let i = 0; i < size; i += 4) b.writeUInt32LE((Math.imul(i + 1, 2654435761) ^ Math.imul(seed, 40503)) >>> 0, i);
  return b.subarray(0, size);
}

let cluster: TestCluster;
const clients: S3Client[] = [];

function client(i: number): S3Client {
  const c = new S3Client({
    endpoint: cluster.nodes[i]!.s3,
    region: 'us-east-1',
    forcePathStyle: true,
    maxAttempts: 1,
    credentials: { accessKeyId: cluster.accessKey, secretAccessKey: cluster.secretKey },
  });
  clients.push(c);
  return c;
}

before(async () => {
  cluster = await startCluster({ nodes: 3, logLevel: 'warn' });
  await client(0).send(new CreateBucketCommand({ Bucket: 'crash' }));
});

after(async () => {
  for (const c of clients) c.destroy();
  await cluster?.stop();
});

/** The object's bytes as every node serves them, once each answers (a restarted node may take a moment). */
async function readEverywhere(key: string): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < cluster.nodes.length; i++) {
    let got: string | undefined;
    await waitFor(
      async () => {
        const r = await client(i).send(new GetObjectCommand({ Bucket: 'crash', Key: key }));
        got = sha(await r.Body!.transformToByteArray());
        return true;
      },
      { what: `node ${i} serves crash/${key}`, timeoutMs: 60_000, intervalMs: 250 },
    );
    out.push(got!);
  }
  return out;
}

async function killAndRestart(id: string): Promise<void> {
  await cluster.kill(id, 'SIGKILL');
  await cluster.restart(id);
}

describe('kill -9 during a write leaves the old object or the new one, never a mix', () => {
  it('during a PUT (chunks, then the manifest)', { timeout: 600_000 }, async () => {
    const old = fill(9 * MiB + 123, 1);
    await client(1).send(new PutObjectCommand({ Bucket: 'crash', Key: 'put', Body: old }));
    const seen = new Set<string>();
    for (const [round, delayMs] of [5, 40, 120, 300, 700].entries()) {
      const current = (await readEverywhere('put'))[0]!;
      const next = fill(9 * MiB + 123, 100 + round);
      const target = round % 3;
      const put = client(target)
        .send(new PutObjectCommand({ Bucket: 'crash', Key: 'put', Body: next }))
        .then(
          () => 'ok',
          () => 'failed',
        );
      await new Promise((r) => setTimeout(r, delayMs));
      await killAndRestart(cluster.nodes[target]!.id);
      const outcome = await put;
      const after = await readEverywhere('put');
      for (const h of after) {
        assert.ok(h === current || h === sha(next), `round ${round} (kill after ${delayMs} ms, PUT ${outcome}): a node serves neither the old nor the new object`);
        seen.add(h === current ? 'old' : 'new');
      }
      if (outcome === 'ok') for (const h of after) assert.equal(h, sha(next), `round ${round}: an acknowledged PUT is what every node serves`);
    }
    process.stdout.write(`# PUT rounds ended with: ${[...seen].join(', ')}\n`);
  });

  it('during CompleteMultipartUpload', { timeout: 600_000 }, async () => {
    const old = fill(6 * MiB, 7);
    await client(0).send(new PutObjectCommand({ Bucket: 'crash', Key: 'mpu', Body: old }));
    const seen = new Set<string>();
    for (const [round, delayMs] of [0, 5, 20, 80, 250].entries()) {
      const current = (await readEverywhere('mpu'))[0]!;
      const target = (round + 1) % 3;
      const c = client(target);
      const parts = [fill(5 * MiB, 200 + round), fill(2 * MiB + 17, 300 + round)];
      const { UploadId } = await c.send(new CreateMultipartUploadCommand({ Bucket: 'crash', Key: 'mpu' }));
      const etags: string[] = [];
      for (const [i, body] of parts.entries()) etags.push((await c.send(new UploadPartCommand({ Bucket: 'crash', Key: 'mpu', UploadId, PartNumber: i + 1, Body: body }))).ETag!);
      const complete = c
        .send(new CompleteMultipartUploadCommand({ Bucket: 'crash', Key: 'mpu', UploadId, MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) } }))
        .then(
          () => 'ok',
          () => 'failed',
        );
      await new Promise((r) => setTimeout(r, delayMs));
      await killAndRestart(cluster.nodes[target]!.id);
      const outcome = await complete;
      const whole = sha(Buffer.concat(parts));
      const after = await readEverywhere('mpu');
      for (const h of after) {
        assert.ok(h === current || h === whole, `round ${round} (kill after ${delayMs} ms, Complete ${outcome}): a node serves neither the old nor the new object`);
        seen.add(h === current ? 'old' : 'new');
      }
      if (outcome === 'ok') for (const h of after) assert.equal(h, whole, `round ${round}: an acknowledged Complete is what every node serves`);
    }
    process.stdout.write(`# CompleteMultipartUpload rounds ended with: ${[...seen].join(', ')}\n`);
  });
});
