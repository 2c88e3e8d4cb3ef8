// The dissemination queue (SWIM §4.1 "infection-style dissemination").
// Updates wait here and ride on outgoing pings, acks and nacks. One entry
// per member: a newer update about a node replaces the older one, which is
// why the queue is bounded by the cluster size in practice; the hard bound
// (maxEntries) guards against a runaway layout.

import type { NodeId } from '../version/dvv.js';
import type { MemberUpdate } from './messages.js';

interface Entry {
  update: MemberUpdate;
  transmits: number;
  /** Insertion order: higher is newer. */
  order: number;
}

export class BroadcastQueue {
  private readonly entries = new Map<NodeId, Entry>();
  private order = 0;
  private evictedCount = 0;

  constructor(private readonly maxEntries: number) {}

  /** Adds (or replaces) the update about `update.node` with a fresh transmit budget. */
  enqueue(update: MemberUpdate): void {
    this.entries.delete(update.node);
    if (this.entries.size >= this.maxEntries) this.evictOne();
    this.entries.set(update.node, { update, transmits: 0, order: this.order++ });
  }

  has(node: NodeId): boolean {
    return this.entries.has(node);
  }

  remove(node: NodeId): void {
    this.entries.delete(node);
  }

  size(): number {
    return this.entries.size;
  }

  evicted(): number {
    return this.evictedCount;
  }

  /**
   * Picks at most `max` updates for one message: the entry about
   * `preferNode` first (Lifeguard's "buddy system": a suspect hears about
   * its suspicion from whoever probes it), then the least transmitted,
   * newest first. Each pick spends one transmission; entries that reach
   * `limit` transmissions leave the queue.
   */
  take(max: number, limit: number, preferNode: NodeId | null): MemberUpdate[] {
    if (max <= 0 || this.entries.size === 0) return [];
    const picked: Entry[] = [];
    const preferred = preferNode === null ? undefined : this.entries.get(preferNode);
    if (preferred) picked.push(preferred);
    if (picked.length < max) {
      const rest = [...this.entries.values()].filter((e) => e !== preferred);
      rest.sort((a, b) => a.transmits - b.transmits || b.order - a.order);
      for (const e of rest) {
        if (picked.length >= max) break;
        picked.push(e);
      }
    }
    const out: MemberUpdate[] = [];
    for (const e of picked) {
      out.push(e.update);
      e.transmits++;
      if (e.transmits >= limit) this.entries.delete(e.update.node);
    }
    return out;
  }

  /** Drops the most transmitted (then oldest) entry: it has done the most of its work. */
  private evictOne(): void {
    let victim: Entry | undefined;
    for (const e of this.entries.values()) {
      if (!victim || e.transmits > victim.transmits || (e.transmits === victim.transmits && e.order < victim.order)) victim = e;
    }
    if (victim) {
      this.entries.delete(victim.update.node);
      this.evictedCount++;
    }
  }
}
