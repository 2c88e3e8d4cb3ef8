// SWIM's packets in the simulator: a datagram channel that obeys the same
// faults as the request network (cut links, loss, jitter, slow nodes,
// crashed nodes). MemoryNetwork carries only request/response pairs, so the
// best-effort packets SWIM needs are carried here; World hands the channel to
// the composition root as the node's PacketChannel.

import type { SwimMessage } from '../membership/messages.js';
import type { Random } from '../util/runtime.js';
import type { NodeId } from '../version/dvv.js';
import type { LinkControl } from './faults.js';
import type { Scheduler } from './scheduler.js';

export interface DatagramParams {
  latencyMs: number;
  jitterMs: number;
  lossP: number;
}

/** Best-effort packets between nodes: lost on cut links and at random, never delivered to a crashed node. */
export class Datagrams {
  readonly params: DatagramParams;
  private readonly receivers = new Map<NodeId, (from: NodeId, msg: SwimMessage) => void>();

  constructor(
    private readonly sched: Scheduler,
    private readonly random: Random,
    private readonly links: LinkControl,
    params: DatagramParams,
  ) {
    this.params = { ...params };
  }

  /** Installs (or, with undefined, removes: a crash) the receiver of a node. */
  bind(node: NodeId, receive: ((from: NodeId, msg: SwimMessage) => void) | undefined): void {
    if (receive === undefined) this.receivers.delete(node);
    else this.receivers.set(node, receive);
  }

  send(from: NodeId, to: NodeId, msg: SwimMessage): void {
    if (this.links.isCut(from, to)) return;
    if (this.params.lossP > 0 && this.random.next() < this.params.lossP) return;
    const delay = this.params.latencyMs + this.random.next() * this.params.jitterMs + this.links.extraDelayMs(from, to);
    const copy = structuredClone(msg);
    this.sched.schedule(delay, `${from}>${to} ${msg.type}`, () => {
      if (this.links.isCut(from, to)) return;
      this.receivers.get(to)?.(from, copy);
    });
  }
}
