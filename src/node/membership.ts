// A server's view of its failure detector (built by components/membership.ts):
// Prometheus metrics of the SWIM view and its events.

import { Counter, Gauge, type Registry } from 'prom-client';
import type { NodeMembership } from '../components/membership.js';
import type { SwimLiveness } from '../membership/swim-liveness.js';
import type { SwimCounters } from '../membership/swim.js';

export function registerMembershipMetrics(registry: Registry, membership: NodeMembership): void {
  new Gauge({
    name: 'ringstore_nodes_believed_down',
    help: 'Members this node currently believes down',
    registers: [registry],
    collect() {
      this.set(membership.downNodes().length);
    },
  });
  if (membership.swim !== undefined) registerSwimMetrics(registry, membership.swim);
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
