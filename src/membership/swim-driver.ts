// Runs a Swim state machine on timers: the thin shell around the pure core
// (etcd raft's "node" around its "raft"). Timers come from the injected
// Clock, so the same driver runs under the simulator's virtual time and the
// server's real time.

import type { Clock, Timer } from '../util/runtime.js';
import type { NodeId } from '../version/dvv.js';
import type { MemberState, SwimEffect, SwimMessage } from './messages.js';
import type { Swim } from './swim.js';

export interface SwimDriverHooks {
  /** Best-effort datagram send; losing the message is allowed, throwing is not required. */
  send(to: NodeId, msg: SwimMessage): void;
  onStateChange?(node: NodeId, from: MemberState, to: MemberState): void;
}

export interface SwimDriverOptions {
  /** Upper bound on the sleep between ticks, a safety net should a deadline be missed. */
  readonly maxSleepMs?: number;
  /** Lower bound on the sleep, so a deadline that does not move cannot spin the event loop. */
  readonly minSleepMs?: number;
}

export class SwimDriver {
  private timer: Timer | null = null;
  private armedAtMs = Infinity;
  private running = false;
  private readonly maxSleepMs: number;
  private readonly minSleepMs: number;

  constructor(
    readonly swim: Swim,
    private readonly clock: Clock,
    private readonly hooks: SwimDriverHooks,
    options: SwimDriverOptions = {},
  ) {
    this.maxSleepMs = options.maxSleepMs ?? 1000;
    this.minSleepMs = options.minSleepMs ?? 1;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.onTimer();
  }

  stop(): void {
    this.running = false;
    this.timer?.cancel();
    this.timer = null;
    this.armedAtMs = Infinity;
  }

  /** Hand an incoming message to the state machine. Ignored while stopped. */
  receive(from: NodeId, msg: SwimMessage): void {
    if (!this.running) return;
    this.perform(this.swim.receive(from, msg));
    this.arm();
  }

  /** Announce a voluntary leave; the caller stops the driver once the messages are out. */
  leave(): void {
    this.perform(this.swim.leave());
    this.arm();
  }

  private onTimer(): void {
    this.timer = null;
    this.armedAtMs = Infinity;
    if (!this.running) return;
    this.perform(this.swim.tick());
    this.arm();
  }

  /** Sleeps until the state machine's next deadline, re-arming only if it moved earlier. */
  private arm(): void {
    if (!this.running) return;
    const now = this.clock.now();
    const next = Math.min(this.swim.nextDeadlineMs(), now + this.maxSleepMs);
    const wakeAt = Math.max(next, now + this.minSleepMs);
    if (this.timer && wakeAt >= this.armedAtMs) return;
    this.timer?.cancel();
    this.armedAtMs = wakeAt;
    this.timer = this.clock.setTimer(wakeAt - now, () => this.onTimer());
  }

  private perform(effects: readonly SwimEffect[]): void {
    for (const e of effects) {
      if (e.kind === 'send') this.hooks.send(e.to, e.msg);
      else this.hooks.onStateChange?.(e.node, e.from, e.to);
    }
  }
}
