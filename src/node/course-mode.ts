// Course mode (issue 15; docs/kvs.md): `ringstore server` started as the
// UCSC CMPS 128 HW4 test script starts a node, with only K, VIEW and ip_port
// in its environment, serves the course's /kvs API (api/kvs.ts) on ip_port.
//
// Open by design, the one exception to authentication everywhere else: the
// course's clients send no credentials, and the nodes share no secret (the
// cluster key, the admin token and the first access key derive from a
// public constant, so any process that knows this source can join or
// administer). Every port binds ip_port's address only, at fixed offsets
// from its port (derivedPorts), so nodes on distinct 127.0.0.x addresses
// share one port number as the course's containers share 8080.
//
// A node's id is its ip_port with the colon written '_' (node ids allow no
// colon), plus '-<version>' for a node added by view_update: a node removed
// and added again is a new actor whose dots never collide with the ones
// its earlier life minted (version/counter-lease.ts).
//
// How a node started without VIEW learns its cluster: the node that handles
// `view_update type=add` calls it (POST /kvs/_course/join with its id and
// the adding node's HTTP address); it then joins as `--join` does
// (node/control-join.ts), and the adding node applies the new groups. A
// removed node is told to leave (POST /kvs/_course/leave) once keys have
// moved: it stops, wipes its data folder and waits to be added again.

import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import path from 'node:path';
import { createKvsApi, KVS_BUCKET, kvsError, type KvsCluster } from '../api/kvs.js';
import { winner } from '../api/kvs-payload.js';
import { readBody, sendJson } from '../api/http.js';
import { current, currentVersion, heldPartitions, stagedMembers, type LayoutHistory } from '../layout/history.js';
import { foundingGroups, groupAssignment, groupOfNode, groupOfPartition, groupsOf } from '../layout/groups.js';
import { holders, ownersOf, type Member } from '../layout/types.js';
import { partitionOfKey } from '../ring/ring.js';
import { configFromEnv, ConfigError, resolveConfig, type NodeConfig, type RawConfig } from './config.js';
import { startNode, type RunningNode } from './node.js';
import { systemClock } from './real-runtime.js';
import type { Command } from '../control/commands.js';

/** Ring partitions of a course-mode cluster: at most this many groups (64·K nodes), few enough that anti-entropy rounds stay cheap. */
export const COURSE_PARTITIONS = 64;
/** Node-to-node deadline of a replica request: well under the course's one second. */
export const COURSE_REPLICA_TIMEOUT_MS = 250;
/** Anti-entropy between a group's replicas: short, so that replicas agree within the course's 5 s after a heal. */
export const COURSE_ANTI_ENTROPY_MS = 500;
/** Deadline of an anti-entropy request and of a hint's delivery: a peer cut off must not hold up the repairs that follow a heal. */
export const COURSE_PEER_TIMEOUT_MS = 1000;
/** How long view_update waits for keys to move before it answers that they are still moving. */
export const VIEW_CHANGE_TIMEOUT_MS = 90_000;
/** Everything course mode derives its "secrets" from: public, written here on purpose. */
export const COURSE_PUBLIC_CONSTANT = 'ringstore course mode (seed 004): a public constant, not a secret';

export interface CourseEnv {
  readonly k: number;
  readonly ipPort: string;
  readonly ip: string;
  readonly port: number;
  /** The initial view (ip:port list), or undefined: wait for a view_update to add this node. */
  readonly view: readonly string[] | undefined;
}

const IP_PORT = /^([A-Za-z0-9][A-Za-z0-9.-]*):(\d{1,5})$/;

function splitIpPort(text: string, what: string): { ip: string; port: number } {
  const m = IP_PORT.exec(text.trim());
  const port = m === null ? NaN : Number(m[2]);
  if (m === null || !(port >= 1 && port <= 65535)) throw new ConfigError(`${what}: expected ip:port such as 10.0.0.21:8080, got ${JSON.stringify(text)}`);
  return { ip: m[1]!, port };
}

/** Course mode's settings, when `K` and `ip_port` are in the environment; undefined otherwise (a normal server). */
export function courseEnv(env: NodeJS.ProcessEnv): CourseEnv | undefined {
  const ipPort = env['ip_port'] ?? env['IPPORT'];
  if (env['K'] === undefined && ipPort === undefined) return undefined;
  if (env['K'] === undefined || ipPort === undefined) throw new ConfigError('course mode needs both K and ip_port in the environment (and VIEW for an initial node)');
  const k = Number(env['K']);
  if (!Number.isInteger(k) || k < 1 || k > 16) throw new ConfigError(`K: expected an integer from 1 to 16, got ${JSON.stringify(env['K'])}`);
  const { ip, port } = splitIpPort(ipPort, 'ip_port');
  const viewText = env['VIEW'];
  let view: string[] | undefined;
  if (viewText !== undefined && viewText.trim() !== '') {
    view = [...new Set(viewText.split(',').map((s) => s.trim()).filter((s) => s !== ''))];
    for (const v of view) splitIpPort(v, 'VIEW');
    if (!view.includes(`${ip}:${port}`)) throw new ConfigError(`VIEW does not list this node's ip_port ${ip}:${port}`);
  }
  return { k, ipPort: `${ip}:${port}`, ip, port, view };
}

/**
 * The other ports a node needs, on ip_port's address: +1 the native HTTP API
 * (admin routes, /_faults), +2 gRPC between nodes, +3 S3, +4 the gRPC file
 * API, +5 the bulk lane between nodes (values of 64 KiB and more); a port
 * above 65530 counts down instead (-1..-5).
 */
export function derivedPorts(port: number): { http: number; grpc: number; s3: number; filesGrpc: number; bulk: number } {
  const d = port + 5 <= 65535 ? 1 : -1;
  return { http: port + d, grpc: port + 2 * d, s3: port + 3 * d, filesGrpc: port + 4 * d, bulk: port + 5 * d };
}

/** A node's id: ip_port with '_' for ':', and '-<version>' for a node added by view_update at that layout version. */
export function nodeIdOf(ipPort: string, addedAt?: number): string {
  const { ip, port } = splitIpPort(ipPort, 'ip_port');
  return `${ip}_${port}${addedAt === undefined ? '' : `-${addedAt}`}`;
}

/** The ip_port a node id names. */
export function ipPortOf(id: string): string {
  const base = id.replace(/-\d+$/, '');
  const i = base.lastIndexOf('_');
  return i < 0 ? base : `${base.slice(0, i)}:${base.slice(i + 1)}`;
}

function publicBytes(purpose: string, n = 32): Buffer {
  return createHash('sha256').update(`${COURSE_PUBLIC_CONSTANT}/${purpose}`).digest().subarray(0, n);
}

/** The cluster key and credentials every course-mode node derives alike (public: this mode is open). */
export function courseCredentials(): { clusterKeys: string; adminToken: string; userToken: string; accessKey: string; secretKey: string } {
  return {
    clusterKeys: `course:${publicBytes('cluster-key').toString('hex')}`,
    adminToken: `rsa_${publicBytes('admin-id', 8).toString('hex')}_${publicBytes('admin-secret').toString('base64url')}`,
    userToken: `rsu_${publicBytes('user-id', 8).toString('hex')}_${publicBytes('user-secret').toString('base64url')}`,
    accessKey: `KVS${publicBytes('access-key', 10).toString('hex').toUpperCase()}`,
    secretKey: publicBytes('secret-key').toString('base64url'),
  };
}

function addr(ip: string, port: number): string {
  return `${ip}:${port}`;
}

/**
 * The node's configuration in course mode. From the environment it also
 * honours RINGSTORE_DATA (the data folder), RINGSTORE_FAULTS (the dev fault
 * switch on the native HTTP port), RINGSTORE_LOG_LEVEL and RINGSTORE_RAFT;
 * everything else is fixed by the mode.
 */
export function courseConfig(ce: CourseEnv, id: string, env: NodeJS.ProcessEnv, join?: string): NodeConfig {
  const p = derivedPorts(ce.port);
  const creds = courseCredentials();
  const fromEnv = configFromEnv(env);
  const members = (ce.view ?? []).map((v) => {
    const { ip, port } = splitIpPort(v, 'VIEW');
    const q = derivedPorts(port);
    return { id: nodeIdOf(v), grpc: addr(ip, q.grpc), http: addr(ip, q.http) };
  });
  const raw: RawConfig = {
    id,
    // No dots in the folder's name: LMDB opens a path with an "extension" as a file, not a folder.
    data: fromEnv.data ?? path.join('.data', 'kvs', nodeIdOf(ce.ipPort).replace(/\./g, '-')),
    http: addr(ce.ip, p.http),
    grpc: addr(ce.ip, p.grpc),
    s3: addr(ce.ip, p.s3),
    filesGrpc: addr(ce.ip, p.filesGrpc),
    advertiseHttp: addr(ce.ip, p.http),
    advertiseGrpc: addr(ce.ip, p.grpc),
    members: join === undefined ? JSON.stringify(members) : '',
    partitions: COURSE_PARTITIONS,
    quorum: `${ce.k},1,1`,
    antiEntropy: JSON.stringify({ intervalMs: COURSE_ANTI_ENTROPY_MS }),
    handoff: JSON.stringify({ timeoutMs: COURSE_PEER_TIMEOUT_MS, backoffMaxMs: COURSE_PEER_TIMEOUT_MS }),
    clusterKeys: creds.clusterKeys,
    adminToken: creds.adminToken,
    userToken: creds.userToken,
    accessKey: creds.accessKey,
    secretKey: creds.secretKey,
    user: 'kvs',
    logLevel: fromEnv.logLevel ?? 'info',
    faults: fromEnv.faults,
    raft: fromEnv.raft,
    join,
  };
  return { ...resolveConfig(raw), replicaTimeoutMs: COURSE_REPLICA_TIMEOUT_MS, antiEntropyRequestTimeoutMs: COURSE_PEER_TIMEOUT_MS, bulkPort: p.bulk, foundingLayout: (ms) => foundingGroups(ms, { k: ce.k, partitions: COURSE_PARTITIONS }) };
}

/** The course's partitions over a running node: its layout history read as replica groups. */
class CourseCluster implements KvsCluster {
  #changing: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly node: RunningNode,
    private readonly k: number,
    private readonly selfHttp: string,
    private readonly log: (msg: string) => void,
  ) {}

  history(): LayoutHistory {
    return this.node.controlPlane.state.layoutHistory();
  }

  #groupIds(h = this.history()): string[][] {
    const cur = current(h);
    return cur === undefined || cur.assignment.groups !== true ? [] : groupsOf(cur.assignment);
  }

  groups(): string[][] {
    return this.#groupIds().map((g) => g.map(ipPortOf));
  }

  selfGroup(): number | undefined {
    return groupOfNode(this.#groupIds(), this.node.config.id);
  }

  placeKey(key: string): { group: number; replicas: number } | undefined {
    const h = this.history();
    const cur = current(h);
    if (cur === undefined || cur.assignment.groups !== true) return undefined;
    const p = partitionOfKey(31 - Math.clz32(h.partitions), KVS_BUCKET, key);
    const groups = groupsOf(cur.assignment);
    const group = groupOfPartition(cur.assignment, p, groups);
    if (group < 0) return undefined;
    // Reads and writes span every live version's owners (the layout history): N is the most any of them has.
    const replicas = Math.max(...h.versions.map((v) => ownersOf(v.assignment, p).length));
    return { group, replicas };
  }

  /** This node's keys of the course's bucket: live ones, and any it holds for a partition it owns in no live version. */
  scan(): { live: number; foreign: number; total: number; digest: string } {
    const h = this.history();
    const held = new Set(heldPartitions(h, this.node.config.id));
    const bits = 31 - Math.clz32(h.partitions);
    let live = 0;
    let foreign = 0;
    let total = 0;
    // What this replica would answer for every key it holds, in key order: equal digests are replicas that agree.
    const digest = createHash('sha256');
    for (const sk of this.node.store.scanBucket(KVS_BUCKET, { values: true })) {
      total++;
      const w = winner(sk.set);
      if (w !== undefined && w.value !== null) live++;
      if (!held.has(partitionOfKey(bits, KVS_BUCKET, sk.key))) foreign++;
      digest.update(`${sk.key}\u0000${w === undefined || w.value === null ? '-' : `+${Buffer.from(w.value).toString('base64')}`}\n`);
    }
    return { live, foreign, total, digest: digest.digest('hex').slice(0, 16) };
  }

  async countKeys(): Promise<number> {
    return this.scan().live;
  }

  /** One view change at a time through this node; the layout history orders changes made through different nodes. */
  viewUpdate(type: 'add' | 'remove', ipPort: string): Promise<{ partitionId?: number; partitions: number }> {
    const run = this.#changing.then(() => (type === 'add' ? this.#add(ipPort) : this.#remove(ipPort)));
    this.#changing = run.catch(() => undefined);
    return run;
  }

  #memberOf(h: LayoutHistory, ipPort: string): string | undefined {
    return current(h)?.members.find((m) => ipPortOf(m.id) === ipPort)?.id;
  }

  async #add(ipPort: string): Promise<{ partitionId?: number; partitions: number }> {
    const plane = this.node.controlPlane;
    await plane.confirm();
    const h = this.history();
    const existing = this.#memberOf(h, ipPort);
    if (existing !== undefined) return { partitionId: groupOfNode(this.#groupIds(), existing) ?? 0, partitions: this.#groupIds().length };
    const id = nodeIdOf(ipPort, currentVersion(h) + 1);
    const { ip, port } = splitIpPort(ipPort, 'ip_port');
    const q = derivedPorts(port);
    // The new node learns whom to join from us, then joins as --join does.
    await this.#tell(ipPort, 'join', { id, via: this.selfHttp, k: this.k }, 60_000);
    // Its join must be recorded before the layout names it: a node the layout already tracks may not join (a lost folder's id).
    const deadline = Date.now() + 60_000;
    for (;;) {
      await plane.confirm();
      if (plane.state.layout().nodes.some((n) => n.id === id)) break;
      if (Date.now() > deadline) throw kvsError(503, `${ipPort} did not join within 60 s`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const member: Member = { id, zone: 'default', capacity: 1, role: 'storage', addresses: { rpc: addr(ip, q.grpc), http: addr(ip, q.http) } };
    const version = await this.#apply({ op: 'assign', member });
    await this.#moved(version, []);
    const groups = this.#groupIds();
    return { partitionId: groupOfNode(groups, id) ?? 0, partitions: groups.length };
  }

  async #remove(ipPort: string): Promise<{ partitions: number }> {
    const plane = this.node.controlPlane;
    await plane.confirm();
    const h = this.history();
    const id = this.#memberOf(h, ipPort);
    if (id === undefined) throw kvsError(404, `${ipPort} is not in the view`);
    if ((current(h)?.members.length ?? 0) <= 1) throw kvsError(400, 'the last node cannot be removed');
    const version = await this.#apply({ op: 'remove', id });
    await this.#moved(version, [id]);
    // The Raft membership follows the member list (control/driver-voters.ts): the removed node leaves it too.
    if (plane.state.layout().nodes.some((n) => n.id === id)) await plane.propose({ type: 'removeNode', id } as Command).catch(() => undefined);
    // The leader takes it out of the Raft configuration one change at a time (driver-voters.ts). Wait for that
    // before the node stops: removing several voters in a row that stop at once would leave no majority.
    const deadline = Date.now() + 15_000;
    for (;;) {
      const st = plane.status();
      if (!st.voters.includes(id) && !st.learners.includes(id)) break;
      if (Date.now() > deadline) {
        this.log(`${id} is still in the Raft configuration after 15 s; telling it to leave anyway`);
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const leave = (): Promise<void> => this.#tell(ipPort, 'leave', { id }, 5_000).catch((err: unknown) => this.log(`could not tell ${ipPort} to leave: ${(err as Error).message}`));
    if (id === this.node.config.id) setTimeout(() => void leave(), 200);
    else await leave();
    return { partitions: this.#groupIds().length };
  }

  /** Stages the change and applies the groups it gives, as `ringstore layout` does; retried when another change got in first. */
  async #apply(change: { op: 'assign'; member: Member } | { op: 'remove'; id: string }): Promise<number> {
    const plane = this.node.controlPlane;
    for (let attempt = 0; ; attempt++) {
      const staged = await plane.propose({ type: 'layoutStage', change });
      if (!staged.ok && attempt > 3) throw kvsError(503, `the view change was refused: ${staged.message}`);
      const h = this.history();
      const first = h.versions.length === 0;
      const prev = current(h)?.assignment;
      const nodes = holders(stagedMembers(h)).map((m) => m.id);
      const assignment = groupAssignment(prev?.groups === true ? prev : undefined, nodes, { k: first ? this.k : h.replicas, partitions: first ? COURSE_PARTITIONS : h.partitions });
      const version = currentVersion(h) + 1;
      const r = await plane.propose({ type: 'layoutApply', version, stagingSeq: h.stagingSeq, assignment });
      if (r.ok) return version;
      if (attempt > 5) throw kvsError(503, `the view change was refused: ${r.message}`);
    }
  }

  /**
   * Resolves once `version` is the only live version (every node synced it
   * and no longer reads older ones) and every node of it holds no key of a
   * partition it no longer owns: then get_number_of_keys, summed over one
   * member of each partition, is the number of live keys.
   */
  async #moved(version: number, leaving: readonly string[]): Promise<void> {
    const deadline = Date.now() + VIEW_CHANGE_TIMEOUT_MS;
    let last = '';
    while (Date.now() < deadline) {
      const h = this.history();
      if (h.versions.length === 1 && currentVersion(h) >= version) {
        const ids = current(h)!.members.map((m) => m.id).filter((id) => !leaving.includes(id));
        const states = await Promise.all(ids.map((id) => this.#status(id)));
        const pending = states.map((s, i) => (s !== undefined && s.version >= version && s.live === 1 && s.foreign === 0 ? undefined : `${ids[i]}: ${JSON.stringify(s ?? 'unreachable')}`)).filter((x) => x !== undefined);
        if (pending.length === 0) return;
        last = pending.join('; ');
      } else last = `versions live: ${h.versions.map((v) => v.version).join(', ')}`;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw kvsError(503, `keys are still moving after ${VIEW_CHANGE_TIMEOUT_MS / 1000} s (${last})`);
  }

  async #status(id: string): Promise<{ version: number; live: number; foreign: number } | undefined> {
    if (id === this.node.config.id) {
      const h = this.history();
      return { version: currentVersion(h), live: h.versions.length, foreign: this.scan().foreign };
    }
    try {
      const res = await fetch(`http://${ipPortOf(id)}/kvs/_course/status`, { signal: AbortSignal.timeout(2000) });
      if (!res.ok) return undefined;
      const b = (await res.json()) as { id?: string; version?: number; live?: number; foreign?: number };
      if (b.id !== id) return undefined;
      return { version: b.version ?? 0, live: b.live ?? 0, foreign: b.foreign ?? -1 };
    } catch {
      return undefined;
    }
  }

  async #tell(ipPort: string, what: 'join' | 'leave', body: Record<string, unknown>, withinMs: number): Promise<void> {
    const deadline = Date.now() + withinMs;
    let why = '';
    while (Date.now() < deadline) {
      try {
        const res = await fetch(`http://${ipPort}/kvs/_course/${what}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(5000) });
        if (res.ok) return;
        why = `${res.status} ${await res.text()}`;
        if (res.status === 409) break;
      } catch (err) {
        why = (err as Error).message;
      }
      await new Promise((r) => setTimeout(r, 300));
    }
    throw kvsError(503, `cannot ${what === 'join' ? 'add' : 'release'} ${ipPort}: ${why}`);
  }
}

/** One course-mode process: the /kvs server on ip_port, and the node behind it once it is in a view. */
export class CourseNode {
  #inner: { node: RunningNode; cluster: CourseCluster; kvs: (req: IncomingMessage, res: ServerResponse) => Promise<void> } | undefined;
  #starting: Promise<void> | undefined;
  #server: Server | undefined;
  #founding: NodeJS.Timeout | undefined;

  constructor(
    readonly ce: CourseEnv,
    private readonly env: NodeJS.ProcessEnv,
    private readonly out: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
  ) {}

  get node(): RunningNode | undefined {
    return this.#inner?.node;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => void this.#handle(req, res));
    server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.ce.port, this.ce.ip, () => resolve());
    });
    this.#server = server;
    const p = derivedPorts(this.ce.port);
    const dataDir = courseConfig(this.ce, nodeIdOf(this.ce.ipPort), this.env).dataDir;
    this.out(
      [
        'ringstore course mode (seed 004, the /kvs API): OPEN BY DESIGN.',
        '  No credentials are asked for, and the nodes share no secret: the cluster key and admin token derive from a public constant.',
        `  It binds ${this.ce.ip} only: /kvs on ${this.ce.ipPort}; native HTTP :${p.http}, gRPC between nodes :${p.grpc}, S3 :${p.s3}, gRPC files :${p.filesGrpc}, bulk lane :${p.bulk}.`,
        `  K=${this.ce.k}; ${this.ce.view === undefined ? 'no VIEW: waiting for a view_update to add this node' : `VIEW=${this.ce.view.join(',')}`}`,
        `  data folder: ${dataDir}`,
      ].join('\n'),
    );
    // A founding node, or one that joined before and restarts from its Raft log, runs its node at once.
    if (this.ce.view !== undefined) await this.#startInner(nodeIdOf(this.ce.ipPort), undefined);
    else if (existsSync(path.join(dataDir, 'raft'))) await this.#startInner(undefined, undefined);
  }

  async #startInner(id: string | undefined, join: string | undefined): Promise<void> {
    const base = courseConfig(this.ce, id ?? nodeIdOf(this.ce.ipPort), this.env, join);
    let config = base;
    if (id === undefined) {
      // Restarting a node that was added: its id is in its folder's marker.
      try {
        config = courseConfig(this.ce, readFileSync(path.join(base.dataDir, 'course-id'), 'utf8').trim(), this.env, undefined);
      } catch {
        return;
      }
    }
    const node = await startNode(config);
    if (join !== undefined) {
      writeFileSync(path.join(config.dataDir, 'course-id'), config.id);
    }
    const cluster = new CourseCluster(node, this.ce.k, config.advertiseHttp, (m) => node.logger.warn(m));
    const kvs = createKvsApi({ coordinator: node.coordinator, cluster, k: this.ce.k, now: () => systemClock.now(), onInternalError: (err, what) => node.logger.error({ err }, `kvs: internal error in ${what}`), onUnavailable: (why) => node.logger.warn({ component: 'kvs' }, `kvs: answered 503: ${why}`) });
    this.#inner = { node, cluster, kvs };
    if (this.ce.view !== undefined && join === undefined) this.#found(cluster, node, config);
  }

  /** The founders' first layout version: the groups of VIEW, applied by the lowest id (by another founder after a while if it is down). */
  #found(cluster: CourseCluster, node: RunningNode, config: NodeConfig): void {
    const ids = config.members.map((m) => m.id).sort();
    const rank = ids.indexOf(config.id);
    const started = Date.now();
    const tick = async (): Promise<void> => {
      const h = cluster.history();
      const cur = current(h);
      if (cur !== undefined && cur.assignment.groups === true) return;
      if (Date.now() - started >= rank * 5000) {
        try {
          await node.controlPlane.confirm();
          const h2 = cluster.history();
          if (current(h2) === undefined) {
            for (const m of config.members) {
              const member: Member = { id: m.id, zone: 'default', capacity: 1, role: 'storage', addresses: { rpc: m.grpc, ...(m.http !== undefined ? { http: m.http } : {}) } };
              await node.controlPlane.propose({ type: 'layoutStage', change: { op: 'assign', member } });
            }
          }
          const h3 = cluster.history();
          const first = h3.versions.length === 0;
          if (current(h3)?.assignment.groups !== true) {
            if (!first && h3.replicas !== this.ce.k) node.logger.error(`the cluster's first layout version has ${h3.replicas} replicas per partition, not K=${this.ce.k}: course mode cannot form its groups`);
            const assignment = groupAssignment(undefined, holders(stagedMembers(h3)).map((m) => m.id), { k: first ? this.ce.k : h3.replicas, partitions: first ? COURSE_PARTITIONS : h3.partitions });
            const r = await node.controlPlane.propose({ type: 'layoutApply', version: currentVersion(h3) + 1, stagingSeq: h3.stagingSeq, assignment });
            if (r.ok) node.logger.info({ groups: groupsOf(assignment) }, 'course mode: the founding groups are applied');
          }
        } catch (err) {
          node.logger.debug({ err }, 'course mode: founding groups not applied yet');
        }
      }
      this.#founding = setTimeout(() => void tick(), 300);
    };
    void tick();
  }

  async #leave(id: string): Promise<boolean> {
    const inner = this.#inner;
    if (inner === undefined || inner.node.config.id !== id) return false;
    this.#inner = undefined;
    clearTimeout(this.#founding);
    await inner.node.stop();
    // A removed node drops its data: added again later, it starts empty (under a new id).
    rmSync(inner.node.config.dataDir, { recursive: true, force: true });
    this.out(`ringstore course mode: removed from the view; data folder ${inner.node.config.dataDir} wiped; waiting for a view_update to add this node again`);
    return true;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://kvs');
      if (url.pathname.startsWith('/kvs/_course/')) return await this.#internal(req, res, url.pathname.slice('/kvs/_course/'.length));
      const inner = this.#inner;
      if (inner === undefined) {
        if (url.pathname === '/kvs/get_number_of_keys') return sendJson(res, 200, { msg: 'success', count: 0 });
        return sendJson(res, 503, { msg: 'error', error: 'this node is in no view yet: add it with view_update' });
      }
      await inner.kvs(req, res);
    } catch (err) {
      if (!res.headersSent) sendJson(res, 500, { msg: 'error', error: (err as Error).message });
    }
  }

  async #internal(req: IncomingMessage, res: ServerResponse, what: string): Promise<void> {
    if (what === 'status') {
      const inner = this.#inner;
      if (inner === undefined) return sendJson(res, 200, { id: null, version: 0, live: 0, foreign: 0, count: 0 });
      const h = inner.cluster.history();
      const s = inner.cluster.scan();
      return sendJson(res, 200, { id: inner.node.config.id, version: currentVersion(h), live: h.versions.length, foreign: s.foreign, count: s.live, keys: s.total, digest: s.digest });
    }
    if (req.method !== 'POST') return sendJson(res, 405, { msg: 'error', error: 'POST' });
    const body = JSON.parse((await readBody(req, 64 * 1024)).toString('utf8') || '{}') as { id?: unknown; via?: unknown; k?: unknown };
    if (typeof body.id !== 'string') return sendJson(res, 400, { msg: 'error', error: 'id is required' });
    if (what === 'join') {
      if (body.k !== undefined && body.k !== this.ce.k) return sendJson(res, 409, { msg: 'error', error: `this node runs with K=${this.ce.k}, the cluster with K=${String(body.k)}` });
      if (this.#inner !== undefined) return sendJson(res, this.#inner.node.config.id === body.id ? 200 : 409, { msg: this.#inner.node.config.id === body.id ? 'success' : 'error', id: this.#inner.node.config.id });
      if (typeof body.via !== 'string') return sendJson(res, 400, { msg: 'error', error: 'via is required' });
      this.#starting ??= this.#startInner(body.id, body.via).finally(() => (this.#starting = undefined));
      await this.#starting;
      return sendJson(res, 200, { msg: 'success', id: body.id });
    }
    if (what === 'leave') return sendJson(res, (await this.#leave(body.id)) ? 200 : 404, { msg: 'success' });
    return sendJson(res, 404, { msg: 'error', error: `no such endpoint: ${what}` });
  }

  async stop(): Promise<void> {
    clearTimeout(this.#founding);
    const server = this.#server;
    if (server !== undefined) {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
    await this.#inner?.node.stop();
  }
}

/** `ringstore server` in course mode: runs until SIGTERM or SIGINT. */
export async function runCourseMode(ce: CourseEnv, env: NodeJS.ProcessEnv): Promise<void> {
  const node = new CourseNode(ce, env);
  await node.start();
  let stopping = false;
  const stop = (): void => {
    if (stopping) process.exit(1);
    stopping = true;
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    node.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
