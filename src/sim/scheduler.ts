// Virtual time for the whole simulated cluster (the FoundationDB / TigerBeetle
// approach): one priority queue of events ordered by (time, sequence), run
// one at a time in a single process. After each event every microtask it
// started is drained before the next event runs, so that promise
// continuations happen "at" the virtual instant that caused them and the run
// is a pure function of the seed.
//
// Every event carries a short label. Labels are folded into a running hash
// (the replay fingerprint) and the most recent ones are kept as the short
// trace printed for a failing seed; with `traceAll` every line is kept.

import { murmur3 } from '../util/hash.js';
import type { Clock, Timer } from '../util/runtime.js';

interface Event {
  readonly at: number;
  readonly seq: number;
  readonly label: string;
  fn: (() => void) | null;
}

/** A binary min-heap on (at, seq). */
class EventHeap {
  private readonly items: Event[] = [];

  get size(): number {
    return this.items.length;
  }

  push(e: Event): void {
    const a = this.items;
    a.push(e);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }

  pop(): Event | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && before(a[l]!, a[m]!)) m = l;
        if (r < a.length && before(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before(x: Event, y: Event): boolean {
  return x.at < y.at || (x.at === y.at && x.seq < y.seq);
}

/** Resolves after every queued microtask has run (setImmediate runs after the microtask queue empties). */
function drainMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export interface SchedulerOptions {
  /** Keep every trace line (for --trace); otherwise only the last `tailLines`. */
  readonly traceAll?: boolean;
  readonly tailLines?: number;
  /** Hard bound on events per run: a run that exceeds it is a livelock bug. */
  readonly maxEvents?: number;
}

export class EventLimitError extends Error {
  override name = 'EventLimitError';
}

/** What a run that threw reports: a livelock when the event budget ran out, else a crash with its stack. */
export function violationOfThrow(err: unknown): { checker: 'livelock' | 'crash'; message: string } {
  if (err instanceof EventLimitError) return { checker: 'livelock', message: err.message };
  return { checker: 'crash', message: err instanceof Error ? (err.stack ?? err.message) : String(err) };
}

/**
 * Runs the simulation until `pred` holds (looked at every `everyMs` of
 * virtual time) or `untilMs`, never past it; says whether it holds.
 */
export async function runUntilHolds(sched: Scheduler, pred: () => boolean, untilMs: number, everyMs: number): Promise<boolean> {
  for (;;) {
    if (pred()) return true;
    if (sched.now >= untilMs) return false;
    await sched.runUntil(Math.min(untilMs, sched.now + everyMs));
  }
}

export class Scheduler {
  private readonly heap = new EventHeap();
  private seq = 0;
  private nowMs = 0;
  private hash = 0x5eed;
  private eventsRun = 0;
  private readonly tail: string[] = [];
  private readonly all: string[] | undefined;
  private readonly tailLines: number;
  private readonly maxEvents: number;

  constructor(opts: SchedulerOptions = {}) {
    this.all = opts.traceAll ? [] : undefined;
    this.tailLines = opts.tailLines ?? 40;
    this.maxEvents = opts.maxEvents ?? 5_000_000;
  }

  /** Virtual milliseconds since the start of the run (the "true" time no node sees directly). */
  get now(): number {
    return this.nowMs;
  }

  get events(): number {
    return this.eventsRun;
  }

  get pending(): number {
    return this.heap.size;
  }

  /** The replay fingerprint: equal for two runs iff (with overwhelming probability) their traces are equal. */
  get fingerprint(): string {
    return (this.hash >>> 0).toString(16).padStart(8, '0') + ':' + this.eventsRun;
  }

  traceTail(): readonly string[] {
    return this.tail;
  }

  traceAll(): readonly string[] | undefined {
    return this.all;
  }

  /** Records a line in the trace without scheduling anything (faults, client outcomes). */
  note(line: string): void {
    const text = `${this.nowMs.toFixed(0).padStart(7)} ${line}`;
    this.hash = murmur3(text, this.hash);
    // Timer firings and raw deliveries go into the fingerprint only: they would drown the trace.
    if (line.endsWith(' timer') || line === 'net') return;
    this.all?.push(text);
    // Gossip chatter stays out of the short tail printed for a failing seed.
    if (line.includes(' swim')) return;
    this.tail.push(text);
    if (this.tail.length > this.tailLines) this.tail.shift();
  }

  /** Runs fn after delayMs of virtual time. Equal times run in scheduling order. */
  schedule(delayMs: number, label: string, fn: () => void): Timer {
    const at = this.nowMs + Math.max(0, delayMs);
    const e: Event = { at, seq: this.seq++, label, fn };
    this.heap.push(e);
    return {
      cancel: () => {
        e.fn = null;
      },
    };
  }

  /**
   * Runs events until virtual time passes `untilMs`, the queue empties, or
   * `stop()` says so (checked between events). Time then stands at
   * min(untilMs, the last event's time) if the queue emptied.
   */
  async runUntil(untilMs: number, stop?: () => boolean): Promise<void> {
    for (;;) {
      if (stop?.()) return;
      const e = this.heap.pop();
      if (e === undefined) {
        this.nowMs = Math.max(this.nowMs, untilMs);
        return;
      }
      if (e.at > untilMs) {
        this.heap.push(e);
        this.nowMs = untilMs;
        return;
      }
      this.nowMs = e.at;
      const fn = e.fn;
      if (fn === null) continue;
      if (++this.eventsRun > this.maxEvents) throw new EventLimitError(`more than ${this.maxEvents} events: livelock?`);
      if (e.label !== '') this.note(e.label);
      fn();
      await drainMicrotasks();
    }
  }
}

/**
 * One node's view of time. Its wall clock is skewed (a fixed offset) and its
 * oscillator drifts (timers run `rate` times as long in true time), as
 * separate machines' clocks do (rate > 1: runs fast). A clock belongs to one incarnation of a
 * node: after a crash it is killed and its pending timers never fire.
 */
export class NodeClock implements Clock {
  private alive = true;

  constructor(
    private readonly sched: Scheduler,
    readonly node: string,
    readonly skewMs: number,
    readonly rate: number,
  ) {}

  now(): number {
    return Math.floor(this.sched.now * this.rate + this.skewMs) + 1_700_000_000_000;
  }

  setTimer(ms: number, fn: () => void): Timer {
    // A fast oscillator (rate > 1) sees its own timers expire early in true time.
    const timer = this.sched.schedule(Math.max(0, ms) / this.rate, `${this.node} timer`, () => {
      if (this.alive) fn();
    });
    return timer;
  }

  kill(): void {
    this.alive = false;
  }
}

/**
 * One clock on a scheduler of its own, for a test of one clock-injected
 * component (a transport, the handoff loop) outside the whole-cluster
 * simulation: timers run in (time, scheduling) order, with every microtask
 * they start drained before the next, and only while the test advances time.
 */
export class VirtualClock implements Clock {
  private readonly sched = new Scheduler();

  constructor(private readonly startMs = 0) {}

  now(): number {
    return this.startMs + this.sched.now;
  }

  setTimer(ms: number, fn: () => void): Timer {
    return this.sched.schedule(ms, '', fn);
  }

  /** Runs every timer due up to now + ms; what the test started before the call settles first. */
  async advance(ms: number): Promise<void> {
    await drainMicrotasks();
    await this.sched.runUntil(this.sched.now + ms);
  }
}
