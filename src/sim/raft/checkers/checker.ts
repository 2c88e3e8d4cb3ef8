// What a Raft checker sees: hooks the simulated cluster calls as things
// happen (every checker is told everything; each looks for one property),
// and a final look at the history and the nodes once the run is over.

import type { Raft } from '../../../raft/raft.js';
import type { Ready } from '../../../raft/raw-node.js';
import type { Entry } from '../../../raft/messages.js';
import type { ClientOp } from '../history.js';
import type { MemoryStorage } from '../../../raft/storage.js';

export interface Violation {
  readonly checker: string;
  readonly message: string;
}

export interface FinalView {
  readonly ops: readonly ClientOp[];
  /** Every node's persisted log. */
  readonly storages: ReadonlyMap<string, MemoryStorage>;
  readonly contested: readonly string[];
  /** Each node's control state, as bytes (all nodes alive and converged, or the reason not). */
  readonly states: ReadonlyMap<string, Uint8Array>;
  readonly runErrors: readonly string[];
}

export abstract class RaftChecker {
  abstract readonly name: string;
  private readonly found: Violation[] = [];

  protected violation(message: string): void {
    // Bounded: the first few say what went wrong; thousands more say nothing new.
    if (this.found.length < 20) this.found.push({ checker: this.name, message });
  }

  /** After every step, tick or proposal on a live node. */
  afterStep(_node: string, _raft: Raft): void {}
  /** A Ready the node is about to handle. */
  onReady(_node: string, _rd: Ready, _raft: Raft): void {}
  /** A committed entry the node's state machine applied (incarnation counts restarts). */
  onApply(_node: string, _incarnation: number, _e: Entry): void {}
  /** The node's state machine was restored from a snapshot (installed, or at restart). */
  onRestore(_node: string, _incarnation: number, _index: number, _data: Uint8Array): void {}
  /** The node compacted its log into a snapshot of its state at index. */
  onCompact(_node: string, _index: number, _data: Uint8Array): void {}
  finish(_view: FinalView): void {}

  violations(): readonly Violation[] {
    return this.found;
  }
}

const dec = new TextDecoder();

/** An entry's identity for comparisons: term and data. */
export function entryKey(e: Entry): string {
  return `${e.term}:${e.kind}:${dec.decode(e.data)}`;
}
