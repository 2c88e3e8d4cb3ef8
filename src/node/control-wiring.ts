// The Raft control plane in a node process (docs/raft.md, "How it runs"):
// the Raft log in `<dataDir>/raft` (LMDB, fsynced), the driver
// (control/driver.ts) ticking on the system clock, and Raft messages on the
// inter-node transport as `raft` requests (transport/raft-messages.ts,
// encoded by raft/wire.ts with a version number).
//
// Starting: a node whose Raft folder is empty and that was not told to join
// founds the cluster with the configured member list: every founding member
// computes the same initial configuration (control/driver-voters.ts: up to
// `raft.maxVoters` voters spread over zones, the others learners) and the
// same initial control state (the members in the layout). A node with a log
// restarts from it. A joining node (`join`) starts empty and learns
// everything from the leader's snapshot (node/control-join.ts asks for it).

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { RaftDriver } from '../control/driver.js';
import { initialConf, initialControlState } from '../control/driver-voters.js';
import type { LayoutNode } from '../control/commands.js';
import type { Message } from '../raft/messages.js';
import { decodeRaftMessage, encodeRaftMessage, RAFT_WIRE_VERSION, RaftWireError } from '../raft/wire.js';
import type { Request, ResponseFor } from '../transport/messages.js';
import { TransportError, type Handler, type RequestOptions, type Transport } from '../transport/transport.js';
import type { Clock, Random } from '../util/runtime.js';
import { RingstoreError } from '../util/errors.js';
import type { MemberConfig, NodeConfig } from './config.js';
import { openLmdbRaftStorage, type LmdbRaftStorage } from './raft-log-lmdb.js';
import { joinCluster } from './control-join.js';
import type { LayoutHistory } from '../layout/history.js';

/** The layout entry of a configured member. */
export function layoutNodeOf(m: MemberConfig): LayoutNode {
  // Capacity: the ring weight as nominal TiB until nodes declare capacity (issue 10).
  return { id: m.id, addresses: { rpc: m.grpc, ...(m.http !== undefined ? { http: m.http } : {}) }, zone: m.zone, capacity: Math.round(m.weight * 2 ** 40), role: 'storage' };
}

export interface ControlWiring {
  readonly plane: RaftDriver;
  /** The transport to hand the node's components: `raft` requests go to the driver, the rest to the handler they install. */
  readonly transport: Transport;
  readonly storage: LmdbRaftStorage;
  /** Whether this start founded the cluster (an empty folder, no join). */
  readonly bootstrapped: boolean;
  stop(): Promise<void>;
}

export interface ControlWiringDeps {
  readonly config: NodeConfig;
  readonly logger: Logger;
  /** The node's transport (after fault injection, so that faults cut Raft too). */
  readonly transport: Transport;
  readonly clock: Clock;
  readonly random: Random;
  readonly registry?: Registry;
  /** Replaces the transport's address book (GrpcTransport.setPeers): members the layout adds become reachable. */
  readonly setPeers?: (peers: ReadonlyMap<string, string>) => void;
  /** issue 10: the founding layout version a new cluster starts with (layout/founding.ts). */
  readonly foundingLayout?: LayoutHistory;
}

export async function startControlPlane(deps: ControlWiringDeps): Promise<ControlWiring> {
  const { config, logger, transport } = deps;
  const settings = config.raft;
  const log = logger.child({ component: 'raft' });
  const dir = path.join(config.dataDir, 'raft');
  mkdirSync(dir, { recursive: true });
  const storage = await openLmdbRaftStorage(dir);
  let bootstrapped = false;
  try {
    if (storage.isEmpty() && config.join === undefined) {
      const conf = initialConf(config.members, settings.maxVoters);
      await storage.bootstrap(conf, initialControlState(config.members.map(layoutNodeOf), deps.foundingLayout));
      bootstrapped = true;
      log.info({ voters: conf.voters, learners: conf.learners }, 'raft: founded a new cluster from the configured members');
    } else if (storage.isEmpty()) {
      log.info({ join: config.join }, 'raft: empty log, waiting to be added to the cluster');
    } else {
      const s = storage.snapshot();
      log.info({ snapshot: s.meta.index, last: storage.lastIndex(), term: storage.initialState().hardState.term }, 'raft: restarting from the stored log');
    }
  } catch (err) {
    await storage.close();
    throw err;
  }

  const metrics = deps.registry === undefined ? undefined : raftMetrics(deps.registry);
  // Refusals from peers of another wire version: said once per peer, not per heartbeat.
  const warned = new Set<string>();
  const send = (msgs: readonly Message[]): void => {
    for (const m of msgs) {
      const req: Request = { type: 'raft', v: RAFT_WIRE_VERSION, payload: encodeRaftMessage(m) };
      transport.request(m.to, req, Math.max(1000, settings.tickMs * settings.electionTicks)).then(
        () => warned.delete(m.to),
        (err: unknown) => {
          if (!(err instanceof TransportError)) return;
          if (err.kind === 'unreachable') plane.unreachable(m.to);
          if (err.kind === 'remote' && (err.code === 'IncompatiblePeer' || err.code === 'MalformedRaftMessage') && !warned.has(m.to)) {
            warned.add(m.to);
            log.error({ peer: m.to, code: err.code }, `raft: ${m.to} refused our messages: ${err.message}`);
          }
        },
      );
    }
  };

  const plane = new RaftDriver({
    id: config.id,
    storage,
    clock: deps.clock,
    random: deps.random,
    send,
    tickMs: settings.tickMs,
    electionTick: settings.electionTicks,
    heartbeatTick: settings.heartbeatTicks,
    timeoutMs: settings.timeoutMs,
    compactEvery: settings.compactEvery,
    hooks: {
      log: (level, msg, fields) => log[level](fields ?? {}, msg),
      leaderChanged: () => metrics?.leaderChanges.inc(),
      proposalDone: (ok) => metrics?.proposals.labels(ok ? 'applied' : 'failed').inc(),
    },
  });
  metrics?.watch(plane);

  const receive = (from: string, req: Extract<Request, { type: 'raft' }>): ResponseFor['raft'] => {
    let m: Message;
    try {
      m = decodeRaftMessage(req.v, req.payload, from);
    } catch (err) {
      if (!(err instanceof RaftWireError)) throw err;
      const code = req.v !== RAFT_WIRE_VERSION ? 'IncompatiblePeer' : 'MalformedRaftMessage';
      if (!warned.has(`in:${from}`)) {
        warned.add(`in:${from}`);
        log.error({ peer: from, code }, `raft: refused a message from ${from}: ${err.message}`);
      }
      throw new RingstoreError(code, `${config.id}: ${err.message}`);
    }
    if (m.to !== config.id) throw new RingstoreError('MalformedRaftMessage', `${config.id}: a raft message for ${m.to} reached ${config.id}`);
    plane.receive(m);
    return { type: 'raftOk' };
  };

  const routed: Transport = {
    self: transport.self,
    request: <R extends Request>(to: string, req: R, deadlineMs: number, opts?: RequestOptions) => transport.request(to, req, deadlineMs, opts),
    serve: (handler: Handler) => transport.serve(async (from, req) => (req.type === 'raft' ? receive(from, req) : handler(from, req))),
    close: () => transport.close(),
  };
  // The address book: the configured members, plus every node the layout knows (a node that joined).
  let peerKey = '';
  const learnPeers = (nodes: readonly LayoutNode[]): void => {
    if (deps.setPeers === undefined) return;
    const peers = new Map<string, string>();
    for (const n of nodes) if (n.id !== config.id) peers.set(n.id, n.addresses.rpc);
    for (const m of config.members) if (m.id !== config.id) peers.set(m.id, m.grpc);
    const key = JSON.stringify([...peers].sort());
    if (key === peerKey) return;
    peerKey = key;
    deps.setPeers(peers);
  };
  let layoutVersion = -1;
  plane.onApplied(() => {
    const layout = plane.state.layout();
    if (layout.version === layoutVersion) return;
    layoutVersion = layout.version;
    learnPeers(layout.nodes);
  });
  learnPeers(plane.state.layout().nodes);
  plane.start();
  const joining =
    bootstrapped || !storage.isEmpty() || config.join === undefined
      ? undefined
      : joinCluster({ self: layoutNodeOf({ id: config.id, grpc: config.advertiseGrpc, http: config.advertiseHttp, zone: config.zone, weight: config.weight }), via: config.join, adminToken: config.adminToken, plane, clock: deps.clock, logger: log, learnPeers });
  // Voters replaced from the learners, and members the layout gained or lost added or removed (driver-voters.ts).
  plane.maintainVoters({ intervalMs: Math.max(200, settings.tickMs * 5), maxVoters: settings.maxVoters, replaceAfterMs: settings.replaceAfterMs });

  return {
    plane,
    transport: routed,
    storage,
    bootstrapped,
    stop: async () => {
      joining?.stop();
      plane.stop();
      await storage.close();
    },
  };
}

function raftMetrics(registry: Registry): { leaderChanges: Counter; proposals: Counter<'result'>; watch(plane: RaftDriver): void } {
  const leaderChanges = new Counter({ name: 'ringstore_raft_leader_changes_total', help: 'Times this node saw the Raft leader change (including to none)', registers: [registry] });
  const proposals = new Counter({ name: 'ringstore_raft_proposals_total', help: 'Control commands proposed through this node, by outcome (applied, or failed: no answer in time)', labelNames: ['result'], registers: [registry] });
  let plane: RaftDriver | undefined;
  const gauge = (name: string, help: string, read: (p: RaftDriver) => number): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        if (plane !== undefined) this.set(read(plane));
      },
    });
  };
  gauge('ringstore_raft_term', 'Current Raft term at this node', (p) => p.status().term);
  gauge('ringstore_raft_commit_index', 'Highest Raft log index this node knows committed', (p) => p.status().commit);
  gauge('ringstore_raft_applied_index', 'Highest Raft log index applied to the control state here', (p) => p.applied);
  gauge('ringstore_raft_is_leader', '1 when this node leads the control plane', (p) => (p.status().role === 'leader' ? 1 : 0));
  gauge('ringstore_raft_voters', 'Voters in the configuration this node has applied', (p) => p.status().voters.length);
  return {
    leaderChanges,
    proposals,
    watch: (p) => {
      plane = p;
    },
  };
}
