// Raft messages on the wire (raft/wire.ts): every message type survives the
// round trip byte for byte, and what a node must not act on is refused with
// a message that says what to do: another wire version, another entry
// format, a malformed field, a sender speaking for someone else.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { entry, type Message } from '../../src/raft/messages.js';
import { decodeRaftMessage, encodeRaftMessage, fromBase64, RAFT_WIRE_VERSION, RaftWireError, toBase64 } from '../../src/raft/wire.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

const MESSAGES: Message[] = [
  { type: 'app', from: 'n1', to: 'n2', term: 3, index: 7, logTerm: 2, commit: 6, entries: [entry(3, 8, bytes('{"v":1}')), entry(3, 9, new Uint8Array([0, 255, 1]), 'conf'), entry(3, 10)] },
  { type: 'appResp', from: 'n1', to: 'n2', term: 3, index: 9, reject: true, hintIndex: 4, hintTerm: 2 },
  { type: 'vote', from: 'n1', to: 'n2', term: 4, index: 9, logTerm: 3, transfer: false },
  { type: 'preVote', from: 'n1', to: 'n2', term: 5, index: 9, logTerm: 3, transfer: true },
  { type: 'voteResp', from: 'n1', to: 'n2', term: 4, reject: false },
  { type: 'preVoteResp', from: 'n1', to: 'n2', term: 5, reject: true },
  { type: 'heartbeat', from: 'n1', to: 'n2', term: 3, commit: 9, ctx: 'n2.abc.r7' },
  { type: 'heartbeatResp', from: 'n1', to: 'n2', term: 3, ctx: '' },
  { type: 'snap', from: 'n1', to: 'n2', term: 3, snapshot: { meta: { index: 40, term: 3, conf: { voters: ['n1', 'n2'], learners: ['n3'] } }, data: bytes('{"format":"ringstore-control"}') } },
  { type: 'timeoutNow', from: 'n1', to: 'n2', term: 3 },
  { type: 'prop', from: 'n1', to: 'n2', term: 0, entries: [{ kind: 'normal', data: bytes('x') }] },
  { type: 'readIndex', from: 'n1', to: 'n2', term: 0, ctx: 'n1.x.r1' },
  { type: 'readIndexResp', from: 'n1', to: 'n2', term: 3, ctx: 'n1.x.r1', index: 41 },
];

test('every Raft message type survives encoding and decoding unchanged', () => {
  for (const m of MESSAGES) assert.deepEqual(decodeRaftMessage(RAFT_WIRE_VERSION, encodeRaftMessage(m), m.from), m, m.type);
});

test('base64 round-trips every length and byte value', () => {
  for (let n = 0; n < 70; n++) {
    const b = Uint8Array.from({ length: n }, (_, i) => (i * 97 + n) & 255);
    assert.equal(toBase64(b), Buffer.from(b).toString('base64'));
    assert.deepEqual(fromBase64(toBase64(b)), b);
  }
  assert.throws(() => fromBase64('abc'), RaftWireError);
  assert.throws(() => fromBase64('ab!d'), RaftWireError);
});

test('a message of another wire version is refused with what to do', () => {
  const m = MESSAGES[0] as Message;
  assert.throws(() => decodeRaftMessage(RAFT_WIRE_VERSION + 1, encodeRaftMessage(m), 'n1'), /raft wire version 2 from n1, this node speaks 1: run the same ringstore version/);
});

test('an entry of an unknown format version is refused (upgrade this node)', () => {
  const m: Message = { type: 'app', from: 'n1', to: 'n2', term: 3, index: 7, logTerm: 2, commit: 6, entries: [{ ...entry(3, 8), v: 9 }] };
  assert.throws(() => decodeRaftMessage(RAFT_WIRE_VERSION, encodeRaftMessage(m), 'n1'), /format 9.*upgrade this node/);
});

test('malformed messages are refused, never passed on', () => {
  const bad: unknown[] = [
    'not json',
    [],
    { type: 'app', from: 'n1', to: 'n2', term: -1, index: 0, logTerm: 0, commit: 0, entries: [] },
    { type: 'app', from: 'n1', to: 'n2', term: 1, index: 0, logTerm: 0, commit: 0, entries: 'x' },
    { type: 'vote', from: 'n1', to: 'n2', term: 1, index: 0, logTerm: 0 },
    { type: 'snap', from: 'n1', to: 'n2', term: 1, snapshot: { meta: { index: 1, term: 1, conf: { voters: [''], learners: [] } }, data: '' } },
    { type: 'bogus', from: 'n1', to: 'n2', term: 1 },
    { type: 'timeoutNow', from: '', to: 'n2', term: 1 },
  ];
  for (const b of bad) {
    const data = typeof b === 'string' ? bytes(b) : bytes(JSON.stringify(b));
    assert.throws(() => decodeRaftMessage(RAFT_WIRE_VERSION, data, 'n1'), RaftWireError, JSON.stringify(b));
  }
});

test('a message whose sender is not the connection\'s peer is refused (one node cannot speak for another)', () => {
  assert.throws(() => decodeRaftMessage(RAFT_WIRE_VERSION, encodeRaftMessage(MESSAGES[4] as Message), 'n3'), /sent by "n3"/);
});
