// Layout history: several layout versions live at once while data moves
// (Garage 1.0's layout history, read from its design notes and docs, not its
// code; docs/layout.md says it all in prose with the proofs).
//
// A change appends a version; the older ones stay live until it is safe to
// forget them. Every node reports three numbers through the control plane:
//
//   seen      the newest version the node routes by. A coordinator writes to
//             the owners of every live version it knows, so once every node
//             has seen v, no write can skip v's owners any more.
//   synced    the newest version v for which the node has pulled, from a
//             read quorum of the owners of each live version from the read
//             version up (syncSources), the data of every partition
//             it holds in any live version <= v, by a sync that started only
//             after every node had seen v (so nothing written before it
//             started can be missed, and nothing written after it skipped v).
//   readSeen  the read version (below) of the node's own view: the node no
//             longer reads from anything older.
//
// From them, for every node alike (the state is replicated):
//
//   write sets    a write must reach a write quorum in the owner set of EVERY
//                 live version (writeSets);
//   read version  the newest live version whose holders have all synced it
//                 (readVersion); the oldest live version is always readable,
//                 since every write reached it;
//   retirement    a version retires once every node of the newest version has
//                 readSeen past it: nobody reads it, and everyone who could
//                 still write it also writes a newer version that is complete
//                 (retire). Then its owners may drop what they no longer hold
//                 in any live version, and a removed node that holds nothing
//                 in any live version may wipe its data folder (ownsNothing).
//
// Garage names the trackers ack, sync and sync_ack. The third is needed: a
// node whose view still says "read version v" would read v after v's owners
// dropped its data, and miss acknowledged writes (the simulator's
// retireOnSynced switch shows it, src/sim/layout/).
//
// Pure: a history in, a history (or a refusal) out, no clock, no I/O.

import { assign, type AssignResult } from './assign.js';
import { assignmentProblem, compareIds, holders, ownersOf, type Assignment, type Member } from './types.js';

export interface LayoutVersion {
  readonly version: number;
  /** Every member of this version, any role, sorted by id. */
  readonly members: readonly Member[];
  readonly assignment: Assignment;
}

export interface NodeProgress {
  readonly seen: number;
  readonly synced: number;
  readonly readSeen: number;
}

/** A staged change: a node's new membership (assign, role, capacity, zone) or its removal. */
export type StagedChange = { readonly op: 'assign'; readonly member: Member } | { readonly op: 'remove'; readonly id: string };

export interface LayoutHistory {
  readonly partitions: number;
  readonly replicas: number;
  /** Live versions, oldest first; the last is the current one. Empty before the first apply. */
  readonly versions: readonly LayoutVersion[];
  /** Reports, by node id (kept for the nodes of live versions only). */
  readonly progress: Readonly<Record<string, NodeProgress>>;
  /** Staged changes, one per node, sorted by node id. */
  readonly staged: readonly StagedChange[];
  /** Bumped by every stage and revert: an apply names the staging it was planned from. */
  readonly stagingSeq: number;
}

export type LayoutRefusal =
  | { readonly code: 'NoSuchNode'; readonly message: string }
  | { readonly code: 'LayoutVersionMismatch'; readonly message: string }
  | { readonly code: 'StagingChanged'; readonly message: string }
  | { readonly code: 'InvalidLayout'; readonly message: string };

export type Outcome = { readonly ok: true; readonly history: LayoutHistory } | { readonly ok: false; readonly refusal: LayoutRefusal };

const NO_PROGRESS: NodeProgress = { seen: 0, synced: 0, readSeen: 0 };

/**
 * Deliberately wrong behaviours, all off in production: the layout
 * simulator (src/sim/layout/) turns one on and a checker must catch it.
 */
export interface LayoutBugs {
  /** Writes go to the newest version's owners only. */
  readonly writeNewestOnly?: boolean;
  /** Reads use the newest version, synced or not. */
  readonly readUnsynced?: boolean;
  /** A version retires as soon as a newer one exists. */
  readonly retireBeforeSync?: boolean;
  /** A version retires once the newer one is synced, without waiting for every node to stop reading it (no readSeen). */
  readonly retireOnSynced?: boolean;
  /** A node may sync a version before every node writes to it. */
  readonly syncBeforeSeen?: boolean;
}

export const LAYOUT_BUG_NAMES: readonly (keyof LayoutBugs)[] = ['writeNewestOnly', 'readUnsynced', 'retireBeforeSync', 'retireOnSynced', 'syncBeforeSeen'];

const NO_BUGS: LayoutBugs = {};

export function emptyHistory(partitions: number, replicas: number): LayoutHistory {
  return { partitions, replicas, versions: [], progress: {}, staged: [], stagingSeq: 0 };
}

export function currentVersion(h: LayoutHistory): number {
  return h.versions.length === 0 ? 0 : h.versions[h.versions.length - 1]!.version;
}

export function current(h: LayoutHistory): LayoutVersion | undefined {
  return h.versions[h.versions.length - 1];
}

export function progressOf(h: LayoutHistory, id: string): NodeProgress {
  return h.progress[id] ?? NO_PROGRESS;
}

// ------------------------------------------------------------- staging

/** The members of the current version with the staged changes applied (sorted by id). */
export function stagedMembers(h: LayoutHistory): Member[] {
  const byId = new Map((current(h)?.members ?? []).map((m) => [m.id, m]));
  for (const c of h.staged) {
    if (c.op === 'assign') byId.set(c.member.id, c.member);
    else byId.delete(c.id);
  }
  return [...byId.values()].sort((a, b) => compareIds(a.id, b.id));
}

export function stage(h: LayoutHistory, change: StagedChange): Outcome {
  const id = change.op === 'assign' ? change.member.id : change.id;
  const inCurrent = current(h)?.members.find((m) => m.id === id);
  if (change.op === 'remove' && inCurrent === undefined && !h.staged.some((c) => c.op === 'assign' && c.member.id === id)) {
    return refuse('NoSuchNode', `no node ${id} in the layout or the staged changes`);
  }
  const others = h.staged.filter((c) => (c.op === 'assign' ? c.member.id : c.id) !== id);
  // A change back to what the current version says is no change; removing a node only a staged assign added drops that assign.
  const noop = change.op === 'remove' ? inCurrent === undefined : inCurrent !== undefined && sameMember(inCurrent, change.member);
  const staged = noop ? others : [...others, change];
  staged.sort((a, b) => compareIds(a.op === 'assign' ? a.member.id : a.id, b.op === 'assign' ? b.member.id : b.id));
  return { ok: true, history: { ...h, staged, stagingSeq: h.stagingSeq + 1 } };
}

function sameMember(a: Member, b: Member): boolean {
  return a.zone === b.zone && a.capacity === b.capacity && a.role === b.role && a.addresses?.rpc === b.addresses?.rpc && a.addresses?.http === b.addresses?.http;
}

export function revert(h: LayoutHistory): LayoutHistory {
  return { ...h, staged: [], stagingSeq: h.stagingSeq + 1 };
}

/** The next version as the staged changes would make it: what `plan` shows and `apply` commits. */
export function proposeNext(h: LayoutHistory): { readonly version: number; readonly members: Member[]; readonly result: AssignResult } {
  const members = stagedMembers(h);
  const result = assign(current(h)?.assignment, members, { partitions: h.partitions, replicas: h.replicas });
  return { version: currentVersion(h) + 1, members, result };
}

/**
 * Commits a version (the `layoutApply` command). The proposer computed the
 * assignment (proposeNext) so that every replica stores the same bytes even
 * across releases whose algorithm differs; here it is only checked: the
 * version must be current + 1, the staging the one it was planned from, and
 * the assignment well formed over exactly the staged holders.
 */
export function applyVersion(h: LayoutHistory, version: number, stagingSeq: number, assignment: Assignment, bugs: LayoutBugs = NO_BUGS): Outcome {
  const cur = currentVersion(h);
  if (version !== cur + 1) return refuse('LayoutVersionMismatch', `layout version ${version} is not the next one (current ${cur}, so ${cur + 1})`);
  if (stagingSeq !== h.stagingSeq) return refuse('StagingChanged', `the staged changes changed since this plan was made (staging ${stagingSeq}, now ${h.stagingSeq}): plan again`);
  const problem = assignmentProblem(assignment);
  if (problem !== undefined) return refuse('InvalidLayout', problem);
  const first = h.versions.length === 0;
  // The first version fixes the partition count and replication factor for the life of the cluster.
  if (!first && (assignment.partitions !== h.partitions || assignment.replicas !== h.replicas)) return refuse('InvalidLayout', `assignment is for ${assignment.partitions} partitions x ${assignment.replicas}, the cluster has ${h.partitions} x ${h.replicas}`);
  const members = stagedMembers(h);
  const want = holders(members).map((m) => m.id);
  if (want.length === 0) return refuse('InvalidLayout', 'a layout needs at least one storage node with capacity');
  if (want.length !== assignment.nodes.length || want.some((id, i) => assignment.nodes[i] !== id)) return refuse('InvalidLayout', 'assignment nodes are not the staged storage nodes');
  const next: LayoutVersion = { version, members, assignment };
  let progress = h.progress;
  if (first) {
    // Nothing is older than the first version: there is nothing to sync and nothing else to read.
    const p: Record<string, NodeProgress> = {};
    for (const m of members) p[m.id] = { seen: 0, synced: version, readSeen: version };
    progress = p;
  }
  const shape = { partitions: assignment.partitions, replicas: assignment.replicas };
  return { ok: true, history: retire({ ...h, ...shape, versions: [...h.versions, next], staged: [], stagingSeq: h.stagingSeq + 1, progress }, bugs) };
}

// ------------------------------------------------------------- progress

/**
 * A node's report (the `layoutProgress` command): each number only rises,
 * and none may exceed what it can truthfully be (seen and synced at most the
 * current version, readSeen at most the read version), so a late or
 * duplicated report changes nothing. Then retire what can be retired.
 */
export function report(h: LayoutHistory, id: string, r: Partial<NodeProgress>, bugs: LayoutBugs = NO_BUGS): Outcome {
  const cur = current(h);
  if (cur === undefined || !trackedNodes(h).includes(id)) return refuse('NoSuchNode', `node ${id} is in no live layout version`);
  const old = progressOf(h, id);
  const top = cur.version;
  const next: NodeProgress = {
    seen: Math.max(old.seen, Math.min(r.seen ?? 0, top)),
    synced: Math.max(old.synced, Math.min(r.synced ?? 0, top)),
    readSeen: Math.max(old.readSeen, Math.min(r.readSeen ?? 0, readVersion(h, bugs))),
  };
  return { ok: true, history: retire({ ...h, progress: sortedRecord({ ...h.progress, [id]: next }) }, bugs) };
}

/**
 * The operator declares a node dead for good (the `layoutSkipDead` command):
 * its seen and readSeen are taken as the current and read versions, so that
 * retirement no longer waits for it. Its synced is left alone: reads must
 * never count on data a dead node was meant to pull (remove it instead, and
 * the new owners rebuild its partitions from the surviving replicas). Only
 * safe if the node really is down and stays down: a live node skipped could
 * still coordinate with a stale view.
 */
export function skipDead(h: LayoutHistory, id: string, bugs: LayoutBugs = NO_BUGS): Outcome {
  if (!trackedNodes(h).includes(id)) return refuse('NoSuchNode', `node ${id} is in no live layout version`);
  const old = progressOf(h, id);
  const next: NodeProgress = { seen: Math.max(old.seen, currentVersion(h)), synced: old.synced, readSeen: Math.max(old.readSeen, readVersion(h, bugs)) };
  return { ok: true, history: retire({ ...h, progress: sortedRecord({ ...h.progress, [id]: next }) }, bugs) };
}

/**
 * Ids every tracker must hear from: the members (any role) of every live
 * version. A removed node is among them until its last version retires: while
 * it has not seen the version that removed it, it may still coordinate writes
 * that skip the newest owners. A node that is dead for good is let go by
 * skipDead, the operator's word for it (Garage's `layout skip-dead-nodes`).
 */
export function trackedNodes(h: LayoutHistory): string[] {
  return [...new Set(h.versions.flatMap((v) => v.members.map((m) => m.id)))].sort(compareIds);
}

/** The lowest `seen` among the tracked nodes: a sync for version v may start once this is >= v. */
export function minSeen(h: LayoutHistory): number {
  const ids = trackedNodes(h);
  return ids.length === 0 ? 0 : Math.min(...ids.map((id) => progressOf(h, id).seen));
}

/** May a node start the sync that lets it report synced = v? Only when every node writes to v already. */
export function maySync(h: LayoutHistory, v: number, bugs: LayoutBugs = NO_BUGS): boolean {
  return bugs.syncBeforeSeen === true || minSeen(h) >= v;
}

/**
 * The version reads use: the newest live version every holder of which has
 * synced it; the oldest live version otherwise (every acknowledged write
 * reached it, since it was in every write set while live).
 */
export function readVersion(h: LayoutHistory, bugs: LayoutBugs = NO_BUGS): number {
  if (bugs.readUnsynced === true) return currentVersion(h);
  for (let k = h.versions.length - 1; k > 0; k--) {
    const v = h.versions[k]!;
    if (v.assignment.nodes.every((id) => progressOf(h, id).synced >= v.version)) return v.version;
  }
  return h.versions[0]?.version ?? 0;
}

/** Drops every version older than the lowest readSeen of the tracked nodes (never the current one), and the progress of nodes no live version lists. */
export function retire(h: LayoutHistory, bugs: LayoutBugs = NO_BUGS): LayoutHistory {
  if (h.versions.length <= 1) return h;
  const ids = trackedNodes(h);
  const floor = bugs.retireBeforeSync === true ? currentVersion(h) : bugs.retireOnSynced === true ? readVersion(h, bugs) : Math.min(readVersion(h, bugs), ...ids.map((id) => progressOf(h, id).readSeen));
  const versions = h.versions.filter((v, k) => k === h.versions.length - 1 || v.version >= floor);
  if (versions.length === h.versions.length) return h;
  const live = new Set(versions.flatMap((v) => v.members.map((m) => m.id)));
  const progress: Record<string, NodeProgress> = {};
  for (const id of Object.keys(h.progress).sort(compareIds)) if (live.has(id)) progress[id] = h.progress[id]!;
  return { ...h, versions, progress };
}

// ------------------------------------------------------------- the data path's view

/** The owners of partition p in every live version, oldest first: a write needs a write quorum in each. */
export function writeSets(h: LayoutHistory, p: number, bugs: LayoutBugs = NO_BUGS): { readonly version: number; readonly owners: string[] }[] {
  const live = bugs.writeNewestOnly === true ? h.versions.slice(-1) : h.versions;
  return live.map((v) => ({ version: v.version, owners: ownersOf(v.assignment, p) }));
}

/** The owners of partition p in the read version: a read asks a read quorum of these. */
export function readSet(h: LayoutHistory, p: number, bugs: LayoutBugs = NO_BUGS): string[] {
  const rv = readVersion(h, bugs);
  const v = h.versions.find((x) => x.version === rv);
  return v === undefined ? [] : ownersOf(v.assignment, p);
}

/** Every node that owns p in some live version, sorted: the participants of anything that must reach all copies. */
export function allOwners(h: LayoutHistory, p: number): string[] {
  const s = new Set<string>();
  for (const v of h.versions) for (const id of ownersOf(v.assignment, p)) s.add(id);
  return [...s].sort(compareIds);
}

/**
 * Which versions each mechanism follows (docs/layout.md, "The data path"):
 *  - hinted handoff: a hint for node x of partition p is still worth
 *    delivering while x owns p in some live version; otherwise it goes to
 *    the owners of the current version that lack it (handoffStillOwned);
 *  - read repair: it is a write, so it targets every live version (writeSets);
 *  - sync and anti-entropy pull from the other owners of p in the live
 *    versions from the read version up (syncSources, antiEntropyPeers):
 *    everything older is already on the read version's owners, and an owner
 *    of an older version may be one whose view is stale and who has not
 *    dropped (nor received the tombstone of) a value collected since, so it
 *    must never be a source;
 *  - tombstone collection waits for every owner of p in every live version
 *    (collectionParticipants), runs only with a view confirmed current
 *    (ReadIndex), and restarts when its node sees a new version, which it
 *    reports as seen only after giving up the collection in progress: so no
 *    new owner can start a sync that misses the tombstone; a removed node
 *    that owns nothing is not waited for.
 */
export function handoffStillOwned(h: LayoutHistory, p: number, node: string): boolean {
  return allOwners(h, p).includes(node);
}

/** Where a node pulls partition p from when it syncs: the other owners of p in every live version from the read version up. */
export function syncSources(h: LayoutHistory, p: number, node: string, bugs: LayoutBugs = NO_BUGS): { readonly version: number; readonly owners: string[] }[] {
  const rv = readVersion(h, bugs);
  return h.versions.filter((v) => v.version >= rv).map((v) => ({ version: v.version, owners: ownersOf(v.assignment, p).filter((x) => x !== node) }));
}

/** The nodes a holder of p exchanges with: the other owners of p in the live versions from the read version up (none if it holds p in no live version). */
export function antiEntropyPeers(h: LayoutHistory, p: number, node: string, bugs: LayoutBugs = NO_BUGS): string[] {
  if (!allOwners(h, p).includes(node)) return [];
  return [...new Set(syncSources(h, p, node, bugs).flatMap((s) => s.owners))].sort(compareIds);
}

export function collectionParticipants(h: LayoutHistory, p: number): string[] {
  return allOwners(h, p);
}

/** Partitions node holds in some live version: what it keeps; anything else it may drop. */
export function heldPartitions(h: LayoutHistory, node: string): number[] {
  const out: number[] = [];
  for (let p = 0; p < h.partitions; p++) if (allOwners(h, p).includes(node)) out.push(p);
  return out;
}

/** A node that holds nothing in any live version and is not a storage node of the current one: its data folder may be wiped. */
export function ownsNothing(h: LayoutHistory, node: string): boolean {
  if (holders(current(h)?.members ?? []).some((m) => m.id === node)) return false;
  return !h.versions.some((v) => v.assignment.nodes.includes(node));
}

// ------------------------------------------------------------- helpers

function refuse(code: LayoutRefusal['code'], message: string): Outcome {
  return { ok: false, refusal: { code, message } as LayoutRefusal };
}

function sortedRecord<T>(r: Readonly<Record<string, T>>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const k of Object.keys(r).sort(compareIds)) out[k] = r[k]!;
  return out;
}
