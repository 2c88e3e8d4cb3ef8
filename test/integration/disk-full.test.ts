// A full disk (issue 11 §5): a node whose data folder is on a small tmpfs
// answers writes it cannot store with 507 InsufficientStorage, stays up, and
// keeps serving reads. Mounting the tmpfs needs root (CI runs as root); the
// test says so and skips otherwise.

import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startCluster, type TestCluster } from '../helpers/cluster.js';

let mountDir: string | undefined;
let cluster: TestCluster | undefined;

function mountTmpfs(): string | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ringstore-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', dir], { stdio: 'ignore' });
    return dir;
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
}

before(async () => {
  mountDir = mountTmpfs();
  if (mountDir === undefined) return;
  const data = path.join(mountDir, 'n1');
  mkdirSync(data);
  cluster = await startCluster({ nodes: 1, quorum: { n: 1, r: 1, w: 1 }, nodeSettings: { data }, logLevel: 'warn' });
});

after(async () => {
  await cluster?.stop();
  if (mountDir !== undefined) {
    try {
      execFileSync('umount', [mountDir], { stdio: 'ignore' });
    } catch {
      execFileSync('umount', ['-l', mountDir], { stdio: 'ignore' });
    }
    rmSync(mountDir, { recursive: true, force: true });
  }
});

describe('a full disk', () => {
  it('answers writes with 507 InsufficientStorage, keeps the node up and keeps serving reads', async (t) => {
    if (cluster === undefined) return t.skip('needs root to mount a small tmpfs');
    const c = cluster;
    const node = c.nodes[0]!;
    assert.equal((await c.fetch(`${node.http}/buckets/full`, { method: 'PUT' })).status, 200);
    assert.equal((await c.fetch(`${node.http}/buckets/full/first`, { method: 'PUT', body: 'kept' })).status, 200);
    const blob = 'x'.repeat(256 * 1024);
    let refused: Response | undefined;
    for (let i = 0; i < 200 && refused === undefined; i++) {
      const r = await c.fetch(`${node.http}/buckets/full/k${i}`, { method: 'PUT', body: blob });
      if (r.status !== 200) refused = r;
      else await r.arrayBuffer();
    }
    assert.ok(refused !== undefined, 'the disk filled up');
    const body = (await refused.json()) as { error: { code: string; message: string } };
    assert.equal(refused.status, 507, JSON.stringify(body));
    assert.equal(body.error.code, 'InsufficientStorage');
    const read = await c.fetch(`${node.http}/buckets/full/first`);
    assert.equal(read.status, 200);
    assert.equal(await read.text(), 'kept');
    assert.equal((await c.fetch(`${node.http}/health`)).status, 200);
    assert.ok(c.nodes[0]!.pid > 0, 'the node process is still running');
    process.kill(c.nodes[0]!.pid, 0);
  });
});
