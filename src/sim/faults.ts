// Fault workloads (FoundationDB's "clogging", "swizzle", machine kills),
// drawn from the seed and applied to the production MemoryNetwork.
//
// MemoryNetwork already does loss, duplication, latency (reordering through
// jitter) and crash/restart. What it lacks, this file adds through its
// per-message filter, without touching src/transport/:
// - links cut and restored one direction at a time (its heal(a, b) heals
//   both directions, so a one-way cut could not be undone alone);
// - slow nodes (extra latency on everything a node sends or receives);
// - stragglers (some copies of replica data a node sends held for seconds);
// - a trace line for every message sent, for replay and failure reports.

import type { Message } from '../transport/messages.js';
import type { FaultAction, MemoryNetwork } from '../transport/memory.js';
import { SeededRandom, type Random } from '../util/runtime.js';
import type { NodeId } from '../version/dvv.js';
import type { FaultMix, RunConfig } from './config.js';
import type { Scheduler } from './scheduler.js';

/** Link cuts and slow nodes, consulted for every message. */
export class LinkControl {
  private readonly cut = new Set<string>();
  private readonly slow = new Map<NodeId, number>();
  private readonly stragglers = new Map<NodeId, Straggling>();

  constructor(private readonly sched: Scheduler) {}

  install(net: MemoryNetwork): void {
    net.setFilter((from, to, msg) => this.decide(from, to, msg));
  }

  cutLink(from: NodeId, to: NodeId): void {
    this.cut.add(`${from}>${to}`);
  }

  restoreLink(from: NodeId, to: NodeId): void {
    this.cut.delete(`${from}>${to}`);
  }

  isCut(from: NodeId, to: NodeId): boolean {
    return this.cut.has(`${from}>${to}`);
  }

  setSlow(node: NodeId, extraMs: number): void {
    if (extraMs > 0) this.slow.set(node, extraMs);
    else this.slow.delete(node);
  }

  setStraggler(node: NodeId, s: Straggling | undefined): void {
    if (s !== undefined) this.stragglers.set(node, s);
    else this.stragglers.delete(node);
  }

  /** Extra latency slow nodes add to a message from `from` to `to`. */
  extraDelayMs(from: NodeId, to: NodeId): number {
    return (this.slow.get(from) ?? 0) + (this.slow.get(to) ?? 0);
  }

  healAll(): void {
    this.cut.clear();
    this.slow.clear();
    // Messages already held stay held: they arrive during healing, as late copies do.
    this.stragglers.clear();
  }

  get cutCount(): number {
    return this.cut.size;
  }

  private decide(from: NodeId, to: NodeId, msg: Message): FaultAction {
    const what = describeMessage(msg);
    if (this.cut.has(`${from}>${to}`)) {
      this.sched.note(`${from}>${to} ${what} dropped (link cut)`);
      return 'drop';
    }
    const extra = this.extraDelayMs(from, to);
    const s = this.stragglers.get(from);
    if (s !== undefined && (msg.type === 'putReplica' || msg.type === 'aePush') && s.random.next() < s.p) {
      // Stalled, not slow: the request keeps its whole deadline budget, as a
      // gRPC request stuck in a buffer does, so it is served when it lands.
      const held = s.minMs + s.random.int(s.maxMs - s.minMs);
      this.sched.note(`${from}>${to} ${what} held ${held}ms (straggler)`);
      return { delayMs: extra + held, stalled: true };
    }
    this.sched.note(`${from}>${to} ${what}`);
    return extra > 0 ? { delayMs: extra } : 'pass';
  }
}

/** A node some of whose copies of replica data are held: with probability p, for minMs..maxMs. */
export interface Straggling {
  readonly p: number;
  readonly minMs: number;
  readonly maxMs: number;
  /** Its own stream, drawn once per message it could hold. */
  readonly random: Random;
}

function describeMessage(msg: Message): string {
  switch (msg.type) {
    case 'putOrigin':
      return `putOrigin ${msg.key} ${msg.value === null ? 'del' : 'val'}${msg.hintFor !== null ? ' hint:' + msg.hintFor : ''}`;
    case 'putReplica':
      return `putReplica ${msg.key} [${msg.set.siblings.map((s) => `${s.dot.node}:${s.dot.counter}`).join(',')}]${msg.hintFor !== null ? ' hint:' + msg.hintFor : ''}`;
    case 'get':
      return `get ${msg.key}`;
    case 'putOk':
      return `putOk [${msg.set.siblings.map((s) => `${s.dot.node}:${s.dot.counter}`).join(',')}]`;
    case 'getOk':
      return `getOk [${msg.set === null ? '-' : msg.set.siblings.map((s) => `${s.dot.node}:${s.dot.counter}`).join(',')}]`;
    case 'error':
      return `error ${msg.code}`;
    default:
      return msg.type;
  }
}

/** What the fault driver needs from the world. */
export interface FaultTarget {
  readonly nodeIds: readonly NodeId[];
  readonly links: LinkControl;
  isUp(node: NodeId): boolean;
  crash(node: NodeId): void;
  restart(node: NodeId): void;
  setDiskDelay(node: NodeId, ms: number): void;
  /** Crashes the node as soon as it starts a store write (so that the write is lost in flight), then calls `then`. */
  crashMidWrite(node: NodeId, then: () => void): void;
}

/**
 * Injects faults during the safety phase: every few hundred ms of virtual
 * time it picks one enabled fault, applies it, and schedules its undoing.
 * `stop()` ends injection; the world then heals everything at once.
 */
export class FaultDriver {
  private running = false;
  private readonly kinds: string[] = [];
  private active = 0;

  constructor(
    private readonly sched: Scheduler,
    private readonly random: Random,
    private readonly mix: FaultMix,
    private readonly target: FaultTarget,
  ) {
    if (mix.partitions) this.kinds.push('partition');
    if (mix.oneWay) this.kinds.push('oneWay');
    if (mix.swizzle) this.kinds.push('swizzle');
    if (mix.crashes) this.kinds.push('crash', 'crash');
    if (mix.slowNodes) this.kinds.push('slow');
    if (mix.slowDisks) this.kinds.push('slowDisk');
    if (mix.stragglers) this.kinds.push('straggle');
  }

  start(): void {
    if (this.kinds.length === 0) return;
    this.running = true;
    this.next();
  }

  stop(): void {
    this.running = false;
  }

  private next(): void {
    if (!this.running) return;
    this.sched.schedule(50 + this.random.int(800), '', () => {
      if (!this.running) return;
      // Bound concurrent faults so that the cluster is sometimes whole.
      if (this.active < 3) this.inject(this.kinds[this.random.int(this.kinds.length)] as string);
      this.next();
    });
  }

  /** Runs `undo` after a random hold, unless faults were stopped meanwhile (healing undoes everything). */
  private later(holdMs: number, label: string, undo: () => void): void {
    this.active++;
    this.sched.schedule(holdMs, '', () => {
      this.active--;
      if (!this.running) return;
      this.sched.note(label);
      undo();
    });
  }

  private inject(kind: string): void {
    const { nodeIds, links } = this.target;
    const r = this.random;
    const hold = () => 100 + r.int(3000);
    switch (kind) {
      case 'partition': {
        // Two random sides, both directions cut.
        const side = nodeIds.filter(() => r.next() < 0.5);
        if (side.length === 0 || side.length === nodeIds.length) return;
        const other = nodeIds.filter((n) => !side.includes(n));
        this.sched.note(`FAULT partition [${side.join(',')}] | [${other.join(',')}]`);
        for (const a of side) {
          for (const b of other) {
            links.cutLink(a, b);
            links.cutLink(b, a);
          }
        }
        this.later(hold(), 'FAULT heal partition', () => {
          for (const a of side) {
            for (const b of other) {
              links.restoreLink(a, b);
              links.restoreLink(b, a);
            }
          }
        });
        return;
      }
      case 'oneWay': {
        const a = nodeIds[r.int(nodeIds.length)] as NodeId;
        const others = nodeIds.filter((n) => n !== a && r.next() < 0.6);
        if (others.length === 0) return;
        const inbound = r.next() < 0.5;
        this.sched.note(`FAULT one-way ${inbound ? `[${others.join(',')}] -/-> ${a}` : `${a} -/-> [${others.join(',')}]`}`);
        for (const b of others) {
          if (inbound) links.cutLink(b, a);
          else links.cutLink(a, b);
        }
        this.later(hold(), 'FAULT heal one-way', () => {
          for (const b of others) {
            if (inbound) links.restoreLink(b, a);
            else links.restoreLink(a, b);
          }
        });
        return;
      }
      case 'swizzle': {
        // Cut a random subset of directed links one by one, then restore
        // them one by one in a different random order.
        const all: [NodeId, NodeId][] = [];
        for (const a of nodeIds) for (const b of nodeIds) if (a !== b && r.next() < 0.4) all.push([a, b]);
        if (all.length === 0) return;
        const stepMs = 20 + r.int(200);
        this.sched.note(`FAULT swizzle ${all.length} links every ${stepMs}ms`);
        all.forEach(([a, b], i) =>
          this.sched.schedule(stepMs * i, '', () => {
            if (!this.running) return;
            this.sched.note(`FAULT swizzle cut ${a}>${b}`);
            links.cutLink(a, b);
          }),
        );
        const order = shuffled(all, r);
        const start = stepMs * all.length + hold();
        this.active++;
        order.forEach(([a, b], i) =>
          this.sched.schedule(start + stepMs * i, '', () => {
            if (i === order.length - 1) this.active--;
            if (!this.running) return;
            this.sched.note(`FAULT swizzle restore ${a}>${b}`);
            links.restoreLink(a, b);
          }),
        );
        return;
      }
      case 'crash': {
        const up = nodeIds.filter((n) => this.target.isUp(n));
        // Keep at least one node up so that the workload sometimes proceeds.
        if (up.length <= 1) return;
        const node = up[r.int(up.length)] as NodeId;
        // Sometimes long enough for gossip to declare the node dead.
        const downMs = r.next() < 0.3 ? 3000 + r.int(8000) : hold();
        const restart = (): void => this.later(downMs, `FAULT restart ${node}`, () => this.target.restart(node));
        // Half the crashes wait for the node's next store write, so that
        // writes shipped before their origin's own commit are lost there
        // (coordinator/origin.ts).
        if (r.next() < 0.5) {
          this.sched.note(`FAULT crash ${node} at its next write`);
          this.target.crashMidWrite(node, restart);
          return;
        }
        this.sched.note(`FAULT crash ${node}`);
        this.target.crash(node);
        restart();
        return;
      }
      case 'slowDisk': {
        const node = nodeIds[r.int(nodeIds.length)] as NodeId;
        const extra = 5 + r.int(400);
        this.sched.note(`FAULT slow disk ${node} +${extra}ms per update`);
        this.target.setDiskDelay(node, extra);
        this.later(hold(), `FAULT disk ok ${node}`, () => this.target.setDiskDelay(node, 0));
        return;
      }
      case 'straggle': {
        const node = nodeIds[r.int(nodeIds.length)] as NodeId;
        const s: Straggling = { p: 0.2 + r.next() * 0.5, minMs: 1000, maxMs: 2000 + r.int(60_000), random: new SeededRandom(r.int(2 ** 31)) };
        this.sched.note(`FAULT straggler ${node}: ${Math.round(s.p * 100)}% of copies held ${s.minMs}..${s.maxMs}ms`);
        links.setStraggler(node, s);
        this.later(hold(), `FAULT straggler ${node} done`, () => links.setStraggler(node, undefined));
        return;
      }
      case 'slow': {
        const node = nodeIds[r.int(nodeIds.length)] as NodeId;
        const extra = 20 + r.int(800);
        this.sched.note(`FAULT slow ${node} +${extra}ms`);
        links.setSlow(node, extra);
        this.later(hold(), `FAULT fast ${node}`, () => links.setSlow(node, 0));
        return;
      }
    }
  }
}

function shuffled<T>(items: readonly T[], random: Random): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** Per-node clock offsets and rates drawn from the mix. */
export function drawClocks(config: RunConfig, random: Random): { skewMs: number; rate: number }[] {
  const out: { skewMs: number; rate: number }[] = [];
  for (let i = 0; i < config.nodes; i++) {
    const skewMs = config.faults.skewMs > 0 ? (random.next() * 2 - 1) * config.faults.skewMs : 0;
    const rate = config.faults.driftMax > 0 ? 1 + (random.next() * 2 - 1) * config.faults.driftMax : 1;
    out.push({ skewMs, rate });
  }
  return out;
}
