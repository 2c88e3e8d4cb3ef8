// The effects protocol code may use, injected so that the simulator can run
// the production code under virtual time with a seeded random source
// (docs/architecture.md, "Layers": protocol code is deterministic).

export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds on this node's wall clock (may be skewed in simulation). */
  now(): number;
  /** Runs fn once after ms; the returned timer can be cancelled. */
  setTimer(ms: number, fn: () => void): Timer;
}

export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
}

/** One of `items`, uniformly (items must not be empty). */
export function pick<T>(random: Random, items: readonly T[]): T {
  return items[random.int(items.length)] as T;
}

export function shuffle<T>(items: readonly T[], random: Random): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    const t = out[i] as T;
    out[i] = out[j] as T;
    out[j] = t;
  }
  return out;
}

/** A seeded generator (xorshift128+ folded to 32 bits) for simulation and tests. */
export class SeededRandom implements Random {
  private s0: number;
  private s1: number;
  constructor(seed: number) {
    this.s0 = (seed | 0) ^ 0x9e3779b9 || 1;
    this.s1 = Math.imul(seed | 0, 0x85ebca6b) ^ 0xc2b2ae35 || 2;
    for (let i = 0; i < 8; i++) this.next();
  }
  next(): number {
    let x = this.s0;
    const y = this.s1;
    this.s0 = y;
    x ^= x << 23;
    x ^= x >>> 17;
    x ^= y ^ (y >>> 26);
    this.s1 = x;
    return ((this.s0 + this.s1) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}
