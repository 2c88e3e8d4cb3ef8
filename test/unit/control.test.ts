// The control state machine: deterministic application of commands, exactly
// one owner per bucket name, ids never reused, and snapshot/restore as bytes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ControlState, encodeCommand, type Command } from '../../src/control/index.js';

const enc = new TextEncoder();
let at = 1_700_000_000_000;

function apply(s: ControlState, index: number, cmd: Command, id = `r${index}`) {
  return s.applyEntry(index, encodeCommand({ id, at: at++, cmd }));
}

const node = (id: string, zone = 'z1') => ({ id, addresses: { rpc: `${id}:7000` }, zone, capacity: 1000, role: 'storage' as const });

test('the first creation of a bucket name in log order wins; a later one is refused with the owner', () => {
  const s = new ControlState();
  const a = apply(s, 5, { type: 'createBucket', name: 'photos', owner: 'alice' });
  const b = apply(s, 6, { type: 'createBucket', name: 'photos', owner: 'bob' });
  assert.equal(a?.requestId, 'r5');
  assert.deepEqual(a?.result, { ok: true, bucket: { name: 'photos', id: 5, owner: 'alice', quorum: null, createdAt: at - 2 } });
  assert.equal(b?.result.ok, false);
  assert.ok(b !== undefined && !b.result.ok && b.result.code === 'BucketAlreadyExists' && b.result.bucket?.owner === 'alice');
  assert.equal(s.bucket('photos')?.owner, 'alice');
});

test('a bucket deleted and created again gets a new id, so old objects stored under the old id stay hidden', () => {
  const s = new ControlState();
  apply(s, 3, { type: 'createBucket', name: 'b', owner: 'alice' });
  assert.equal(apply(s, 4, { type: 'deleteBucket', name: 'b' })?.result.ok, true);
  apply(s, 9, { type: 'createBucket', name: 'b', owner: 'bob' });
  assert.deepEqual([s.bucket('b')?.id, s.bucket('b')?.owner], [9, 'bob']);
  const again = apply(s, 10, { type: 'deleteBucket', name: 'nope' });
  assert.ok(again !== undefined && !again.result.ok && again.result.code === 'NoSuchBucket');
});

test('access keys belong to existing users, and a key id is never moved to another user', () => {
  const s = new ControlState();
  const orphan = apply(s, 2, { type: 'putAccessKey', accessKeyId: 'AK1', secret: 'x', user: 'alice' });
  assert.ok(orphan !== undefined && !orphan.result.ok && orphan.result.code === 'NoSuchUser');
  apply(s, 3, { type: 'putUser', user: 'alice' });
  apply(s, 4, { type: 'putUser', user: 'bob', displayName: 'Bob' });
  assert.equal(apply(s, 5, { type: 'putAccessKey', accessKeyId: 'AK1', secret: 'x', user: 'alice' })?.result.ok, true);
  const stolen = apply(s, 6, { type: 'putAccessKey', accessKeyId: 'AK1', secret: 'y', user: 'bob' });
  assert.ok(stolen !== undefined && !stolen.result.ok && stolen.result.code === 'AccessKeyInUse');
  assert.equal(s.accessKey('AK1')?.secret, 'x');
  assert.equal(apply(s, 7, { type: 'deleteAccessKey', accessKeyId: 'AK1' })?.result.ok, true);
  assert.equal(s.accessKey('AK1'), undefined);
});

test('admin tokens are kept as hashes and can be revoked', () => {
  const s = new ControlState();
  apply(s, 2, { type: 'putAdminToken', tokenId: 't1', tokenHash: 'h1' });
  assert.ok(s.adminTokenHashKnown('h1'));
  assert.equal(apply(s, 3, { type: 'revokeAdminToken', tokenId: 't1' })?.result.ok, true);
  assert.ok(!s.adminTokenHashKnown('h1'));
  const twice = apply(s, 4, { type: 'revokeAdminToken', tokenId: 't1' });
  assert.ok(twice !== undefined && !twice.result.ok && twice.result.code === 'NoSuchAdminToken');
});

test('every layout change bumps the layout version; nodes stay sorted by id', () => {
  const s = new ControlState();
  apply(s, 2, { type: 'addNode', node: node('n2') });
  apply(s, 3, { type: 'addNode', node: node('n1', 'z2') });
  const dup = apply(s, 4, { type: 'addNode', node: node('n1') });
  assert.ok(dup !== undefined && !dup.result.ok && dup.result.code === 'NodeExists');
  apply(s, 5, { type: 'updateNode', node: { ...node('n2'), role: 'gateway', capacity: 0 } });
  apply(s, 6, { type: 'setAssignment', assignment: { partitions: 64 } });
  apply(s, 7, { type: 'removeNode', id: 'n1' });
  const l = s.layout();
  assert.equal(l.version, 5);
  assert.deepEqual(
    l.nodes.map((n) => [n.id, n.role]),
    [['n2', 'gateway']],
  );
  assert.deepEqual(l.assignment, { partitions: 64 });
});

test('malformed or unknown-version entries are refused identically on every replica, and never crash', () => {
  const s = new ControlState();
  const junk = s.applyEntry(2, enc.encode('not json'));
  assert.ok(junk !== undefined && !junk.result.ok && junk.result.code === 'InvalidCommand');
  const future = s.applyEntry(3, enc.encode(JSON.stringify({ v: 2, id: 'x', at: 1, cmd: { type: 'putUser', user: 'a' } })));
  assert.ok(future !== undefined && !future.result.ok && future.result.code === 'UnsupportedVersion');
  const bad = s.applyEntry(4, enc.encode(JSON.stringify({ v: 1, id: 'y', at: 1, cmd: { type: 'createBucket', name: '', owner: 'a' } })));
  assert.ok(bad !== undefined && !bad.result.ok && bad.result.code === 'InvalidCommand' && bad.result.message.includes('name'));
  assert.equal(s.applied, 4);
});

test('the same entries give the same state, byte for byte; a snapshot restores to the same bytes; replayed entries are ignored', () => {
  const cmds: Command[] = [
    { type: 'putUser', user: 'zed' },
    { type: 'putUser', user: 'amy' },
    { type: 'createBucket', name: 'z', owner: 'zed', quorum: { n: 3, r: 2, w: 2 } },
    { type: 'createBucket', name: 'a', owner: 'amy' },
    { type: 'putAccessKey', accessKeyId: 'K2', secret: 's', user: 'amy' },
    { type: 'addNode', node: node('n1') },
  ];
  const data = cmds.map((cmd, i) => encodeCommand({ id: `q${i}`, at: 1000 + i, cmd }));
  const one = new ControlState();
  const two = new ControlState();
  data.forEach((d, i) => one.applyEntry(i + 2, d));
  data.forEach((d, i) => two.applyEntry(i + 2, d));
  assert.deepEqual(one.snapshot(), two.snapshot());
  const restored = ControlState.restore(one.snapshot());
  assert.deepEqual(restored.snapshot(), one.snapshot());
  assert.equal(restored.applied, 7);
  assert.equal(restored.applyEntry(5, data[3] as Uint8Array), undefined, 'an entry at or below the applied index is a replay');
  assert.deepEqual(restored.listBuckets().map((b) => b.name), ['a', 'z']);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(one.snapshot())).version, 1);
  assert.throws(() => ControlState.restore(enc.encode(JSON.stringify({ format: 'ringstore-control', version: 9 }))), /version 9/);
});
