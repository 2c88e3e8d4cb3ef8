// The node's face of the control plane (docs/raft.md): reads come from the
// state this node has applied, in memory, so the request path never waits for
// a Raft round trip; writes are proposed through Raft and answered once this
// node has applied them. Everything above the control layer (bucket catalog,
// credentials, tokens, layout commands, admin routes) talks to this
// interface only, so the same code runs over the Raft-backed plane in a node
// process, the simulated one, and the local one in unit tests.

import { encodeCommand, type Command } from './commands.js';
import { ControlState, type ApplyResult } from './state.js';

export interface ControlPlane {
  /** The state as this node has applied it. Read it freely; never mutate it. */
  readonly state: ControlState;
  /**
   * Replicates `cmd` (forwarded to the leader when this node is not it) and
   * resolves with the state machine's answer once this node has applied the
   * entry, so a read of `state` right after sees the change. Rejects with a
   * coded error when no leader can be reached in time.
   */
  propose(cmd: Command): Promise<ApplyResult>;
  /**
   * A linearizable read barrier (Raft §6.4, ReadIndex): resolves once this
   * node has applied everything committed before the call. A name missing
   * from `state` after confirm() is missing cluster-wide, so only then may a
   * node answer NoSuchBucket or InvalidAccessKeyId.
   */
  confirm(): Promise<void>;
  /** Calls `listener` after each applied entry; returns an unsubscribe function. */
  onApplied(listener: (index: number) => void): () => void;
}

/**
 * A control plane of one, with no Raft: each proposal is applied at once at
 * the next index. For unit tests of what sits above the control plane, and
 * nothing else: it agrees with nobody.
 */
export class LocalControlPlane implements ControlPlane {
  readonly state = new ControlState();
  private index = 0;
  private readonly listeners = new Set<(index: number) => void>();
  private seq = 0;

  constructor(private readonly now: () => number) {}

  propose(cmd: Command): Promise<ApplyResult> {
    this.index += 1;
    const out = this.state.applyEntry(this.index, encodeCommand({ id: `local-${++this.seq}`, at: this.now(), cmd }));
    for (const l of this.listeners) l(this.index);
    return Promise.resolve(out?.result ?? { ok: true });
  }

  confirm(): Promise<void> {
    return Promise.resolve();
  }

  onApplied(listener: (index: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
