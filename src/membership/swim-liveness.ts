// The coordinator's Liveness backed by SWIM: the Swim state machine on its
// SwimDriver, its packets carried by whatever `send` the caller gives (the
// server: inter-node requests whose answers are ignored, see
// transportSender; the simulator: its own datagram channel).
//
// Routing follows the gossip view alone. The coordinator's own request
// outcomes are not used: a timeout under load is exactly the weak evidence
// SWIM's suspicion (§4.2) and Lifeguard exist to discount, and a node that
// marked peers dead on its own timeouts would push writes to fallbacks on
// every slow request. A write that does fail meets a stand-in in the
// coordinator (sloppy quorum), whatever the view says.

import type { Transport } from '../transport/transport.js';
import type { Clock, Random } from '../util/runtime.js';
import type { NodeId } from '../version/dvv.js';
import type { Liveness } from './liveness.js';
import type { MemberState, SwimMessage } from './messages.js';
import { Swim, type MemberView, type SwimConfig, type SwimCounters } from './swim.js';
import { SwimDriver } from './swim-driver.js';

export interface SwimLivenessOptions {
  readonly self: NodeId;
  /** Every member of the layout, this node included or not. */
  readonly members: readonly NodeId[];
  readonly config: SwimConfig;
  readonly clock: Clock;
  readonly random: Random;
  /** Best-effort send of one packet; must not throw. */
  readonly send: (to: NodeId, msg: SwimMessage) => void;
  readonly onStateChange?: (node: NodeId, from: MemberState, to: MemberState) => void;
}

export class SwimLiveness implements Liveness {
  readonly swim: Swim;
  private readonly driver: SwimDriver;

  constructor(opts: SwimLivenessOptions) {
    this.swim = new Swim(opts.self, opts.members, opts.config, opts.clock, opts.random);
    this.driver = new SwimDriver(this.swim, opts.clock, {
      send: opts.send,
      ...(opts.onStateChange !== undefined ? { onStateChange: opts.onStateChange } : {}),
    });
  }

  start(): void {
    this.driver.start();
  }

  /** Announces a voluntary leave (SWIM's "left"), so peers stop routing here at once; then stop(). */
  leave(): void {
    this.driver.leave();
  }

  stop(): void {
    this.driver.stop();
  }

  /** An incoming SWIM packet. */
  receive(from: NodeId, msg: SwimMessage): void {
    this.driver.receive(from, msg);
  }

  isAlive(node: NodeId): boolean {
    return this.swim.isAlive(node);
  }

  reportSuccess(): void {}

  reportFailure(): void {}

  /** Members this node holds dead or left, sorted. */
  downNodes(): NodeId[] {
    return this.swim
      .members()
      .filter((m) => m.state === 'dead' || m.state === 'left')
      .map((m) => m.id);
  }

  members(): MemberView[] {
    return this.swim.members();
  }

  counters(): SwimCounters {
    return this.swim.counters();
  }
}

/**
 * SWIM packets over the inter-node transport: each is a `swim` request whose
 * answer (sent by the receiver at once) is ignored, so a packet costs one
 * small message each way on the peer's already open stream. Loss and
 * lateness are what SWIM expects of datagrams; the deadline only bounds how
 * long the transport keeps the request's state.
 */
export function transportSender(transport: Transport, deadlineMs: number): (to: NodeId, msg: SwimMessage) => void {
  return (to, msg) => {
    transport.request(to, { type: 'swim', msg }, deadlineMs).catch(() => undefined);
  };
}
