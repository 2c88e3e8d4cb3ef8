// The voter replacement policy (control/driver-voters.ts nextVoterStep):
// one single-server change at a time (dissertation §4.1), learners promoted
// before dead voters go, never below a healthy majority.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nextVoterStep, type VoterPolicyInput } from '../../src/control/driver-voters.js';
import { applyConfChange } from '../../src/raft/confchange.js';
import type { ConfState } from '../../src/raft/messages.js';

const zones: Record<string, string> = { n1: 'a', n2: 'b', n3: 'c', n4: 'a', n5: 'b', n6: 'c', n7: 'a' };

function input(conf: ConfState, dead: string[], over: Partial<VoterPolicyInput> = {}): VoterPolicyInput {
  const ids = [...conf.voters, ...conf.learners];
  return {
    self: 'n1',
    conf,
    layout: ids.map((id) => ({ id, zone: zones[id] ?? 'a' })),
    lastContactMs: (id) => (dead.includes(id) ? 60_000 : 100),
    match: () => 100,
    lastIndex: 100,
    leaderForMs: 60_000,
    maxVoters: 5,
    replaceAfterMs: 30_000,
    ...over,
  };
}

/** Runs the policy to a fixed point, as the leader does (one applied change per round). */
function converge(start: VoterPolicyInput, rounds = 10): { conf: ConfState; steps: string[] } {
  let conf = start.conf;
  const steps: string[] = [];
  for (let i = 0; i < rounds; i++) {
    const s = nextVoterStep({ ...start, conf });
    if (s === undefined) return { conf, steps };
    steps.push(`${s.change.type} ${s.change.node}`);
    conf = applyConfChange(conf, s.change);
  }
  throw new Error(`no fixed point after ${rounds} rounds: ${steps.join(', ')}`);
}

test('a healthy configuration is left alone', () => {
  assert.equal(nextVoterStep(input({ voters: ['n1', 'n2', 'n3', 'n4', 'n5'], learners: ['n6'] }, [])), undefined);
  assert.equal(nextVoterStep(input({ voters: ['n1', 'n2', 'n3'], learners: [] }, [])), undefined);
});

test('a dead voter is replaced by promoting a learner first, then demoted: the voters never lose a healthy majority', () => {
  const start = input({ voters: ['n1', 'n2', 'n3', 'n4', 'n5'], learners: ['n6'] }, ['n2']);
  const { conf, steps } = converge(start);
  assert.deepEqual(steps, ['addVoter n6', 'addLearner n2']);
  assert.deepEqual(conf, { voters: ['n1', 'n3', 'n4', 'n5', 'n6'], learners: ['n2'] });
});

test('nobody is judged dead before the leader has led for replaceAfterMs (it has not heard from everyone yet), nor when replacement is off', () => {
  const conf = { voters: ['n1', 'n2', 'n3', 'n4', 'n5'], learners: ['n6'] };
  assert.equal(nextVoterStep(input(conf, ['n2'], { leaderForMs: 1000 })), undefined);
  assert.equal(nextVoterStep(input(conf, ['n2'], { replaceAfterMs: 0 })), undefined);
});

test('a learner that lags the leader is not promoted (it would stall commits while catching up)', () => {
  const conf = { voters: ['n1', 'n2', 'n3', 'n4', 'n5'], learners: ['n6'] };
  const s = nextVoterStep(input(conf, ['n2'], { match: (id) => (id === 'n6' ? 10 : 100) }));
  // No promotion; with 5 voters and a target of 5 healthy members, n2 is not demoted either.
  assert.equal(s, undefined);
});

test('with no learner to promote, a dead voter is demoted only while the voters outnumber the target, and promoted again when back', () => {
  const start = input({ voters: ['n1', 'n2', 'n3', 'n4', 'n5'], learners: [] }, ['n2']);
  const { conf, steps } = converge(start);
  assert.deepEqual(steps, ['addLearner n2']);
  assert.deepEqual(conf, { voters: ['n1', 'n3', 'n4', 'n5'], learners: ['n2'] });
  // n2 comes back: five healthy members want five voters.
  const back = converge(input(conf, []));
  assert.deepEqual(back.steps, ['addVoter n2']);
});

test('a 3-voter cluster with one dead voter and no learner keeps it (demoting would gain nothing)', () => {
  assert.equal(nextVoterStep(input({ voters: ['n1', 'n2', 'n3'], learners: [] }, ['n3'])), undefined);
});

test('with two of three voters dead nothing is changed: no majority would be left to agree', () => {
  const s = nextVoterStep(input({ voters: ['n1', 'n2', 'n3'], learners: ['n4', 'n5'] }, ['n2', 'n3']));
  // Promotion first (safe: adding a voter never removes one), but never a removal that leaves a minority.
  assert.equal(s?.change.type, 'addVoter');
  let conf: ConfState = { voters: ['n1', 'n2', 'n3'], learners: ['n4', 'n5'] };
  const start = input(conf, ['n2', 'n3']);
  for (let i = 0; i < 10; i++) {
    const step = nextVoterStep({ ...start, conf });
    if (step === undefined) break;
    conf = applyConfChange(conf, step.change);
    const healthy = conf.voters.filter((v) => !['n2', 'n3'].includes(v)).length;
    if (step.change.type !== 'addVoter') assert.ok(healthy * 2 > conf.voters.length, `after ${step.change.type} ${step.change.node}: ${healthy} healthy of ${conf.voters.length}`);
  }
});

test('a member removed from the layout leaves the Raft configuration (a learner at once, a voter after a replacement)', () => {
  const conf = { voters: ['n1', 'n2', 'n3', 'n4', 'n5'], learners: ['n6', 'n7'] };
  const layout = ['n1', 'n2', 'n3', 'n4', 'n6'].map((id) => ({ id, zone: zones[id] as string }));
  const { conf: after, steps } = converge(input(conf, [], { layout }));
  assert.deepEqual(steps, ['removeNode n7', 'addVoter n6', 'removeNode n5']);
  assert.deepEqual(after, { voters: ['n1', 'n2', 'n3', 'n4', 'n6'], learners: [] });
});

test('a member the layout gained joins Raft as a learner, and becomes a voter when voters are wanted', () => {
  const conf = { voters: ['n1'], learners: [] };
  const layout = ['n1', 'n2', 'n3'].map((id) => ({ id, zone: zones[id] as string }));
  const { conf: after, steps } = converge(input(conf, [], { layout }));
  assert.deepEqual(steps, ['addLearner n2', 'addLearner n3', 'addVoter n2', 'addVoter n3']);
  assert.deepEqual(after, { voters: ['n1', 'n2', 'n3'], learners: [] });
});

test('the learner promoted is the one in the zone with the fewest healthy voters', () => {
  const conf = { voters: ['n1', 'n2', 'n3', 'n4', 'n5'], learners: ['n6', 'n7'] };
  // n3 (zone c) dies: n6 (zone c) is preferred over n7 (zone a, which has two voters already).
  const s = nextVoterStep(input(conf, ['n3']));
  assert.deepEqual(s?.change, { type: 'addVoter', node: 'n6' });
});

test('the leader never demotes itself', () => {
  const s = nextVoterStep(input({ voters: ['n1', 'n2', 'n3', 'n4', 'n5'], learners: [] }, ['n1']));
  assert.equal(s, undefined);
});
