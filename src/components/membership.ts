// A node's failure detector, built from its parts: SWIM (the default) with
// its packets carried by whatever channel the caller gives, or the passive
// detector that learns only from request outcomes and pings the nodes it
// holds down (membership: "passive"). The server and the simulator both get
// theirs here; only the channel differs (inter-node requests on a server,
// the simulator's datagrams under virtual time).

import { PassiveLiveness, type Liveness, type PassiveLivenessOptions } from '../membership/liveness.js';
import type { MemberState, SwimMessage } from '../membership/messages.js';
import type { MemberView, SwimConfig, SwimCounters } from '../membership/swim.js';
import { SwimLiveness, transportSender } from '../membership/swim-liveness.js';
import type { Handler, Transport } from '../transport/transport.js';
import type { Clock, Random } from '../util/runtime.js';
import type { NodeId } from '../version/dvv.js';
import type { ComponentLog } from './log.js';

export type MembershipSettings =
  | { readonly detector: 'swim'; readonly swim: SwimConfig }
  | {
      readonly detector: 'passive';
      /** Deadline of the ping that asks whether a node held down is back. */
      readonly pingTimeoutMs: number;
      readonly passive?: PassiveLivenessOptions;
    };

/** How SWIM's best-effort packets travel between nodes. */
export interface PacketChannel {
  /** Sends one packet; may lose it, must not throw. */
  send(to: NodeId, msg: SwimMessage): void;
  /** Installs the receiver of the packets addressed to this node. */
  listen(receive: (from: NodeId, msg: SwimMessage) => void): void;
}

export interface NodeMembership {
  readonly detector: 'swim' | 'passive';
  readonly liveness: Liveness;
  /** The SWIM detector, for its counters and metrics (undefined when passive). */
  readonly swim: SwimLiveness | undefined;
  /** Members this node holds down (dead or left for SWIM). */
  downNodes(): NodeId[];
  view(): MembershipView;
  /** Wraps the node's request handler: SWIM packets go to the detector (answered at once), the rest to `handler`. */
  route(handler: Handler): Handler;
  start(): void;
  /** Announces a voluntary leave (SWIM) and stops; resolves once the announcement had a moment to go out. */
  stop(): Promise<void>;
  /** Stops at once without a word to anyone, as a crash would. */
  halt(): void;
}

export interface MembershipView {
  readonly detector: 'swim' | 'passive';
  readonly incarnation: number | null;
  readonly healthScore: number | null;
  readonly members: MemberView[];
  readonly counters: SwimCounters | null;
}

export interface MembershipParts {
  readonly self: NodeId;
  readonly members: readonly NodeId[];
  readonly clock: Clock;
  readonly random: Random;
  readonly transport: Transport;
  /** SWIM's packet channel; by default `swim` requests on the transport (transportSender), received through route(). */
  readonly packets?: PacketChannel;
  readonly log: ComponentLog;
  /**
   * Called with a member that is evidently up: the view just saw it alive
   * again, or a packet from it just arrived. A server's transport drops its
   * reconnect backoff for it, so that requests to a node that came back do
   * not keep failing 'unreachable' until the backoff runs out.
   */
  readonly memberAlive?: (node: NodeId) => void;
}

/** How long a leaving node waits for its leave announcement to reach the wire before it stops. */
const LEAVE_GRACE_MS = 150;

export function buildMembership(parts: MembershipParts, settings: MembershipSettings): NodeMembership {
  const { self, clock, transport, log } = parts;
  if (settings.detector === 'passive') {
    const passive = new PassiveLiveness(
      clock,
      (node) =>
        transport.request(node, { type: 'ping' }, settings.pingTimeoutMs).then(
          () => true,
          () => false,
        ),
      settings.passive,
    );
    const startedMs = clock.now();
    return {
      detector: 'passive',
      liveness: passive,
      swim: undefined,
      downNodes: () => passive.downNodes(),
      view: () => {
        const down = new Set(passive.downNodes());
        return {
          detector: 'passive',
          incarnation: null,
          healthScore: null,
          members: parts.members
            .filter((id) => id !== self)
            .map((id) => ({ id, state: down.has(id) ? 'dead' : 'alive', incarnation: 0, lastHeardMs: null, stateSinceMs: startedMs })),
          counters: null,
        };
      },
      route: (handler) => handler,
      start: () => {},
      stop: async () => passive.stop(),
      halt: () => passive.stop(),
    };
  }

  const swimConfig = settings.swim;
  const swim: SwimLiveness = new SwimLiveness({
    self,
    members: parts.members,
    config: swimConfig,
    clock,
    random: parts.random,
    // The deadline only bounds how long the transport tracks the packet; its answer is ignored.
    send: parts.packets !== undefined ? (to, msg) => parts.packets?.send(to, msg) : transportSender(transport, Math.max(1000, swimConfig.probeIntervalMs * 2)),
    onStateChange: (node: NodeId, from: MemberState, to: MemberState) => {
      const line = { component: 'swim', member: node, from, to, incarnation: swim.swim.member(node)?.incarnation ?? swim.swim.incarnation() };
      if (to === 'alive') {
        log.info(line, `member ${node} is alive`);
        parts.memberAlive?.(node);
      } else log.warn(line, `member ${node} is ${to}`);
    },
  });
  parts.packets?.listen((from, msg) => swim.receive(from, msg));
  let stopped = false;
  return {
    detector: 'swim',
    liveness: swim,
    swim,
    downNodes: () => swim.downNodes(),
    view: () => ({
      detector: 'swim',
      incarnation: swim.swim.incarnation(),
      healthScore: swim.swim.healthScore(),
      members: swim.members(),
      counters: swim.counters(),
    }),
    route: (handler) => async (from, req) => {
      if (req.type === 'swim') {
        parts.memberAlive?.(from);
        swim.receive(from, req.msg);
        return { type: 'swimOk' };
      }
      return handler(from, req);
    },
    start: () => swim.start(),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      swim.leave();
      await new Promise<void>((r) => clock.setTimer(LEAVE_GRACE_MS, r));
      swim.stop();
    },
    halt: () => {
      stopped = true;
      swim.stop();
    },
  };
}
