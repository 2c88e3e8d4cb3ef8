// Wires failure detection into a node: SWIM (the default) over the
// inter-node transport, or the passive detector that learns only from
// request outcomes (membership: "passive"). Also its Prometheus metrics and
// its log lines, which are where a state change is timestamped.

import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { PassiveLiveness, type Liveness } from '../membership/liveness.js';
import type { SwimCounters, MemberView } from '../membership/swim.js';
import { SwimLiveness, transportSender } from '../membership/swim-liveness.js';
import type { Handler, Transport } from '../transport/transport.js';
import type { Clock, Random } from '../util/runtime.js';
import type { NodeId } from '../version/dvv.js';
import type { NodeConfig } from './config.js';

export interface NodeMembership {
  readonly detector: 'swim' | 'passive';
  readonly liveness: Liveness;
  /** Members this node holds down (dead or left for SWIM). */
  downNodes(): NodeId[];
  view(): {
    detector: 'swim' | 'passive';
    incarnation: number | null;
    healthScore: number | null;
    members: MemberView[];
    counters: SwimCounters | null;
  };
  /** Wraps the node's request handler: SWIM packets go to the detector (answered at once), the rest to `handler`. */
  route(handler: Handler): Handler;
  start(): void;
  /** Announces a voluntary leave (SWIM) and stops; resolves once the announcement had a moment to go out. */
  stop(): Promise<void>;
}

export function createMembership(opts: {
  config: NodeConfig;
  transport: Transport;
  clock: Clock;
  random: Random;
  logger: Logger;
  registry: Registry;
  /**
   * Called with a member that is evidently up: the view just saw it alive
   * again, or a packet from it just arrived. The transport drops its
   * reconnect backoff for it, so that requests to a node that came back do
   * not keep failing 'unreachable' until the backoff runs out.
   */
  onAlive?: (node: NodeId) => void;
}): NodeMembership {
  const { config, transport, clock, logger, registry } = opts;
  const ids = config.members.map((m) => m.id);
  let m: NodeMembership;
  if (config.membership === 'passive') {
    const passive = new PassiveLiveness(clock, (node) =>
      transport.request(node, { type: 'ping' }, 1000).then(
        () => true,
        () => false,
      ),
    );
    const startedMs = clock.now();
    m = {
      detector: 'passive',
      liveness: passive,
      downNodes: () => passive.downNodes(),
      view: () => {
        const down = new Set(passive.downNodes());
        return {
          detector: 'passive',
          incarnation: null,
          healthScore: null,
          members: ids
            .filter((id) => id !== config.id)
            .map((id) => {
              const state = down.has(id) ? 'dead' : 'alive';
              return { id, state, incarnation: 0, lastHeardMs: null, stateSinceMs: startedMs };
            }),
          counters: null,
        };
      },
      route: (handler) => handler,
      start: () => {},
      stop: async () => passive.stop(),
    };
  } else {
    const swim = new SwimLiveness({
      self: config.id,
      members: ids,
      config: config.swim,
      clock,
      random: opts.random,
      // The deadline only bounds how long the transport tracks the packet; its answer is ignored.
      send: transportSender(transport, Math.max(1000, config.swim.probeIntervalMs * 2)),
      onStateChange: (node, from, to) => {
        const line = { component: 'swim', member: node, from, to, incarnation: swim.swim.member(node)?.incarnation ?? swim.swim.incarnation() };
        if (to === 'alive') {
          logger.info(line, `member ${node} is alive`);
          opts.onAlive?.(node);
        } else logger.warn(line, `member ${node} is ${to}`);
      },
    });
    let stopped = false;
    m = {
      detector: 'swim',
      liveness: swim,
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
          opts.onAlive?.(from);
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
        // Let the leave announcement reach the wire before the transport closes.
        await new Promise<void>((r) => clock.setTimer(150, r));
        swim.stop();
      },
    };
    registerSwimMetrics(registry, swim);
  }
  new Gauge({
    name: 'ringstore_nodes_believed_down',
    help: 'Members this node currently believes down',
    registers: [registry],
    collect() {
      this.set(m.downNodes().length);
    },
  });
  return m;
}

function registerSwimMetrics(registry: Registry, swim: SwimLiveness): void {
  const seen: Partial<Record<keyof SwimCounters, number>> = {};
  new Counter({
    name: 'ringstore_swim_events_total',
    help: 'SWIM failure detector events at this node (probes, acks, suspicions, deaths, refutations...)',
    labelNames: ['event'],
    registers: [registry],
    collect() {
      const c = swim.counters();
      for (const k of Object.keys(c) as (keyof SwimCounters)[]) {
        const delta = c[k] - (seen[k] ?? 0);
        if (delta > 0) this.labels(k).inc(delta);
        else if (seen[k] === undefined) this.labels(k).inc(0);
        seen[k] = c[k];
      }
    },
  });
  new Gauge({
    name: 'ringstore_swim_members',
    help: 'Members by state in this node\'s SWIM view (self excluded)',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const counts: Record<string, number> = { alive: 0, suspect: 0, dead: 0, left: 0 };
      for (const v of swim.members()) counts[v.state] = (counts[v.state] ?? 0) + 1;
      for (const [state, n] of Object.entries(counts)) this.labels(state).set(n);
    },
  });
  new Gauge({
    name: 'ringstore_swim_health_score',
    help: 'Lifeguard local health multiplier score (0 is healthy; timeouts stretch by score + 1)',
    registers: [registry],
    collect() {
      this.set(swim.swim.healthScore());
    },
  });
  new Gauge({
    name: 'ringstore_swim_incarnation',
    help: 'This node\'s SWIM incarnation number',
    registers: [registry],
    collect() {
      this.set(swim.swim.incarnation());
    },
  });
}
