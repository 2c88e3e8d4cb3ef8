// Disaster recovery of the control plane (docs/raft.md, "Disaster recovery"),
// both offline, on a stopped node's Raft folder:
//
//   forceNewCluster   `ringstore server --force-new-cluster` (etcd's model):
//                     the survivor's state as of its commit index becomes a
//                     snapshot whose configuration is this node alone, as the
//                     only voter. UNSAFE: entries it had not seen committed
//                     are dropped, and anything the lost majority committed
//                     after them is gone.
//   restoreBackup     `ringstore control restore FILE`: a backup (`ringstore
//                     control backup`, the control state's snapshot bytes)
//                     becomes a one-voter cluster's state on this node.
//
// Either way the node starts as the single voter of a new configuration;
// the other members must not come back with their old Raft folders: wipe
// `<dataDir>/raft` on each and start it with `--join` (the layout still
// lists them, so the leader adds each as a learner again when it asks).

import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { encodeCommand } from '../control/commands.js';
import { ControlState } from '../control/state.js';
import { applyConfChange, decodeConfChange } from '../raft/confchange.js';
import type { ConfState } from '../raft/messages.js';
import { layoutNodeOf } from './control-wiring.js';
import type { NodeConfig } from './config.js';
import { openLmdbRaftStorage, type LmdbRaftStorage } from './raft-log-lmdb.js';

export class RecoveryError extends Error {
  override name = 'RecoveryError';
}

export interface RecoveryReport {
  readonly folder: string;
  /** The index of the new snapshot (the state as of it). */
  readonly index: number;
  readonly term: number;
  /** Entries after the commit index that were dropped (force-new-cluster). */
  readonly dropped: number;
  readonly previousConf: ConfState | null;
  readonly buckets: number;
  readonly users: number;
  readonly layoutNodes: number;
}

function raftDir(config: NodeConfig): string {
  return path.join(config.dataDir, 'raft');
}

/** Records this node in the layout (its current addresses), as an entry applied at `index`. */
function withSelf(state: ControlState, config: NodeConfig, index: number, at: number): number {
  const self = layoutNodeOf({ id: config.id, grpc: config.advertiseGrpc, http: config.advertiseHttp, zone: config.zone, weight: config.weight });
  const known = state.layout().nodes.find((n) => n.id === config.id);
  if (known !== undefined && JSON.stringify(known) === JSON.stringify(self)) return index;
  state.applyEntry(index + 1, encodeCommand({ id: '', at, cmd: known === undefined ? { type: 'addNode', node: self } : { type: 'updateNode', node: self } }));
  return index + 1;
}

async function rewrite(storage: LmdbRaftStorage, config: NodeConfig, state: ControlState, index: number, snapTerm: number, hardTerm: number): Promise<void> {
  const conf: ConfState = { voters: [config.id], learners: [] };
  await storage.save({ snapshot: { meta: { index, term: snapTerm, conf }, data: state.snapshot() }, hardState: { term: hardTerm, vote: '', commit: index } });
}

export async function forceNewCluster(config: NodeConfig, now: number): Promise<RecoveryReport> {
  const dir = raftDir(config);
  if (!existsSync(dir)) throw new RecoveryError(`${dir} holds no Raft log: --force-new-cluster restarts a survivor with its log; to start from a backup use \`ringstore control restore FILE\``);
  const storage = await openLmdbRaftStorage(dir);
  try {
    if (storage.isEmpty()) throw new RecoveryError(`${dir} holds an empty Raft log: nothing to recover`);
    const snap = storage.snapshot();
    const hard = storage.initialState().hardState;
    const state = ControlState.restore(snap.data);
    let conf = snap.meta.conf;
    const commit = Math.max(hard.commit, snap.meta.index);
    const entries = commit > snap.meta.index ? storage.entries(snap.meta.index + 1, commit + 1) : [];
    if (entries === 'compacted') throw new RecoveryError('the Raft log is compacted past its own snapshot: the folder is damaged');
    for (const e of entries) {
      if (e.kind === 'normal') state.applyEntry(e.index, e.data);
      else {
        try {
          conf = applyConfChange(conf, decodeConfChange(e.data));
        } catch {
          // Skipped identically by every node when it was applied.
        }
      }
    }
    const dropped = storage.lastIndex() - commit;
    const commitTerm = storage.term(commit) ?? snap.meta.term;
    const index = withSelf(state, config, commit, now);
    // An entry of our own at commit+1 gets the new term: no old log can hold (index, term) and so mistake this snapshot for its own prefix.
    await rewrite(storage, config, state, index, index === commit ? commitTerm : hard.term + 1, hard.term + 1);
    return { folder: dir, index, term: hard.term + 1, dropped, previousConf: conf, buckets: state.listBuckets().length, users: userCount(state), layoutNodes: state.layout().nodes.length };
  } finally {
    await storage.close();
  }
}

export async function restoreBackup(config: NodeConfig, file: string, opts: { force: boolean; now: number }): Promise<RecoveryReport> {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new RecoveryError(`cannot read ${file}: ${(err as Error).message}`);
  }
  let state: ControlState;
  try {
    state = ControlState.restore(bytes);
  } catch (err) {
    throw new RecoveryError(`${file} is not a control backup this build reads: ${(err as Error).message}`);
  }
  const dir = raftDir(config);
  mkdirSync(dir, { recursive: true });
  const storage = await openLmdbRaftStorage(dir);
  try {
    const previous = storage.isEmpty() ? null : storage.snapshot().meta.conf;
    if (previous !== null && !opts.force) {
      throw new RecoveryError(`${dir} already holds a Raft log: restoring replaces it (its state is lost). Stop the node, then run again with --force, or restore into a fresh --data folder`);
    }
    const hard = storage.initialState().hardState;
    // Indexes only grow: bucket ids are Raft indexes and are never reused.
    const index = withSelf(state, config, Math.max(state.applied, storage.lastIndex(), 1), opts.now);
    const term = Math.max(hard.term, 1) + 1;
    await rewrite(storage, config, state, index, term, term);
    return { folder: dir, index, term, dropped: 0, previousConf: previous, buckets: state.listBuckets().length, users: userCount(state), layoutNodes: state.layout().nodes.length };
  } finally {
    await storage.close();
  }
}

function userCount(state: ControlState): number {
  return (JSON.parse(new TextDecoder().decode(state.snapshot())) as { users: unknown[] }).users.length;
}
