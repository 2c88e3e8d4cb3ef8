// A node's configuration, from (lowest to highest precedence) defaults, a
// JSON config file, RINGSTORE_* environment variables and command-line
// flags. Everything is validated here, once, with messages that name the
// setting and where it came from; the rest of the server trusts the result.

import { DEFAULT_LIMITS, type LimitSettings } from './limits.js';
import { generateClusterKey, parseClusterKeys, type ClusterKey } from './cluster-keys.js';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_QUORUM, quorumProblem, type Quorum } from '../coordinator/quorum.js';
import { DEFAULT_PARTITIONS } from '../ring/layout.js';
import { isNodeId, type NodeId } from '../version/dvv.js';
import { DEFAULT_SWIM_CONFIG, validateSwimConfig, type SwimConfig } from '../membership/swim.js';
import { DEFAULT_HANDOFF_CONFIG, validateHandoffConfig, type HandoffConfig } from '../handoff/handoff.js';
import { DEFAULT_GC_SETTINGS, type GcSettings } from '../s3/gc.js';
import { DEFAULT_MAX_CLOCK_SKEW_MS, DEFAULT_MAX_DATA_AGE_MS } from '../antientropy/data-age.js';
import { parseRaftSettings, type RaftSettings } from './control-config.js'; // raft (control plane)
import type { LayoutHistory } from '../layout/history.js'; // kvs
import type { Member } from '../layout/types.js'; // kvs

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export interface MemberConfig {
  readonly id: NodeId;
  /** host:port other nodes dial for gRPC. */
  readonly grpc: string;
  /** host:port of its HTTP API, when known (informational: clients, dashboards). */
  readonly http?: string;
  readonly zone: string;
  readonly weight: number;
}

export interface NodeConfig {
  readonly id: NodeId;
  readonly zone: string;
  readonly weight: number;
  readonly dataDir: string;
  readonly http: HostPort;
  readonly grpc: HostPort;
  /** host:port others should use to reach this node. */
  readonly advertiseHttp: string;
  readonly advertiseGrpc: string;
  /** The initial cluster, this node included. */
  readonly members: readonly MemberConfig[];
  readonly partitions: number;
  /** Defaults for buckets created without their own settings. */
  readonly quorum: Quorum;
  /** Largest value the native API accepts in one PUT or uploaded file. */
  readonly maxObjectBytes: number;
  readonly logLevel: string;
  /** Where the S3 API listens. */
  readonly s3: HostPort;
  /** Where the public gRPC file API listens (src/files, proto/files/v1/files.proto). */
  readonly filesGrpc: HostPort;
  /**
   * A new cluster's first credentials (auth/directory.ts bootstrap): the
   * user, its access key, a user token and an admin token. None has a
   * default: `ringstore dev` writes generated ones here, and a server
   * bootstrapping without them generates its own and prints them once.
   */
  readonly user: string;
  readonly accessKey: string | undefined;
  readonly secretKey: string | undefined;
  readonly userToken: string | undefined;
  readonly adminToken: string | undefined;
  /** PEM files: with both, the native and S3 ports serve HTTPS. */
  readonly tlsCert: string | undefined;
  readonly tlsKey: string | undefined;
  /** Merkle anti-entropy and tombstone collection (src/antientropy). */
  readonly antiEntropy: AntiEntropySettings;
  /** Failure detection: SWIM gossip (default) or passive (request outcomes only). */
  readonly membership: 'swim' | 'passive';
  /** SWIM timing and bounds (src/membership/swim.ts), defaults for a LAN. */
  readonly swim: SwimConfig;
  /** Hinted handoff: the hint table's bounds and delivery throttle (src/handoff). */
  readonly handoff: HandoffSettings;
  /** Dev-only fault injection switch (POST /_faults); off unless enabled at start. */
  readonly faults: boolean;
  /**
   * issue 13 §2: small replica writes go through a group-committed write log
   * before LMDB (store/write-log.ts, store/logged-replicas.ts). Unset: the
   * store's default (store/lmdb-store.ts DEFAULT_STORE_LOG).
   */
  readonly storeLog?: boolean;
  /**
   * The secrets every node of the cluster shares (node/cluster-keys.ts): the
   * first signs and encrypts, all verify and decrypt. When none is
   * configured, one is made up for this process and `clusterKeysEphemeral`
   * says so (fine for one node; a cluster must share them).
   */
  readonly clusterKeys: readonly ClusterKey[];
  readonly clusterKeysEphemeral: boolean;
  /** S3 chunk garbage collection: interval, grace period, minimum gap between runs (src/s3/gc.ts). */
  readonly s3Gc: GcSettings;
  /** Bytes of the S3 read cache of verified chunks (small objects get a quarter of it more); 0 turns both off. */
  readonly s3CacheBytes: number;
  /** issue 10: bytes per second a layout sync may pull into this node (layout/mover.ts). */
  readonly layoutSyncBytesPerSecond: number;
  /** raft: the control plane's timing and voters (node/control-config.ts). */
  readonly raft: RaftSettings;
  /** raft: host:port of a member to join through (a new node); undefined bootstraps from `members`. */
  readonly join: string | undefined;
  /** Bounds on listeners, requests, siblings and multipart uploads (node/limits.ts). */
  readonly limits: LimitSettings;
  /** Deadline of each replica request; the coordinator's default when unset (course mode sets it well under 1 s: node/course-mode.ts). */
  readonly replicaTimeoutMs?: number; // kvs
  /** Deadline of each anti-entropy request; anti-entropy's default when unset (course mode: a cut peer must not hold a round for 5 s). */
  readonly antiEntropyRequestTimeoutMs?: number; // kvs
  /** The bulk lane's port (on the gRPC address); an ephemeral one when unset (course mode derives it: node/course-mode.ts). */
  readonly bulkPort?: number; // kvs
  /** A new cluster's first layout history instead of the ring's (course mode founds in replica groups: layout/groups.ts foundingGroups). */
  readonly foundingLayout?: (members: readonly Member[]) => LayoutHistory; // kvs
}

export interface HandoffSettings extends HandoffConfig {
  /** Hints (keys) this node keeps for others at most; beyond, hinted writes for new keys are refused. */
  readonly maxHints: number;
  /** Approximate bytes of hints kept at most. */
  readonly maxHintBytes: number;
}

export const DEFAULT_HANDOFF_SETTINGS: HandoffSettings = Object.freeze({
  ...DEFAULT_HANDOFF_CONFIG,
  maxHints: 1_000_000,
  maxHintBytes: 4 * 1024 ** 3,
});

export interface AntiEntropySettings {
  readonly enabled: boolean;
  /** Pause between exchange rounds. */
  readonly intervalMs: number;
  /** Repair budget in keys per second (fetched + pushed). */
  readonly keysPerSec: number;
  readonly maxPartitionsInFlight: number;
  /** Tombstones are kept at least this long after the delete. */
  readonly tombstoneGraceMs: number;
  /** How often tombstones are swept for collection. */
  readonly gcIntervalMs: number;
  /** A copy of replica data read longer ago than this is not merged (antientropy/data-age.ts). */
  readonly maxDataAgeMs: number;
  /** The assumed bound on the difference between two nodes' clocks. */
  readonly maxClockSkewMs: number;
  /** Merkle tree shape: every node must use the same. */
  readonly fanout: number;
  readonly depth: number;
}

export const DEFAULT_ANTI_ENTROPY_SETTINGS: AntiEntropySettings = {
  enabled: true,
  intervalMs: 1000,
  keysPerSec: 2500,
  maxPartitionsInFlight: 4,
  tombstoneGraceMs: 60 * 60 * 1000,
  gcIntervalMs: 60_000,
  maxDataAgeMs: DEFAULT_MAX_DATA_AGE_MS,
  maxClockSkewMs: DEFAULT_MAX_CLOCK_SKEW_MS,
  fanout: 16,
  depth: 2,
};

/** Raw settings as a config file, the environment or flags give them (strings or JSON values). */
export interface RawConfig {
  id?: unknown;
  zone?: unknown;
  weight?: unknown;
  data?: unknown;
  http?: unknown;
  grpc?: unknown;
  advertiseHttp?: unknown;
  advertiseGrpc?: unknown;
  members?: unknown;
  partitions?: unknown;
  quorum?: unknown;
  maxObjectSize?: unknown;
  logLevel?: unknown;
  s3?: unknown;
  filesGrpc?: unknown;
  accessKey?: unknown;
  secretKey?: unknown;
  user?: unknown;
  userToken?: unknown;
  adminToken?: unknown;
  tlsCert?: unknown;
  tlsKey?: unknown;
  antiEntropy?: unknown;
  membership?: unknown;
  swim?: unknown;
  handoff?: unknown;
  faults?: unknown;
  storeLog?: unknown;
  clusterKeys?: unknown;
  s3Gc?: unknown;
  s3CacheSize?: unknown;
  layoutSyncRate?: unknown; // issue 10: bytes per second, e.g. "64MiB"
  raft?: unknown; // raft
  join?: unknown; // raft
  limits?: unknown;
}

export const DEFAULT_HTTP_PORT = 9001;
export const DEFAULT_GRPC_PORT = 9101;
export const DEFAULT_S3_PORT = 9201;
export const DEFAULT_FILES_GRPC_PORT = 9301;
export const DEFAULT_MAX_OBJECT_BYTES = 16 * 1024 * 1024;
export const DEFAULT_S3_CACHE_BYTES = 64 * 1024 * 1024;
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** RINGSTORE_* variable for each setting. */
export const ENV_NAMES: Readonly<Record<keyof RawConfig | 'config', string>> = {
  config: 'RINGSTORE_CONFIG',
  id: 'RINGSTORE_ID',
  zone: 'RINGSTORE_ZONE',
  weight: 'RINGSTORE_WEIGHT',
  data: 'RINGSTORE_DATA',
  http: 'RINGSTORE_HTTP',
  grpc: 'RINGSTORE_GRPC',
  advertiseHttp: 'RINGSTORE_ADVERTISE_HTTP',
  advertiseGrpc: 'RINGSTORE_ADVERTISE_GRPC',
  members: 'RINGSTORE_MEMBERS',
  partitions: 'RINGSTORE_PARTITIONS',
  quorum: 'RINGSTORE_QUORUM',
  maxObjectSize: 'RINGSTORE_MAX_OBJECT_SIZE',
  logLevel: 'RINGSTORE_LOG_LEVEL',
  s3: 'RINGSTORE_S3',
  filesGrpc: 'RINGSTORE_FILES_GRPC',
  accessKey: 'RINGSTORE_ACCESS_KEY',
  secretKey: 'RINGSTORE_SECRET_KEY',
  user: 'RINGSTORE_USER',
  userToken: 'RINGSTORE_USER_TOKEN',
  adminToken: 'RINGSTORE_ADMIN_TOKEN',
  tlsCert: 'RINGSTORE_TLS_CERT',
  tlsKey: 'RINGSTORE_TLS_KEY',
  antiEntropy: 'RINGSTORE_ANTI_ENTROPY',
  membership: 'RINGSTORE_MEMBERSHIP',
  swim: 'RINGSTORE_SWIM',
  handoff: 'RINGSTORE_HANDOFF',
  faults: 'RINGSTORE_FAULTS',
  storeLog: 'RINGSTORE_STORE_LOG',
  clusterKeys: 'RINGSTORE_CLUSTER_KEYS',
  s3Gc: 'RINGSTORE_S3_GC',
  s3CacheSize: 'RINGSTORE_S3_CACHE_SIZE',
  layoutSyncRate: 'RINGSTORE_LAYOUT_SYNC_RATE', // issue 10
  raft: 'RINGSTORE_RAFT', // raft
  join: 'RINGSTORE_JOIN', // raft
  limits: 'RINGSTORE_LIMITS',
};

export class ConfigError extends Error {
  override name = 'ConfigError';
}

// Config files may spell a few settings the long way.
const FILE_ALIASES: Readonly<Record<string, keyof RawConfig>> = {
  dataDir: 'data',
  maxObjectBytes: 'maxObjectSize',
  advertise_http: 'advertiseHttp',
  advertise_grpc: 'advertiseGrpc',
  log_level: 'logLevel',
  access_key: 'accessKey',
  secret_key: 'secretKey',
  user_token: 'userToken',
  admin_token: 'adminToken',
  tls_cert: 'tlsCert',
  tls_key: 'tlsKey',
  cluster_keys: 'clusterKeys',
};

export function readConfigFile(file: string): RawConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${file} is not valid JSON: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError(`config file ${file} must hold a JSON object`);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    const name = FILE_ALIASES[k] ?? k;
    if (!(name in ENV_NAMES) || name === 'config') throw new ConfigError(`config file ${file}: unknown setting ${JSON.stringify(k)}`);
    out[name] = v;
  }
  // Relative data paths in a file are relative to the file, not to wherever the server starts.
  if (typeof out['data'] === 'string' && !path.isAbsolute(out['data'])) out['data'] = path.resolve(path.dirname(file), out['data']);
  return out as RawConfig;
}

export function configFromEnv(env: NodeJS.ProcessEnv): RawConfig {
  const out: Record<string, unknown> = {};
  for (const [name, variable] of Object.entries(ENV_NAMES)) {
    if (name === 'config') continue;
    const v = env[variable];
    if (v !== undefined && v !== '') out[name] = v;
  }
  return out as RawConfig;
}

/**
 * Merges the sources (flags over environment over file over defaults) and
 * validates the result. `flags.config` or RINGSTORE_CONFIG names the file.
 */
export function loadConfig(flags: RawConfig & { config?: string }, env: NodeJS.ProcessEnv = process.env): NodeConfig {
  const file = flags.config ?? env[ENV_NAMES.config];
  const fromFile = file ? readConfigFile(file) : {};
  const merged: RawConfig = { ...fromFile, ...configFromEnv(env), ...stripUndefined(flags) };
  delete (merged as { config?: unknown }).config;
  return resolveConfig(merged);
}

function stripUndefined(o: RawConfig): RawConfig {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as RawConfig;
}

export function resolveConfig(raw: RawConfig): NodeConfig {
  const id = str(raw.id, 'id') ?? 'n1';
  if (!isNodeId(id)) throw new ConfigError(`id ${JSON.stringify(id)}: use 1-63 letters, digits, dots, underscores or hyphens`);
  const http = parseListen(raw.http, 'http', DEFAULT_HTTP_PORT);
  const grpc = parseListen(raw.grpc, 'grpc', DEFAULT_GRPC_PORT);
  const advertiseHttp = str(raw.advertiseHttp, 'advertiseHttp') ?? advertiseFor(http);
  const advertiseGrpc = str(raw.advertiseGrpc, 'advertiseGrpc') ?? advertiseFor(grpc);
  checkHostPort(advertiseHttp, 'advertiseHttp');
  checkHostPort(advertiseGrpc, 'advertiseGrpc');
  const zoneGiven = str(raw.zone, 'zone');
  const weightGiven = raw.weight === undefined ? undefined : num(raw.weight, 'weight', { min: 0.001 });

  const members = parseMembers(raw.members);
  const me = members.find((m) => m.id === id);
  let zone = zoneGiven ?? 'default';
  let weight = weightGiven ?? 1;
  if (me === undefined) {
    members.push({ id, grpc: advertiseGrpc, http: advertiseHttp, zone, weight });
  } else {
    // Every node must compute the same ring, so the member list is the truth
    // about this node too; a flag that contradicts it is a mistake.
    if (zoneGiven !== undefined && zoneGiven !== me.zone) throw new ConfigError(`zone ${zoneGiven} contradicts the member list, which gives ${id} zone ${me.zone}`);
    if (weightGiven !== undefined && weightGiven !== me.weight) throw new ConfigError(`weight ${weightGiven} contradicts the member list, which gives ${id} weight ${me.weight}`);
    zone = me.zone;
    weight = me.weight;
  }
  members.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

  const partitions = raw.partitions === undefined ? DEFAULT_PARTITIONS : num(raw.partitions, 'partitions', { min: 1, integer: true });
  if ((partitions & (partitions - 1)) !== 0 || partitions > 1 << 20) throw new ConfigError(`partitions ${partitions}: must be a power of two, at most 1048576`);

  const quorum = parseQuorum(raw.quorum);
  const maxObjectBytes = raw.maxObjectSize === undefined ? DEFAULT_MAX_OBJECT_BYTES : parseSize(raw.maxObjectSize, 'maxObjectSize');
  const logLevel = str(raw.logLevel, 'logLevel') ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError(`logLevel ${logLevel}: one of ${LOG_LEVELS.join(', ')}`);
  const dataDir = path.resolve(str(raw.data, 'data') ?? path.join('.data', id));

  const s3 = parseListen(raw.s3, 's3', DEFAULT_S3_PORT);
  const filesGrpc = parseListen(raw.filesGrpc, 'filesGrpc', DEFAULT_FILES_GRPC_PORT);
  const accessKey = str(raw.accessKey, 'accessKey');
  const secretKey = str(raw.secretKey, 'secretKey');
  if ((accessKey === undefined) !== (secretKey === undefined)) throw new ConfigError('accessKey and secretKey go together: give both or neither');
  const user = str(raw.user, 'user') ?? 'admin';
  const userToken = str(raw.userToken, 'userToken');
  const adminToken = str(raw.adminToken, 'adminToken');
  const tlsCert = str(raw.tlsCert, 'tlsCert');
  const tlsKey = str(raw.tlsKey, 'tlsKey');
  if ((tlsCert === undefined) !== (tlsKey === undefined)) throw new ConfigError('tlsCert and tlsKey go together: give both PEM files or neither');

  const antiEntropy = parseAntiEntropy(raw.antiEntropy);

  const membership = str(raw.membership, 'membership') ?? 'swim';
  if (membership !== 'swim' && membership !== 'passive') throw new ConfigError(`membership ${membership}: "swim" or "passive"`);
  const swim = parseNumbers<SwimConfig>(raw.swim, 'swim', DEFAULT_SWIM_CONFIG);
  try {
    validateSwimConfig(swim);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const handoff = parseNumbers<HandoffSettings>(raw.handoff, 'handoff', DEFAULT_HANDOFF_SETTINGS);
  try {
    validateHandoffConfig(handoff);
    if (!(handoff.maxHints >= 1 && handoff.maxHintBytes >= 1)) throw new Error('handoff: maxHints and maxHintBytes must be >= 1');
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const faults = parseBool(raw.faults, 'faults') ?? false;
  const storeLog = parseBool(raw.storeLog, 'storeLog');
  let clusterKeys: ClusterKey[];
  try {
    clusterKeys = raw.clusterKeys === undefined || raw.clusterKeys === '' ? [] : parseClusterKeys(raw.clusterKeys);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const clusterKeysEphemeral = clusterKeys.length === 0;
  if (clusterKeysEphemeral) {
    const k = generateClusterKey();
    clusterKeys = [{ id: k.id, key: Buffer.from(k.key, 'hex') }];
  }
  const s3Gc = parseNumbers<GcSettings>(raw.s3Gc, 's3Gc', DEFAULT_GC_SETTINGS);
  const limits = parseNumbers<LimitSettings>(raw.limits, 'limits', DEFAULT_LIMITS); // limits
  const layoutSyncBytesPerSecond = raw.layoutSyncRate === undefined ? 64 * 1024 * 1024 : parseSize(raw.layoutSyncRate, 'layoutSyncRate');
  const s3CacheBytes = raw.s3CacheSize === undefined ? DEFAULT_S3_CACHE_BYTES : String(raw.s3CacheSize).trim() === '0' ? 0 : parseSize(raw.s3CacheSize, 's3CacheSize');

  // raft: the control plane's settings, and the member to join through.
  let raft: RaftSettings;
  try {
    raft = parseRaftSettings(raw.raft);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const join = str(raw.join, 'join');
  if (join !== undefined) checkHostPort(join, 'join');

  return {
    raft,
    join,
    id,
    zone,
    weight,
    dataDir,
    http,
    grpc,
    advertiseHttp,
    advertiseGrpc,
    members,
    partitions,
    quorum,
    maxObjectBytes,
    logLevel,
    s3,
    filesGrpc,
    user,
    accessKey,
    secretKey,
    userToken,
    adminToken,
    tlsCert: tlsCert === undefined ? undefined : path.resolve(tlsCert),
    tlsKey: tlsKey === undefined ? undefined : path.resolve(tlsKey),
    antiEntropy,
    membership,
    swim,
    handoff,
    faults,
    ...(storeLog !== undefined ? { storeLog } : {}),
    clusterKeys,
    clusterKeysEphemeral,
    s3Gc,
    s3CacheBytes,
    layoutSyncBytesPerSecond,
    limits,
  };
}

/** true/false, 1/0, yes/no, on/off (flags and environment give strings). */
function parseBool(v: unknown, name: string): boolean | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'boolean') return v;
  const t = String(v).trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(t)) return true;
  if (['0', 'false', 'no', 'off'].includes(t)) return false;
  throw new ConfigError(`${name}: expected true or false, got ${JSON.stringify(v)}`);
}

/** An object (or its JSON text) overriding some numeric settings of `defaults`; unknown names are refused. */
function parseNumbers<T extends object>(v: unknown, name: string, defaults: T): T {
  if (v === undefined || v === null || v === '') return defaults;
  let o: unknown = v;
  if (typeof v === 'string') {
    try {
      o = JSON.parse(v);
    } catch (err) {
      throw new ConfigError(`${name}: not valid JSON: ${(err as Error).message}`);
    }
  }
  if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new ConfigError(`${name}: expected an object of settings`);
  const out: Record<string, unknown> = { ...(defaults as Record<string, unknown>) };
  for (const [k, x] of Object.entries(o as Record<string, unknown>)) {
    if (!(k in defaults)) throw new ConfigError(`${name}: unknown setting ${JSON.stringify(k)} (known: ${Object.keys(defaults).join(', ')})`);
    out[k] = num(x, `${name}.${k}`, { min: 0 });
  }
  return out as T;
}

// ---------------------------------------------------------------------------

function str(v: unknown, name: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number') return String(v);
  if (typeof v !== 'string') throw new ConfigError(`${name}: expected a string, got ${JSON.stringify(v)}`);
  return v.trim() === '' ? undefined : v.trim();
}

function num(v: unknown, name: string, opts: { min?: number; integer?: boolean } = {}): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  if (!Number.isFinite(n) || (opts.integer && !Number.isInteger(n)) || (opts.min !== undefined && n < opts.min)) {
    throw new ConfigError(`${name}: expected ${opts.integer ? 'an integer' : 'a number'}${opts.min !== undefined ? ` >= ${opts.min}` : ''}, got ${JSON.stringify(v)}`);
  }
  return n;
}

/** "host:port", ":port", "port" or "[v6]:port". */
export function parseHostPort(text: string, defaultHost: string): HostPort | undefined {
  const t = text.trim();
  let host = defaultHost;
  let portText = t;
  const v6 = /^\[([^\]]+)\]:(\d+)$/.exec(t);
  if (v6) {
    host = v6[1] as string;
    portText = v6[2] as string;
  } else if (t.includes(':')) {
    const i = t.lastIndexOf(':');
    host = t.slice(0, i) || defaultHost;
    portText = t.slice(i + 1);
  }
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port > 65535) return undefined;
  return { host, port };
}

function parseListen(v: unknown, name: string, defaultPort: number): HostPort {
  const text = str(v, name);
  if (text === undefined) return { host: '0.0.0.0', port: defaultPort };
  const hp = parseHostPort(text, '0.0.0.0');
  if (hp === undefined) throw new ConfigError(`${name}: expected host:port or a port, got ${JSON.stringify(text)}`);
  return hp;
}

function checkHostPort(text: string, name: string): void {
  const hp = parseHostPort(text, '');
  if (hp === undefined || hp.host === '' || hp.port === 0) throw new ConfigError(`${name}: expected host:port with a real port, got ${JSON.stringify(text)}`);
}

function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Where others reach a listener by default: a wildcard listener is advertised under the host name. */
function advertiseFor(l: HostPort): string {
  const wildcard = l.host === '0.0.0.0' || l.host === '::' || l.host === '';
  return formatHostPort(wildcard ? os.hostname() : l.host, l.port);
}

/**
 * The member list: a JSON array of { id, grpc, http?, zone?, weight? }, or
 * the compact form "n1=10.0.0.1:9101,n2=10.0.0.2:9101" (zone "default",
 * weight 1).
 */
export function parseMembers(v: unknown): MemberConfig[] {
  if (v === undefined || v === null || v === '') return [];
  let list: unknown = v;
  if (typeof v === 'string') {
    const t = v.trim();
    if (t.startsWith('[')) {
      try {
        list = JSON.parse(t);
      } catch (err) {
        throw new ConfigError(`members: not valid JSON: ${(err as Error).message}`);
      }
    } else {
      list = t
        .split(',')
        .map((e) => e.trim())
        .filter((e) => e !== '')
        .map((e) => {
          const eq = e.indexOf('=');
          if (eq <= 0) throw new ConfigError(`members: expected id=host:port, got ${JSON.stringify(e)}`);
          return { id: e.slice(0, eq), grpc: e.slice(eq + 1) };
        });
    }
  }
  if (!Array.isArray(list)) throw new ConfigError('members: expected a list');
  const out: MemberConfig[] = [];
  const seen = new Set<string>();
  for (const item of list) {
    if (item === null || typeof item !== 'object') throw new ConfigError(`members: expected objects, got ${JSON.stringify(item)}`);
    const m = item as Record<string, unknown>;
    const id = str(m['id'], 'members[].id');
    const grpc = str(m['grpc'], 'members[].grpc');
    if (id === undefined || grpc === undefined) throw new ConfigError(`members: each member needs an id and a grpc address: ${JSON.stringify(item)}`);
    if (!isNodeId(id)) throw new ConfigError(`members: id ${JSON.stringify(id)}: use 1-63 letters, digits, dots, underscores or hyphens`);
    if (seen.has(id)) throw new ConfigError(`members: ${id} is listed twice`);
    seen.add(id);
    checkHostPort(grpc, `members ${id} grpc`);
    const http = str(m['http'], 'members[].http');
    const member: MemberConfig = {
      id,
      grpc,
      zone: str(m['zone'], 'members[].zone') ?? 'default',
      weight: m['weight'] === undefined ? 1 : num(m['weight'], `members ${id} weight`, { min: 0.001 }),
      ...(http !== undefined ? { http } : {}),
    };
    out.push(member);
  }
  return out;
}

/** "n,r,w" (e.g. "3,2,2") or { n, r, w } with any subset given. */
export function parseQuorum(v: unknown): Quorum {
  if (v === undefined || v === null || v === '') return DEFAULT_QUORUM;
  let parts: Partial<Record<'n' | 'r' | 'w', unknown>>;
  if (typeof v === 'string') {
    const xs = v.split(',').map((x) => x.trim());
    if (xs.length !== 3) throw new ConfigError(`quorum: expected n,r,w such as 3,2,2, got ${JSON.stringify(v)}`);
    parts = { n: xs[0], r: xs[1], w: xs[2] };
  } else if (typeof v === 'object') {
    parts = v as Record<string, unknown>;
  } else {
    throw new ConfigError(`quorum: expected n,r,w, got ${JSON.stringify(v)}`);
  }
  const q: Quorum = {
    n: parts.n === undefined ? DEFAULT_QUORUM.n : num(parts.n, 'quorum n', { min: 1, integer: true }),
    r: parts.r === undefined ? DEFAULT_QUORUM.r : num(parts.r, 'quorum r', { min: 1, integer: true }),
    w: parts.w === undefined ? DEFAULT_QUORUM.w : num(parts.w, 'quorum w', { min: 1, integer: true }),
  };
  const problem = quorumProblem(q);
  if (problem !== undefined) throw new ConfigError(`quorum: ${problem}`);
  return q;
}

/**
 * Anti-entropy settings: an object (or its JSON text) with any subset of
 * AntiEntropySettings, e.g. {"intervalMs": 1000, "tombstoneGraceMs": 3600000}.
 */
export function parseAntiEntropy(v: unknown): AntiEntropySettings {
  if (v === undefined || v === null || v === '') return DEFAULT_ANTI_ENTROPY_SETTINGS;
  let o: unknown = v;
  if (typeof v === 'string') {
    try {
      o = JSON.parse(v);
    } catch (err) {
      throw new ConfigError(`antiEntropy: not valid JSON: ${(err as Error).message}`);
    }
  }
  if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new ConfigError('antiEntropy: expected an object such as {"intervalMs": 1000}');
  const d = DEFAULT_ANTI_ENTROPY_SETTINGS;
  const out: Record<string, number | boolean> = { ...d };
  for (const [k, x] of Object.entries(o as Record<string, unknown>)) {
    if (!(k in d)) throw new ConfigError(`antiEntropy: unknown setting ${JSON.stringify(k)} (known: ${Object.keys(d).join(', ')})`);
    if (k === 'enabled') {
      if (typeof x !== 'boolean') throw new ConfigError(`antiEntropy.enabled: expected true or false, got ${JSON.stringify(x)}`);
      out[k] = x;
    } else out[k] = num(x, `antiEntropy.${k}`, { min: k === 'depth' || k === 'fanout' || k === 'maxPartitionsInFlight' ? 1 : 0, integer: k !== 'keysPerSec' });
  }
  const fanout = out['fanout'] as number;
  const depth = out['depth'] as number;
  if ((fanout & (fanout - 1)) !== 0 || fanout < 2 || fanout > 256) throw new ConfigError(`antiEntropy.fanout ${fanout}: must be a power of two from 2 to 256`);
  if (Math.log2(fanout) * depth > 20) throw new ConfigError(`antiEntropy: fanout^depth = ${fanout}^${depth} leaves; at most 2^20`);
  if ((out['keysPerSec'] as number) <= 0) throw new ConfigError('antiEntropy.keysPerSec: must be positive');
  return out as unknown as AntiEntropySettings;
}

const UNITS: Readonly<Record<string, number>> = { '': 1, b: 1, k: 1e3, kb: 1e3, kib: 1024, m: 1e6, mb: 1e6, mib: 1024 ** 2, g: 1e9, gb: 1e9, gib: 1024 ** 3, t: 1e12, tb: 1e12, tib: 1024 ** 4 };

/** A byte count: 16777216, "16MiB", "16 MB", "512k". */
export function parseSize(v: unknown, name: string): number {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v > 0) return v;
  const m = typeof v === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(v) : null;
  const unit = m ? UNITS[(m[2] as string).toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new ConfigError(`${name}: expected a size such as 16MiB, got ${JSON.stringify(v)}`);
  const bytes = Math.floor(Number(m[1]) * unit);
  if (!(bytes > 0)) throw new ConfigError(`${name}: must be positive`);
  return bytes;
}
