// Who this node believes is alive, as the coordinator asks it. SWIM gossip
// (swim.ts) is the real detector; PassiveLiveness is the fallback used when
// gossip is off: it learns only from the outcomes of requests it makes, and
// pings nodes it believes down until they answer again.

import type { Clock, Timer } from '../util/runtime.js';
import type { NodeId } from '../version/dvv.js';

export interface Liveness {
  isAlive(node: NodeId): boolean;
  /** The coordinator reports what it saw; detectors may use or ignore it. */
  reportSuccess(node: NodeId): void;
  reportFailure(node: NodeId, kind: 'unreachable' | 'timeout'): void;
}

export interface PassiveLivenessOptions {
  /** How often nodes believed down are pinged. */
  readonly retryMs: number;
  /** Consecutive timeouts before a node that still accepts connections counts as down. */
  readonly timeoutsToDown: number;
}

export class PassiveLiveness implements Liveness {
  private readonly down = new Set<NodeId>();
  private readonly timeouts = new Map<NodeId, number>();
  private timer: Timer | undefined;
  private stopped = false;

  constructor(
    private readonly clock: Clock,
    private readonly ping: (node: NodeId) => Promise<boolean>,
    private readonly opts: PassiveLivenessOptions = { retryMs: 500, timeoutsToDown: 3 },
  ) {}

  isAlive(node: NodeId): boolean {
    return !this.down.has(node);
  }

  downNodes(): NodeId[] {
    return [...this.down].sort();
  }

  reportSuccess(node: NodeId): void {
    this.timeouts.delete(node);
    this.down.delete(node);
  }

  reportFailure(node: NodeId, kind: 'unreachable' | 'timeout'): void {
    if (kind === 'unreachable') {
      this.markDown(node);
      return;
    }
    const n = (this.timeouts.get(node) ?? 0) + 1;
    this.timeouts.set(node, n);
    if (n >= this.opts.timeoutsToDown) this.markDown(node);
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
  }

  private markDown(node: NodeId): void {
    this.down.add(node);
    this.schedule();
  }

  private schedule(): void {
    if (this.timer !== undefined || this.stopped) return;
    this.timer = this.clock.setTimer(this.opts.retryMs, () => {
      this.timer = undefined;
      void this.probeDown();
    });
  }

  private async probeDown(): Promise<void> {
    const nodes = [...this.down];
    const results = await Promise.all(nodes.map((n) => this.ping(n).catch(() => false)));
    nodes.forEach((n, i) => {
      if (results[i]) this.reportSuccess(n);
    });
    if (this.down.size > 0) this.schedule();
  }
}
