// The SWIM wire vocabulary (Das et al., "SWIM", 2002, §3-§4) plus the
// Lifeguard nack (Dadgar et al., 2018, §IV-A). Messages carry membership
// updates piggybacked on them (SWIM §4.1: dissemination rides on the failure
// detector's own traffic), so there is no separate gossip message.
//
// It lives in transport, below membership, because the transport's message
// union and codec carry it; membership/messages.ts re-exports it beside the
// state machine's effects.

import type { NodeId } from '../version/dvv.js';

/**
 * What one node believes about another. `left` is a voluntary departure: it
 * is never suspected, never probed and never refuted by the rest.
 */
export type MemberState = 'alive' | 'suspect' | 'dead' | 'left';

/** One dissemination item (SWIM §4.2 "Alive", "Suspect", "Confirm" messages). */
export interface MemberUpdate {
  readonly node: NodeId;
  readonly state: MemberState;
  readonly incarnation: number;
  /**
   * For `suspect` only: the member that accused. Lifeguard §IV-B counts
   * distinct accusers as independent confirmations that shorten the timeout.
   */
  readonly from?: NodeId;
}

/** A direct probe; the receiver answers with a `swimAck` carrying the same seq. */
export interface SwimPing {
  readonly type: 'swimPing';
  readonly seq: number;
  readonly from: NodeId;
  readonly updates: readonly MemberUpdate[];
}

/**
 * The answer to a ping. For an indirect probe the intermediary forwards the
 * target's ack to the requester under the requester's seq, with itself as
 * `from` (SWIM §3.1).
 */
export interface SwimAck {
  readonly type: 'swimAck';
  readonly seq: number;
  readonly from: NodeId;
  readonly updates: readonly MemberUpdate[];
}

/** Ask `from`'s peer to probe `target` on its behalf (SWIM §3.1 ping-req). */
export interface SwimPingReq {
  readonly type: 'swimPingReq';
  readonly seq: number;
  readonly from: NodeId;
  readonly target: NodeId;
  readonly updates: readonly MemberUpdate[];
}

/**
 * Sent by an intermediary whose ping to the target went unanswered: proof
 * to the requester that the intermediary itself is reachable, so a missing
 * nack says something about the requester's own health (Lifeguard §IV-A).
 */
export interface SwimNack {
  readonly type: 'swimNack';
  readonly seq: number;
  readonly from: NodeId;
  readonly updates: readonly MemberUpdate[];
}

export type SwimMessage = SwimPing | SwimAck | SwimPingReq | SwimNack;
