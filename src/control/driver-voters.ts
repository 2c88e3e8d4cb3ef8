// Who votes (docs/raft.md, "Voters and learners"): a few voters spread over
// zones, every other member a learner that follows the log (dissertation
// §4.2.1). More voters buy no availability past five and cost latency on
// every commit; an odd count is as available as the even count above it
// (3 of 4 must agree, where 2 of 3 suffice). Pure and deterministic: every
// founding member computes the same initial configuration from the same
// member list.

import type { ConfState, NodeId } from '../raft/messages.js';
import type { LayoutNode } from './commands.js';
import { CONTROL_SNAPSHOT_FORMAT, CONTROL_SNAPSHOT_VERSION, ControlState } from './state.js';

export const DEFAULT_MAX_VOTERS = 5;

export interface Candidate {
  readonly id: NodeId;
  readonly zone: string;
}

/** Orders candidates zone by zone in turn (each zone's members by id), so that the first k are spread over as many zones as k allows. */
function spread(members: readonly Candidate[]): Candidate[] {
  const zones = new Map<string, Candidate[]>();
  for (const m of [...members].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
    const z = zones.get(m.zone) ?? [];
    z.push(m);
    zones.set(m.zone, z);
  }
  const order = [...zones.keys()].sort();
  const out: Candidate[] = [];
  for (let round = 0; out.length < members.length; round++) {
    for (const z of order) {
      const m = zones.get(z)?.[round];
      if (m !== undefined) out.push(m);
    }
  }
  return out;
}

/** The largest odd number of voters at most `maxVoters` and at most `available` (at least 1). */
export function voterTarget(available: number, maxVoters: number): number {
  const n = Math.max(1, Math.min(available, maxVoters));
  return n % 2 === 1 ? n : n - 1;
}

/** The initial configuration of a new cluster: voters spread over zones, the rest learners. */
export function initialConf(members: readonly Candidate[], maxVoters = DEFAULT_MAX_VOTERS): ConfState {
  const order = spread(members);
  const k = voterTarget(order.length, maxVoters);
  return {
    voters: order.slice(0, k).map((m) => m.id).sort(),
    learners: order.slice(k).map((m) => m.id).sort(),
  };
}

/**
 * The control state a new cluster starts from (the bootstrap snapshot's
 * data): the founding members in the layout, version 1, nothing else. Equal
 * member lists give equal bytes.
 */
export function initialControlState(nodes: readonly LayoutNode[]): Uint8Array {
  const sorted = [...nodes].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const json = {
    format: CONTROL_SNAPSHOT_FORMAT,
    version: CONTROL_SNAPSHOT_VERSION,
    applied: 1,
    layout: { version: 1, nodes: sorted, assignment: null, history: [] },
    buckets: [],
    users: [],
    accessKeys: [],
    adminTokens: [],
  };
  // Through restore and snapshot, so that the bytes are exactly what a snapshot of that state would hold.
  return ControlState.restore(new TextEncoder().encode(JSON.stringify(json))).snapshot();
}
