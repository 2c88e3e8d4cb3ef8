// The Raft log, hard state and snapshot on disk, in their own LMDB
// environment (a folder of its own, so that the data store's format and the
// control plane's can change independently). Raft reads it synchronously
// (lmdb-js reads are synchronous); the driver writes each Ready with one
// durable transaction (save) and only then sends that Ready's messages.
//
// Durability: as in lmdb-store.ts, `overlappingSync: false` makes a
// transaction's promise resolve only after LMDB's commit has fsynced the
// pages and the meta page, so "save resolved" means "on disk".
//
// Format: meta 'format' (RAFT_LOG_FORMAT_VERSION), 'hardState', 'snapshot';
// entries keyed by index, each carrying its entry format version (messages.ts).

import { open, type Database, type RootDatabase } from 'lmdb';
import { assert } from '../util/assert.js';
import { bootstrapState } from '../raft/storage.js';
import { checkEntryVersion, NONE, type ConfState, type Entry, type HardState, type Snapshot } from '../raft/messages.js';
import type { InitialState, Storage } from '../raft/storage.js';

export const RAFT_LOG_FORMAT_VERSION = 1;

const EMPTY_STATE: HardState = { term: 0, vote: NONE, commit: 0 };
const EMPTY_SNAP: Snapshot = { meta: { index: 0, term: 0, conf: { voters: [], learners: [] } }, data: new Uint8Array(0) };

/** What one Ready asks to persist. */
export interface RaftWrite {
  readonly hardState?: HardState;
  readonly entries?: readonly Entry[];
  readonly snapshot?: Snapshot;
}

export class RaftLogFormatError extends Error {
  override name = 'RaftLogFormatError';
}

export async function openLmdbRaftStorage(dir: string): Promise<LmdbRaftStorage> {
  const env = open({ path: dir, overlappingSync: false, encoder: { useRecords: false }, maxDbs: 4 });
  const meta = env.openDB<unknown, string>({ name: 'raft-meta' });
  const format = meta.get('format');
  if (format !== undefined && format !== RAFT_LOG_FORMAT_VERSION) {
    await env.close();
    throw new RaftLogFormatError(`ringstore: ${dir} holds a raft log of format ${String(format)}, this build reads ${RAFT_LOG_FORMAT_VERSION}: run a build that reads it, or restore the control state from a backup into a fresh folder`);
  }
  if (format === undefined) await meta.put('format', RAFT_LOG_FORMAT_VERSION);
  return new LmdbRaftStorage(env, meta, env.openDB<StoredEntry, number>({ name: 'raft-entries' }));
}

interface StoredEntry {
  v: number;
  term: number;
  index: number;
  kind: Entry['kind'];
  data: Uint8Array;
}

export class LmdbRaftStorage implements Storage {
  private hard: HardState;
  private snap: Snapshot;
  private last: number;
  private closed = false;

  /** Use openLmdbRaftStorage. */
  constructor(
    private readonly env: RootDatabase,
    private readonly meta: Database<unknown, string>,
    private readonly ents: Database<StoredEntry, number>,
  ) {
    this.hard = (meta.get('hardState') as HardState | undefined) ?? EMPTY_STATE;
    this.snap = toSnapshot(meta.get('snapshot')) ?? EMPTY_SNAP;
    let last = this.snap.meta.index;
    for (const k of ents.getKeys({ reverse: true, limit: 1 })) last = Math.max(last, k as number);
    this.last = last;
  }

  /** Whether nothing was ever written here (a new node). */
  isEmpty(): boolean {
    return this.snap.meta.index === 0 && this.last === 0 && this.hard.term === 0;
  }

  /** Writes a founding member's initial state (MemoryStorage.bootstrap's twin), durably; `data` is the initial application state. */
  async bootstrap(conf: ConfState, data?: Uint8Array): Promise<void> {
    assert(this.isEmpty(), 'bootstrap of a raft log that is not empty');
    const b = bootstrapState(conf, data);
    await this.save({ snapshot: b.snapshot, hardState: b.hardState });
  }

  initialState(): InitialState {
    return { hardState: this.hard, conf: this.snap.meta.conf };
  }

  firstIndex(): number {
    return this.snap.meta.index + 1;
  }

  lastIndex(): number {
    return this.last;
  }

  term(i: number): number | undefined {
    if (i === this.snap.meta.index) return this.snap.meta.term;
    if (i < this.snap.meta.index || i > this.last) return undefined;
    return this.ents.get(i)?.term;
  }

  entries(lo: number, hi: number): readonly Entry[] | 'compacted' {
    if (lo <= this.snap.meta.index) return 'compacted';
    assert(hi <= this.last + 1, `entries [${lo}, ${hi}) beyond last index ${this.last}`);
    const out: Entry[] = [];
    for (const { value } of this.ents.getRange({ start: lo, end: hi })) {
      const e: Entry = { v: value.v, term: value.term, index: value.index, kind: value.kind, data: value.data };
      checkEntryVersion(e);
      out.push(e);
    }
    assert(out.length === hi - lo, `raft log has a gap in [${lo}, ${hi})`);
    return out;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /**
   * Persists one Ready's snapshot, entries and hard state in one durable
   * transaction: a snapshot replaces the whole log; entries replace any
   * stored entries from their first index on. Resolves once fsynced.
   */
  async save(w: RaftWrite): Promise<void> {
    assert(!this.closed, 'raft log is closed');
    let last = this.last;
    let snap = this.snap;
    await this.env.transaction(() => {
      if (w.snapshot !== undefined) {
        for (const k of this.ents.getKeys({ end: Number.MAX_SAFE_INTEGER })) void this.ents.remove(k as number);
        void this.meta.put('snapshot', w.snapshot);
        snap = w.snapshot;
        last = w.snapshot.meta.index;
      }
      const first = w.entries?.[0];
      if (w.entries !== undefined && first !== undefined) {
        assert(first.index > snap.meta.index && first.index <= last + 1, `append at ${first.index} outside (${snap.meta.index}, ${last + 1}]`);
        // A follower's conflicting suffix goes (§5.3).
        for (let i = first.index; i <= last; i++) void this.ents.remove(i);
        for (const e of w.entries) void this.ents.put(e.index, { v: e.v, term: e.term, index: e.index, kind: e.kind, data: e.data });
        last = (w.entries[w.entries.length - 1] as Entry).index;
      }
      if (w.hardState !== undefined) void this.meta.put('hardState', w.hardState);
    });
    this.snap = snap;
    this.last = last;
    if (w.hardState !== undefined) this.hard = w.hardState;
  }

  /** Log compaction (§7): the application's state as of `index` (applied) becomes the snapshot and the entries it covers go. */
  async createSnapshot(index: number, conf: ConfState, data: Uint8Array): Promise<Snapshot> {
    assert(index > this.snap.meta.index && index <= this.last, `snapshot at ${index} outside (${this.snap.meta.index}, ${this.last}]`);
    const term = this.term(index) as number;
    const snap: Snapshot = { meta: { index, term, conf }, data };
    await this.env.transaction(() => {
      void this.meta.put('snapshot', snap);
      for (const k of this.ents.getKeys({ end: index + 1 })) void this.ents.remove(k as number);
    });
    this.snap = snap;
    return snap;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.env.close();
  }
}

function toSnapshot(v: unknown): Snapshot | undefined {
  if (v === undefined) return undefined;
  const s = v as Snapshot;
  return { meta: { index: s.meta.index, term: s.meta.term, conf: { voters: [...s.meta.conf.voters], learners: [...s.meta.conf.learners] } }, data: s.data };
}
