// ReadIndex (dissertation §6.4; Raft §8): to serve a read without a log
// entry, the leader notes its commit index, then confirms it is still the
// leader by hearing from a majority in a heartbeat round tagged with the
// read's ctx. Once confirmed, the read may be served as soon as the state
// machine has applied that index. A majority's acknowledgement of a later
// ctx also confirms every earlier one, so requests are released in order.

import type { NodeId } from './messages.js';

export interface ReadRequest {
  readonly index: number;
  readonly ctx: string;
  /** Who asked: the leader itself or the follower that forwarded it. */
  readonly from: NodeId;
  readonly acks: Set<NodeId>;
}

export class ReadOnly {
  private readonly pending = new Map<string, ReadRequest>();
  private readonly queue: string[] = [];

  constructor(readonly maxPending: number) {}

  get size(): number {
    return this.queue.length;
  }

  /** Adds a request; false if its ctx is already pending or the queue is full (the caller drops it; the client retries). */
  add(index: number, ctx: string, from: NodeId): boolean {
    if (this.pending.has(ctx) || this.queue.length >= this.maxPending) return false;
    this.pending.set(ctx, { index, ctx, from, acks: new Set() });
    this.queue.push(ctx);
    return true;
  }

  /** Records a heartbeat acknowledgement for ctx; returns who has acknowledged it, or undefined if it is not pending. */
  recvAck(from: NodeId, ctx: string): ReadonlySet<NodeId> | undefined {
    const r = this.pending.get(ctx);
    if (r === undefined) return undefined;
    r.acks.add(from);
    return r.acks;
  }

  /** Releases ctx and every request queued before it. */
  advance(ctx: string): ReadRequest[] {
    const at = this.queue.indexOf(ctx);
    if (at < 0) return [];
    const done = this.queue.splice(0, at + 1);
    return done.map((c) => {
      const r = this.pending.get(c) as ReadRequest;
      this.pending.delete(c);
      return r;
    });
  }

  lastPendingCtx(): string | undefined {
    return this.queue[this.queue.length - 1];
  }

  /** Forgets everything (a new term: pending confirmations belong to the old leadership). */
  reset(): void {
    this.pending.clear();
    this.queue.length = 0;
  }
}
