// The Raft log on a real LMDB folder: what a Ready persisted is what a
// restarted node reads back (Raft Figure 2: currentTerm, votedFor and log[]
// are "updated on stable storage before responding to RPCs").

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLmdbRaftStorage, RaftLogFormatError } from '../../src/node/raft-log-lmdb.js';
import { entry, RawNode, MemoryStorage } from '../../src/raft/index.js';
import { open } from 'lmdb';
import { SeededRandom } from '../../src/util/runtime.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'raft-lmdb-'));
}

test('a restarted raft log reads back the term, vote, entries and snapshot it persisted', async () => {
  const dir = tempDir();
  try {
    const s = await openLmdbRaftStorage(dir);
    assert.ok(s.isEmpty());
    await s.bootstrap({ voters: ['a', 'b', 'c'], learners: [] });
    await s.save({ hardState: { term: 3, vote: 'b', commit: 2 }, entries: [entry(2, 2, enc.encode('x')), entry(3, 3, enc.encode('y')), entry(3, 4, enc.encode('z'))] });
    // A conflicting suffix from a new leader replaces entries 3 and 4.
    await s.save({ entries: [entry(4, 3, enc.encode('w'))] });
    await s.close();

    const r = await openLmdbRaftStorage(dir);
    assert.deepEqual(r.initialState().hardState, { term: 3, vote: 'b', commit: 2 });
    assert.deepEqual(r.initialState().conf, { voters: ['a', 'b', 'c'], learners: [] });
    assert.equal(r.firstIndex(), 2);
    assert.equal(r.lastIndex(), 3);
    assert.equal(r.term(1), 1);
    assert.equal(r.term(3), 4);
    const ents = r.entries(2, 4);
    assert.ok(ents !== 'compacted');
    assert.deepEqual(ents.map((e) => [e.term, e.index, dec.decode(e.data), e.v]), [
      [2, 2, 'x', 1],
      [4, 3, 'w', 1],
    ]);
    await r.createSnapshot(2, { voters: ['a', 'b', 'c'], learners: ['d'] }, enc.encode('state@2'));
    await r.close();

    const t = await openLmdbRaftStorage(dir);
    assert.equal(t.firstIndex(), 3);
    assert.equal(t.lastIndex(), 3);
    assert.equal(t.entries(2, 3), 'compacted');
    assert.equal(dec.decode(t.snapshot().data), 'state@2');
    assert.deepEqual(t.snapshot().meta, { index: 2, term: 2, conf: { voters: ['a', 'b', 'c'], learners: ['d'] } });
    // An installed snapshot (InstallSnapshot, §7) replaces the whole log.
    await t.save({ snapshot: { meta: { index: 9, term: 5, conf: { voters: ['a'], learners: [] } }, data: enc.encode('state@9') }, hardState: { term: 5, vote: '', commit: 9 } });
    await t.close();

    const u = await openLmdbRaftStorage(dir);
    assert.equal(u.firstIndex(), 10);
    assert.equal(u.lastIndex(), 9);
    assert.equal(u.term(9), 5);
    assert.deepEqual(u.initialState().hardState, { term: 5, vote: '', commit: 9 });
    await u.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a raft node restarted on its LMDB log resumes at its persisted term and commit', async () => {
  const dir = tempDir();
  try {
    const s = await openLmdbRaftStorage(dir);
    await s.bootstrap({ voters: ['solo'], learners: [] });
    const node = new RawNode({ id: 'solo', storage: s, random: new SeededRandom(1) });
    node.campaign();
    node.propose(enc.encode('hello'));
    for (let i = 0; i < 5 && node.hasReady(); i++) {
      const rd = node.ready();
      await s.save({ ...(rd.hardState !== undefined ? { hardState: rd.hardState } : {}), entries: rd.entries });
      node.advance();
    }
    const before = node.status();
    assert.equal(before.state, 'leader');
    await s.close();

    const r = await openLmdbRaftStorage(dir);
    const again = new RawNode({ id: 'solo', storage: r, random: new SeededRandom(2) });
    const st = again.status();
    assert.equal(st.term, before.term);
    assert.equal(st.commit, before.commit);
    const rd = again.ready();
    assert.deepEqual(
      rd.committedEntries.map((e) => dec.decode(e.data)),
      ['', 'hello'],
    );
    await r.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a raft log folder of an unknown format is refused with what to do', async () => {
  const dir = tempDir();
  try {
    const env = open({ path: dir, maxDbs: 4, encoder: { useRecords: false } });
    await env.openDB<unknown, string>({ name: 'raft-meta' }).put('format', 99);
    await env.close();
    await assert.rejects(openLmdbRaftStorage(dir), (err: unknown) => err instanceof RaftLogFormatError && /format 99.*reads 1/.test(err.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('MemoryStorage and the LMDB log agree on a bootstrapped founding member', async () => {
  const dir = tempDir();
  try {
    const s = await openLmdbRaftStorage(dir);
    await s.bootstrap({ voters: ['a', 'b'], learners: [] });
    const m = MemoryStorage.bootstrap({ voters: ['a', 'b'], learners: [] });
    assert.deepEqual(s.initialState(), m.initialState());
    assert.equal(s.firstIndex(), m.firstIndex());
    assert.equal(s.lastIndex(), m.lastIndex());
    assert.equal(s.term(1), m.term(1));
    await s.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
