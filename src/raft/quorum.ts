// Majority arithmetic (Raft §5.2, §5.3): the only place that knows what "a
// majority" means. Learners never appear here; callers pass voters only.

import type { NodeId } from './messages.js';

export function majority(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

/**
 * The largest index that a majority of voters hold (match indexes), i.e. the
 * highest index the leader may consider replicated "on a majority of the
 * servers" (§5.3). Zero for an empty configuration.
 */
export function committedIndex(voters: readonly NodeId[], match: (id: NodeId) => number): number {
  if (voters.length === 0) return 0;
  const sorted = voters.map(match).sort((a, b) => b - a);
  return sorted[majority(voters.length) - 1] ?? 0;
}

export type VoteResult = 'won' | 'lost' | 'pending';

/** An election's outcome so far (§5.2): won with a majority of grants, lost once a majority can no longer be reached. */
export function voteResult(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  let granted = 0;
  let rejected = 0;
  for (const v of voters) {
    const g = votes.get(v);
    if (g === true) granted++;
    else if (g === false) rejected++;
  }
  const need = majority(voters.length);
  if (granted >= need) return 'won';
  if (voters.length - rejected < need) return 'lost';
  return 'pending';
}

/** Whether the voters for which `active` holds form a majority. */
export function hasQuorum(voters: readonly NodeId[], active: (id: NodeId) => boolean): boolean {
  return voters.filter(active).length >= majority(voters.length);
}
