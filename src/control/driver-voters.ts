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
import type { LayoutHistory } from '../layout/history.js';

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
export function initialControlState(nodes: readonly LayoutNode[], layoutHistory?: LayoutHistory): Uint8Array {
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
    // issue 10: the founding layout version (layout/founding.ts), when the caller computed one.
    ...(layoutHistory !== undefined ? { layoutHistory } : {}),
  };
  // Through restore and snapshot, so that the bytes are exactly what a snapshot of that state would hold.
  return ControlState.restore(new TextEncoder().encode(JSON.stringify(json))).snapshot();
}

// ---------------------------------------------------------------------------
// Keeping the voters healthy (issue 9, "When voters die or are removed, the
// control plane replaces them on its own from the learners"). The leader
// asks nextVoterStep for one single-server change at a time (dissertation
// §4.1: at most one uncommitted), applies it, and asks again.

/** A learner this far behind the leader's last index is not promoted yet: it would slow every commit while it catches up (dissertation §4.2.1). */
export const MAX_PROMOTION_LAG = 64;

export interface VoterPolicyInput {
  /** The leader asking. */
  readonly self: NodeId;
  readonly conf: ConfState;
  /** The members the layout has now (id and zone). */
  readonly layout: readonly Candidate[];
  /** Milliseconds since the leader last heard from a member (null: not since it leads). */
  readonly lastContactMs: (id: NodeId) => number | null;
  /** A member's match index as the leader sees it (null: unknown). */
  readonly match: (id: NodeId) => number | null;
  readonly lastIndex: number;
  /** How long this node has led: before `replaceAfterMs` it cannot tell a dead member from one it has not heard from yet. */
  readonly leaderForMs: number;
  readonly maxVoters: number;
  /** A member unheard of this long is down (0: never replace anyone). */
  readonly replaceAfterMs: number;
}

export interface VoterStep {
  readonly change: ConfChange;
  readonly why: string;
}

type ConfChange = { readonly type: 'addVoter' | 'addLearner' | 'removeNode'; readonly node: NodeId };

/**
 * The next membership change, or undefined when the configuration is as it
 * should be. In order:
 *   1. a learner the layout no longer has is removed;
 *   2. a layout member Raft does not know yet is added as a learner (a node
 *      that joined: it receives a snapshot and the log);
 *   3. while fewer healthy voters remain than the target, an up-to-date
 *      healthy learner is promoted (zones with the fewest healthy voters
 *      first), before anything is taken away;
 *   4. a voter that is down (or that the layout no longer has) is demoted
 *      (removed) once the voters outnumber the target, or at once if the
 *      layout dropped it, and only if the remaining voters keep a healthy
 *      majority;
 *   5. while the voters are fewer than the target, a learner is promoted.
 * The target is the largest odd number at most maxVoters and at most the
 * number of healthy layout members (voterTarget).
 */
export function nextVoterStep(i: VoterPolicyInput): VoterStep | undefined {
  const inLayout = new Map(i.layout.map((m) => [m.id, m] as const));
  const voters = i.conf.voters;
  const learners = i.conf.learners;
  const known = new Set([...voters, ...learners]);

  for (const id of learners) if (!inLayout.has(id)) return { change: { type: 'removeNode', node: id }, why: `${id} is no longer in the layout` };
  for (const m of [...i.layout].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
    if (!known.has(m.id)) return { change: { type: 'addLearner', node: m.id }, why: `${m.id} is in the layout but not in the Raft configuration` };
  }

  const judging = i.replaceAfterMs > 0 && i.leaderForMs >= i.replaceAfterMs;
  const up = (id: NodeId): boolean => {
    if (id === i.self) return true;
    if (!judging) return true;
    const c = i.lastContactMs(id);
    return c !== null && c <= i.replaceAfterMs;
  };
  const leaving = voters.filter((v) => !inLayout.has(v) || !up(v));
  const healthyVoters = voters.filter((v) => !leaving.includes(v));
  const target = voterTarget(i.layout.filter((m) => up(m.id)).length, i.maxVoters);
  const candidates = learners.filter((id) => inLayout.has(id) && up(id) && judging && i.lastIndex - (i.match(id) ?? -Infinity) <= MAX_PROMOTION_LAG);
  const best = (): NodeId | undefined => {
    const perZone = new Map<string, number>();
    for (const v of healthyVoters) {
      const z = inLayout.get(v)?.zone ?? '';
      perZone.set(z, (perZone.get(z) ?? 0) + 1);
    }
    return [...candidates].sort((a, b) => {
      const za = perZone.get(inLayout.get(a)?.zone ?? '') ?? 0;
      const zb = perZone.get(inLayout.get(b)?.zone ?? '') ?? 0;
      return za - zb || (a < b ? -1 : a > b ? 1 : 0);
    })[0];
  };

  if (leaving.length > 0 && healthyVoters.length < target) {
    const c = best();
    if (c !== undefined) return { change: { type: 'addVoter', node: c }, why: `replacing ${leaving.join(', ')} (${leaving.map((v) => (inLayout.has(v) ? 'unreachable' : 'removed')).join(', ')})` };
  }
  for (const v of leaving) {
    if (v === i.self) continue;
    const removed = !inLayout.has(v);
    if (!removed && voters.length <= target) continue;
    // Three voters with one down tolerate no further loss either way; as two they would only lose it back when it returns.
    if (!removed && voters.length === 3) continue;
    const rest = voters.filter((x) => x !== v);
    // Never below a safe quorum: the voters left must still have a healthy majority.
    if (rest.length === 0 || rest.filter(up).length * 2 <= rest.length) continue;
    if (removed) return { change: { type: 'removeNode', node: v }, why: `${v} is no longer in the layout` };
    return { change: { type: 'addLearner', node: v }, why: `${v} unheard of for more than ${i.replaceAfterMs} ms: demoted to learner (it is promoted again when it is back and needed)` };
  }
  if (voters.length < target) {
    const c = best();
    if (c !== undefined) return { change: { type: 'addVoter', node: c }, why: `${voters.length} voters, ${target} wanted` };
  }
  return undefined;
}
