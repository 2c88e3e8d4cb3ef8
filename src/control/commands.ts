// The commands the control state machine applies, as they travel in Raft
// log entries: a versioned JSON envelope carrying the client's request id
// (so that the node that proposed it can answer its client when the entry is
// applied) and the time the proposer stamped on it (the state machine never
// reads a clock: every replica must compute the same state).

import { quorumProblem, type Quorum } from '../coordinator/quorum.js';
import type { BucketAcl } from '../coordinator/buckets-types.js';
import { decodeLayoutCommand, LAYOUT_COMMAND_TYPES, type LayoutCommand, type LayoutErrorCode } from './layout-commands.js'; // issue 10: layout commands

export const COMMAND_FORMAT_VERSION = 1;

export type NodeRole = 'storage' | 'gateway';

export interface LayoutNode {
  readonly id: string;
  /** Where peers and clients reach the node. */
  readonly addresses: { readonly rpc: string; readonly http?: string };
  readonly zone: string;
  /** Bytes the node offers for data (0 for a gateway). */
  readonly capacity: number;
  /** storage holds data; gateway only serves requests. */
  readonly role: NodeRole;
}

/** What an admin token may do: everything, or only read /metrics. */
export type AdminScope = 'admin' | 'metrics-read';
export const ADMIN_SCOPES: readonly AdminScope[] = ['admin', 'metrics-read'];

/** A bucket's quorum settings: the one quorum rule's shape (coordinator/quorum.ts). */
export type QuorumSettings = Quorum;

export type Command =
  | LayoutCommand // issue 10: layoutStage, layoutRevert, layoutApply, layoutProgress, layoutSkipDead (layout-commands.ts)
  | { readonly type: 'createBucket'; readonly name: string; readonly owner: string; readonly quorum?: QuorumSettings; readonly acl?: BucketAcl }
  // catalog: `id` deletes only that bucket, not a later one of the same name.
  | { readonly type: 'deleteBucket'; readonly name: string; readonly id?: number }
  // catalog: a bucket's canned ACL, for exactly the bucket with this id.
  | { readonly type: 'setBucketAcl'; readonly name: string; readonly id: number; readonly acl: BucketAcl }
  // catalog: a bucket record of a data folder from before the control plane (control/legacy-import.ts); its objects stay under its name.
  | { readonly type: 'importBucket'; readonly name: string; readonly owner: string; readonly quorum?: QuorumSettings; readonly createdAt: number; readonly acl?: BucketAcl }
  | { readonly type: 'putUser'; readonly user: string; readonly displayName?: string }
  /** `secret` is sealed by the proposer (auth/secret-box.ts): this layer never sees a secret in the clear. */
  | { readonly type: 'putAccessKey'; readonly accessKeyId: string; readonly secret: string; readonly user: string }
  | { readonly type: 'deleteAccessKey'; readonly accessKeyId: string }
  /** `scope` defaults to 'admin'; `expiresAt` (ms since the epoch) 0 or absent means never. */
  | { readonly type: 'putAdminToken'; readonly tokenId: string; readonly tokenHash: string; readonly scope?: AdminScope; readonly expiresAt?: number }
  | { readonly type: 'revokeAdminToken'; readonly tokenId: string }
  | { readonly type: 'putUserToken'; readonly tokenId: string; readonly tokenHash: string; readonly user: string; readonly expiresAt: number; readonly name?: string }
  | { readonly type: 'revokeUserToken'; readonly tokenId: string }
  | { readonly type: 'addNode'; readonly node: LayoutNode }
  | { readonly type: 'updateNode'; readonly node: LayoutNode }
  | { readonly type: 'removeNode'; readonly id: string }
  | { readonly type: 'setAssignment'; readonly assignment: unknown };


export interface Envelope {
  readonly v: number;
  /** The proposer's request id; empty when nobody waits for the answer. */
  readonly id: string;
  /** Milliseconds since the epoch on the proposer's clock. */
  readonly at: number;
  readonly cmd: Command;
}

/** Why a command was refused: stable codes an API layer maps to its own errors. */
export type ControlErrorCode =
  | LayoutErrorCode // issue 10: layout refusals (layout-commands.ts)
  | 'BucketAlreadyExists'
  | 'NoSuchBucket'
  | 'NoSuchUser'
  | 'NoSuchAccessKey'
  | 'AccessKeyInUse'
  | 'NoSuchAdminToken'
  | 'NoSuchUserToken'
  | 'NodeExists'
  | 'NoSuchNode'
  | 'InvalidCommand'
  | 'UnsupportedVersion';

export class CommandError extends Error {
  override name = 'CommandError';
  constructor(
    readonly code: ControlErrorCode,
    message: string,
  ) {
    super(message);
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export function encodeCommand(env: Omit<Envelope, 'v'>): Uint8Array {
  return enc.encode(JSON.stringify({ v: COMMAND_FORMAT_VERSION, id: env.id, at: env.at, cmd: env.cmd }));
}

function str(v: unknown, what: string, opts: { empty?: boolean; max?: number } = {}): string {
  if (typeof v !== 'string') throw new CommandError('InvalidCommand', `${what} must be a string`);
  if (!opts.empty && v === '') throw new CommandError('InvalidCommand', `${what} must not be empty`);
  if (v.length > (opts.max ?? 1024)) throw new CommandError('InvalidCommand', `${what} is longer than ${opts.max ?? 1024} characters`);
  return v;
}

function int(v: unknown, what: string, min: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw new CommandError('InvalidCommand', `${what} must be an integer >= ${min}`);
  return v;
}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new CommandError('InvalidCommand', `${what} must be an object`);
  return v as Record<string, unknown>;
}

const BUCKET_ACLS: readonly string[] = ['private', 'public-read', 'authenticated-read'] satisfies BucketAcl[];

function bucketAcl(v: unknown): BucketAcl {
  if (typeof v !== 'string' || !BUCKET_ACLS.includes(v)) throw new CommandError('InvalidCommand', `acl must be one of ${BUCKET_ACLS.join(', ')}`);
  return v as BucketAcl;
}

function quorumOf(v: unknown): QuorumSettings | undefined {
  const q = v === undefined ? undefined : obj(v, 'quorum');
  const quorum = q === undefined ? undefined : { n: int(q.n, 'quorum.n', 1), r: int(q.r, 'quorum.r', 1), w: int(q.w, 'quorum.w', 1) };
  // Without the cluster size: a command's validity must not depend on state, so every replica decides alike.
  const problem = quorum === undefined ? undefined : quorumProblem(quorum);
  if (problem !== undefined) throw new CommandError('InvalidCommand', `quorum: ${problem}`);
  return quorum;
}

function layoutNode(v: unknown): LayoutNode {
  const o = obj(v, 'node');
  const addr = obj(o.addresses, 'node.addresses');
  const role = o.role;
  if (role !== 'storage' && role !== 'gateway') throw new CommandError('InvalidCommand', 'node.role must be storage or gateway');
  return {
    id: str(o.id, 'node.id', { max: 128 }),
    addresses: { rpc: str(addr.rpc, 'node.addresses.rpc'), ...(addr.http !== undefined ? { http: str(addr.http, 'node.addresses.http') } : {}) },
    zone: str(o.zone, 'node.zone', { max: 128 }),
    capacity: int(o.capacity, 'node.capacity', 0),
    role,
  };
}

function command(v: unknown): Command {
  const o = obj(v, 'cmd');
  if (typeof o.type === 'string' && LAYOUT_COMMAND_TYPES.has(o.type)) {
    // issue 10: layout commands decode in layout-commands.ts
    const r = decodeLayoutCommand(o);
    if ('problem' in r) throw new CommandError('InvalidCommand', r.problem);
    return r.cmd;
  }
  switch (o.type) {
    case 'createBucket': {
      const quorum = quorumOf(o.quorum);
      return { type: 'createBucket', name: str(o.name, 'name', { max: 255 }), owner: str(o.owner, 'owner'), ...(quorum !== undefined ? { quorum } : {}), ...(o.acl !== undefined ? { acl: bucketAcl(o.acl) } : {}) };
    }
    case 'deleteBucket':
      return { type: 'deleteBucket', name: str(o.name, 'name', { max: 255 }), ...(o.id !== undefined ? { id: int(o.id, 'id', 1) } : {}) };
    case 'setBucketAcl':
      return { type: 'setBucketAcl', name: str(o.name, 'name', { max: 255 }), id: int(o.id, 'id', 1), acl: bucketAcl(o.acl) };
    case 'importBucket': {
      const quorum = quorumOf(o.quorum);
      return {
        type: 'importBucket',
        name: str(o.name, 'name', { max: 255 }),
        owner: str(o.owner, 'owner'),
        createdAt: int(o.createdAt, 'createdAt', 0),
        ...(quorum !== undefined ? { quorum } : {}),
        ...(o.acl !== undefined ? { acl: bucketAcl(o.acl) } : {}),
      };
    }
    case 'putUser':
      return { type: 'putUser', user: str(o.user, 'user'), ...(o.displayName !== undefined ? { displayName: str(o.displayName, 'displayName', { empty: true }) } : {}) };
    case 'putAccessKey':
      return { type: 'putAccessKey', accessKeyId: str(o.accessKeyId, 'accessKeyId', { max: 128 }), secret: str(o.secret, 'secret'), user: str(o.user, 'user') };
    case 'deleteAccessKey':
      return { type: 'deleteAccessKey', accessKeyId: str(o.accessKeyId, 'accessKeyId', { max: 128 }) };
    case 'putAdminToken': {
      const scope = o.scope === undefined ? 'admin' : o.scope;
      if (!ADMIN_SCOPES.includes(scope as AdminScope)) throw new CommandError('InvalidCommand', `scope must be one of ${ADMIN_SCOPES.join(', ')}`);
      const expiresAt = o.expiresAt === undefined ? 0 : int(o.expiresAt, 'expiresAt', 0);
      return { type: 'putAdminToken', tokenId: str(o.tokenId, 'tokenId'), tokenHash: str(o.tokenHash, 'tokenHash'), scope: scope as AdminScope, expiresAt };
    }
    case 'revokeAdminToken':
      return { type: 'revokeAdminToken', tokenId: str(o.tokenId, 'tokenId') };
    case 'putUserToken':
      return {
        type: 'putUserToken',
        tokenId: str(o.tokenId, 'tokenId', { max: 128 }),
        tokenHash: str(o.tokenHash, 'tokenHash'),
        user: str(o.user, 'user'),
        expiresAt: int(o.expiresAt, 'expiresAt', 0),
        ...(o.name !== undefined ? { name: str(o.name, 'name', { empty: true, max: 128 }) } : {}),
      };
    case 'revokeUserToken':
      return { type: 'revokeUserToken', tokenId: str(o.tokenId, 'tokenId', { max: 128 }) };
    case 'addNode':
      return { type: 'addNode', node: layoutNode(o.node) };
    case 'updateNode':
      return { type: 'updateNode', node: layoutNode(o.node) };
    case 'removeNode':
      return { type: 'removeNode', id: str(o.id, 'id', { max: 128 }) };
    case 'setAssignment':
      return { type: 'setAssignment', assignment: o.assignment ?? null };
    default:
      throw new CommandError('InvalidCommand', `unknown command type ${JSON.stringify(o.type)}`);
  }
}

/** Decodes and validates an entry's data; throws CommandError (the same on every replica) for anything malformed. */
export function decodeCommand(data: Uint8Array): Envelope {
  let raw: unknown;
  try {
    raw = JSON.parse(dec.decode(data));
  } catch {
    throw new CommandError('InvalidCommand', 'entry data is not JSON');
  }
  const o = obj(raw, 'envelope');
  if (o.v !== COMMAND_FORMAT_VERSION) throw new CommandError('UnsupportedVersion', `command format ${String(o.v)}, this build reads ${COMMAND_FORMAT_VERSION}: upgrade this node`);
  return { v: COMMAND_FORMAT_VERSION, id: str(o.id, 'id', { empty: true }), at: int(o.at, 'at', 0), cmd: command(o.cmd) };
}
