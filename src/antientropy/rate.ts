// A token bucket on the injected clock: anti-entropy and tombstone
// collection spend one token per key they move, so background repair cannot
// take more than its share of disk and network from foreground requests.

import type { Clock, Timer } from '../util/runtime.js';

export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly waiting = new Set<{ timer: Timer; resolve: () => void }>();

  constructor(
    private readonly clock: Clock,
    /** Tokens added per second; Infinity disables limiting. */
    private readonly ratePerSec: number,
    /** Most tokens saved up while idle. */
    private readonly burst: number = Math.max(1, ratePerSec / 4),
  ) {
    this.tokens = burst;
    this.last = clock.now();
  }

  /**
   * Spends n tokens, waiting first until the bucket has paid off any debt.
   * A request larger than the burst is allowed and simply waits longer, so
   * one big batch never blocks forever.
   */
  take(n: number): Promise<void> {
    if (!Number.isFinite(this.ratePerSec) || n <= 0) return Promise.resolve();
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.ratePerSec) / 1000);
    this.last = now;
    this.tokens -= n;
    if (this.tokens >= 0) return Promise.resolve();
    const waitMs = Math.ceil((-this.tokens * 1000) / this.ratePerSec);
    return new Promise<void>((resolve) => {
      const entry = { timer: undefined as unknown as Timer, resolve };
      entry.timer = this.clock.setTimer(waitMs, () => {
        this.waiting.delete(entry);
        resolve();
      });
      this.waiting.add(entry);
    });
  }

  /** Releases every waiter at once (shutdown): callers check their own stop flag. */
  cancelAll(): void {
    for (const w of this.waiting) {
      w.timer.cancel();
      w.resolve();
    }
    this.waiting.clear();
  }
}
