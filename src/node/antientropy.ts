// A server's view of anti-entropy (the component is built by
// components/build-node.ts): Prometheus metrics, a /health field and the
// /_antientropy endpoints:
//
//   GET  /_antientropy                 status: rounds, last round, totals, trees, config
//   GET  /_antientropy/roots           root hash of every partition this node replicates
//   GET  /_antientropy/key?bucket=&key=  what this node's own store holds for one key
//   POST /_antientropy/round           run a round now and answer its report

import { Counter, Gauge, type Registry } from 'prom-client';
import type { AntiEntropy, AntiEntropyEvents, RoundReport } from '../antientropy/antientropy.js';
import { keyDigestHex } from '../antientropy/merkle.js';
import type { MerkleTrackingStore, RebuildStats } from '../antientropy/tracking-store.js';
import { ApiError } from '../api/errors.js';
import { methodNotAllowed, sendJson, type Mount } from '../api/http.js';
import type { Placement } from '../ring/view.js';
import { isTombstoneOnly, type NodeId } from '../version/dvv.js';

/** Counters fed by the component's events (hand them to buildNode as hooks.antiEntropy). */
export function antiEntropyMetrics(registry: Registry): AntiEntropyEvents {
  const rounds = new Counter({ name: 'ringstore_antientropy_rounds_total', help: 'Anti-entropy rounds completed', registers: [registry] });
  const compared = new Counter({ name: 'ringstore_antientropy_partitions_compared_total', help: 'Partition roots compared with a peer', registers: [registry] });
  const differing = new Counter({ name: 'ringstore_antientropy_partitions_differing_total', help: 'Partitions whose roots differed from a peer\'s', registers: [registry] });
  const repaired = new Counter({
    name: 'ringstore_antientropy_keys_repaired_total',
    help: 'Keys repaired by anti-entropy: pulled (merged here from a peer) or pushed (changed on a peer)',
    labelNames: ['direction'],
    registers: [registry],
  });
  const errors = new Counter({ name: 'ringstore_antientropy_errors_total', help: 'Failed anti-entropy exchanges (retried next round)', registers: [registry] });
  const collected = new Counter({ name: 'ringstore_tombstones_collected_total', help: 'Tombstones removed from this node after the grace period, once every replica held them', registers: [registry] });
  const lastRound = new Gauge({ name: 'ringstore_antientropy_last_round_seconds', help: 'Duration of the last anti-entropy round', registers: [registry] });
  return {
    round: (r: RoundReport) => {
      rounds.inc();
      compared.inc(r.partitionsCompared);
      differing.inc(r.partitionsDiffering);
      lastRound.set(r.durationMs / 1000);
    },
    pulled: (_peer, n) => repaired.labels('pulled').inc(n),
    pushed: (_peer, n) => repaired.labels('pushed').inc(n),
    collected: (n) => collected.inc(n),
    error: () => errors.inc(),
  };
}

export interface AntiEntropyView {
  readonly self: NodeId;
  readonly component: AntiEntropy;
  /** The node's store as the components see it, with its Merkle trees. */
  readonly store: MerkleTrackingStore;
  readonly rebuilt: RebuildStats & { readonly ms: number };
  readonly ring: () => Placement;
  /** catalog: the storage name of a bucket given by name (coordinator/buckets-types.ts storageBucket); without it, the name itself. */
  readonly storageOf?: (bucket: string) => Promise<string>;
}

/** Gauges read from the component's status and the trees at scrape time. */
export function registerAntiEntropyGauges(registry: Registry, component: AntiEntropy, store: MerkleTrackingStore): void {
  new Gauge({
    name: 'ringstore_antientropy_in_sync',
    help: '1 when the last round found every compared partition equal with every peer',
    registers: [registry],
    collect() {
      this.set(component.status().inSync ? 1 : 0);
    },
  });
  new Gauge({
    name: 'ringstore_antientropy_partitions_in_flight',
    help: 'Partitions being exchanged now',
    registers: [registry],
    collect() {
      this.set(component.status().partitionsInFlight);
    },
  });
  new Gauge({
    name: 'ringstore_merkle_keys',
    help: 'Keys covered by this node\'s Merkle trees',
    registers: [registry],
    collect() {
      this.set(store.forest.totalKeys());
    },
  });
}

/** The /_antientropy endpoints. */
export function antiEntropyMount(view: AntiEntropyView): Mount {
  const { component, store, rebuilt } = view;
  return {
    prefix: '/_antientropy',
    handler: async (req, res, url, ctx) => {
      ctx.route = 'antientropy';
      const sub = url.path.slice('/_antientropy'.length);
      const method = req.method ?? 'GET';
      if (sub === '' || sub === '/') {
        if (method !== 'GET') throw methodNotAllowed('GET');
        sendJson(res, 200, { ok: true, node: view.self, ...component.status(), rebuild: { ...rebuilt, ms: Math.round(rebuilt.ms) } });
        return;
      }
      if (sub === '/roots') {
        if (method !== 'GET') throw methodNotAllowed('GET');
        sendJson(res, 200, { ok: true, node: view.self, partitions: component.roots() });
        return;
      }
      if (sub === '/key') {
        if (method !== 'GET') throw methodNotAllowed('GET');
        const name = url.query.get('bucket');
        const key = url.query.get('key');
        if (name === null || key === null) throw new ApiError('InvalidArgument', 'give ?bucket= and ?key=');
        const bucket = view.storageOf !== undefined ? await view.storageOf(name) : name; // catalog
        const set = store.read(bucket, key);
        sendJson(res, 200, {
          ok: true,
          node: view.self,
          partition: view.ring().partitionOf(bucket, key),
          present: set !== undefined,
          tombstone_only: set !== undefined && isTombstoneOnly(set),
          dots: set?.siblings.map((s) => `${s.dot.node}:${s.dot.counter}${s.value === null ? ':tombstone' : ''}`) ?? [],
          digest: keyDigestHex(bucket, key, set),
        });
        return;
      }
      if (sub === '/round') {
        if (method !== 'POST') throw methodNotAllowed('POST');
        sendJson(res, 200, { ok: true, node: view.self, report: await component.runRound() });
        return;
      }
      throw new ApiError('NotFound', `no such endpoint: ${url.path}`);
    },
  };
}

/** The anti-entropy field of /health. */
export function antiEntropyHealth(component: AntiEntropy): Record<string, unknown> {
  const s = component.status();
  return {
    running: s.running,
    rounds: s.rounds,
    in_sync: s.inSync,
    keys_repaired: s.totals.keysPulled + s.totals.keysPushed,
    tombstones_collected: s.totals.tombstonesCollected,
    last_round_ms: s.lastRound?.durationMs ?? null,
  };
}
