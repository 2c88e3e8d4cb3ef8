// Wires anti-entropy into a node: the store decorator that keeps Merkle
// trees in step with writes (rebuilt once here, from a scan, before the node
// serves), the AntiEntropy component on real timers, its messages routed
// ahead of the coordinator, Prometheus metrics, a /health field and the
// /_antientropy endpoints:
//
//   GET  /_antientropy                 status: rounds, last round, totals, trees, config
//   GET  /_antientropy/roots           root hash of every partition this node replicates
//   GET  /_antientropy/key?bucket=&key=  what this node's own store holds for one key
//   POST /_antientropy/round           run a round now and answer its report

import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { AntiEntropy, type RoundReport } from '../antientropy/antientropy.js';
import { keyDigestHex } from '../antientropy/merkle.js';
import { isAeRequest } from '../antientropy/protocol.js';
import { MerkleTrackingStore } from '../antientropy/tracking-store.js';
import { ApiError } from '../api/errors.js';
import { methodNotAllowed, sendJson, type Mount } from '../api/http.js';
import type { Liveness } from '../membership/liveness.js';
import type { Ring } from '../ring/ring.js';
import type { ReplicaStore } from '../store/store.js';
import type { ResponseFor, Request } from '../transport/messages.js';
import type { Handler, Transport } from '../transport/transport.js';
import type { Clock } from '../util/runtime.js';
import { isTombstoneOnly, type NodeId } from '../version/dvv.js';
import type { AntiEntropySettings } from './config.js';

export interface NodeAntiEntropy {
  /** The node's store, wrapped: give this one to everything that writes replicas. */
  readonly store: MerkleTrackingStore;
  readonly component: AntiEntropy;
  /** Sends anti-entropy messages to the component, everything else to `handler`. */
  route(handler: Handler): Handler;
  readonly mount: Mount;
  health(): Record<string, unknown>;
  start(): void;
  stop(): Promise<void>;
}

export interface NodeAntiEntropyOptions {
  readonly self: NodeId;
  readonly settings: AntiEntropySettings;
  readonly partitions: number;
  readonly store: ReplicaStore;
  readonly transport: Transport;
  readonly clock: Clock;
  readonly ring: () => Ring;
  readonly liveness: Liveness;
  /** Replicas per partition: the cluster's default N. */
  readonly n: number;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly pendingHint?: (bucket: string, key: string) => boolean;
  readonly dotFloor?: { current(): number; raise(counter: number): Promise<void> };
}

export function createNodeAntiEntropy(opts: NodeAntiEntropyOptions): NodeAntiEntropy {
  const { settings, registry, logger } = opts;
  const store = new MerkleTrackingStore(opts.store, { fanout: settings.fanout, depth: settings.depth });
  // Trees are not persisted: one scan at startup, before anything is served,
  // so that no write is in flight while a partition is scanned.
  const t0 = performance.now();
  const rebuilt = store.rebuild(opts.partitions);
  const rebuildMs = performance.now() - t0;
  logger.info({ component: 'antientropy', partitions: rebuilt.partitions, keys: rebuilt.keys, ms: Math.round(rebuildMs) }, 'merkle trees built from a scan of the store');

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
  const component: AntiEntropy = new AntiEntropy({
    self: opts.self,
    store,
    transport: opts.transport,
    clock: opts.clock,
    ring: opts.ring,
    liveness: opts.liveness,
    n: opts.n,
    config: {
      intervalMs: settings.intervalMs,
      keysPerSec: settings.keysPerSec,
      maxPartitionsInFlight: settings.maxPartitionsInFlight,
      tombstoneGraceMs: settings.tombstoneGraceMs,
      gcIntervalMs: settings.gcIntervalMs,
      maxDataAgeMs: settings.maxDataAgeMs,
      maxClockSkewMs: settings.maxClockSkewMs,
    },
    ...(opts.pendingHint !== undefined ? { pendingHint: opts.pendingHint } : {}),
    ...(opts.dotFloor !== undefined ? { dotFloor: opts.dotFloor } : {}),
    events: {
      round: (r: RoundReport) => {
        rounds.inc();
        compared.inc(r.partitionsCompared);
        differing.inc(r.partitionsDiffering);
        lastRound.set(r.durationMs / 1000);
        if (r.partitionsDiffering > 0 || r.tombstonesCollected > 0 || r.errors > 0) {
          logger.info(
            { component: 'antientropy', ms: r.durationMs, differing: r.partitionsDiffering, pulled: r.keysPulled, pushed: r.keysPushed, collected: r.tombstonesCollected, errors: r.errors },
            'anti-entropy round',
          );
        }
      },
      pulled: (_peer, n) => repaired.labels('pulled').inc(n),
      pushed: (_peer, n) => repaired.labels('pushed').inc(n),
      collected: (n) => collected.inc(n),
      error: (peer, what, err) => {
        errors.inc();
        logger.debug({ component: 'antientropy', peer, what, err: err instanceof Error ? err.message : String(err) }, 'anti-entropy exchange failed');
      },
    },
  });
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

  const mount: Mount = {
    prefix: '/_antientropy',
    handler: async (req, res, url, ctx) => {
      ctx.route = 'antientropy';
      const sub = url.path.slice('/_antientropy'.length);
      const method = req.method ?? 'GET';
      if (sub === '' || sub === '/') {
        if (method !== 'GET') throw methodNotAllowed('GET');
        sendJson(res, 200, { ok: true, node: opts.self, ...component.status(), rebuild: { ...rebuilt, ms: Math.round(rebuildMs) } });
        return;
      }
      if (sub === '/roots') {
        if (method !== 'GET') throw methodNotAllowed('GET');
        sendJson(res, 200, { ok: true, node: opts.self, partitions: component.roots() });
        return;
      }
      if (sub === '/key') {
        if (method !== 'GET') throw methodNotAllowed('GET');
        const bucket = url.query.get('bucket');
        const key = url.query.get('key');
        if (bucket === null || key === null) throw new ApiError('InvalidArgument', 'give ?bucket= and ?key=');
        const set = store.read(bucket, key);
        sendJson(res, 200, {
          ok: true,
          node: opts.self,
          partition: opts.ring().partitionOf(bucket, key),
          present: set !== undefined,
          tombstone_only: set !== undefined && isTombstoneOnly(set),
          dots: set?.siblings.map((s) => `${s.dot.node}:${s.dot.counter}${s.value === null ? ':tombstone' : ''}`) ?? [],
          digest: keyDigestHex(bucket, key, set),
        });
        return;
      }
      if (sub === '/round') {
        if (method !== 'POST') throw methodNotAllowed('POST');
        sendJson(res, 200, { ok: true, node: opts.self, report: await component.runRound() });
        return;
      }
      throw new ApiError('NotFound', `no such endpoint: ${url.path}`);
    },
  };

  return {
    store,
    component,
    route: (handler: Handler): Handler => async (from, req: Request) => {
      if (isAeRequest(req)) return (await component.handle(from, req)) as ResponseFor[Request['type']];
      return handler(from, req);
    },
    mount,
    health: () => {
      const s = component.status();
      return {
        running: s.running,
        rounds: s.rounds,
        in_sync: s.inSync,
        keys_repaired: s.totals.keysPulled + s.totals.keysPushed,
        tombstones_collected: s.totals.tombstonesCollected,
        last_round_ms: s.lastRound?.durationMs ?? null,
      };
    },
    start: () => {
      if (settings.enabled) component.start();
    },
    stop: () => component.stop(),
  };
}
