// The real effects behind util/runtime.ts's interfaces, wired by the server
// (the simulator wires a virtual clock and a seeded random source instead).

import { randomFillSync } from 'node:crypto';
import type { Clock, Random, Timer } from '../util/runtime.js';

/**
 * The system clock. Timers are unref'd: protocol timers (deadlines, retries,
 * gossip ticks) must never be what keeps a process alive; the servers are.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(ms: number, fn: () => void): Timer {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};

const POOL_WORDS = 1024;

/** Cryptographically strong randomness, drawn from the OS a pool at a time (one syscall per 1024 draws). */
export class CryptoRandom implements Random {
  private readonly pool = new Uint32Array(POOL_WORDS);
  private next_ = POOL_WORDS;

  private word(): number {
    if (this.next_ >= POOL_WORDS) {
      randomFillSync(this.pool);
      this.next_ = 0;
    }
    return this.pool[this.next_++] as number;
  }

  next(): number {
    // 53 random bits: the full precision of a double in [0, 1).
    const hi = this.word() >>> 5;
    const lo = this.word() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

export const cryptoRandom: Random = new CryptoRandom();
