// A server's Prometheus metrics of its components: counters fed by the
// hooks buildNode calls, gauges read from the components at scrape time.

import { Counter, Gauge, type Registry } from 'prom-client';
import type { NodeComponents, NodeHooks } from '../components/build-node.js';
import type { HintStore } from '../store/store.js';
import { antiEntropyMetrics, registerAntiEntropyGauges } from './antientropy.js';
import { registerMembershipMetrics } from './membership.js';

/** Counters of what the coordinator, handoff and anti-entropy do: hand the result to buildNode as its hooks. */
export function componentMetrics(registry: Registry): NodeHooks {
  const readRepairs = new Counter({ name: 'ringstore_read_repairs_total', help: 'Stale replicas repaired after a read', registers: [registry] });
  const hintedWrites = new Counter({ name: 'ringstore_hinted_writes_total', help: 'Writes sent to a fallback node in place of an owner', registers: [registry] });
  const staleRefused = new Counter({
    name: 'ringstore_stale_copies_refused_total',
    help: 'Copies of sibling sets not merged (putReplica) or not kept as hints because they were read longer ago than maxDataAgeMs',
    labelNames: ['what'],
    registers: [registry],
  });
  const hintsStored = new Counter({ name: 'ringstore_hints_stored_total', help: 'Hinted writes this node took for another owner', labelNames: ['owner'], registers: [registry] });
  const hintsDelivered = new Counter({ name: 'ringstore_hints_delivered_total', help: 'Hints handed off to their owner and deleted', labelNames: ['owner'], registers: [registry] });
  const hintFailures = new Counter({ name: 'ringstore_hint_delivery_failures_total', help: 'Hint deliveries that failed (retried later)', labelNames: ['owner'], registers: [registry] });
  return {
    coordinator: {
      readRepair: () => readRepairs.inc(),
      hintedWrite: () => hintedWrites.inc(),
      staleRefused: (what) => staleRefused.labels(what).inc(),
      hintStored: (owner) => hintsStored.labels(owner).inc(),
    },
    handoff: {
      delivered: (owner) => hintsDelivered.labels(owner).inc(),
      failed: (owner) => hintFailures.labels(owner).inc(),
    },
    antiEntropy: antiEntropyMetrics(registry),
  };
}

/** Gauges of the membership view, anti-entropy and the hint table (`hints`: the raw store's hint table). */
export function registerComponentGauges(registry: Registry, components: NodeComponents, hints: Pick<HintStore, 'hintTotals'>): void {
  registerMembershipMetrics(registry, components.membership);
  registerAntiEntropyGauges(registry, components.antiEntropy, components.store);
  new Gauge({
    name: 'ringstore_hints_pending',
    help: 'Hints waiting on this node, per owner they wait for',
    labelNames: ['owner'],
    registers: [registry],
    collect() {
      this.reset();
      for (const t of hints.hintTotals()) this.labels(t.owner).set(t.hints);
    },
  });
  new Gauge({
    name: 'ringstore_hints_pending_bytes',
    help: 'Approximate bytes of hints waiting on this node',
    registers: [registry],
    collect() {
      let b = 0;
      for (const t of hints.hintTotals()) b += t.bytes;
      this.set(b);
    },
  });
}
