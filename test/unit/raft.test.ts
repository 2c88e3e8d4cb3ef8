// Raft unit tests, each citing the section of the Raft paper ("In Search of
// an Understandable Consensus Algorithm", extended version) or of Ongaro's
// dissertation that it checks. Scenario transcripts (test/raft/testdata)
// show the same behaviours message by message.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Net } from '../raft/net.js';
import { committedIndex, voteResult } from '../../src/raft/quorum.js';
import { entry, MemoryStorage, RawNode, type Message } from '../../src/raft/index.js';
import { SeededRandom } from '../../src/util/runtime.js';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { InteractionEnv, parseCommand } from '../raft/interaction-env.js';

const enc = new TextEncoder();

function elect(net: Net, id: string): void {
  net.node(id).campaign();
  net.stabilize();
  assert.equal(net.node(id).raft.state, 'leader');
}

// ---------------------------------------------------------------- quorum

test('quorum maths: the committed index is what the naive count of a majority finds (§5.3)', () => {
  fc.assert(
    fc.property(fc.array(fc.nat(50), { minLength: 1, maxLength: 7 }), (matches) => {
      const ids = matches.map((_, i) => `n${i}`);
      const got = committedIndex(ids, (id) => matches[Number(id.slice(1))] as number);
      // Naive: the largest index that at least a majority of voters hold.
      let naive = 0;
      for (let idx = 0; idx <= 50; idx++) if (matches.filter((m) => m >= idx).length > matches.length / 2) naive = idx;
      assert.equal(got, naive);
    }),
  );
});

test('an election is won with a majority of grants and lost once a majority can no longer be reached (§5.2)', () => {
  const voters = ['a', 'b', 'c', 'd', 'e'];
  assert.equal(voteResult(voters, new Map([['a', true], ['b', true]])), 'pending');
  assert.equal(voteResult(voters, new Map([['a', true], ['b', true], ['c', true]])), 'won');
  assert.equal(voteResult(voters, new Map([['a', true], ['b', false], ['c', false], ['d', false]])), 'lost');
});

// -------------------------------------------------------------- §5.2

test('a follower whose election timeout passes campaigns and wins with a majority (§5.2)', () => {
  const net = new Net(['1', '2', '3']);
  net.tickElection('1');
  net.stabilize();
  assert.equal(net.leader(), '1');
  assert.equal(net.node('2').raft.lead, '1');
  assert.equal(net.node('1').status().term, 2);
});

test('the randomised election timeout falls in [electionTick, 2*electionTick) (§5.2)', () => {
  const r = new SeededRandom(7);
  for (let i = 0; i < 50; i++) {
    const n = new RawNode({ id: 'x', storage: MemoryStorage.bootstrap({ voters: ['x', 'y', 'z'], learners: [] }), random: r, preVote: false });
    let ticks = 0;
    while (n.raft.state === 'follower' && ticks < 100) {
      n.tick();
      ticks++;
    }
    assert.ok(ticks >= 10 && ticks < 20, `campaigned after ${ticks} ticks`);
  }
});

test('a node grants at most one vote per term (§5.2)', () => {
  const net = new Net(['1', '2', '3'], { preVote: false, checkQuorum: false });
  const n3 = net.node('3');
  const vote = (from: string): Message => ({ type: 'vote', from, to: '3', term: 5, index: 1, logTerm: 1, transfer: false });
  n3.step(vote('1'));
  n3.step(vote('2'));
  const rd = n3.ready();
  const answers = rd.messages.filter((m) => m.type === 'voteResp').map((m) => `${m.to}:${(m as { reject: boolean }).reject ? 'no' : 'yes'}`);
  assert.deepEqual(answers, ['1:yes', '2:no']);
  assert.equal(rd.hardState?.vote, '1');
});

test('the voteTwice bug switch grants a second vote in the same term (what the simulator must catch)', () => {
  const net = new Net(['1', '2', '3'], { preVote: false, checkQuorum: false, bugs: { voteTwice: true } });
  const n3 = net.node('3');
  n3.step({ type: 'vote', from: '1', to: '3', term: 5, index: 1, logTerm: 1, transfer: false });
  n3.step({ type: 'vote', from: '2', to: '3', term: 5, index: 1, logTerm: 1, transfer: false });
  assert.equal(n3.ready().messages.filter((m) => m.type === 'voteResp' && !m.reject).length, 2);
});

// ------------------------------------------------------------ §5.4.1

test('a voter refuses a candidate whose log is less up-to-date than its own (§5.4.1)', () => {
  const net = new Net(['1', '2', '3']);
  elect(net, '1');
  net.isolate('3');
  net.propose('1', 'x');
  net.stabilize();
  net.heal();
  // 3 missed "x": its log ends at an older index of the same term.
  const n2 = net.node('2');
  const s = n2.status();
  n2.step({ type: 'vote', from: '3', to: '2', term: s.term + 1, index: net.node('3').status().lastIndex, logTerm: s.term, transfer: true });
  const resp = n2.ready().messages.find((m) => m.type === 'voteResp');
  assert.ok(resp !== undefined && resp.type === 'voteResp' && resp.reject);
});

// -------------------------------------------------------------- §5.3

test('entries reach every follower and are applied once a majority stores them (§5.3)', () => {
  const net = new Net(['1', '2', '3']);
  elect(net, '1');
  net.propose('1', 'a');
  net.propose('1', 'b');
  net.stabilize();
  for (const id of ['1', '2', '3']) assert.deepEqual(net.applied.get(id), ['a', 'b']);
});

test('an entry stored only by the leader and a minority is not committed (§5.3)', () => {
  const net = new Net(['1', '2', '3']);
  elect(net, '1');
  net.isolate('1');
  net.propose('1', 'lonely');
  net.stabilize();
  assert.deepEqual(net.applied.get('1'), []);
  assert.equal(net.node('1').status().commit, net.node('1').status().lastIndex - 1);
});

test('a follower rejects AppendEntries whose previous entry it lacks, with a hint that skips the conflicting term (§5.3)', () => {
  const s = MemoryStorage.bootstrap({ voters: ['1', '2'], learners: [] });
  s.append([entry(2, 2), entry(3, 3), entry(3, 4), entry(3, 5)]);
  s.setHardState({ term: 3, vote: '', commit: 2 });
  const n = new RawNode({ id: '2', storage: s, random: new SeededRandom(1) });
  // The leader of term 5 probes at (6, 5); the follower holds up to index 5, of term 3.
  n.step({ type: 'app', from: '1', to: '2', term: 5, index: 6, logTerm: 5, entries: [], commit: 2 });
  const resp = n.ready().messages[0];
  assert.ok(resp?.type === 'appResp' && resp.reject);
  assert.deepEqual([resp.index, resp.hintIndex, resp.hintTerm], [6, 5, 3]);
});

test('a follower drops a conflicting suffix and takes the leader\'s entries (§5.3)', () => {
  const net = new Net(['1', '2', '3'], { maxMsgEntries: 1, preVote: false, checkQuorum: false });
  elect(net, '1');
  net.isolate('1');
  net.propose('1', 'x1');
  net.propose('1', 'x2');
  net.stabilize();
  elect(net, '2');
  net.propose('2', 'y');
  net.stabilize();
  net.heal();
  for (let i = 0; i < 3; i++) {
    net.node('2').tick();
    net.stabilize();
  }
  assert.equal(net.node('1').raft.state, 'follower');
  assert.deepEqual(net.applied.get('1'), ['y']);
  const s1 = net.storages.get('1') as MemoryStorage;
  const s2 = net.storages.get('2') as MemoryStorage;
  assert.deepEqual(s1.entries(2, s1.lastIndex() + 1), s2.entries(2, s2.lastIndex() + 1));
});

// ------------------------------------------------------------ §5.4.2

/** Runs the Figure 8 transcript (test/raft/testdata/figure8.txt) with the given bug switches; returns what node 1 and node 2 applied. */
function figure8(bugs: string): { one: string; two: string } {
  const script = readFileSync(fileURLToPath(new URL('../../../test/raft/testdata/figure8.txt', import.meta.url)), 'utf8');
  const env = new InteractionEnv();
  const lines = script.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i + 1] !== '----') continue;
    const cmd = (lines[i] as string).replace(/^add-nodes 3 (.*)$/, `add-nodes 3 $1${bugs}`);
    env.run(parseCommand(cmd));
  }
  return { one: env.run(parseCommand('applied 1')), two: env.run(parseCommand('applied 2')) };
}

test('a leader does not commit an earlier term\'s entry by counting replicas (§5.4.2, Figure 8)', () => {
  // Node 1 (term 3) brought node 2 to hold "old" (term 1), so "old" was on a majority; node 3 later overwrote it.
  assert.deepEqual(figure8(''), { one: '1: ', two: '2: ' });
});

test('the commitOldTerm bug switch commits it, and node 1 applies an entry the cluster later overwrites (Figure 8)', () => {
  assert.deepEqual(figure8(' bugs=(commitOldTerm)'), { one: '1: old', two: '2: ' });
});

// --------------------------------------------------------- §6 / §4.1

test('at most one configuration change is uncommitted at a time (dissertation §4.1)', () => {
  const net = new Net(['1', '2', '3']);
  elect(net, '1');
  net.join('4');
  assert.equal(net.node('1').proposeConfChange({ type: 'addLearner', node: '4' }).ok, true);
  const second = net.node('1').proposeConfChange({ type: 'addVoter', node: '4' });
  assert.deepEqual(second, { ok: false, reason: 'confChangePending' });
  net.stabilize();
  assert.deepEqual(net.node('4').confState(), { voters: ['1', '2', '3'], learners: ['4'] });
  assert.equal(net.node('1').proposeConfChange({ type: 'addVoter', node: '4' }).ok, true);
  net.stabilize();
  assert.deepEqual(net.node('2').confState(), { voters: ['1', '2', '3', '4'], learners: [] });
});

test('a learner receives the log but does not count toward commitment (dissertation §4.2.1)', () => {
  const net = new Net(['1', '2', '3'], { learners: ['3'] });
  elect(net, '1');
  net.isolate('2');
  net.propose('1', 'x');
  net.stabilize();
  assert.deepEqual(net.applied.get('1'), [], 'leader + learner are not a majority of voters {1, 2}');
  assert.equal((net.storages.get('3') as MemoryStorage).lastIndex(), net.node('1').status().lastIndex, 'the learner stored the entry');
  net.heal();
  net.node('1').tick();
  net.stabilize();
  assert.deepEqual(net.applied.get('3'), ['x']);
});

test('a leader that removes itself steps down once the change is applied (dissertation §4.2.2)', () => {
  const net = new Net(['1', '2', '3'], { checkQuorum: false });
  elect(net, '1');
  net.node('1').proposeConfChange({ type: 'removeNode', node: '1' });
  net.stabilize();
  assert.equal(net.node('1').raft.state, 'follower');
  assert.deepEqual(net.node('2').confState().voters, ['2', '3']);
  net.tickElection('1');
  assert.equal(net.node('1').raft.state, 'follower', 'a removed node does not campaign');
  net.tickElection('2');
  net.stabilize();
  assert.equal(net.leader(), '2');
});

// -------------------------------------------------------------- §7

test('a follower whose entries were compacted away catches up by InstallSnapshot (§7)', () => {
  const net = new Net(['1', '2', '3']);
  elect(net, '1');
  net.isolate('3');
  for (const v of ['a', 'b', 'c']) net.propose('1', v);
  net.stabilize();
  const n1 = net.node('1');
  const applied = n1.status().applied;
  (net.storages.get('1') as MemoryStorage).createSnapshot(applied, n1.confState(), enc.encode('a b c'));
  net.heal();
  n1.tick();
  net.stabilize();
  assert.ok(net.sent.some((m) => m.type === 'snap' && m.to === '3'));
  assert.equal((net.storages.get('3') as MemoryStorage).snapshot().meta.index, applied);
  assert.equal(net.node('3').status().commit, n1.status().commit);
});

test('a snapshot older than what a follower has committed is not installed (§7)', () => {
  const s = MemoryStorage.bootstrap({ voters: ['1', '2'], learners: [] });
  s.append([entry(2, 2), entry(2, 3), entry(2, 4)]);
  s.setHardState({ term: 2, vote: '1', commit: 4 });
  const n = new RawNode({ id: '2', storage: s, random: new SeededRandom(1) });
  n.step({ type: 'snap', from: '1', to: '2', term: 2, snapshot: { meta: { index: 3, term: 2, conf: { voters: ['1', '2'], learners: [] } }, data: new Uint8Array(0) } });
  const rd = n.ready();
  assert.equal(rd.snapshot, undefined);
  const bugged = new RawNode({ id: '2', storage: s, random: new SeededRandom(1), bugs: { snapshotOverNewer: true } });
  bugged.step({ type: 'snap', from: '1', to: '2', term: 2, snapshot: { meta: { index: 3, term: 2, conf: { voters: ['1', '2'], learners: [] } }, data: new Uint8Array(0) } });
  assert.equal(bugged.ready().snapshot?.meta.index, 3, 'the snapshotOverNewer switch installs it');
});

// ------------------------------------------------- §8 / dissertation §6.4

test('ReadIndex waits for the new leader to commit an entry of its term, then for a heartbeat round (§8, dissertation §6.4)', () => {
  const net = new Net(['1', '2', '3']);
  net.node('1').campaign();
  // Win the election but hold back every AppendEntries: the noop stays uncommitted.
  net.drop = (m) => m.type === 'app';
  net.stabilize();
  assert.equal(net.node('1').raft.state, 'leader');
  net.node('1').readIndex('r1');
  net.stabilize();
  assert.deepEqual(net.readStates.get('1'), [], 'no answer before the noop commits');
  net.heal();
  net.node('1').tick();
  net.stabilize();
  assert.deepEqual(net.readStates.get('1'), [{ index: net.node('1').status().commit, ctx: 'r1' }]);
});

test('a leader cut off from the majority cannot confirm a read (§8)', () => {
  const net = new Net(['1', '2', '3']);
  elect(net, '1');
  net.isolate('1');
  net.node('1').readIndex('stale?');
  net.stabilize();
  assert.deepEqual(net.readStates.get('1'), []);
});

test('a follower\'s read is confirmed by the leader and answered with the leader\'s commit index (dissertation §6.4)', () => {
  const net = new Net(['1', '2', '3']);
  elect(net, '1');
  net.propose('1', 'a');
  net.stabilize();
  net.node('3').readIndex('r');
  net.stabilize();
  assert.deepEqual(net.readStates.get('3'), [{ index: net.node('1').status().commit, ctx: 'r' }]);
});

// -------------------------------------------------- dissertation §9.6

test('pre-vote keeps a partitioned node from inflating its term (dissertation §9.6)', () => {
  const net = new Net(['1', '2', '3']);
  elect(net, '1');
  const before = net.node('3').status().term;
  net.isolate('3');
  for (let i = 0; i < 5; i++) {
    net.tickElection('3', 10);
    net.stabilize();
  }
  assert.equal(net.node('3').status().term, before);
  net.heal();
  net.node('1').tick();
  net.stabilize();
  assert.equal(net.leader(), '1', 'the rejoining node did not depose the leader');
});

test('without pre-vote the same partitioned node inflates its term and deposes the leader on return', () => {
  const net = new Net(['1', '2', '3'], { preVote: false, checkQuorum: false });
  elect(net, '1');
  net.isolate('3');
  net.tickElection('3', 10);
  net.stabilize();
  assert.ok(net.node('3').status().term > net.node('1').status().term);
});

test('check-quorum: a leader that hears from no majority for an election timeout steps down (dissertation §6.2)', () => {
  const net = new Net(['1', '2', '3']);
  elect(net, '1');
  net.isolate('1');
  net.tickElection('1');
  net.tickElection('1');
  assert.equal(net.node('1').raft.state, 'follower');
});

// ------------------------------------------------ dissertation §3.10

test('leadership transfer: the target is brought up to date, told timeoutNow, and wins at once (dissertation §3.10)', () => {
  const net = new Net(['1', '2', '3']);
  elect(net, '1');
  net.isolate('3');
  net.propose('1', 'a');
  net.stabilize();
  net.heal();
  assert.equal(net.node('1').transferLeader('3'), true);
  assert.deepEqual(net.propose('1', 'during'), { ok: false, reason: 'transferring' });
  net.stabilize();
  assert.equal(net.leader(), '3');
  assert.ok(net.sent.some((m) => m.type === 'timeoutNow' && m.to === '3'));
});

test('a transfer that cannot finish within an election timeout is abandoned (dissertation §3.10)', () => {
  const net = new Net(['1', '2', '3']);
  elect(net, '1');
  net.isolate('3');
  net.node('1').transferLeader('3');
  net.stabilize();
  for (let i = 0; i < 10; i++) {
    net.node('1').tick();
    net.stabilize();
  }
  assert.equal(net.node('1').raft.leadTransferee, '');
  assert.equal(net.propose('1', 'after').ok, true);
});

test('a Ready must be advanced before the node is stepped again (persist, send, apply, then advance)', () => {
  const net = new Net(['1', '2', '3']);
  const n = net.node('1');
  n.campaign();
  n.ready();
  assert.throws(() => n.tick(), /between ready\(\) and advance\(\)/);
  n.advance();
  n.tick();
});
