// The layout simulator's world: a control log of layout histories (what Raft
// would commit, one entry per command), nodes that each see a prefix of it
// (their view lags), and per node a store of what it holds for each key: the
// write ids (values) and tombstones. Every write is a distinct value that no
// later write supersedes (as concurrent writes are siblings in the data
// path), so a write lost anywhere shows: a read must return every write
// acknowledged before it. A delete reads first and writes a tombstone
// covering what it read (as a context-less delete mints its tombstone with
// the read's clock); a node holding a tombstone drops the values it covers
// and refuses them when they arrive again, until the tombstone is collected,
// after which a stale copy of a covered value would be taken as new: that is
// the resurrection the `no-resurrection` checker looks for. Writes, deletes,
// reads, syncs, anti-entropy, wipes and collection follow the rules the data
// path must follow (src/layout/history.ts), each from the acting node's own
// view, so stale views meet changes in progress. Every operation is atomic
// except collection (a start, then a finish a few steps later); the
// interleaving of operations, views and crashes is what the seed draws.

import { applyVersion, antiEntropyPeers, collectionParticipants, syncSources, current, currentVersion, heldPartitions, maySync, proposeNext, readSet, readVersion, report, skipDead, stage, trackedNodes, writeSets, type LayoutHistory, type Outcome, emptyHistory } from '../../layout/history.js';
import { holders, ownersOf, type Member } from '../../layout/types.js';
import { shuffle, type Random } from '../../util/runtime.js';
import type { ChangeKind, LayoutSimConfig } from './config.js';

/** What one node holds for one key. */
export interface KeyState {
  /** Write ids not covered by any tombstone held here. */
  readonly values: Set<number>;
  /** Tombstone id -> the write ids it covers. */
  readonly tombs: Map<number, ReadonlySet<number>>;
}

/** A collection in progress: started with the collector's view at `version`, every participant holding the tombstone then. */
export interface Collection {
  readonly key: number;
  readonly tomb: number;
  readonly version: number;
  readonly participants: readonly string[];
}

export interface SimNode {
  readonly id: string;
  up: boolean;
  /** Down for good, its disk lost: only a replacement brings its data back. */
  dead: boolean;
  /** Index into the log: the last entry this node has applied. */
  view: number;
  /** The newest version this node has run its sync job for (a job runs once per version, as a real one would). */
  synced: number;
  /** key -> what this node holds for it. */
  readonly store: Map<number, KeyState>;
  /** The tombstone collection this node is running, if any. */
  collecting: Collection | undefined;
}

export interface LayoutViolation {
  readonly checker: string;
  readonly step: number;
  readonly message: string;
}

export class LayoutWorld {
  /** log[k]: the history after entry k (entry 0: the first version applied). */
  readonly log: LayoutHistory[] = [];
  readonly nodes = new Map<string, SimNode>();
  /** Per key, the acknowledged write ids. */
  readonly acked: Set<number>[];
  /** Per key, the write ids some delete (acknowledged or not) covered: a read need not return them any more. */
  readonly mayBeDeleted: Set<number>[];
  /** Per key, the write ids an acknowledged delete covered: no read may return them again. */
  readonly deleted: Set<number>[];
  readonly trace: string[] = [];
  readonly violations: LayoutViolation[] = [];
  readonly stats = {
    writes: 0,
    writesOk: 0,
    reads: 0,
    readsOk: 0,
    deletes: 0,
    deletesOk: 0,
    syncs: 0,
    changes: 0,
    adds: 0,
    removes: 0,
    changesWhileDown: 0,
    replacements: 0,
    /** Changes applied while the previous version was not yet readable (its holders had not all synced it). */
    backToBack: 0,
    retired: 0,
    maxLive: 1,
    collectionsStarted: 0,
    collections: 0,
    /** Collections given up because the collector saw a new version before finishing. */
    collectionsRestarted: 0,
  };
  step = 0;
  /** Per partition, every node that owned it in some version ever applied (for the collectWaitsForRemoved switch). */
  private readonly everOwners = new Map<number, Set<string>>();
  private nextWrite = 1;
  private nextNode = 0;

  constructor(
    readonly config: LayoutSimConfig,
    private readonly random: Random,
  ) {
    this.acked = Array.from({ length: config.keys }, () => new Set<number>());
    this.mayBeDeleted = Array.from({ length: config.keys }, () => new Set<number>());
    this.deleted = Array.from({ length: config.keys }, () => new Set<number>());
    let h = emptyHistory(config.partitions, config.replicas);
    const founders: Member[] = [];
    for (let i = 0; i < config.initialNodes; i++) founders.push(this.newMember());
    if (config.gateway) founders.push({ id: 'gw', zone: 'z0', capacity: 0, role: 'gateway' });
    for (const m of founders) h = must(stage(h, { op: 'assign', member: m }));
    const next = proposeNext(h);
    h = must(applyVersion(h, next.version, h.stagingSeq, next.result.assignment, config.bugs));
    this.log.push(h);
    this.recordOwners(h);
    for (const m of founders) this.addNode(m.id, 0);
  }

  private recordOwners(h: LayoutHistory): void {
    const cur = current(h)!;
    for (let p = 0; p < h.partitions; p++) {
      let s = this.everOwners.get(p);
      if (s === undefined) this.everOwners.set(p, (s = new Set()));
      for (const id of ownersOf(cur.assignment, p)) s.add(id);
    }
  }

  private addNode(id: string, view: number): void {
    this.nodes.set(id, { id, up: true, dead: false, view, synced: 0, store: new Map(), collecting: undefined });
  }

  latest(): LayoutHistory {
    return this.log[this.log.length - 1]!;
  }

  viewOf(n: SimNode): LayoutHistory {
    return this.log[n.view]!;
  }

  note(line: string): void {
    this.trace.push(`${this.step} ${line}`);
  }

  violation(checker: string, message: string): void {
    if (this.violations.filter((v) => v.checker === checker).length < 5) this.violations.push({ checker, step: this.step, message });
  }

  /** Appends an entry if the command was accepted (a refused command changes nothing, as in the control state). */
  propose(what: string, f: (h: LayoutHistory) => Outcome): boolean {
    const before = this.latest();
    const out = f(before);
    if (!out.ok) {
      this.note(`${what} refused: ${out.refusal.code}`);
      return false;
    }
    this.log.push(out.history);
    if (currentVersion(out.history) !== currentVersion(before)) this.recordOwners(out.history);
    if (what.startsWith('operator')) this.note(what);
    const retired = before.versions.filter((v) => !out.history.versions.some((x) => x.version === v.version));
    if (retired.length > 0) {
      this.stats.retired += retired.length;
      this.note(`${what} -> retired v${retired.map((v) => v.version).join(',v')}`);
    }
    this.stats.maxLive = Math.max(this.stats.maxLive, out.history.versions.length);
    return true;
  }

  /** Nodes that may coordinate a request: up, and members of their own view's current version. */
  coordinators(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.up && !n.dead && (current(this.viewOf(n))?.members.some((m) => m.id === n.id) ?? false));
  }

  alive(id: string): boolean {
    const n = this.nodes.get(id);
    return n !== undefined && n.up && !n.dead;
  }

  partitionOf(key: number): number {
    return key % this.config.partitions;
  }

  // ------------------------------------------------------------- data path

  write(c: SimNode, key: number): void {
    const hv = this.viewOf(c);
    const p = this.partitionOf(key);
    const sets = writeSets(hv, p, this.config.bugs);
    const id = this.nextWrite++;
    const targets = new Set(sets.flatMap((s) => s.owners));
    for (const t of targets) if (this.alive(t)) this.put(this.nodes.get(t)!, key, id);
    const acked = sets.every((s) => s.owners.filter((o) => this.alive(o)).length >= Math.min(this.config.writeQuorum, s.owners.length));
    this.stats.writes++;
    if (acked) {
      this.stats.writesOk++;
      this.acked[key]!.add(id);
    }
    this.note(`${c.id} put w${id} k${key} p${p} v${sets.map((s) => s.version).join('+')} -> ${acked ? 'ok' : 'failed'}`);
  }

  read(c: SimNode, key: number): void {
    const hv = this.viewOf(c);
    const p = this.partitionOf(key);
    const owners = readSet(hv, p, this.config.bugs).filter((o) => this.alive(o));
    const R = this.config.readQuorum;
    this.stats.reads++;
    if (owners.length < R) {
      this.note(`${c.id} get k${key} -> failed (${owners.length} owners up)`);
      return;
    }
    const asked = shuffle(owners, this.random).slice(0, R);
    const got = this.readFrom(asked, key);
    this.stats.readsOk++;
    this.note(`${c.id} get k${key} v${readVersion(hv, this.config.bugs)} from ${asked.join(',')} -> ${got.size} value(s)`);
    this.judgeRead(c, key, readVersion(hv, this.config.bugs), asked, got);
  }

  /** What a read of these replicas returns: their values merged, less every value a tombstone among them covers. */
  private readFrom(asked: readonly string[], key: number): Set<number> {
    const states = asked.map((o) => this.nodes.get(o)!.store.get(key));
    const covered = new Set<number>();
    for (const st of states) for (const ids of st?.tombs.values() ?? []) for (const id of ids) covered.add(id);
    const got = new Set<number>();
    for (const st of states) for (const id of st?.values ?? []) if (!covered.has(id)) got.add(id);
    return got;
  }

  /** The checkers that watch every read: `lost-write` and `no-resurrection`. */
  private judgeRead(c: SimNode, key: number, rv: number, asked: readonly string[], got: ReadonlySet<number>): void {
    const missing = [...this.acked[key]!].filter((id) => !got.has(id) && !this.mayBeDeleted[key]!.has(id));
    if (missing.length > 0) this.violation('lost-write', `${c.id} read k${key} at version ${rv} from ${asked.join(',')}; acknowledged w${missing.join(',w')} missing`);
    const back = [...got].filter((id) => this.deleted[key]!.has(id));
    if (back.length > 0) this.violation('no-resurrection', `${c.id} read k${key} at version ${rv} from ${asked.join(',')}; w${back.join(',w')} came back after an acknowledged delete covered it`);
  }

  /**
   * A delete: read first at R from the read version's owners (as a
   * context-less delete does), then a tombstone covering what the read
   * returned, written like a write to every live version's owners.
   */
  del(c: SimNode, key: number): void {
    const hv = this.viewOf(c);
    const p = this.partitionOf(key);
    const R = this.config.readQuorum;
    const rv = readVersion(hv, this.config.bugs);
    const owners = readSet(hv, p, this.config.bugs).filter((o) => this.alive(o));
    this.stats.deletes++;
    if (owners.length < R) {
      this.note(`${c.id} delete k${key} -> failed (read: ${owners.length} owners up)`);
      return;
    }
    const asked = shuffle(owners, this.random).slice(0, R);
    const covers = this.readFrom(asked, key);
    this.judgeRead(c, key, rv, asked, covers);
    if (covers.size === 0) {
      this.note(`${c.id} delete k${key} -> nothing to delete`);
      return;
    }
    const sets = writeSets(hv, p, this.config.bugs);
    const id = this.nextWrite++;
    for (const t of new Set(sets.flatMap((s) => s.owners))) if (this.alive(t)) this.putTomb(this.nodes.get(t)!, key, id, covers);
    const acked = sets.every((s) => s.owners.filter((o) => this.alive(o)).length >= Math.min(this.config.writeQuorum, s.owners.length));
    for (const w of covers) this.mayBeDeleted[key]!.add(w);
    if (acked) {
      this.stats.deletesOk++;
      for (const w of covers) this.deleted[key]!.add(w);
    }
    this.note(`${c.id} delete t${id} k${key} p${p} covering w${[...covers].join(',w')} v${sets.map((s) => s.version).join('+')} -> ${acked ? 'ok' : 'failed'}`);
  }

  /**
   * One step of tombstone collection on node n (docs/layout.md, "The rules
   * the data path follows"): with no collection running, start one: confirm
   * the view is current (ReadIndex: learn the log to its end), pick a
   * tombstone of a partition n holds, and go on only if every owner of that
   * partition in every live version (collectionParticipants) is up and holds
   * it. With one running, finish it: remove the tombstone from the
   * participants, unless n has seen a new version since it started (learn
   * gives it up first).
   */
  collect(n: SimNode): void {
    const bugs = this.config.bugs;
    const c = n.collecting;
    if (c !== undefined) {
      n.collecting = undefined;
      if (bugs.collectWithStaleView !== true && currentVersion(this.viewOf(n)) !== c.version) return;
      let removed = 0;
      for (const id of c.participants) {
        const o = this.nodes.get(id)!;
        if (!this.alive(id)) continue;
        const st = o.store.get(c.key);
        if (st === undefined || !st.tombs.delete(c.tomb)) continue;
        removed++;
        if (st.values.size === 0 && st.tombs.size === 0) o.store.delete(c.key);
      }
      this.stats.collections++;
      this.note(`${n.id} collects t${c.tomb} k${c.key} from ${removed} of ${c.participants.join(',')}`);
      return;
    }
    if (bugs.collectWithStaleView !== true) this.learn(n, Infinity);
    const hv = this.viewOf(n);
    const held = new Set(heldPartitions(hv, n.id));
    const candidates: [number, number][] = [];
    for (const [key, st] of n.store) if (held.has(this.partitionOf(key))) for (const t of st.tombs.keys()) candidates.push([key, t]);
    if (candidates.length === 0) return;
    candidates.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    const [key, tomb] = candidates[this.random.int(candidates.length)]!;
    const p = this.partitionOf(key);
    let participants = bugs.collectIgnoringOldVersions === true ? ownersOf(current(hv)!.assignment, p) : collectionParticipants(hv, p);
    if (bugs.collectWaitsForRemoved === true) participants = [...new Set([...participants, ...(this.everOwners.get(p) ?? [])])].sort();
    const lacking = participants.filter((id) => !this.alive(id) || this.nodes.get(id)!.store.get(key)?.tombs.has(tomb) !== true);
    if (lacking.length > 0) {
      this.note(`${n.id} cannot collect t${tomb} k${key} yet: ${lacking.join(',')} down or without it`);
      return;
    }
    n.collecting = { key, tomb, version: currentVersion(hv), participants };
    this.stats.collectionsStarted++;
    this.note(`${n.id} starts collecting t${tomb} k${key} at v${currentVersion(hv)} (participants ${participants.join(',')})`);
  }

  /** The node pulls, for every partition it holds in a live version of its view, from a read quorum of the owners of each live version from the read version up (syncSources), then reports synced. */
  sync(n: SimNode): void {
    const hv = this.viewOf(n);
    const v = currentVersion(hv);
    if (n.synced >= v || !maySync(hv, v, this.config.bugs)) return;
    const R = this.config.readQuorum;
    for (const p of heldPartitions(hv, n.id)) {
      for (const u of syncSources(hv, p, n.id, this.config.bugs)) {
        // A node declared dead (skipDead) holds nothing any more: the quorum is taken among the others.
        const others = u.owners.filter((o) => !this.nodes.get(o)!.dead);
        const up = others.filter((o) => this.alive(o));
        if (up.length < Math.min(R, others.length)) {
          this.note(`${n.id} sync v${v} stalls on p${p} (v${u.version}: ${up.length} of ${others.length} owners up)`);
          return;
        }
        for (const o of up) this.pull(n, this.nodes.get(o)!, p);
      }
    }
    this.stats.syncs++;
    n.synced = v;
    this.note(`${n.id} synced v${v}`);
    this.propose(`${n.id} reports synced=${v}`, (h) => report(h, n.id, { synced: v }, this.config.bugs));
  }

  /** Anti-entropy: exchange with every other owner of each partition held, in the live versions of the view from the read version up. */
  antiEntropy(n: SimNode): void {
    const hv = this.viewOf(n);
    for (const p of heldPartitions(hv, n.id)) {
      for (const o of antiEntropyPeers(hv, p, n.id, this.config.bugs)) {
        if (!this.alive(o)) continue;
        this.pull(n, this.nodes.get(o)!, p);
        this.pull(this.nodes.get(o)!, n, p);
      }
    }
  }

  /** The node learns up to `batch` more entries of the log, drops what it no longer holds, and says what it has seen. */
  learn(n: SimNode, batch: number): void {
    const to = Math.min(this.log.length - 1, n.view + batch);
    if (to === n.view) return;
    const before = currentVersion(this.viewOf(n));
    n.view = to;
    // A collector that sees a new version gives its collection up before it can report seen for it: a new owner's sync (which waits for everyone's seen) then cannot miss the tombstone.
    if (n.collecting !== undefined && currentVersion(this.viewOf(n)) !== before && this.config.bugs.collectWithStaleView !== true) {
      this.note(`${n.id} gives up collecting t${n.collecting.tomb} k${n.collecting.key}: it sees v${currentVersion(this.viewOf(n))}`);
      n.collecting = undefined;
      this.stats.collectionsRestarted++;
    }
    this.wipe(n);
    this.note(`${n.id} learns entry ${to} (v${currentVersion(this.viewOf(n))})`);
  }

  reportSeen(n: SimNode): void {
    const hv = this.viewOf(n);
    if (!trackedNodes(this.latest()).includes(n.id)) return;
    this.propose(`${n.id} reports seen=${currentVersion(hv)}`, (h) => report(h, n.id, { seen: currentVersion(hv) }, this.config.bugs));
  }

  reportReadSeen(n: SimNode): void {
    if (this.config.bugs.noReadSeenReports === true) return;
    const hv = this.viewOf(n);
    if (!trackedNodes(this.latest()).includes(n.id)) return;
    const rv = readVersion(hv, this.config.bugs);
    this.propose(`${n.id} reports readSeen=${rv}`, (h) => report(h, n.id, { readSeen: rv }, this.config.bugs));
  }

  /** Drops the keys of partitions the node holds in no live version of its view (with wipeOnRemove: not in the newest). */
  wipe(n: SimNode): void {
    if (this.config.bugs.neverWipe === true) return;
    const hv = this.viewOf(n);
    const keep = new Set(this.config.bugs.wipeOnRemove === true ? ownedInCurrent(hv, n.id) : heldPartitions(hv, n.id));
    let dropped = 0;
    for (const key of [...n.store.keys()]) {
      if (keep.has(this.partitionOf(key))) continue;
      n.store.delete(key);
      dropped++;
    }
    if (dropped > 0) this.note(`${n.id} drops ${dropped} key(s) it no longer holds`);
  }

  private stateOf(n: SimNode, key: number): KeyState {
    let st = n.store.get(key);
    if (st === undefined) n.store.set(key, (st = { values: new Set(), tombs: new Map() }));
    return st;
  }

  /** A value arrives: kept unless a tombstone held here covers it. */
  private put(n: SimNode, key: number, id: number): void {
    const st = this.stateOf(n, key);
    for (const covers of st.tombs.values()) if (covers.has(id)) return;
    st.values.add(id);
  }

  /** A tombstone arrives: kept, and the values it covers dropped. */
  private putTomb(n: SimNode, key: number, id: number, covers: ReadonlySet<number>): void {
    const st = this.stateOf(n, key);
    st.tombs.set(id, covers);
    for (const w of covers) st.values.delete(w);
  }

  private pull(into: SimNode, from: SimNode, p: number): void {
    for (const [key, st] of from.store) {
      if (this.partitionOf(key) !== p) continue;
      for (const [t, covers] of st.tombs) this.putTomb(into, key, t, covers);
      for (const id of st.values) this.put(into, key, id);
    }
  }

  // ------------------------------------------------------------- operator

  /** One layout change of the given kind, staged and applied as the CLI would (stage entries, then one apply entry). */
  change(kind: ChangeKind): void {
    const h = this.latest();
    const members = current(h)!.members;
    const storage = holders(members);
    const bugs = this.config.bugs;
    const N = this.config.replicas;
    const pick = () => storage[this.random.int(storage.length)]!;
    const dead = [...this.nodes.values()].some((n) => n.dead && trackedNodes(h).includes(n.id));
    let effective = kind;
    if ((kind === 'remove' || kind === 'replace') && (storage.length <= N || (kind === 'replace' && dead))) effective = 'add';
    switch (effective) {
      case 'add': {
        const m = this.newMember();
        this.propose(`operator assign ${m.id}`, (x) => stage(x, { op: 'assign', member: m }));
        this.addNode(m.id, this.log.length - 1);
        break;
      }
      case 'remove': {
        const m = pick();
        this.propose(`operator remove ${m.id}`, (x) => stage(x, { op: 'remove', id: m.id }));
        break;
      }
      case 'replace': {
        // The victim is one that is up when there is one: a node already down stays down through the change.
        const upStorage = storage.filter((x) => this.alive(x.id));
        const m = upStorage.length > 0 ? upStorage[this.random.int(upStorage.length)]! : pick();
        const victim = this.nodes.get(m.id)!;
        victim.up = false;
        victim.dead = true;
        victim.store.clear();
        victim.collecting = undefined;
        this.note(`${m.id} dies for good`);
        const fresh = this.newMember(m.zone);
        this.propose(`operator remove ${m.id}`, (x) => stage(x, { op: 'remove', id: m.id }));
        this.propose(`operator assign ${fresh.id}`, (x) => stage(x, { op: 'assign', member: fresh }));
        this.addNode(fresh.id, this.log.length - 1);
        break;
      }
      case 'resize': {
        const m = pick();
        const capacity = this.random.next() < 0.5 ? m.capacity * 2 : Math.max(100, Math.floor(m.capacity / 2));
        this.propose(`operator resize ${m.id} to ${capacity}`, (x) => stage(x, { op: 'assign', member: { ...m, capacity } }));
        break;
      }
      case 'rezone': {
        const m = pick();
        const zone = `z${this.random.int(this.config.zones + 1)}`;
        this.propose(`operator rezone ${m.id} to ${zone}`, (x) => stage(x, { op: 'assign', member: { ...m, zone } }));
        break;
      }
    }
    const next = proposeNext(this.latest());
    this.stats.changes++;
    if (effective === 'replace') this.stats.replacements++;
    if (effective === 'add') this.stats.adds++;
    if (effective === 'remove') this.stats.removes++;
    // Back to back: the version before this one is not yet readable (without the bug switches: they would move the read version).
    if (readVersion(this.latest()) < currentVersion(this.latest())) this.stats.backToBack++;
    if ([...this.nodes.values()].some((n) => !n.dead && !n.up)) this.stats.changesWhileDown++;
    this.propose(`operator apply v${next.version} (${effective}, moves ${next.result.moved})`, (x) => applyVersion(x, next.version, x.stagingSeq, next.result.assignment, bugs));
    this.skipDeadNodes();
  }

  /** The operator's `layout skip-dead-nodes`: every dead node still tracked is let go (again: each new version needs it anew). */
  skipDeadNodes(): void {
    for (const n of this.nodes.values()) if (n.dead && trackedNodes(this.latest()).includes(n.id)) this.propose(`operator skip-dead ${n.id}`, (x) => skipDead(x, n.id, this.config.bugs));
  }

  private newMember(zone?: string): Member {
    const id = `n${this.nextNode++}`;
    return { id, zone: zone ?? `z${this.random.int(this.config.zones)}`, capacity: 100 * (1 + this.random.int(3)), role: 'storage' };
  }
}

function ownedInCurrent(h: LayoutHistory, id: string): number[] {
  const cur = current(h);
  if (cur === undefined) return [];
  const out: number[] = [];
  for (let p = 0; p < h.partitions; p++) if (ownersOf(cur.assignment, p).includes(id)) out.push(p);
  return out;
}

function must(o: Outcome): LayoutHistory {
  if (!o.ok) throw new Error(`layout sim: setup refused: ${o.refusal.code}: ${o.refusal.message}`);
  return o.history;
}
