// A token bucket on the injected clock: background work (anti-entropy,
// tombstone collection, hinted handoff) spends one token per key or byte it
// moves, so that it cannot take more than its share of disk and network from
// foreground requests.

import type { Clock, Timer } from './runtime.js';

export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly waiting = new Set<{ timer: Timer; resolve: () => void }>();

  constructor(
    private readonly clock: Clock,
    /** Tokens added per second; Infinity disables limiting. */
    private readonly ratePerSec: number,
    /** Most tokens saved up while idle; the bucket starts full. */
    private readonly burst: number = Math.max(1, ratePerSec / 4),
  ) {
    this.tokens = burst;
    this.last = clock.now();
  }

  /** Tokens to spend now; negative while a spend beyond the balance is being paid off. */
  available(): number {
    this.refill();
    return this.tokens;
  }

  /**
   * Spends n tokens now, going into debt if the balance is short: a caller
   * that checks available() first lets one big item overdraw the bucket
   * rather than never pass.
   */
  spend(n: number): void {
    this.refill();
    this.tokens -= n;
  }

  /**
   * Spends n tokens, waiting first until the bucket has paid off any debt.
   * A request larger than the burst is allowed and simply waits longer, so
   * one big batch never blocks forever.
   */
  take(n: number): Promise<void> {
    if (!Number.isFinite(this.ratePerSec) || n <= 0) return Promise.resolve();
    this.spend(n);
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

  private refill(): void {
    const now = this.clock.now();
    if (!Number.isFinite(this.ratePerSec)) {
      this.tokens = this.burst;
      return;
    }
    // A wall clock stepped back adds nothing (and takes nothing away).
    this.tokens = Math.min(this.burst, this.tokens + (Math.max(0, now - this.last) * this.ratePerSec) / 1000);
    this.last = now;
  }
}
