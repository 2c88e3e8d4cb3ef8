// LmdbStore durability under kill -9, and write throughput.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

import { openLmdbStore } from '../../src/store/lmdb-store.js';
import { CRASH_BUCKET, crashSet } from '../fixtures/store-crash-writer.js';
import type { SiblingSet } from '../../src/version/dvv.js';

const here = dirname(fileURLToPath(import.meta.url));
const writerScript = join(here, '..', 'fixtures', 'store-crash-writer.js');

/** Kill once this many keys were acknowledged AND acks have been flowing for this long. */
const MIN_ACKS = 2000;
const MIN_ACK_SPAN_MS = 1500;
const TIMEOUT_MS = 60_000;

function plain(s: SiblingSet | undefined): unknown {
  return s?.siblings.map((x) => ({ ...x, value: x.value === null ? null : [...x.value] }));
}

test('every acknowledged LmdbStore update survives kill -9', { timeout: TIMEOUT_MS + 30_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ringstore-crash-'));
  try {
    const child = spawn(process.execPath, [writerScript, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    const acked: number[] = [];
    let maxCounter = 0;
    let stderr = '';
    let partial = '';
    let firstAckAt = 0;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));

    let killedAt = 0;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timeout: ${acked.length} acks; stderr: ${stderr}`)), TIMEOUT_MS);
      void exited.then(({ code, signal }) => {
        if (killedAt === 0) {
          clearTimeout(timer);
          reject(new Error(`writer exited early (code ${code}, signal ${signal}): ${stderr}`));
        }
      });
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        if (killedAt !== 0) return; // only lines read before the kill count
        const lines = (partial + d).split('\n');
        partial = lines.pop()!; // an incomplete last line is not an ack
        for (const line of lines) {
          const [kind, n] = line.split(' ');
          if (kind === 'k') acked.push(Number(n));
          else if (kind === 'c') maxCounter = Math.max(maxCounter, Number(n));
        }
        if (firstAckAt === 0 && acked.length > 0) firstAckAt = Date.now();
        if (acked.length >= MIN_ACKS && firstAckAt !== 0 && Date.now() - firstAckAt >= MIN_ACK_SPAN_MS) {
          killedAt = Date.now();
          child.kill('SIGKILL');
          clearTimeout(timer);
          resolve();
        }
      });
    });
    const { signal } = await exited;
    assert.equal(signal, 'SIGKILL');
    const span = (killedAt - firstAckAt) / 1000;
    console.log(`crash test: ${acked.length} acked updates in ${span.toFixed(2)}s before kill -9 (${(acked.length / span).toFixed(0)}/s), counter acked up to ${maxCounter}`);

    const store = await openLmdbStore(dir);
    try {
      for (const i of acked) {
        const got = store.read(CRASH_BUCKET, `k/${i}`);
        assert.ok(got !== undefined, `acknowledged key k/${i} lost`);
        assert.deepEqual(plain(got), plain(crashSet(i)), `acknowledged key k/${i} has the wrong value`);
      }
      const counter = store.read(CRASH_BUCKET, 'counter')?.siblings[0]?.meta.ts ?? 0;
      assert.ok(counter >= maxCounter, `counter ${counter} < acknowledged ${maxCounter}`);

      // The store is internally consistent after the crash: index and data agree.
      const listed = [...store.scanBucket(CRASH_BUCKET, {})];
      let inPartitions = 0;
      for (let p = 0; p < 16; p++) {
        for (const e of store.scanPartition(p)) {
          assert.equal(e.key, `k/${Number(e.key.slice(2))}`);
          assert.equal(Number(e.key.slice(2)) % 16, p);
          inPartitions++;
        }
      }
      inPartitions += [...store.scanPartition(99)].length;
      assert.equal(listed.length, inPartitions);
      assert.ok(listed.length >= acked.length + (maxCounter > 0 ? 1 : 0));
      // And writable.
      await store.update(0, CRASH_BUCKET, 'after-crash', () => crashSet(1));
    } finally {
      await store.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('throughput: 4 KiB updates, 64 in flight', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ringstore-bench-'));
  const store = await openLmdbStore(dir);
  try {
    const value = new Uint8Array(4096).map((_, i) => i & 0xff);
    const total = 20_000;
    const inFlight = 64;
    let next = 0;
    const latencies: number[] = [];
    const t0 = performance.now();
    const worker = async (): Promise<void> => {
      while (next < total) {
        const i = next++;
        const s = performance.now();
        await store.update(i % 64, 'bench', `obj/${i}`, () => ({
          siblings: [{ dot: { node: 'n1', counter: i + 1 }, past: { n2: 3 }, value, meta: { ts: i } }],
        }));
        latencies.push(performance.now() - s);
      }
    };
    await Promise.all(Array.from({ length: inFlight }, worker));
    const secs = (performance.now() - t0) / 1000;
    latencies.sort((a, b) => a - b);
    const rate = total / secs;
    const pct = (q: number): string => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))]!.toFixed(1);
    console.log(`throughput: ${total} x 4 KiB updates, ${inFlight} in flight, fsync per batch: ${rate.toFixed(0)} writes/s (p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms)`);
    assert.equal(store.read('bench', `obj/${total - 1}`)?.siblings[0]?.value?.length, 4096);
    // Target is ~3000+/s per node; the floor here only catches a collapse of
    // batching (one fsync per write), not a slow CI disk.
    assert.ok(rate > 500, `write throughput collapsed: ${rate.toFixed(0)}/s`);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
