// State Machine Safety (Raft §5.4.3, Figure 3): if a server has applied a
// log entry at a given index, no other server ever applies a different log
// entry for that index. Also: within one incarnation a node's applied index
// only moves forward (a state machine that goes back in time serves stale
// reads), and two snapshots of the state at one index are byte-identical
// (the control state machine is deterministic).

import type { Entry } from '../../../raft/messages.js';
import { entryKey, RaftChecker } from './checker.js';

export class StateMachineSafety extends RaftChecker {
  readonly name = 'state-machine-safety';
  private readonly applied = new Map<number, { key: string; node: string }>();
  private readonly cursor = new Map<string, { incarnation: number; index: number }>();
  private readonly states = new Map<number, { node: string; bytes: string }>();

  override onApply(node: string, incarnation: number, e: Entry): void {
    const key = entryKey(e);
    const seen = this.applied.get(e.index);
    if (seen === undefined) this.applied.set(e.index, { key, node });
    else if (seen.key !== key) this.violation(`index ${e.index}: ${seen.node} applied ${seen.key} but ${node} applied ${key}`);
    this.advance(node, incarnation, e.index, 'applied entry');
  }

  override onRestore(node: string, incarnation: number, index: number, data: Uint8Array): void {
    this.advance(node, incarnation, index, 'restored a snapshot at', false);
    this.state(node, index, data);
  }

  override onCompact(node: string, index: number, data: Uint8Array): void {
    this.state(node, index, data);
  }

  private advance(node: string, incarnation: number, index: number, what: string, strict = true): void {
    const c = this.cursor.get(node);
    // An entry must come after the last one applied; a snapshot may not go below it (one at the same index restores the same state).
    if (c !== undefined && c.incarnation === incarnation && (strict ? index <= c.index : index < c.index)) {
      this.violation(`${node} ${what} ${index} after having applied up to ${c.index} (its state went back in time)`);
    }
    this.cursor.set(node, { incarnation, index });
  }

  private state(node: string, index: number, data: Uint8Array): void {
    if (data.length === 0) return;
    const bytes = new TextDecoder().decode(data);
    const seen = this.states.get(index);
    if (seen === undefined) this.states.set(index, { node, bytes });
    else if (seen.bytes !== bytes) this.violation(`the control state at index ${index} differs between ${seen.node} and ${node}`);
  }
}
