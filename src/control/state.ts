// The control state machine: the cluster metadata that must not diverge
// (docs/raft.md), replicated by Raft. Every node applies the same committed
// entries in the same order and so holds the same state; reads are local
// (after a ReadIndex when they must be linearizable). It is pure and
// deterministic: no clock (times come stamped in the commands), no
// randomness, and iteration orders that do not depend on history.

import type { BucketAcl } from '../coordinator/buckets-types.js';
import { CommandError, decodeCommand, type AdminScope, type Command, type ControlErrorCode, type LayoutNode, type QuorumSettings } from './commands.js';
import type { LayoutHistory } from '../layout/history.js'; // issue 10: the layout history
import { applyLayoutCommand, initialLayoutHistory, isLayoutCommand, type LayoutCommand } from './layout-commands.js'; // issue 10

export const CONTROL_SNAPSHOT_FORMAT = 'ringstore-control';
export const CONTROL_SNAPSHOT_VERSION = 1;

export interface Bucket {
  readonly name: string;
  /** Never reused: the Raft index of the entry that created it. Objects are stored under this id, so a bucket recreated under an old name never sees the old objects. */
  readonly id: number;
  readonly owner: string;
  /** Per-bucket quorum, or null for the cluster's defaults. */
  readonly quorum: QuorumSettings | null;
  readonly createdAt: number;
  /** catalog: its canned ACL; absent means private. */
  readonly acl?: BucketAcl;
  /** catalog: set only for a bucket imported from a data folder older than bucket ids: its objects stay under this (its old name). */
  readonly legacyStorage?: string;
}

export interface User {
  readonly id: string;
  readonly displayName: string;
  readonly createdAt: number;
}

export interface AccessKey {
  readonly accessKeyId: string;
  /** Sealed with a cluster key by the proposer (auth/secret-box.ts); this layer never sees it in the clear. */
  readonly secret: string;
  readonly user: string;
  readonly createdAt: number;
}

export interface AdminToken {
  readonly tokenId: string;
  /** Only a hash is kept (the proposer hashes: this code does no cryptography). */
  readonly tokenHash: string;
  readonly scope: AdminScope;
  /** ms since the epoch; 0 for never. */
  readonly expiresAt: number;
  readonly createdAt: number;
}

/** A user's API token for the native API (`Authorization: Bearer`); only its hash is kept. */
export interface UserToken {
  readonly tokenId: string;
  readonly tokenHash: string;
  readonly user: string;
  /** ms since the epoch; 0 for never. */
  readonly expiresAt: number;
  readonly name: string;
  readonly createdAt: number;
}

export interface Layout {
  /** Bumped by every layout change. */
  readonly version: number;
  /** Sorted by id. */
  readonly nodes: readonly LayoutNode[];
  /** The partition assignment, opaque until the rebalancing work defines it. */
  readonly assignment: unknown;
  /** Earlier versions still live while data moves (kept empty until the rebalancing work fills it). */
  readonly history: readonly { readonly version: number; readonly nodes: readonly LayoutNode[]; readonly assignment: unknown }[];
}

export type ApplyResult =
  | { readonly ok: true; readonly bucket?: Bucket; readonly layoutVersion?: number }
  | { readonly ok: false; readonly code: ControlErrorCode; readonly message: string; readonly bucket?: Bucket };

interface SnapshotJson {
  format: string;
  version: number;
  applied: number;
  layout: Layout;
  buckets: Bucket[];
  users: User[];
  accessKeys: AccessKey[];
  adminTokens: AdminToken[];
  /** catalog: the legacy bucket records imported so far (legacyKey), absent in older snapshots. */
  legacyImported?: string[];
  /** Absent in snapshots written before user tokens existed. */
  userTokens?: UserToken[];
  /** issue 10: absent until a layout command has been applied (so older states keep their bytes). */
  layoutHistory?: LayoutHistory;
}

/** catalog: one legacy bucket record, as importBucket names it (a record imported once is never imported again, even after its bucket is deleted). */
function legacyKey(name: string, createdAt: number, owner: string): string {
  return `${name}@${createdAt}@${owner}`;
}

function sortedValues<T>(m: ReadonlyMap<string, T>): T[] {
  return [...m.keys()].sort().map((k) => m.get(k) as T);
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export class ControlState {
  private appliedIndex = 0;
  private layoutValue: Layout = { version: 0, nodes: [], assignment: null, history: [] };
  private layoutHistoryValue: LayoutHistory | undefined; // issue 10: undefined = initialLayoutHistory()
  private readonly buckets = new Map<string, Bucket>();
  private readonly users = new Map<string, User>();
  private readonly accessKeys = new Map<string, AccessKey>();
  private readonly adminTokens = new Map<string, AdminToken>();
  private readonly legacyImported = new Set<string>(); // catalog
  private readonly userTokens = new Map<string, UserToken>();

  /** The Raft index of the last entry applied. */
  get applied(): number {
    return this.appliedIndex;
  }

  /**
   * Applies the entry at `index` (its data as Raft delivered it). Entries at
   * or below the applied index are ignored (a replay after restoring a
   * snapshot). An empty entry (a leader's noop) only advances the index; a
   * malformed one is refused identically everywhere.
   */
  applyEntry(index: number, data: Uint8Array): { readonly requestId: string; readonly result: ApplyResult } | undefined {
    if (index <= this.appliedIndex) return undefined;
    this.appliedIndex = index;
    if (data.length === 0) return undefined;
    let requestId = '';
    try {
      const env = decodeCommand(data);
      requestId = env.id;
      return { requestId, result: this.apply(index, env.at, env.cmd) };
    } catch (err) {
      if (!(err instanceof CommandError)) throw err;
      return { requestId, result: { ok: false, code: err.code, message: err.message } };
    }
  }

  private apply(index: number, at: number, cmd: Command): ApplyResult {
    if (isLayoutCommand(cmd)) return this.applyLayout(cmd); // issue 10
    switch (cmd.type) {
      case 'createBucket': {
        const existing = this.buckets.get(cmd.name);
        // Exactly one owner: the first creation in log order wins, every later one is refused.
        if (existing !== undefined) return { ok: false, code: 'BucketAlreadyExists', message: `bucket ${cmd.name} exists (owner ${existing.owner})`, bucket: existing };
        const bucket: Bucket = { name: cmd.name, id: index, owner: cmd.owner, quorum: cmd.quorum ?? null, createdAt: at, ...(cmd.acl !== undefined && cmd.acl !== 'private' ? { acl: cmd.acl } : {}) };
        this.buckets.set(cmd.name, bucket);
        return { ok: true, bucket };
      }
      case 'deleteBucket': {
        const b = this.buckets.get(cmd.name);
        if (b === undefined || (cmd.id !== undefined && b.id !== cmd.id)) return { ok: false, code: 'NoSuchBucket', message: `no bucket ${cmd.name}${cmd.id !== undefined ? ` with id ${cmd.id}` : ''}` };
        this.buckets.delete(cmd.name);
        return { ok: true, bucket: b };
      }
      // catalog: begin
      case 'setBucketAcl': {
        const b = this.buckets.get(cmd.name);
        if (b === undefined || b.id !== cmd.id) return { ok: false, code: 'NoSuchBucket', message: `no bucket ${cmd.name} with id ${cmd.id}` };
        const { acl: _old, ...rest } = b;
        const next: Bucket = cmd.acl === 'private' ? rest : { ...rest, acl: cmd.acl };
        this.buckets.set(cmd.name, next);
        return { ok: true, bucket: next };
      }
      case 'importBucket': {
        const key = legacyKey(cmd.name, cmd.createdAt, cmd.owner);
        const existing = this.buckets.get(cmd.name);
        if (this.legacyImported.has(key) || existing !== undefined) {
          return { ok: false, code: 'BucketAlreadyExists', message: `bucket record ${cmd.name} was imported already or the name is taken`, ...(existing !== undefined ? { bucket: existing } : {}) };
        }
        this.legacyImported.add(key);
        const bucket: Bucket = {
          name: cmd.name,
          id: index,
          owner: cmd.owner,
          quorum: cmd.quorum ?? null,
          createdAt: cmd.createdAt,
          ...(cmd.acl !== undefined && cmd.acl !== 'private' ? { acl: cmd.acl } : {}),
          legacyStorage: cmd.name,
        };
        this.buckets.set(cmd.name, bucket);
        return { ok: true, bucket };
      }
      // catalog: end
      case 'putUser': {
        const old = this.users.get(cmd.user);
        this.users.set(cmd.user, { id: cmd.user, displayName: cmd.displayName ?? old?.displayName ?? cmd.user, createdAt: old?.createdAt ?? at });
        return { ok: true };
      }
      case 'putAccessKey': {
        if (!this.users.has(cmd.user)) return { ok: false, code: 'NoSuchUser', message: `no user ${cmd.user}` };
        const old = this.accessKeys.get(cmd.accessKeyId);
        if (old !== undefined && old.user !== cmd.user) return { ok: false, code: 'AccessKeyInUse', message: `access key ${cmd.accessKeyId} belongs to another user` };
        this.accessKeys.set(cmd.accessKeyId, { accessKeyId: cmd.accessKeyId, secret: cmd.secret, user: cmd.user, createdAt: old?.createdAt ?? at });
        return { ok: true };
      }
      case 'deleteAccessKey':
        if (!this.accessKeys.delete(cmd.accessKeyId)) return { ok: false, code: 'NoSuchAccessKey', message: `no access key ${cmd.accessKeyId}` };
        return { ok: true };
      case 'putAdminToken':
        this.adminTokens.set(cmd.tokenId, {
          tokenId: cmd.tokenId,
          tokenHash: cmd.tokenHash,
          scope: cmd.scope ?? 'admin',
          expiresAt: cmd.expiresAt ?? 0,
          createdAt: this.adminTokens.get(cmd.tokenId)?.createdAt ?? at,
        });
        return { ok: true };
      case 'revokeAdminToken':
        if (!this.adminTokens.delete(cmd.tokenId)) return { ok: false, code: 'NoSuchAdminToken', message: `no admin token ${cmd.tokenId}` };
        return { ok: true };
      case 'putUserToken': {
        if (!this.users.has(cmd.user)) return { ok: false, code: 'NoSuchUser', message: `no user ${cmd.user}` };
        const old = this.userTokens.get(cmd.tokenId);
        if (old !== undefined && old.user !== cmd.user) return { ok: false, code: 'AccessKeyInUse', message: `token ${cmd.tokenId} belongs to another user` };
        this.userTokens.set(cmd.tokenId, { tokenId: cmd.tokenId, tokenHash: cmd.tokenHash, user: cmd.user, expiresAt: cmd.expiresAt, name: cmd.name ?? '', createdAt: old?.createdAt ?? at });
        return { ok: true };
      }
      case 'revokeUserToken':
        if (!this.userTokens.delete(cmd.tokenId)) return { ok: false, code: 'NoSuchUserToken', message: `no user token ${cmd.tokenId}` };
        return { ok: true };
      case 'addNode':
        if (this.layoutValue.nodes.some((n) => n.id === cmd.node.id)) return { ok: false, code: 'NodeExists', message: `node ${cmd.node.id} is in the layout` };
        return this.setNodes([...this.layoutValue.nodes, cmd.node]);
      case 'updateNode':
        if (!this.layoutValue.nodes.some((n) => n.id === cmd.node.id)) return { ok: false, code: 'NoSuchNode', message: `no node ${cmd.node.id} in the layout` };
        return this.setNodes(this.layoutValue.nodes.map((n) => (n.id === cmd.node.id ? cmd.node : n)));
      case 'removeNode':
        if (!this.layoutValue.nodes.some((n) => n.id === cmd.id)) return { ok: false, code: 'NoSuchNode', message: `no node ${cmd.id} in the layout` };
        return this.setNodes(this.layoutValue.nodes.filter((n) => n.id !== cmd.id));
      case 'setAssignment':
        this.layoutValue = { ...this.layoutValue, version: this.layoutValue.version + 1, assignment: cmd.assignment };
        return { ok: true, layoutVersion: this.layoutValue.version };
    }
  }

  /** issue 10: the layout history's commands (layout-commands.ts, layout/history.ts). */
  private applyLayout(cmd: LayoutCommand): ApplyResult {
    const r = applyLayoutCommand(this.layoutHistory(), cmd);
    if (!r.ok) return { ok: false, code: r.refusal.code, message: r.refusal.message };
    this.layoutHistoryValue = r.history;
    const v = r.history.versions[r.history.versions.length - 1]?.version;
    return { ok: true, ...(v !== undefined ? { layoutVersion: v } : {}) };
  }

  private setNodes(nodes: LayoutNode[]): ApplyResult {
    nodes.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this.layoutValue = { ...this.layoutValue, version: this.layoutValue.version + 1, nodes };
    return { ok: true, layoutVersion: this.layoutValue.version };
  }

  // ------------------------------------------------------------ queries

  bucket(name: string): Bucket | undefined {
    return this.buckets.get(name);
  }

  /** Buckets sorted by name, optionally only one owner's. */
  listBuckets(owner?: string): Bucket[] {
    return sortedValues(this.buckets).filter((b) => owner === undefined || b.owner === owner);
  }

  /** catalog: whether importBucket already took this legacy bucket record (control/legacy-import.ts). */
  legacyRecordImported(name: string, createdAt: number, owner: string): boolean {
    return this.legacyImported.has(legacyKey(name, createdAt, owner));
  }

  user(id: string): User | undefined {
    return this.users.get(id);
  }

  accessKey(id: string): AccessKey | undefined {
    return this.accessKeys.get(id);
  }

  listAccessKeys(user?: string): AccessKey[] {
    return sortedValues(this.accessKeys).filter((k) => user === undefined || k.user === user);
  }

  adminToken(tokenId: string): AdminToken | undefined {
    return this.adminTokens.get(tokenId);
  }

  /** Admin tokens sorted by id. */
  listAdminTokens(): AdminToken[] {
    return sortedValues(this.adminTokens);
  }

  userToken(tokenId: string): UserToken | undefined {
    return this.userTokens.get(tokenId);
  }

  /** User tokens sorted by id, optionally only one user's. */
  listUserTokens(user?: string): UserToken[] {
    return sortedValues(this.userTokens).filter((t) => user === undefined || t.user === user);
  }

  /** Users sorted by id. */
  listUsers(): User[] {
    return sortedValues(this.users);
  }

  /** Whether some admin token has this hash. */
  adminTokenHashKnown(hash: string): boolean {
    for (const t of this.adminTokens.values()) if (t.tokenHash === hash) return true;
    return false;
  }

  layout(): Layout {
    return this.layoutValue;
  }

  /** issue 10: the live layout versions, the staged changes and every node's progress. */
  layoutHistory(): LayoutHistory {
    return this.layoutHistoryValue ?? initialLayoutHistory();
  }

  // ---------------------------------------------------- snapshot / restore

  /** The whole state as versioned JSON bytes: Raft snapshots and `ringstore control backup` use it. Equal states give equal bytes. */
  snapshot(): Uint8Array {
    const s: SnapshotJson = {
      format: CONTROL_SNAPSHOT_FORMAT,
      version: CONTROL_SNAPSHOT_VERSION,
      applied: this.appliedIndex,
      layout: this.layoutValue,
      buckets: sortedValues(this.buckets),
      users: sortedValues(this.users),
      accessKeys: sortedValues(this.accessKeys),
      adminTokens: sortedValues(this.adminTokens),
      ...(this.legacyImported.size > 0 ? { legacyImported: [...this.legacyImported].sort() } : {}), // catalog
      userTokens: sortedValues(this.userTokens),
      ...(this.layoutHistoryValue !== undefined ? { layoutHistory: this.layoutHistoryValue } : {}), // issue 10
    };
    return enc.encode(JSON.stringify(s));
  }

  /** Rebuilds a state from snapshot() bytes; empty bytes (a brand-new cluster's bootstrap snapshot) give the empty state. */
  static restore(bytes: Uint8Array): ControlState {
    const st = new ControlState();
    if (bytes.length === 0) return st;
    let s: SnapshotJson;
    try {
      s = JSON.parse(dec.decode(bytes)) as SnapshotJson;
    } catch {
      throw new CommandError('InvalidCommand', 'control snapshot is not JSON');
    }
    if (s.format !== CONTROL_SNAPSHOT_FORMAT) throw new CommandError('InvalidCommand', `not a control snapshot (format ${String(s.format)})`);
    if (s.version !== CONTROL_SNAPSHOT_VERSION) throw new CommandError('UnsupportedVersion', `control snapshot version ${String(s.version)}, this build reads ${CONTROL_SNAPSHOT_VERSION}: upgrade this node`);
    st.appliedIndex = s.applied;
    st.layoutValue = s.layout;
    for (const b of s.buckets) st.buckets.set(b.name, b);
    for (const u of s.users) st.users.set(u.id, u);
    for (const k of s.accessKeys) st.accessKeys.set(k.accessKeyId, k);
    for (const k of s.legacyImported ?? []) st.legacyImported.add(k); // catalog
    // Tokens from a snapshot older than scopes and expiry: full admin, never expiring (what they were).
    for (const t of s.adminTokens) st.adminTokens.set(t.tokenId, { ...t, scope: t.scope ?? 'admin', expiresAt: t.expiresAt ?? 0 });
    for (const t of s.userTokens ?? []) st.userTokens.set(t.tokenId, t);
    if (s.layoutHistory !== undefined) st.layoutHistoryValue = s.layoutHistory; // issue 10
    return st;
  }
}
