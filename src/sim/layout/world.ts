// The layout simulator's world: a control log of layout histories (what Raft
// would commit, one entry per command), nodes that each see a prefix of it
// (their view lags), and per node a store of the write ids it holds for each
// key. Every write is a distinct value that no later write supersedes (as
// concurrent writes are siblings in the data path), so a write lost anywhere
// shows: a read must return every write acknowledged before it. Writes, reads, syncs, anti-entropy and wipes follow the rules
// the data path must follow (src/layout/history.ts), each from the acting
// node's own view, so stale views meet changes in progress. Every operation
// is atomic; the interleaving of operations, views and crashes is what the
// seed draws.

import { applyVersion, antiEntropyPeers, syncSources, current, currentVersion, heldPartitions, maySync, proposeNext, readSet, readVersion, report, skipDead, stage, trackedNodes, writeSets, type LayoutHistory, type Outcome, emptyHistory } from '../../layout/history.js';
import { holders, ownersOf, type Member } from '../../layout/types.js';
import { shuffle, type Random } from '../../util/runtime.js';
import type { ChangeKind, LayoutSimConfig } from './config.js';

export interface SimNode {
  readonly id: string;
  up: boolean;
  /** Down for good, its disk lost: only a replacement brings its data back. */
  dead: boolean;
  /** Index into the log: the last entry this node has applied. */
  view: number;
  /** The newest version this node has run its sync job for (a job runs once per version, as a real one would). */
  synced: number;
  /** key -> the write ids this node holds for it. */
  readonly store: Map<number, Set<number>>;
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
  readonly trace: string[] = [];
  readonly violations: LayoutViolation[] = [];
  readonly stats = { writes: 0, writesOk: 0, reads: 0, readsOk: 0, syncs: 0, changes: 0, changesWhileDown: 0, replacements: 0, retired: 0, maxLive: 1 };
  step = 0;
  private nextWrite = 1;
  private nextNode = 0;

  constructor(
    readonly config: LayoutSimConfig,
    private readonly random: Random,
  ) {
    this.acked = Array.from({ length: config.keys }, () => new Set<number>());
    let h = emptyHistory(config.partitions, config.replicas);
    const founders: Member[] = [];
    for (let i = 0; i < config.initialNodes; i++) founders.push(this.newMember());
    if (config.gateway) founders.push({ id: 'gw', zone: 'z0', capacity: 0, role: 'gateway' });
    for (const m of founders) h = must(stage(h, { op: 'assign', member: m }));
    const next = proposeNext(h);
    h = must(applyVersion(h, next.version, h.stagingSeq, next.result.assignment, config.bugs));
    this.log.push(h);
    for (const m of founders) this.nodes.set(m.id, { id: m.id, up: true, dead: false, view: 0, synced: 0, store: new Map() });
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
    const got = new Set(asked.flatMap((o) => [...(this.nodes.get(o)!.store.get(key) ?? [])]));
    this.stats.readsOk++;
    this.note(`${c.id} get k${key} v${readVersion(hv, this.config.bugs)} from ${asked.join(',')} -> ${got.size} value(s)`);
    const missing = [...this.acked[key]!].filter((id) => !got.has(id));
    if (missing.length > 0) this.violation('lost-write', `${c.id} read k${key} at version ${readVersion(hv, this.config.bugs)} from ${asked.join(',')}; acknowledged w${missing.join(',w')} missing`);
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
    n.view = to;
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

  private put(n: SimNode, key: number, id: number): void {
    let ids = n.store.get(key);
    if (ids === undefined) n.store.set(key, (ids = new Set()));
    ids.add(id);
  }

  private pull(into: SimNode, from: SimNode, p: number): void {
    for (const [key, ids] of from.store) if (this.partitionOf(key) === p) for (const id of ids) this.put(into, key, id);
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
        this.nodes.set(m.id, { id: m.id, up: true, dead: false, view: this.log.length - 1, synced: 0, store: new Map() });
        break;
      }
      case 'remove': {
        const m = pick();
        this.propose(`operator remove ${m.id}`, (x) => stage(x, { op: 'remove', id: m.id }));
        break;
      }
      case 'replace': {
        const m = pick();
        const victim = this.nodes.get(m.id)!;
        victim.up = false;
        victim.dead = true;
        victim.store.clear();
        this.note(`${m.id} dies for good`);
        const fresh = this.newMember(m.zone);
        this.propose(`operator remove ${m.id}`, (x) => stage(x, { op: 'remove', id: m.id }));
        this.propose(`operator assign ${fresh.id}`, (x) => stage(x, { op: 'assign', member: fresh }));
        this.nodes.set(fresh.id, { id: fresh.id, up: true, dead: false, view: this.log.length - 1, synced: 0, store: new Map() });
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
