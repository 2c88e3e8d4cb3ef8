// SWIM failure detection (src/membership) under a small deterministic
// network: one virtual clock, a message queue whose latency comes from a
// SeededRandom, and faults that drop traffic to or from a node, between two
// nodes, or at random. Each scenario names the paper section it checks.

import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';

import {
  BroadcastQueue,
  DEFAULT_SWIM_CONFIG,
  MAX_ACCUSED_INCARNATION,
  MAX_INCARNATION,
  Swim,
  SwimDriver,
  expectedConfirmations,
  retransmitLimit,
  suspicionTimeoutMinMs,
  suspicionTimeoutMs,
  type MemberState,
  type SwimConfig,
  type SwimEffect,
  type SwimMessage,
} from '../../src/membership/index.js';
import { SeededRandom, type Clock, type Timer } from '../../src/util/runtime.js';

// ---- the deterministic network ------------------------------------------

interface Event {
  at: number;
  order: number;
  fn: () => void;
  cancelled: boolean;
}

/** A binary min-heap of events ordered by (time, insertion order): ties replay in a fixed order. */
class EventQueue {
  private readonly heap: Event[] = [];
  private order = 0;
  push(at: number, fn: () => void): Event {
    const e: Event = { at, order: this.order++, fn, cancelled: false };
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
    return e;
  }
  peek(): Event | undefined {
    return this.heap[0];
  }
  pop(): Event | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l]!, h[m]!)) m = l;
        if (r < h.length && before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before(a: Event, b: Event): boolean {
  return a.at < b.at || (a.at === b.at && a.order < b.order);
}

interface SimNode {
  id: string;
  swim: Swim;
  driver: SwimDriver;
  up: boolean;
}

interface Transition {
  at: number;
  observer: string;
  node: string;
  from: MemberState;
  to: MemberState;
}

interface NetOptions {
  seed: number;
  nodes: number;
  config?: SwimConfig;
  latencyMinMs?: number;
  latencyMaxMs?: number;
  lossRate?: number;
}

class VirtualNet {
  now = 0;
  readonly events = new EventQueue();
  readonly rng: SeededRandom;
  readonly nodes = new Map<string, SimNode>();
  readonly ids: string[];
  readonly transitions: Transition[] = [];
  readonly config: SwimConfig;
  /** Nodes whose traffic, both ways, is dropped. */
  readonly isolated = new Set<string>();
  /** Pairs "a|b" (sorted) whose traffic between them is dropped. */
  readonly cuts = new Set<string>();
  lossRate: number;
  delivered = 0;
  dropped = 0;
  private readonly latencyMinMs: number;
  private readonly latencyMaxMs: number;
  private readonly seed: number;
  private restarts = 0;

  constructor(opts: NetOptions) {
    this.seed = opts.seed;
    this.rng = new SeededRandom(opts.seed);
    this.config = opts.config ?? DEFAULT_SWIM_CONFIG;
    this.latencyMinMs = opts.latencyMinMs ?? 1;
    this.latencyMaxMs = opts.latencyMaxMs ?? 20;
    this.lossRate = opts.lossRate ?? 0;
    this.ids = Array.from({ length: opts.nodes }, (_, i) => `n${i + 1}`);
    for (const id of this.ids) this.start(id);
  }

  clock(): Clock {
    return {
      now: () => this.now,
      setTimer: (ms: number, fn: () => void): Timer => {
        const e = this.events.push(this.now + Math.max(0, ms), fn);
        return { cancel: () => (e.cancelled = true) };
      },
    };
  }

  /** Starts (or restarts, as a fresh instance at incarnation 0) the node `id`. */
  start(id: string): void {
    const old = this.nodes.get(id);
    old?.driver.stop();
    const clock = this.clock();
    const swimSeed = this.seed * 7919 + this.ids.indexOf(id) * 104729 + this.restarts++ * 15485863;
    const swim = new Swim(id, this.ids, this.config, clock, new SeededRandom(swimSeed));
    const driver = new SwimDriver(swim, clock, {
      send: (to, msg) => this.send(id, to, msg),
      onStateChange: (node, from, to) => this.transitions.push({ at: this.now, observer: id, node, from, to }),
    });
    this.nodes.set(id, { id, swim, driver, up: true });
    driver.start();
  }

  /** A crash: the process stops and its traffic vanishes. */
  crash(id: string): void {
    const n = this.node(id);
    n.up = false;
    n.driver.stop();
  }

  node(id: string): SimNode {
    const n = this.nodes.get(id);
    assert.ok(n, `no node ${id}`);
    return n;
  }

  cut(a: string, b: string): void {
    this.cuts.add(pair(a, b));
  }

  heal(a: string, b: string): void {
    this.cuts.delete(pair(a, b));
  }

  private send(from: string, to: string, msg: SwimMessage): void {
    if (this.isolated.has(from) || this.isolated.has(to) || this.cuts.has(pair(from, to)) || (this.lossRate > 0 && this.rng.next() < this.lossRate)) {
      this.dropped++;
      return;
    }
    const latency = this.latencyMinMs + this.rng.int(this.latencyMaxMs - this.latencyMinMs + 1);
    this.events.push(this.now + latency, () => {
      // Checked at delivery too: a node can crash, or a link break, while a message is in flight.
      const dest = this.nodes.get(to);
      if (!dest || !dest.up || this.isolated.has(to) || this.isolated.has(from) || this.cuts.has(pair(from, to))) {
        this.dropped++;
        return;
      }
      this.delivered++;
      dest.driver.receive(from, msg);
    });
  }

  /** Runs events until virtual time `t` (bounded so that a runaway loop fails rather than hangs). */
  runUntil(t: number): void {
    for (let steps = 0; steps < 10_000_000; steps++) {
      const e = this.events.peek();
      if (!e || e.at > t) {
        this.now = t;
        return;
      }
      this.events.pop();
      if (e.cancelled) continue;
      this.now = e.at;
      e.fn();
    }
    assert.fail('event budget exhausted');
  }

  /** Runs until `pred` holds or `deadline` passes, checking every `stepMs`; returns whether it held. */
  runUntilTrue(pred: () => boolean, deadline: number, stepMs = 10): boolean {
    while (this.now < deadline) {
      if (pred()) return true;
      this.runUntil(Math.min(deadline, this.now + stepMs));
    }
    return pred();
  }

  view(observer: string, node: string): MemberState | undefined {
    return this.node(observer).swim.member(node)?.state;
  }

  upIds(): string[] {
    return this.ids.filter((id) => this.node(id).up);
  }

  /** The transitions in a stable textual form, for determinism checks and failure messages. */
  trace(): string[] {
    return this.transitions.map((t) => `${t.at} ${t.observer}: ${t.node} ${t.from}->${t.to}`);
  }
}

function pair(a: string, b: string): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}

const SEEDS = Array.from({ length: 20 }, (_, i) => i + 1);

/** A tiny report line collected by the scenarios, printed at the end for the reader. */
const report: string[] = [];
process.on('exit', () => {
  if (report.length > 0) console.log(`\n# membership scenario report\n${report.map((l) => `#   ${l}`).join('\n')}`);
});

// ---- pure pieces -----------------------------------------------------------

describe('suspicion timing maths', () => {
  it('scales the floor with log10 of the cluster size, never below mult * interval (SWIM §4.2)', () => {
    assert.equal(suspicionTimeoutMinMs(4, 5, 500), 2000);
    assert.equal(suspicionTimeoutMinMs(4, 1, 500), 2000);
    assert.equal(suspicionTimeoutMinMs(4, 99, 500), 4000);
    assert.ok(suspicionTimeoutMinMs(4, 999, 500) > suspicionTimeoutMinMs(4, 99, 500));
  });

  it('falls from max to min as independent confirmations arrive (Lifeguard §IV-B)', () => {
    const k = expectedConfirmations(4, 5);
    assert.equal(k, 2);
    assert.equal(suspicionTimeoutMs(2000, 12000, 0, k), 12000);
    const one = suspicionTimeoutMs(2000, 12000, 1, k);
    assert.ok(one < 12000 && one > 2000, `one confirmation gives ${one}`);
    assert.equal(suspicionTimeoutMs(2000, 12000, 2, k), 2000);
    assert.equal(suspicionTimeoutMs(2000, 12000, 9, k), 2000);
    assert.equal(suspicionTimeoutMs(2000, 12000, 0, 0), 2000);
    assert.equal(expectedConfirmations(4, 2), 0);
  });

  it('retransmits each update mult * ceil(log2(n + 1)) times (SWIM §4.1)', () => {
    assert.equal(retransmitLimit(3, 7), 9);
    assert.equal(retransmitLimit(3, 5), 9);
    assert.equal(retransmitLimit(3, 1), 3);
  });
});

describe('broadcast queue', () => {
  it('keeps one entry per node, newest and least sent first, and retires entries after the limit', () => {
    const q = new BroadcastQueue(10);
    q.enqueue({ node: 'a', state: 'alive', incarnation: 1 });
    q.enqueue({ node: 'b', state: 'alive', incarnation: 1 });
    q.enqueue({ node: 'a', state: 'suspect', incarnation: 1, from: 'c' });
    assert.equal(q.size(), 2);
    assert.deepEqual(
      q.take(1, 2, null).map((u) => u.node),
      ['a'],
    );
    // a has been sent once, b never: b goes first now.
    assert.deepEqual(
      q.take(2, 2, null).map((u) => u.node),
      ['b', 'a'],
    );
    assert.equal(q.has('a'), false, 'a reached its limit of 2');
    assert.equal(q.size(), 1);
  });

  it('puts the entry about the recipient first (the buddy system)', () => {
    const q = new BroadcastQueue(10);
    q.enqueue({ node: 'x', state: 'suspect', incarnation: 0, from: 'a' });
    q.enqueue({ node: 'y', state: 'alive', incarnation: 2 });
    assert.deepEqual(
      q.take(1, 5, 'x').map((u) => u.node),
      ['x'],
    );
  });

  it('is bounded and evicts the most transmitted entry', () => {
    const q = new BroadcastQueue(3);
    for (const n of ['a', 'b', 'c']) q.enqueue({ node: n, state: 'alive', incarnation: 1 });
    q.take(1, 10, 'a');
    q.enqueue({ node: 'd', state: 'alive', incarnation: 1 });
    assert.equal(q.size(), 3);
    assert.equal(q.has('a'), false);
    assert.equal(q.evicted(), 1);
  });
});

// ---- the state machine in isolation -----------------------------------

function manual(self = 'a', members = ['a', 'b', 'c', 'd']) {
  let now = 0;
  const clock = { now: () => now };
  const swim = new Swim(self, members, DEFAULT_SWIM_CONFIG, clock, new SeededRandom(42));
  return {
    swim,
    advance(ms: number) {
      now += ms;
    },
    sends(effects: SwimEffect[]) {
      return effects.filter((e): e is Extract<SwimEffect, { kind: 'send' }> => e.kind === 'send');
    },
  };
}

describe('incarnation ordering (SWIM §4.2)', () => {
  it('suspect overrides alive at the same incarnation; alive needs a higher one to clear it', () => {
    const { swim } = manual();
    swim.receive('c', { type: 'swimAck', seq: 1, from: 'c', updates: [{ node: 'b', state: 'suspect', incarnation: 0, from: 'c' }] });
    assert.equal(swim.member('b')?.state, 'suspect');
    swim.receive('c', { type: 'swimAck', seq: 1, from: 'c', updates: [{ node: 'b', state: 'alive', incarnation: 0 }] });
    assert.equal(swim.member('b')?.state, 'suspect', 'alive at the same incarnation does not clear a suspicion');
    swim.receive('c', { type: 'swimAck', seq: 1, from: 'c', updates: [{ node: 'b', state: 'alive', incarnation: 1 }] });
    assert.equal(swim.member('b')?.state, 'alive');
    assert.equal(swim.counters().falsePositiveRefutes, 1);
    swim.receive('c', { type: 'swimAck', seq: 1, from: 'c', updates: [{ node: 'b', state: 'suspect', incarnation: 0, from: 'd' }] });
    assert.equal(swim.member('b')?.state, 'alive', 'a stale suspicion is ignored');
  });

  it('dead overrides alive and suspect at the same incarnation, and only a higher alive revives', () => {
    const { swim } = manual();
    swim.receive('c', { type: 'swimAck', seq: 1, from: 'c', updates: [{ node: 'b', state: 'alive', incarnation: 3 }] });
    swim.receive('c', { type: 'swimAck', seq: 1, from: 'c', updates: [{ node: 'b', state: 'dead', incarnation: 3 }] });
    assert.equal(swim.member('b')?.state, 'dead');
    assert.equal(swim.isAlive('b'), false);
    swim.receive('c', { type: 'swimAck', seq: 1, from: 'c', updates: [{ node: 'b', state: 'alive', incarnation: 3 }] });
    assert.equal(swim.member('b')?.state, 'dead');
    swim.receive('c', { type: 'swimAck', seq: 1, from: 'c', updates: [{ node: 'b', state: 'suspect', incarnation: 9, from: 'c' }] });
    assert.equal(swim.member('b')?.state, 'dead', 'suspicion never overrides dead');
    swim.receive('c', { type: 'swimAck', seq: 1, from: 'c', updates: [{ node: 'b', state: 'alive', incarnation: 4 }] });
    assert.equal(swim.member('b')?.state, 'alive');
    assert.equal(swim.counters().rejoins, 1);
  });

  it('ignores gossip about nodes outside the layout', () => {
    const { swim } = manual();
    swim.receive('c', { type: 'swimAck', seq: 1, from: 'c', updates: [{ node: 'zz', state: 'alive', incarnation: 3 }] });
    assert.equal(swim.member('zz'), undefined);
    assert.equal(swim.isAlive('zz'), false);
  });

  it('counts a suspect as alive for routing, and dead or left as not', () => {
    const { swim } = manual();
    swim.receive('c', { type: 'swimAck', seq: 1, from: 'c', updates: [{ node: 'b', state: 'suspect', incarnation: 0, from: 'c' }] });
    swim.receive('c', { type: 'swimAck', seq: 1, from: 'c', updates: [{ node: 'd', state: 'left', incarnation: 1 }] });
    assert.equal(swim.isAlive('b'), true);
    assert.equal(swim.isAlive('d'), false);
    assert.equal(swim.isAlive('a'), true);
  });

  it('drops a message whose sender disagrees with its envelope', () => {
    const { swim } = manual();
    const out = swim.receive('c', { type: 'swimPing', seq: 1, from: 'b', updates: [] });
    assert.deepEqual(out, []);
    assert.equal(swim.counters().malformed, 1);
  });
});

describe('refutation (SWIM §4.2)', () => {
  it('a node that hears it is suspected raises its incarnation and says so in its answer', () => {
    const { swim, sends } = manual();
    const out = swim.receive('b', { type: 'swimPing', seq: 7, from: 'b', updates: [{ node: 'a', state: 'suspect', incarnation: 0, from: 'b' }] });
    assert.equal(swim.incarnation(), 1);
    assert.equal(swim.counters().refutations, 1);
    const [ack] = sends(out);
    assert.equal(ack?.msg.type, 'swimAck');
    assert.equal(ack?.msg.seq, 7);
    assert.deepEqual(ack?.msg.updates[0], { node: 'a', state: 'alive', incarnation: 1 });
  });

  it('a restarted node climbs above the incarnation it was declared dead at', () => {
    const { swim } = manual();
    swim.receive('b', { type: 'swimAck', seq: 1, from: 'b', updates: [{ node: 'a', state: 'dead', incarnation: 5 }] });
    assert.equal(swim.incarnation(), 6);
  });

  it('re-announces itself when it hears a stale accusation', () => {
    const { swim, sends } = manual();
    swim.receive('b', { type: 'swimPing', seq: 1, from: 'b', updates: [{ node: 'a', state: 'suspect', incarnation: 0, from: 'b' }] });
    // Drain the queue so that the alive(1) update is no longer pending.
    for (let i = 0; i < 40; i++) swim.receive('c', { type: 'swimPing', seq: 2, from: 'c', updates: [] });
    const out = swim.receive('d', { type: 'swimPing', seq: 3, from: 'd', updates: [{ node: 'a', state: 'suspect', incarnation: 0, from: 'd' }] });
    assert.equal(swim.incarnation(), 1, 'no second refutation for a stale accusation');
    assert.deepEqual(sends(out)[0]?.msg.updates[0], { node: 'a', state: 'alive', incarnation: 1 });
  });
});

describe('incarnations outside the safe-integer range (issue 11 review)', () => {
  it('a forged dead update at incarnation 2^53 evicts no one and is counted as malformed', () => {
    const { swim } = manual();
    swim.receive('c', { type: 'swimAck', seq: 1, from: 'c', updates: [{ node: 'b', state: 'dead', incarnation: 2 ** 53 }] });
    assert.equal(swim.member('b')?.state, 'alive');
    assert.equal(swim.counters().malformed, 1);
    swim.receive('c', { type: 'swimAck', seq: 1, from: 'c', updates: [{ node: 'a', state: 'dead', incarnation: 2 ** 64 }] });
    assert.equal(swim.incarnation(), 0, 'a node does not climb to an unsafe incarnation about itself');
    assert.equal(swim.counters().malformed, 2);
  });

  it('every accusation a node accepts stays refutable by a strictly higher safe incarnation', () => {
    const { swim } = manual();
    swim.receive('c', { type: 'swimAck', seq: 1, from: 'c', updates: [{ node: 'a', state: 'suspect', incarnation: MAX_INCARNATION, from: 'c' }] });
    assert.equal(swim.incarnation(), 0, 'an accusation at the very top is refused: it could not be refuted');
    swim.receive('c', { type: 'swimAck', seq: 1, from: 'c', updates: [{ node: 'a', state: 'dead', incarnation: MAX_ACCUSED_INCARNATION }] });
    assert.equal(swim.incarnation(), MAX_INCARNATION);
    assert.ok(Number.isSafeInteger(swim.incarnation()));
    swim.receive('c', { type: 'swimAck', seq: 1, from: 'c', updates: [{ node: 'b', state: 'dead', incarnation: MAX_ACCUSED_INCARNATION }] });
    swim.receive('c', { type: 'swimAck', seq: 1, from: 'c', updates: [{ node: 'b', state: 'alive', incarnation: MAX_INCARNATION }] });
    assert.equal(swim.member('b')?.state, 'alive', 'the top accusation about another node is refuted by the top alive');
  });

  it('a non-integer or negative incarnation is dropped', () => {
    const { swim } = manual();
    swim.receive('c', { type: 'swimAck', seq: 1, from: 'c', updates: [{ node: 'b', state: 'dead', incarnation: 1.5 }, { node: 'b', state: 'dead', incarnation: -1 }] });
    assert.equal(swim.member('b')?.state, 'alive');
    assert.equal(swim.counters().malformed, 2);
  });
});

describe('probing (SWIM §3.1, §4.3)', () => {
  it('probes every member once per round, in an order reshuffled each round', () => {
    const { swim, advance, sends } = manual('a', ['a', 'b', 'c', 'd', 'e', 'f']);
    const rounds: string[][] = [];
    let current: string[] = [];
    for (let t = 0; t < 40 * DEFAULT_SWIM_CONFIG.probeIntervalMs; t += 50) {
      for (const s of sends(swim.tick())) {
        if (s.msg.type !== 'swimPing') continue;
        current.push(s.to);
        // Answer every probe at once so that nobody becomes suspect.
        swim.receive(s.to, { type: 'swimAck', seq: s.msg.seq, from: s.to, updates: [] });
        if (current.length === 5) {
          rounds.push(current);
          current = [];
        }
      }
      advance(50);
    }
    assert.ok(rounds.length >= 6);
    for (const r of rounds) assert.deepEqual([...r].sort(), ['b', 'c', 'd', 'e', 'f']);
    assert.ok(new Set(rounds.map((r) => r.join())).size > 1, 'the order changes between rounds');
    assert.equal(swim.counters().suspicions, 0);
  });

  it('asks k others for indirect probes after the probe timeout, and suspects at the end of the period', () => {
    const { swim, advance, sends } = manual();
    let ping: ReturnType<typeof sends>[number] | undefined;
    for (let i = 0; i < 40 && !ping; i++) {
      ping = sends(swim.tick()).find((s) => s.msg.type === 'swimPing');
      if (!ping) advance(25);
    }
    assert.ok(ping);
    advance(DEFAULT_SWIM_CONFIG.probeTimeoutMs);
    const reqs = sends(swim.tick()).filter((s) => s.msg.type === 'swimPingReq');
    assert.equal(reqs.length, DEFAULT_SWIM_CONFIG.indirectProbes);
    for (const r of reqs) {
      assert.notEqual(r.to, ping.to);
      assert.equal(r.msg.type === 'swimPingReq' && r.msg.target, ping.to);
    }
    advance(DEFAULT_SWIM_CONFIG.probeIntervalMs - DEFAULT_SWIM_CONFIG.probeTimeoutMs);
    const out = swim.tick();
    assert.ok(out.some((e) => e.kind === 'stateChanged' && e.node === ping.to && e.to === 'suspect'));
    // The suspect hears of it first when next pinged (the buddy system).
    const next = sends(out).find((s) => s.msg.type === 'swimPing');
    if (next?.to === ping.to) assert.equal(next.msg.updates[0]?.node, ping.to);
  });

  it('forwards an indirect ack, and nacks when the target stays silent (Lifeguard §IV-A)', () => {
    const { swim, advance, sends } = manual();
    const out1 = sends(swim.receive('b', { type: 'swimPingReq', seq: 11, from: 'b', target: 'c', updates: [] }));
    assert.equal(out1[0]?.to, 'c');
    const relaySeq = out1[0]!.msg.seq;
    const fwd = sends(swim.receive('c', { type: 'swimAck', seq: relaySeq, from: 'c', updates: [] }));
    assert.equal(fwd[0]?.to, 'b');
    assert.equal(fwd[0]?.msg.type, 'swimAck');
    assert.equal(fwd[0]?.msg.seq, 11);

    swim.receive('b', { type: 'swimPingReq', seq: 12, from: 'b', target: 'd', updates: [] });
    advance(DEFAULT_SWIM_CONFIG.probeTimeoutMs);
    const nack = sends(swim.tick()).find((s) => s.msg.type === 'swimNack');
    assert.equal(nack?.to, 'b');
    assert.equal(nack?.msg.seq, 12);
  });

  it('leave marks itself left, tells the others, and is accepted over alive', () => {
    const { swim, sends } = manual();
    const out = swim.leave();
    assert.ok(out.some((e) => e.kind === 'stateChanged' && e.node === 'a' && e.to === 'left'));
    const pings = sends(out);
    assert.equal(pings.length, 3);
    for (const p of pings) assert.deepEqual(p.msg.updates[0], { node: 'a', state: 'left', incarnation: 1 });
    assert.equal(swim.isAlive('a'), false);
    assert.deepEqual(swim.tick(), []);

    const other = manual('b').swim;
    other.receive('a', pings[0]!.msg);
    assert.equal(other.member('a')?.state, 'left');
    assert.equal(other.isAlive('a'), false);
  });

  it('probes a member added to the layout within the round, and forgets a removed one without suspecting it', () => {
    const { swim, advance, sends } = manual('a', ['a', 'b', 'c']);
    const pinged: string[] = [];
    const step = (answer: (to: string) => boolean) => {
      for (const s of sends(swim.tick())) {
        if (s.msg.type !== 'swimPing') continue;
        pinged.push(s.to);
        if (answer(s.to)) swim.receive(s.to, { type: 'swimAck', seq: s.msg.seq, from: s.to, updates: [] });
      }
      advance(25);
    };
    for (let t = 0; t < 1000; t += 25) step(() => true);
    swim.addMember('e');
    pinged.length = 0;
    // A round is now at most three periods long (b, c, e), plus the one in flight.
    for (let t = 0; t < 4 * DEFAULT_SWIM_CONFIG.probeIntervalMs; t += 25) step(() => true);
    assert.ok(pinged.includes('e'), `pinged ${pinged.join()}`);

    // c stops answering; remove it from the layout while it is being probed.
    for (let t = 0; t < 10_000 && !(pinged.at(-1) === 'c'); t += 25) step((to) => to !== 'c');
    assert.equal(pinged.at(-1), 'c');
    swim.removeMember('c');
    for (let t = 0; t < 30_000; t += 25) step(() => true);
    assert.equal(swim.member('c'), undefined);
    assert.equal(swim.counters().suspicions, 0);
    assert.ok(!pinged.slice(pinged.lastIndexOf('c') + 1).includes('c'), 'c is never probed again');
  });

  it('rejects configurations that cannot work', () => {
    assert.throws(() => new Swim('a', ['b'], { ...DEFAULT_SWIM_CONFIG, probeTimeoutMs: 600 }, { now: () => 0 }, new SeededRandom(1)), RangeError);
    assert.throws(() => new Swim('a', ['b'], { ...DEFAULT_SWIM_CONFIG, maxPiggyback: 0 }, { now: () => 0 }, new SeededRandom(1)), RangeError);
  });
});

// ---- whole-cluster scenarios ----------------------------------------------

/**
 * The detection bound for a crash with no other fault. Every survivor
 * probes every live member once per round of n - 1 periods, so its first
 * probe of the crashed node starts within 2(n - 1) periods (probed first
 * in one round, last in the next), fails one period later, and the
 * suspicion it then starts expires within the Lifeguard ceiling (the
 * no-confirmation timeout). Each survivor reaches that verdict on its own,
 * so no dissemination delay is added; one more period covers latency and
 * health stretching from a missed nack.
 */
function detectionBoundMs(n: number, config: SwimConfig = DEFAULT_SWIM_CONFIG): number {
  const min = suspicionTimeoutMinMs(config.suspicionMultiplier, n, config.probeIntervalMs);
  return (2 * (n - 1) + 1) * config.probeIntervalMs + min * config.suspicionMaxMultiplier + config.probeIntervalMs;
}

describe('cluster scenarios (virtual time)', () => {
  it('five healthy nodes raise no suspicion over 60 virtual seconds', () => {
    for (const seed of SEEDS.slice(0, 5)) {
      const net = new VirtualNet({ seed, nodes: 5 });
      net.runUntil(60_000);
      assert.deepEqual(net.transitions, [], `seed ${seed}: ${net.trace().join('; ')}`);
      for (const id of net.ids) {
        const c = net.node(id).swim.counters();
        assert.equal(c.suspicions, 0);
        assert.ok(c.probesSent >= 110, `${id} probed ${c.probesSent} times in 60 s`);
        assert.equal(c.probesFailed, 0);
        assert.ok(c.acksReceived >= c.probesSent - 1, 'every probe but the one in flight was answered');
        assert.equal(net.node(id).swim.healthScore(), 0);
        for (const m of net.node(id).swim.members()) assert.equal(m.state, 'alive');
      }
    }
  });

  it('a crashed node is declared dead by every other node within the computed bound', () => {
    const n = 5;
    const bound = detectionBoundMs(n);
    const times: number[] = [];
    for (const seed of SEEDS) {
      const net = new VirtualNet({ seed, nodes: n });
      net.runUntil(5_000);
      const crashAt = net.now;
      net.crash('n3');
      const allDead = () => net.upIds().every((id) => net.view(id, 'n3') === 'dead');
      assert.ok(net.runUntilTrue(allDead, crashAt + bound + 1), `seed ${seed}: not dead everywhere within ${bound} ms: ${net.trace().join('; ')}`);
      for (const id of net.upIds()) {
        const t = net.transitions.find((x) => x.observer === id && x.node === 'n3' && x.to === 'dead');
        assert.ok(t);
        times.push(t.at - crashAt);
      }
      // No survivor was dragged down with it.
      assert.ok(net.transitions.every((x) => x.node === 'n3'), `seed ${seed}: ${net.trace().join('; ')}`);
    }
    times.sort((a, b) => a - b);
    report.push(
      `crash of 1 of ${n}: dead everywhere, per observer over ${SEEDS.length} seeds: min ${times[0]} ms, median ${times[times.length >> 1]} ms, max ${times[times.length - 1]} ms (bound ${bound} ms)`,
    );
  });

  it('a node cut off from one peer only is saved by indirect probes and never suspected', () => {
    for (const seed of SEEDS.slice(0, 10)) {
      const net = new VirtualNet({ seed, nodes: 5 });
      net.runUntil(2_000);
      net.cut('n1', 'n2');
      net.runUntil(62_000);
      assert.deepEqual(net.transitions, [], `seed ${seed}: ${net.trace().join('; ')}`);
      for (const id of net.ids) for (const other of net.ids) if (id !== other) assert.equal(net.view(id, other), 'alive');
      assert.ok(net.node('n1').swim.counters().indirectProbes > 0);
      assert.ok(net.node('n2').swim.counters().indirectProbes > 0);
    }
  });

  it('a suspected node that is alive refutes and ends alive everywhere', () => {
    let refuted = 0;
    for (const seed of SEEDS.slice(0, 10)) {
      const net = new VirtualNet({ seed, nodes: 5 });
      net.runUntil(3_000);
      // Silence n2 just long enough for someone to suspect it, then heal.
      net.isolated.add('n2');
      const suspected = () => net.transitions.some((t) => t.node === 'n2' && t.to === 'suspect');
      assert.ok(net.runUntilTrue(suspected, net.now + 10_000), `seed ${seed}: never suspected`);
      net.isolated.delete('n2');
      net.runUntil(net.now + 30_000);
      const n2 = net.node('n2').swim;
      assert.ok(n2.counters().refutations >= 1, `seed ${seed}: n2 never refuted`);
      assert.ok(n2.incarnation() >= 1);
      assert.ok(!net.transitions.some((t) => t.to === 'dead'), `seed ${seed}: ${net.trace().join('; ')}`);
      for (const id of net.ids) {
        if (id === 'n2') continue;
        const v = net.node(id).swim.member('n2');
        assert.equal(v?.state, 'alive');
        assert.equal(v?.incarnation, n2.incarnation());
      }
      refuted += net.ids.reduce((s, id) => s + net.node(id).swim.counters().falsePositiveRefutes, 0);
    }
    report.push(`short isolation of 1 of 5 (10 seeds): suspected, refuted, ${refuted} suspicions cleared, 0 deaths`);
  });

  it('a crashed node restarted at incarnation 0 comes back alive in every view', () => {
    const times: number[] = [];
    for (const seed of SEEDS.slice(0, 10)) {
      const net = new VirtualNet({ seed, nodes: 5 });
      net.runUntil(3_000);
      net.crash('n4');
      const allDead = () => net.upIds().every((id) => net.view(id, 'n4') === 'dead');
      assert.ok(net.runUntilTrue(allDead, net.now + detectionBoundMs(5)));
      net.runUntil(net.now + 5_000);
      const deadInc = Math.max(...net.upIds().map((id) => net.node(id).swim.member('n4')!.incarnation));
      const restartAt = net.now;
      net.start('n4');
      assert.equal(net.node('n4').swim.incarnation(), 0);
      const allAlive = () => net.ids.every((id) => id === 'n4' || net.view(id, 'n4') === 'alive');
      assert.ok(net.runUntilTrue(allAlive, restartAt + 20_000), `seed ${seed}: ${net.trace().join('; ')}`);
      times.push(net.now - restartAt);
      net.runUntil(net.now + 10_000);
      const n4 = net.node('n4').swim;
      assert.ok(n4.incarnation() > deadInc, `incarnation ${n4.incarnation()} must exceed ${deadInc}`);
      for (const id of net.ids) {
        if (id !== 'n4') assert.equal(net.view(id, 'n4'), 'alive');
        for (const m of net.node(id).swim.members()) assert.equal(m.state, 'alive', `seed ${seed}: ${id} sees ${m.id} ${m.state}`);
      }
    }
    times.sort((a, b) => a - b);
    report.push(`restart at incarnation 0 after being declared dead (10 seeds): alive everywhere after ${times[0]}..${times[times.length - 1]} ms`);
  });

  it('with 10% message loss, seven nodes make no false death over two virtual minutes (20 seeds)', () => {
    let suspicions = 0;
    let refutations = 0;
    let maxHealth = 0;
    for (const seed of SEEDS) {
      const net = new VirtualNet({ seed, nodes: 7, lossRate: 0.1 });
      net.runUntil(120_000);
      const deaths = net.transitions.filter((t) => t.to === 'dead');
      assert.deepEqual(deaths, [], `seed ${seed}: false deaths: ${net.trace().join('; ')}`);
      for (const id of net.ids) {
        const c = net.node(id).swim.counters();
        suspicions += c.suspicions;
        refutations += c.refutations;
        maxHealth = Math.max(maxHealth, net.node(id).swim.healthScore());
        assert.ok(net.node(id).swim.pendingBroadcasts() <= DEFAULT_SWIM_CONFIG.maxBroadcastQueue);
      }
    }
    report.push(`10% loss, 7 nodes, 120 s, 20 seeds: 0 deaths; ${suspicions} suspect transitions across all views, answered by ${refutations} refutations; final health score max ${maxHealth}`);
  });

  it('a healed full partition reunites both sides (dead members are still pinged)', () => {
    const net = new VirtualNet({ seed: 3, nodes: 5 });
    net.runUntil(2_000);
    for (const a of ['n1', 'n2']) for (const b of ['n3', 'n4', 'n5']) net.cut(a, b);
    const split = () => ['n1', 'n2'].every((a) => ['n3', 'n4', 'n5'].every((b) => net.view(a, b) === 'dead' && net.view(b, a) === 'dead'));
    assert.ok(net.runUntilTrue(split, net.now + 60_000), net.trace().join('; '));
    for (const a of ['n1', 'n2']) for (const b of ['n3', 'n4', 'n5']) net.heal(a, b);
    const healed = () => net.ids.every((a) => net.ids.every((b) => a === b || net.view(a, b) === 'alive'));
    const healAt = net.now;
    assert.ok(net.runUntilTrue(healed, healAt + 30_000), net.trace().slice(-20).join('; '));
    report.push(`2|3 partition healed: everyone alive again after ${net.now - healAt} ms`);
  });

  it('a member that leaves is marked left everywhere and never suspected', () => {
    const net = new VirtualNet({ seed: 5, nodes: 5 });
    net.runUntil(3_000);
    net.node('n5').driver.leave();
    net.runUntil(3_100);
    net.crash('n5');
    net.runUntil(30_000);
    for (const id of net.upIds()) assert.equal(net.view(id, 'n5'), 'left');
    assert.ok(!net.transitions.some((t) => t.node === 'n5' && (t.to === 'suspect' || t.to === 'dead')), net.trace().join('; '));
  });

  it('the same seed replays the same trace, and another seed does not', () => {
    const run = (seed: number) => {
      const net = new VirtualNet({ seed, nodes: 6, lossRate: 0.15, latencyMaxMs: 60 });
      net.runUntil(10_000);
      net.crash('n2');
      net.runUntil(40_000);
      net.start('n2');
      net.runUntil(70_000);
      const counters = net.ids.map((id) => JSON.stringify(net.node(id).swim.counters()));
      return [...net.trace(), ...counters, `delivered=${net.delivered} dropped=${net.dropped}`];
    };
    const a = run(11);
    assert.ok(a.length > 10);
    assert.deepEqual(run(11), a);
    assert.notDeepEqual(run(12), a);
  });
});
