// What the workload's clients asked and what they were told, with true
// (simulator) times, for the linearizability checker.

export type OpKind = 'create' | 'delete' | 'read' | 'putUser' | 'putKey' | 'conf';

/** ok: done as asked; refused: the state machine (or Raft) said no, nothing changed; unknown: no answer (timeout, crash): it may or may not have happened. */
export type Outcome = 'pending' | 'ok' | 'refused' | 'unknown';

export interface ClientOp {
  readonly id: string;
  readonly client: number;
  readonly node: string;
  readonly kind: OpKind;
  readonly name: string;
  readonly owner: string;
  readonly invokedAt: number;
  completedAt: number;
  outcome: Outcome;
  /** The refusal's code, or why the outcome is unknown. */
  code: string;
  /** A read's answer, or the bucket a creation made or ran into. */
  seen: { readonly owner: string; readonly id: number } | null;
}

export class RaftHistory {
  readonly ops: ClientOp[] = [];
  private next = 1;

  begin(client: number, node: string, kind: OpKind, name: string, owner: string, now: number): ClientOp {
    const op: ClientOp = { id: `c${this.next++}`, client, node, kind, name, owner, invokedAt: now, completedAt: -1, outcome: 'pending', code: '', seen: null };
    this.ops.push(op);
    return op;
  }

  end(op: ClientOp, now: number, outcome: Outcome, code = '', seen: ClientOp['seen'] = null): void {
    if (op.outcome !== 'pending') return;
    op.completedAt = now;
    op.outcome = outcome;
    op.code = code;
    op.seen = seen;
  }
}
