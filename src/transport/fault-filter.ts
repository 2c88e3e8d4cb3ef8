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
