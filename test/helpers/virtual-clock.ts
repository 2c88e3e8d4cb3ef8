// A virtual clock for tests of clock-injected protocol code: timers run in
// (time, insertion) order, and only when the test advances time.

import type { Clock, Timer } from '../../src/util/runtime.js';

export class VirtualClock implements Clock {
  private t: number;
  private seq = 0;
  private events: { at: number; seq: number; fn: () => void; cancelled: boolean }[] = [];

  constructor(startMs = 0) {
    this.t = startMs;
  }

  now(): number {
    return this.t;
  }

  setTimer(ms: number, fn: () => void): Timer {
    const e = { at: this.t + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    this.events.push(e);
    return { cancel: () => void (e.cancelled = true) };
  }

  /** Runs every event up to now + ms, letting promise callbacks settle between events. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await new Promise((r) => setImmediate(r));
      this.events = this.events.filter((e) => !e.cancelled);
      this.events.sort((x, y) => x.at - y.at || x.seq - y.seq);
      const next = this.events[0];
      if (next === undefined || next.at > end) break;
      this.events.shift();
      this.t = next.at;
      next.fn();
    }
    this.t = end;
  }
}
