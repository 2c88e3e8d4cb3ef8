// The public gRPC file API from another language: a real 3-node cluster,
// stubs generated from proto/files/v1/files.proto at test time with Debian's
// python3-grpc-tools, and a Python client (test/fixtures/files_grpc_client.py)
// that implements the signature scheme of docs/grpc-files.md. Also the
// TypeScript client (src/files/client.ts) against the same cluster.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { FilesClient } from '../../src/files/client.js';

const PYTHON = '/usr/bin/python3';
const REPO = fileURLToPath(new URL('../../../', import.meta.url));

/** Why the Python side cannot run here, or undefined when it can. */
function pythonMissing(): string | undefined {
  try {
    execFileSync(PYTHON, ['-c', 'import grpc, grpc_tools.protoc'], { stdio: 'pipe' });
    return undefined;
  } catch {
    return `${PYTHON} with grpc and grpc_tools is not installed (Debian packages python3-grpcio, python3-grpc-tools)`;
  }
}

function filesAddress(cluster: TestCluster, i: number): string {
  const c = JSON.parse(readFileSync(path.join(cluster.dir, 'cluster.json'), 'utf8')) as { nodes: { files_grpc: string }[] };
  return c.nodes[i]!.files_grpc;
}

describe('the gRPC file API on a real 3-node cluster', () => {
  let cluster: TestCluster;
  let work: string;
  before(async () => {
    cluster = await startCluster({ nodes: 3 });
    work = mkdtempSync(path.join(os.tmpdir(), 'ringstore-files-grpc-'));
  });
  after(async () => {
    await cluster?.stop();
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  test('a Python client (stubs from the .proto, auth from the docs) uploads 50 MiB, lists, searches, downloads, updates and deletes; unauthenticated calls are refused', async () => {
    // .ci/run installs them: a missing client is a failure, not a skip.
    const missing = pythonMissing();
    assert.equal(missing, undefined, missing);
    const stubs = path.join(work, 'stubs');
    execFileSync('mkdir', ['-p', stubs]);
    execFileSync(PYTHON, ['-m', 'grpc_tools.protoc', `-I${path.join(REPO, 'proto')}`, `--python_out=${stubs}`, `--grpc_python_out=${stubs}`, 'files/v1/files.proto'], { stdio: 'pipe' });
    const pyWork = path.join(work, 'py');
    execFileSync('mkdir', ['-p', pyWork]);
    const script = path.join(REPO, 'test', 'fixtures', 'files_grpc_client.py');
    const { code, out } = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
      const child = spawn(PYTHON, [script, stubs, filesAddress(cluster, 1), cluster.accessKey, cluster.secretKey, pyWork], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
      child.on('error', reject);
      child.on('close', (c) => {
        clearTimeout(timer);
        resolve({ code: c, out });
      });
    });
    assert.equal(code, 0, out);
    assert.match(out, /ALL CHECKS PASSED/);
    for (const step of ['a call without credentials is refused', 'uploaded 50 MiB', 'Search \'\\*\\.bin\' finds it', 'the downloaded file is byte for byte', 'Update replaces the file', 'Delete deletes it']) assert.match(out, new RegExp(`ok: ${step}`));
  });

  test('the TypeScript client streams a file up and down, stats it on every replica, and is refused with a wrong secret', async () => {
    const files = new FilesClient({ address: filesAddress(cluster, 0), accessKey: cluster.accessKey, secretKey: cluster.secretKey });
    const bad = new FilesClient({ address: filesAddress(cluster, 0), accessKey: cluster.accessKey, secretKey: 'wrong' });
    try {
      await assert.rejects(bad.list(), (e: { code?: number; details?: string }) => e.code === 16 && /SignatureDoesNotMatch/.test(e.details ?? ''));
      const data = randomBytes(9 * 1024 * 1024 + 5);
      const pieces = function* (): Generator<Buffer> {
        for (let o = 0; o < data.length; o += 3_000_000) yield data.subarray(o, o + 3_000_000);
      };
      const up = await files.upload('tsfiles', 'a/b.bin', pieces());
      assert.equal(up.file.size, data.length);
      const stat = await files.stat('tsfiles', 'a/b.bin');
      assert.equal(stat.placement.preference_list.length, 3);
      assert.equal(stat.replica_clocks.length, 3, 'Stat reads every replica');
      assert.ok(stat.replica_clocks.every((c) => !c.holds_nothing && c.clock.length === 1));
      const { info, data: stream } = await files.download('tsfiles', 'a/b.bin');
      assert.equal(info.size, data.length);
      const got: Buffer[] = [];
      for await (const p of stream) got.push(p);
      assert.equal(createHash('sha256').update(Buffer.concat(got)).digest('hex'), createHash('sha256').update(data).digest('hex'));
      const part = await files.download('tsfiles', 'a/b.bin', { offset: data.length - 10, length: 100 });
      const tail: Buffer[] = [];
      for await (const p of part.data) tail.push(p);
      assert.deepEqual(Buffer.concat(tail), data.subarray(data.length - 10));
      assert.deepEqual((await files.search('b.bin')).files.map((f) => `${f.bucket}/${f.key}`), ['tsfiles/a/b.bin']);
      assert.deepEqual(await files.delete('tsfiles', 'a/b.bin'), { deleted: true });
      await assert.rejects(files.stat('tsfiles', 'a/b.bin'), (e: { code?: number }) => e.code === 5);
    } finally {
      files.close();
      bad.close();
    }
  });
});
