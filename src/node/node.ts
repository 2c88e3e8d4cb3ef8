// One running node: the real parts (LMDB, gRPC, the system clock, crypto
// randomness, pino) handed to the composition root (components/build-node.ts,
// which the simulator uses too), and around the components it builds what
// only a server has: Prometheus metrics, the HTTP front (native API, cluster
// and anti-entropy endpoints, fault injection), the S3 server and its chunk
// collection. Everything a node owns is closed
// by stop(), in the order that loses nothing: stop taking requests, let
// the ones in flight finish, then close the network and the store.

import { mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { createHttpServer } from '../api/http.js';
import { createNativeApi } from '../api/native.js';
import { buildNode, type NodeComponentsConfig } from '../components/build-node.js';
import type { BucketCatalogApi } from '../coordinator/buckets-types.js';
import { createBucketCatalog, currentBucket, startLegacyImport, storageBuckets, storageOfName } from './catalog-wiring.js'; // catalog
import type { Coordinator } from '../coordinator/coordinator.js';
import type { Quorum } from '../coordinator/types.js';
import { createClusterApi } from '../api/cluster.js';
import { createFaultsApi } from '../api/faults.js';
import { clampQuorum } from '../coordinator/quorum.js';
import type { Transport } from '../transport/transport.js';
import { FaultInjector } from './faults.js';
import { antiEntropyHealth, antiEntropyMount } from './antientropy.js';
import { componentMetrics, registerComponentGauges } from './metrics.js';
import type { Layout } from '../ring/layout.js';
import { Ring } from '../ring/ring.js';
import { openLmdbStore, type LmdbStore } from '../store/lmdb-store.js'; // kvs: LmdbStore
import { createGrpcTransport, type GrpcTransport } from '../transport/grpc.js';
import type { NodeConfig } from './config.js';
import { nodeSecurity } from './tls-identity.js'; // nodeauth: mutual TLS between nodes
import { cryptoRandom, systemClock } from './real-runtime.js';
import { createS3Server } from '../s3/server.js';
import { createS3AdminApi } from '../s3/admin.js';
import { createAuthAdminApi, createTokensApi } from '../api/auth-routes.js';
import { startAuth, tlsFiles, warnIfExposed } from './auth-wiring.js';
import { ChunkCollector, startGcTimer } from '../s3/gc.js';
import { registerS3Metrics } from '../s3/metrics.js';
import { sendJson, type Mount } from '../api/http.js';
import { bindFilesApi, createUserIndex } from './files-wiring.js';
import { createRingSyncApi } from '../api/compat-ringsync.js';
import { createUsersApi } from '../files/users-api.js';
import { layoutNodeOf, startControlPlane, type ControlWiring } from './control-wiring.js'; // raft
import { foundingHistory } from '../layout/founding.js'; // issue 10
import type { Member } from '../layout/types.js'; // issue 10
import { placementFrom, startLayoutWiring } from './layout-wiring.js'; // issue 10
import { createLayoutApi } from '../api/cluster-layout.js'; // issue 10
import type { MerkleTrackingStore } from '../antientropy/tracking-store.js';
import type { RaftDriver } from '../control/driver.js'; // raft
import { contextMac } from '../api/context-mac.js'; // limits: MACed context tokens
import { deriveKey } from './cluster-keys.js'; // limits
import { applyHttpLimits, filesGrpcLimits, guardStorage, installCrashGuards, refuseJson, registerLimitMetrics, refuseS3, RequestGate } from './limits.js'; // limits

export interface RunningNode {
  readonly config: NodeConfig;
  readonly logger: Logger;
  /** Actual bound ports (differ from the config when it asked for port 0). */
  readonly httpPort: number;
  readonly grpcPort: number;
  readonly s3Port: number;
  /** The public gRPC file API (src/files). */
  readonly filesGrpcPort: number;
  readonly coordinator: Coordinator;
  readonly buckets: BucketCatalogApi;
  readonly registry: Registry;
  /** raft: the Raft-backed control plane (a ControlPlane, control/plane.ts). */
  readonly controlPlane: RaftDriver;
  /** The node's own store, read by course mode's key counts (node/course-mode.ts). */
  readonly store: LmdbStore; // kvs
  /** Graceful and idempotent: closes HTTP (waiting briefly for requests in flight), the transport, then the store. */
  stop(): Promise<void>;
}

export interface StartNodeOptions {
  /** A logger to use instead of a new pino logger on stdout. */
  readonly logger?: Logger;
  /** How long stop() lets HTTP requests in flight finish before cutting them. */
  readonly drainMs?: number;
}

export { clampQuorum };

/** A configured member as a layout member (issue 10): a storage node whose capacity is its ring weight (layoutNodeOf). */
function memberOf(m: NodeConfig['members'][number]): Member {
  const n = layoutNodeOf(m);
  return { id: n.id, zone: n.zone, capacity: n.capacity, role: 'storage', addresses: n.addresses };
}

/** Bytes of one replica of each partition held here, for a plan's "bytes moving" (a scan: plans are rare). */
function partitionBytes(store: MerkleTrackingStore, partitions: number): number[] {
  const out = new Array<number>(partitions).fill(0);
  for (const p of store.forest.partitions()) {
    if (p >= partitions) continue;
    for (const e of store.scanPartition(p)) for (const s of e.set.siblings) out[p]! += (s.value?.byteLength ?? 0) + e.key.length;
  }
  return out;
}

export function layoutOf(config: NodeConfig): Layout {
  return { epoch: 1, partitions: config.partitions, nodes: config.members.map((m) => ({ id: m.id, zone: m.zone, weight: m.weight })) };
}

/** What the composition root needs of a server's configuration. */
export function componentsConfig(config: NodeConfig, quorum: Quorum): NodeComponentsConfig {
  const ae = config.antiEntropy;
  return {
    members: config.members.map((m) => m.id),
    partitions: config.partitions,
    quorum,
    coordinator: { maxSiblings: config.limits.maxSiblings, ...(config.replicaTimeoutMs !== undefined ? { replicaTimeoutMs: config.replicaTimeoutMs } : {}) }, // limits; kvs: course mode's replica deadline
    membership: config.membership === 'passive' ? { detector: 'passive', pingTimeoutMs: 1000 } : { detector: 'swim', swim: config.swim },
    handoff: { config: config.handoff, maxHints: config.handoff.maxHints, maxHintBytes: config.handoff.maxHintBytes },
    antiEntropy: {
      enabled: ae.enabled,
      shape: { fanout: ae.fanout, depth: ae.depth },
      config: {
        intervalMs: ae.intervalMs,
        keysPerSec: ae.keysPerSec,
        maxPartitionsInFlight: ae.maxPartitionsInFlight,
        tombstoneGraceMs: ae.tombstoneGraceMs,
        gcIntervalMs: ae.gcIntervalMs,
        maxDataAgeMs: ae.maxDataAgeMs,
        maxClockSkewMs: ae.maxClockSkewMs,
        ...(config.antiEntropyRequestTimeoutMs !== undefined ? { requestTimeoutMs: config.antiEntropyRequestTimeoutMs } : {}), // kvs: course mode
      },
    },
  };
}

export async function startNode(config: NodeConfig, opts: StartNodeOptions = {}): Promise<RunningNode> {
  const logger = opts.logger ?? pino({ level: config.logLevel, base: { node: config.id } });
  const cleanups: (() => Promise<void> | void)[] = [];
  const undo = async (): Promise<void> => {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (err) {
        logger.warn({ err }, 'cleanup failed');
      }
    }
  };

  try {
    const filesApi = await bindFilesApi(config.filesGrpc, filesGrpcLimits(config.limits) /* limits */, tlsFiles(config));
    const gate = new RequestGate(config.limits); // limits: requests and bytes in flight, all HTTP listeners
    cleanups.push(() => filesApi.close());
    mkdirSync(config.dataDir, { recursive: true });
    const lmdb = await openLmdbStore(config.dataDir, config.storeLog !== undefined ? { log: config.storeLog } : {});
    if (lmdb.logUnavailable !== undefined) logger.warn(`store: running without the write log: ${lmdb.logUnavailable}`);
    guardStorage(lmdb, config.id, (err) => logger.error({ err }, 'store full: refusing writes (507), still serving reads')); // limits
    cleanups.push(() => lmdb.close());

    // Dev-only fault injection (--faults): acts on everything sent (the gRPC
    // fault filter) and received (the wrapped transport below).
    const faults = config.faults ? new FaultInjector(config.id) : undefined;
    if (faults !== undefined) logger.warn('fault injection is ON (--faults): POST /_faults can cut this node off; never in production');
    const peers = new Map(config.members.filter((m) => m.id !== config.id).map((m) => [m.id, m.grpc] as const));
    const controlRef: { current?: ControlWiring } = {};
    const grpcTransport: GrpcTransport = await createGrpcTransport({
      self: config.id,
      listen: `${config.grpc.host.includes(':') ? `[${config.grpc.host}]` : config.grpc.host}:${config.grpc.port}`,
      peers,
      ...(config.bulkPort !== undefined ? { bulk: { port: config.bulkPort } } : {}), // kvs: course mode's derived bulk-lane port
      log: (msg) => logger.debug({ component: 'transport' }, msg),
      // nodeauth: mutual TLS from the cluster keys; refused peers are logged as warnings (docs/security.md).
      // The layout is read through `controlRef`, set once the control plane runs: until then only configured members are.
      security: await nodeSecurity(config, {
        has: (id) => controlRef.current?.plane.state.layout().nodes.some((n) => n.id === id) === true,
        // devlayout: joining lasts until this node is in the Raft configuration it applied, not only until its layout is non-empty:
        // the snapshot it installs may be older than the newest members (the bootstrap one names only the founders), and a leader
        // that joined later would then be refused for good, so the log that names it could never arrive.
        joining: () => {
          const c = controlRef.current;
          if (config.join === undefined || c === undefined) return false;
          if (c.plane.state.layout().nodes.length === 0) return true;
          const s = c.plane.status();
          return !s.voters.includes(config.id) && !s.learners.includes(config.id);
        },
      }),
      warn: (msg) => logger.warn({ component: 'transport' }, msg),
      ...(faults !== undefined ? { faults: faults.outgoing } : {}),
    });
    cleanups.push(() => grpcTransport.close());
    logger.info({ component: 'transport', keys: config.clusterKeys.map((k) => k.id) }, `between nodes: mutual TLS, certificate issued by cluster key ${config.clusterKeys[0]!.id}`); // nodeauth
    if (config.clusterKeysEphemeral && config.members.length > 1) logger.warn({ component: 'transport' }, 'no clusterKeys configured: this node made up its own, so every other node will refuse it (give every node the same clusterKeys)'); // nodeauth
    const transport: Transport = faults !== undefined ? faults.wrapTransport(grpcTransport) : grpcTransport;

    const layout = layoutOf(config);
    const ring = new Ring(layout);
    // A joining node learns the cluster's size from the layout: its own member list is only itself.
    const defaultQuorum = config.join !== undefined ? config.quorum : clampQuorum(config.quorum, layout.nodes.length);

    const registry = new Registry();
    registry.setDefaultLabels({ node: config.id });
    collectDefaultMetrics({ register: registry });

    // raft: the control plane (node/control-wiring.ts): its log in <dataDir>/raft, its messages on the transport.
    // issue 10: a new cluster's first layout version is today's ring over the founding members (layout/founding.ts).
    const foundingLayout = config.foundingLayout?.(config.members.map(memberOf)) ?? foundingHistory(config.members.map(memberOf), ring, defaultQuorum.n); // kvs: course mode founds in groups
    const control = await startControlPlane({ config, logger, transport, clock: systemClock, random: cryptoRandom, registry, setPeers: (p) => grpcTransport.setPeers(p), foundingLayout });
    controlRef.current = control;
    cleanups.push(() => control.stop());
    // issue 10: the data path follows the layout history once it has a version (node/layout-wiring.ts).
    const placement = placementFrom(control.plane, ring);
    const clusterSize = (): number => placement().nodes.length;

    // The node's components (failure detection, coordinator, hinted
    // handoff, anti-entropy), built as the simulator builds them but over
    // the real parts; this file adds what only a server has around them.
    const components = buildNode(
      { self: config.id, clock: systemClock, random: cryptoRandom, transport: control.transport /* raft: routes `raft` requests */, store: lmdb, ring: placement, confirmLayout: () => control.plane.confirm(), log: logger },
      componentsConfig(config, defaultQuorum),
      { ...componentMetrics(registry), memberAlive: (node) => grpcTransport.wake(node) },
    );
    registerComponentGauges(registry, components, lmdb);
    registerLimitMetrics(registry, gate); // limits
    const { coordinator, handoff, membership } = components;
    const liveness = membership.liveness;
    components.start();
    cleanups.push(() => components.stop());
    const layoutWiring = startLayoutWiring({ self: config.id, plane: control.plane, placement, components, clock: systemClock, logger, registry, quorum: defaultQuorum, bytesPerSecond: config.layoutSyncBytesPerSecond });
    cleanups.push(() => layoutWiring.stop());
    // catalog: buckets in the control state; an old data folder's bucket records are imported once.
    const buckets = createBucketCatalog({ coordinator, plane: control.plane });
    cleanups.push(startLegacyImport({ store: lmdb, plane: control.plane, logger }));
    // Users, keys and tokens (issue 11): every port but /health needs credentials.
    const auth = startAuth(config, logger, control.plane, { founder: control.bootstrapped });
    cleanups.push(() => auth.stop());
    const tls = tlsFiles(config);
    warnIfExposed(config, logger);
    const userIndex = createUserIndex({ coordinator, transport, ring: placement, liveness, quorum: defaultQuorum, now: () => systemClock.now(), clock: systemClock, logger, isCurrent: currentBucket(control.plane) /* catalog */ });

    const native = createNativeApi({
      self: config.id,
      coordinator,
      buckets,
      clusterSize,
      defaultQuorum,
      maxObjectBytes: config.maxObjectBytes,
      onInternalError: (err, what) => logger.error({ err }, `internal error in ${what}`),
      files: userIndex,
      publicRead: async (b) => b.acl === 'public-read',
      // limits: context tokens MACed with the cluster keys (issue 11 §5).
      contextMac: contextMac(config.clusterKeys.map((k) => ({ id: k.id, key: deriveKey(k, 'context-mac') }))),
    });
    // Filled in below, once the S3 server exists.
    const s3Mount: { prefix: string; handler: Mount['handler'] } = { prefix: '/_s3', handler: async (_req, res) => sendJson(res, 503, { ok: false, error: 'starting' }) };
    const server = createHttpServer({
      self: config.id,
      logger,
      registry,
      auth: auth.http,
      tls,
      mounts: [
        { prefix: '/buckets', handler: native, access: 'user' },
        { prefix: '/tokens', handler: createTokensApi(auth.directory), access: 'user' },
        { prefix: '/_auth', handler: createAuthAdminApi(auth.directory) },
        {
          prefix: '/cluster',
          handler: createClusterApi({
            self: config.id,
            now: () => systemClock.now(),
            membership: () => membership.view(),
            addresses: new Map(config.members.map((m) => [m.id, { grpc: m.grpc, ...(m.http !== undefined ? { http: m.http } : {}) }])),
            hints: () => ({ owners: handoff.status(), ...handoff.totals() }),
            storageOf: storageOfName(buckets), // catalog
            scanBucket: (bucket, o) => lmdb.scanBucket(bucket, o),
            scanBucketHints: (bucket, o) => lmdb.scanBucketHints(bucket, o),
            control: { self: config.id, plane: control.plane, status: () => control.plane.status() }, // raft
            layout: createLayoutApi({ plane: control.plane, partitionBytes: () => partitionBytes(components.store, config.partitions), sync: () => ({ node: config.id, ...layoutWiring.mover.status() }) }), // issue 10
          }),
        },
        { prefix: '/_faults', handler: createFaultsApi(faults) },
        { prefix: '/users', handler: createUsersApi({ index: userIndex }), access: 'user' },
        // Seed compatibility: RingSync's POST /create, /read, /update, /delete (api/compat-ringsync.ts).
        ...createRingSyncApi({ coordinator, quorum: defaultQuorum }).map((m) => ({ ...m, access: 'user' as const })),
        s3Mount,
        antiEntropyMount({ self: config.id, component: components.antiEntropy, store: components.store, rebuilt: components.rebuilt, ring: placement, storageOf: storageOfName(buckets) /* catalog */ }),
      ],
      health: () => ({
        zone: config.zone,
        http: config.advertiseHttp,
        grpc: config.advertiseGrpc,
        members: clusterSize(),
        layout: { version: placement().version, read_version: placement().readVersion, live_versions: placement().liveVersions }, // issue 10
        detector: membership.detector,
        down: membership.downNodes(),
        hints_pending: lmdb.hintTotals().reduce((n, t) => n + t.hints, 0),
        anti_entropy: antiEntropyHealth(components.antiEntropy),
        raft: { role: control.plane.status().role, leader: control.plane.leader || null, applied: control.plane.applied }, // raft
        auth_ready: auth.ready(), // userauth: this node knows its bootstrap credentials
      }),
    });
    applyHttpLimits(server, config.limits, gate, refuseJson); // limits
    await listen(server, config.http.host, config.http.port);
    const httpPort = (server.address() as AddressInfo).port;
    cleanups.push(() => closeHttp(server, opts.drainMs ?? 5000));

    const s3Credentials = auth.directory;
    const s3Server = createS3Server({
      coordinator,
      catalog: buckets,
      clock: systemClock,
      credentials: s3Credentials,
      replicaReader: components.chunkReads,
      chunkCacheBytes: config.s3CacheBytes,
      objectCacheBytes: Math.floor(config.s3CacheBytes / 4),
      logger: { error: (obj, msg) => logger.error(obj, msg) },
      files: userIndex,
    }, tls);
    // S3 administration (/_s3: access keys, chunk collection, cache counters) and the
    // collection timer, on the lowest-id member this node sees alive.
    const s3Gc = new ChunkCollector({ coordinator, clock: systemClock, buckets: storageBuckets(buckets) /* catalog */ }, config.s3Gc);
    s3Mount.handler = createS3AdminApi({ credentials: s3Credentials, collector: s3Gc, chunks: s3Server.chunks, objects: s3Server.objects });
    cleanups.push(
      startGcTimer(s3Gc, {
        // Every member the control plane knows (a node that joined has only itself configured), not just the configured ones.
        leader: () => [...new Set([...config.members.map((m) => m.id), ...control.plane.state.layout().nodes.map((n) => n.id)])].filter((id) => id === config.id || liveness.isAlive(id)).sort()[0] === config.id,
        onReport: (r) => (r.ok ? logger.info({ gc: r }, 's3 chunk collection') : logger.warn({ gc: r }, 's3 chunk collection aborted')),
      }),
    );
    registerS3Metrics(registry, s3Server.chunks, s3Server.objects);
    applyHttpLimits(s3Server, config.limits, gate, refuseS3); // limits
    await listen(s3Server, config.s3.host, config.s3.port);
    const s3Port = (s3Server.address() as AddressInfo).port;
    cleanups.push(() => closeHttp(s3Server, opts.drainMs ?? 5000));
    filesApi.serve({ coordinator, buckets, chunks: s3Server.chunks, credentials: s3Credentials, index: userIndex, now: () => systemClock.now(), defaultQuorum, logger });
    cleanups.push(() => filesApi.close());

    logger.info(
      {
        http: `${config.http.host}:${httpPort}`,
        s3: `${config.s3.host}:${s3Port}`,
        files_grpc: `${config.filesGrpc.host}:${filesApi.port}`,
        grpc: `${config.grpc.host}:${grpcTransport.boundPort}`,
        data: config.dataDir,
        members: config.members.map((m) => m.id),
        partitions: config.partitions,
        quorum: defaultQuorum,
      },
      'node started',
    );

    let stopping: Promise<void> | undefined;
    return {
      config,
      logger,
      httpPort,
      grpcPort: grpcTransport.boundPort,
      s3Port,
      filesGrpcPort: filesApi.port,
      coordinator,
      buckets,
      registry,
      controlPlane: control.plane, // raft
      store: lmdb, // kvs
      stop: () => {
        stopping ??= (async () => {
          logger.info('node stopping');
          await undo();
          logger.info('node stopped');
        })();
        return stopping;
      },
    };
  } catch (err) {
    await undo();
    throw err;
  }
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** Stops accepting, lets requests in flight finish for up to drainMs, then cuts what remains. */
function closeHttp(server: Server, drainMs: number): Promise<void> {
  return new Promise((resolve) => {
    const cut = setTimeout(() => server.closeAllConnections(), drainMs);
    cut.unref();
    server.close(() => {
      clearTimeout(cut);
      resolve();
    });
    server.closeIdleConnections();
  });
}

/**
 * Stops the node on SIGTERM or SIGINT (a second signal exits at once), and
 * when `exitWithParent` is set, when the parent process that spawned this one
 * over IPC goes away (`ringstore dev`), so a killed dev cluster leaves no
 * orphans.
 */
export function stopOnSignals(node: RunningNode, opts: { exitWithParent?: boolean } = {}): void {
  installCrashGuards(node.logger); // limits: unhandled rejections logged, the node stays up
  let signalled = false;
  const shutdown = (why: string): void => {
    if (signalled) {
      node.logger.warn({ why }, 'second stop request: exiting now');
      process.exit(1);
    }
    signalled = true;
    node.logger.info({ why }, 'stopping');
    const force = setTimeout(() => {
      node.logger.error('stop took too long: exiting');
      process.exit(1);
    }, 15_000);
    force.unref();
    node.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        node.logger.error({ err }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  if (opts.exitWithParent && process.send !== undefined) {
    process.on('disconnect', () => shutdown('parent exited'));
    // The IPC channel must not by itself keep this process alive.
    (process as unknown as { channel?: { unref(): void } }).channel?.unref();
  }
}
