// Membership changes one server at a time (dissertation §4.1; Raft §6 in
// its single-server form): any two majorities of configurations that differ
// by one voter overlap, so no joint consensus is needed as long as at most
// one change is uncommitted at a time (the leader enforces that, raft.ts).
// Learners (non-voters, dissertation §4.2.1) receive the log but count
// toward neither elections nor commitment; promoting one is a single-server
// change like any other.

import type { ConfState, NodeId } from './messages.js';

export type ConfChange =
  | { readonly type: 'addVoter'; readonly node: NodeId }
  | { readonly type: 'addLearner'; readonly node: NodeId }
  | { readonly type: 'removeNode'; readonly node: NodeId };

/** A change that cannot be applied, with the reason. */
export class ConfChangeError extends Error {
  override name = 'ConfChangeError';
}

/**
 * The configuration after `cc`. addVoter adds a voter or promotes a learner;
 * addLearner adds a learner or demotes a voter; removeNode removes either.
 * Throws ConfChangeError for a change that would leave no voter.
 */
export function applyConfChange(conf: ConfState, cc: ConfChange): ConfState {
  const voters = new Set(conf.voters);
  const learners = new Set(conf.learners);
  switch (cc.type) {
    case 'addVoter':
      learners.delete(cc.node);
      voters.add(cc.node);
      break;
    case 'addLearner':
      voters.delete(cc.node);
      learners.add(cc.node);
      break;
    case 'removeNode':
      voters.delete(cc.node);
      learners.delete(cc.node);
      break;
  }
  if (voters.size === 0) throw new ConfChangeError(`${cc.type} ${cc.node} would leave no voter`);
  return { voters: [...voters].sort(), learners: [...learners].sort() };
}

/** Whether the change alters anything (a no-op change is refused at proposal, so that it does not hold the one-pending-change slot). */
export function changes(conf: ConfState, cc: ConfChange): boolean {
  const voter = conf.voters.includes(cc.node);
  const learner = conf.learners.includes(cc.node);
  switch (cc.type) {
    case 'addVoter':
      return !voter;
    case 'addLearner':
      return !learner;
    case 'removeNode':
      return voter || learner;
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export function encodeConfChange(cc: ConfChange): Uint8Array {
  return enc.encode(JSON.stringify({ type: cc.type, node: cc.node }));
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  const v = JSON.parse(dec.decode(data)) as { type?: unknown; node?: unknown };
  if ((v.type !== 'addVoter' && v.type !== 'addLearner' && v.type !== 'removeNode') || typeof v.node !== 'string' || v.node === '') {
    throw new ConfChangeError(`malformed configuration change ${dec.decode(data)}`);
  }
  return { type: v.type, node: v.node };
}

export function describeConfState(c: ConfState): string {
  return `voters=(${c.voters.join(' ')})` + (c.learners.length > 0 ? ` learners=(${c.learners.join(' ')})` : '');
}
