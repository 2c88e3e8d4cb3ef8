import { test } from 'node:test';
import assert from 'node:assert/strict';
import { replicaDeadlineMs, requestValueBytes } from '../../src/coordinator/deadline.js';
import { DEFAULT_COORDINATOR_CONFIG } from '../../src/coordinator/deps.js';
import type { Request } from '../../src/transport/messages.js';

const MiB = 1024 * 1024;
const origin = (bytes: number | null): Request => ({
  type: 'putOrigin',
  bucket: 'b',
  key: 'k',
  value: bytes === null ? null : new Uint8Array(bytes),
  meta: { contentType: 'application/octet-stream' } as never,
  context: null,
  supersedeLocal: false,
  hintFor: null,
});

test('a request without values keeps the base deadline, a big one gets time for its bytes at the floor rate', () => {
  const cfg = { ...DEFAULT_COORDINATOR_CONFIG, replicaTimeoutMs: 3000, replicaFloorBytesPerSec: 2 * MiB };
  assert.equal(replicaDeadlineMs(cfg, { type: 'get', bucket: 'b', key: 'k' } as Request), 3000);
  assert.equal(replicaDeadlineMs(cfg, origin(null)), 3000);
  assert.equal(replicaDeadlineMs(cfg, origin(4096)), 3001);
  assert.equal(replicaDeadlineMs(cfg, origin(4 * MiB)), 5000);
});

test('a replica write counts every sibling it ships', () => {
  const set = { siblings: [{ value: new Uint8Array(MiB) }, { value: null }, { value: new Uint8Array(MiB) }] };
  const req = { type: 'putReplica', bucket: 'b', key: 'k', set, hintFor: null, asOf: 0 } as unknown as Request;
  assert.equal(requestValueBytes(req), 2 * MiB);
  assert.equal(replicaDeadlineMs({ ...DEFAULT_COORDINATOR_CONFIG, replicaTimeoutMs: 100, replicaFloorBytesPerSec: MiB }, req), 2100);
});
