// The fault hook every transport offers (dev-only fault injection, and the
// simulator's partitions): a function that decides, per message, whether it
// passes, vanishes or waits. Dropping must look like a lost packet to the
// sender (a timeout, never an error), so a test of a partition exercises the
// same code path a real one would.

import type { NodeId } from '../version/dvv.js';
import type { Message } from './messages.js';

/** What the network does with one message (dev-only fault injection). */
export type FaultAction =
  | 'pass'
  | 'drop'
  | {
      readonly delayMs: number;
      /**
       * The delay is a stall before the receiver reads the request (a full
       * buffer, a congested stream), so it does not use up the request's
       * deadline: deadlines travel as a relative budget that starts at
       * receipt, so a stalled request is still served, however late.
       * Honoured by the in-memory network; the gRPC fault switch delays at
       * the sender, where the budget is taken when the frame is written.
       */
      readonly stalled?: boolean;
    };

/**
 * Decides the fate of each message this node sends to `to`: requests on the
 * client side, responses on the server side. Dropped requests time out.
 */
export type FaultFilter = (to: NodeId, msg: Message) => FaultAction;

/**
 * The fault hook of a real transport: every message a node sends (requests
 * and responses) passes here, so that a fault filter can drop or delay it.
 * `commit` marks the message as handed to the network before the filter
 * acts; `transmit` puts it on the wire, now, later, or never.
 */
export function throughFaults(filter: FaultFilter | undefined, to: NodeId, msg: Message, commit: () => void, transmit: () => void): void {
  const action = filter === undefined ? 'pass' : filter(to, msg);
  commit();
  if (action === 'pass') transmit();
  else if (action !== 'drop') setTimeout(transmit, Math.max(0, action.delayMs));
}
