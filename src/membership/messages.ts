// The SWIM state machine's vocabulary: the wire messages (defined with the
// rest of the inter-node protocol in transport/swim-messages.ts) and the
// effects the machine asks its driver to carry out.

import type { NodeId } from '../version/dvv.js';
import type { MemberState, SwimMessage } from '../transport/swim-messages.js';

export type { MemberState, MemberUpdate, SwimAck, SwimMessage, SwimNack, SwimPing, SwimPingReq } from '../transport/swim-messages.js';

/** What the caller must do after feeding the state machine an event. */
export type SwimEffect =
  | { readonly kind: 'send'; readonly to: NodeId; readonly msg: SwimMessage }
  | { readonly kind: 'stateChanged'; readonly node: NodeId; readonly from: MemberState; readonly to: MemberState };
