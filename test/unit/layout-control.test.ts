// The layout commands through the control state machine (src/control/
// layout-commands.ts): the same entries give the same history on every
// replica, refusals are coded, malformed commands are refused at decode, and
// snapshots carry the history (and keep their old bytes when it is unused).

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { ControlState, encodeCommand, type Command } from '../../src/control/index.js';
import { planLayout } from '../../src/layout/plan.js';
import { readVersion } from '../../src/layout/history.js';

const enc = new TextEncoder();

function run(s: ControlState, cmds: Command[]): ReturnType<ControlState['applyEntry']>[] {
  return cmds.map((cmd) => s.applyEntry(s.applied + 1, encodeCommand({ id: `r${s.applied}`, at: 1000, cmd })));
}

const member = (id: string) => ({ id, zone: `z-${id}`, capacity: 1000, role: 'storage' as const, addresses: { rpc: `127.0.0.1:70${id.charCodeAt(0) % 10}0` } });

test('stage, apply --version N and progress reports through the control state; apply with a wrong version is refused', () => {
  const s = new ControlState();
  run(s, ['a', 'b', 'c'].map((id) => ({ type: 'layoutStage', change: { op: 'assign', member: member(id) } })));
  assert.equal(s.layoutHistory().staged.length, 3);
  const plan = planLayout(s.layoutHistory());
  const [wrong] = run(s, [{ type: 'layoutApply', version: 2, stagingSeq: plan.stagingSeq, assignment: plan.assignment }]);
  assert.ok(wrong !== undefined && !wrong.result.ok && wrong.result.code === 'LayoutVersionMismatch');
  const [right] = run(s, [{ type: 'layoutApply', version: 1, stagingSeq: plan.stagingSeq, assignment: plan.assignment }]);
  assert.ok(right !== undefined && right.result.ok && right.result.layoutVersion === 1);
  assert.equal(s.layoutHistory().versions.length, 1);

  run(s, [{ type: 'layoutStage', change: { op: 'assign', member: member('d') } }]);
  const plan2 = planLayout(s.layoutHistory());
  run(s, [{ type: 'layoutApply', version: 2, stagingSeq: plan2.stagingSeq, assignment: plan2.assignment }]);
  for (const node of ['a', 'b', 'c', 'd']) run(s, [{ type: 'layoutProgress', node, seen: 2 }]);
  for (const node of ['a', 'b', 'c', 'd']) run(s, [{ type: 'layoutProgress', node, synced: 2 }]);
  assert.equal(readVersion(s.layoutHistory()), 2);
  for (const node of ['a', 'b', 'c', 'd']) run(s, [{ type: 'layoutProgress', node, readSeen: 2 }]);
  assert.deepEqual(s.layoutHistory().versions.map((v) => v.version), [2]);
  const [stranger] = run(s, [{ type: 'layoutProgress', node: 'zz', seen: 2 }]);
  assert.ok(stranger !== undefined && !stranger.result.ok && stranger.result.code === 'NoSuchNode');
  run(s, [{ type: 'layoutStage', change: { op: 'remove', id: 'a' } }]);
  assert.equal(s.layoutHistory().staged.length, 1);
  run(s, [{ type: 'layoutRevert' }]);
  assert.equal(s.layoutHistory().staged.length, 0);
});

test('malformed layout commands are refused at decode with a message naming the field, identically everywhere', () => {
  const s = new ControlState();
  const bad = (cmd: unknown) => s.applyEntry(s.applied + 1, enc.encode(JSON.stringify({ v: 1, id: 'x', at: 1, cmd })));
  const cases: [unknown, string][] = [
    [{ type: 'layoutStage', change: { op: 'grow', id: 'a' } }, 'change.op'],
    [{ type: 'layoutStage', change: { op: 'assign', member: { id: 'a', zone: 'z', capacity: -1, role: 'storage' } } }, 'member.capacity'],
    [{ type: 'layoutStage', change: { op: 'assign', member: { id: 'g', zone: 'z', capacity: 5, role: 'gateway' } } }, 'gateway'],
    [{ type: 'layoutApply', version: 0, stagingSeq: 0, assignment: {} }, 'version'],
    [{ type: 'layoutProgress', node: 'a', seen: 1.5 }, 'seen'],
    [{ type: 'layoutSkipDead' }, 'node'],
  ];
  for (const [cmd, field] of cases) {
    const r = bad(cmd);
    assert.ok(r !== undefined && !r.result.ok && r.result.code === 'InvalidCommand' && r.result.message.includes(field), `${JSON.stringify(cmd)}: ${JSON.stringify(r?.result)}`);
  }
  const malformedAssignment = bad({ type: 'layoutApply', version: 1, stagingSeq: 0, assignment: { partitions: 3 } });
  assert.ok(malformedAssignment !== undefined && !malformedAssignment.result.ok && malformedAssignment.result.code === 'InvalidLayout');
});

test('a snapshot carries the layout history and restores to the same bytes; a state that never used it keeps its old snapshot bytes', () => {
  const plain = new ControlState();
  run(plain, [{ type: 'putUser', user: 'amy' }]);
  assert.ok(!new TextDecoder().decode(plain.snapshot()).includes('layoutHistory'));
  const s = new ControlState();
  run(s, ['a', 'b', 'c'].map((id) => ({ type: 'layoutStage', change: { op: 'assign', member: member(id) } })));
  const plan = planLayout(s.layoutHistory());
  run(s, [{ type: 'layoutApply', version: 1, stagingSeq: plan.stagingSeq, assignment: plan.assignment }]);
  const restored = ControlState.restore(s.snapshot());
  assert.deepEqual(restored.layoutHistory(), s.layoutHistory());
  assert.deepEqual(restored.snapshot(), s.snapshot());
  const twin = new ControlState();
  run(twin, ['a', 'b', 'c'].map((id) => ({ type: 'layoutStage', change: { op: 'assign', member: member(id) } })));
  run(twin, [{ type: 'layoutApply', version: 1, stagingSeq: plan.stagingSeq, assignment: planLayout(twin.layoutHistory()).assignment }]);
  assert.deepEqual(twin.snapshot(), s.snapshot(), 'the same entries give the same bytes');
});
