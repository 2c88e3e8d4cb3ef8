// An in-memory network for simulation and tests: every node's transport
// lives in one process, time is an injected Clock and chance an injected
// Random, so a run is a pure function of the seed and the clock's schedule.
//
// Each message (request or response) is structurally cloned when it is sent
// (nodes never share mutable objects) and delivered after a latency drawn
// uniformly from [minLatencyMs, maxLatencyMs]. Faults:
//   - partition(a, b, oneWay?): messages a→b (and b→a unless oneWay) vanish;
//   - setDropRate(p) / setDuplicateRate(p): each message is lost / delivered
//     twice with probability p;
//   - setFilter(f): per-message drop or extra delay, as in the gRPC transport;
//   - crash(node): the node stops answering; requests in flight to it, and
//     answers its handlers were still computing, are lost (their senders time
//     out); new requests to it fail 'unreachable' after one latency (the
//     connection is refused); requests from it fail 'unreachable' at once;
//   - restart(node): it answers again (with its handler, unless serve() is
//     called with a new one). Messages sent before the crash never arrive.

import type { Clock, Random, Timer } from '../util/runtime.js';
import type { NodeId } from '../version/dvv.js';
import { RESPONSE_TYPE, type Message, type Request, type Response, type ResponseFor } from './messages.js';
import { TransportError, type Handler, type Transport } from './transport.js';
import type { FaultAction } from './fault-filter.js';
import { errorCode, errorMessage } from '../util/errors.js';

export type { FaultAction };
/** Decides the fate of one message from `from` to `to`. */
export type NetworkFilter = (from: NodeId, to: NodeId, msg: Message) => FaultAction;

export interface MemoryNetworkOptions {
  readonly clock: Clock;
  readonly random: Random;
  /** Default 1 ms. */
  readonly minLatencyMs?: number;
  /** Default 5 ms. */
  readonly maxLatencyMs?: number;
}

export interface NetworkStats {
  sent: number;
  delivered: number;
  dropped: number;
  duplicated: number;
}

interface NodeState {
  transport: MemoryTransport | undefined;
  crashed: boolean;
  /** Bumped on every crash and restart: messages from an older epoch are lost. */
  epoch: number;
}

interface PendingM {
  readonly to: NodeId;
  readonly type: Request['type'];
  readonly resolve: (r: Response) => void;
  readonly reject: (e: TransportError) => void;
  readonly timer: Timer;
}


export class MemoryNetwork {
  readonly clock: Clock;
  private readonly random: Random;
  private minLatency: number;
  private maxLatency: number;
  private dropRate = 0;
  private duplicateRate = 0;
  private filter: NetworkFilter | undefined;
  private readonly nodes = new Map<NodeId, NodeState>();
  /** "a\u0000b": messages from a to b are lost. */
  private readonly cut = new Set<string>();
  readonly stats: NetworkStats = { sent: 0, delivered: 0, dropped: 0, duplicated: 0 };

  constructor(opts: MemoryNetworkOptions) {
    this.clock = opts.clock;
    this.random = opts.random;
    this.minLatency = opts.minLatencyMs ?? 1;
    this.maxLatency = opts.maxLatencyMs ?? 5;
  }

  /** The transport of `self` (a new one if it has none or its last was closed). */
  transport(self: NodeId): MemoryTransport {
    const st = this.state(self);
    if (st.transport === undefined || st.transport.isClosed) st.transport = new MemoryTransport(this, self);
    return st.transport;
  }

  // ---------------------------------------------------------------- faults

  partition(a: NodeId, b: NodeId, oneWay = false): void {
    this.cut.add(linkKey(a, b));
    if (!oneWay) this.cut.add(linkKey(b, a));
  }

  /** heal(): every link; heal(a): every link of a; heal(a, b): both directions between a and b. */
  heal(a?: NodeId, b?: NodeId): void {
    if (a === undefined) {
      this.cut.clear();
      return;
    }
    if (b !== undefined) {
      this.cut.delete(linkKey(a, b));
      this.cut.delete(linkKey(b, a));
      return;
    }
    for (const k of [...this.cut]) {
      const [x, y] = k.split('\u0000');
      if (x === a || y === a) this.cut.delete(k);
    }
  }

  isPartitioned(from: NodeId, to: NodeId): boolean {
    return this.cut.has(linkKey(from, to));
  }

  setDropRate(p: number): void {
    this.dropRate = p;
  }

  setDuplicateRate(p: number): void {
    this.duplicateRate = p;
  }

  setLatency(minMs: number, maxMs: number): void {
    this.minLatency = minMs;
    this.maxLatency = Math.max(minMs, maxMs);
  }

  setFilter(filter: NetworkFilter | undefined): void {
    this.filter = filter;
  }

  crash(node: NodeId): void {
    const st = this.state(node);
    st.crashed = true;
    st.epoch++;
  }

  restart(node: NodeId): void {
    const st = this.state(node);
    st.crashed = false;
    st.epoch++;
  }

  isCrashed(node: NodeId): boolean {
    return this.nodes.get(node)?.crashed ?? false;
  }

  /** A node is up: it has an open transport and is not crashed. */
  isUp(node: NodeId): boolean {
    const st = this.nodes.get(node);
    return st !== undefined && !st.crashed && st.transport !== undefined && !st.transport.isClosed;
  }

  // ---------------------------------------------------------------- delivery (internal)

  /** @internal A transport closed: its process is gone, answers to its requests must not reach a successor. */
  closed(node: NodeId): void {
    this.state(node).epoch++;
  }

  /** @internal */
  epochOf(node: NodeId): number {
    return this.state(node).epoch;
  }

  /** @internal Sends a request; calls `refused` (after a latency) when `to` is down. */
  sendRequest(from: NodeId, to: NodeId, id: number, req: Request, deadlineMs: number, refused: () => void): void {
    const fromEpoch = this.state(from).epoch;
    if (!this.isUp(to) && !this.cut.has(linkKey(from, to))) {
      // Connection refused: certainly not delivered.
      const latency = this.latency();
      this.clock.setTimer(latency, () => {
        if (this.isAlive(from, fromEpoch)) refused();
      });
      return;
    }
    if (!this.isUp(to)) {
      this.stats.sent++;
      this.stats.dropped++; // down and cut off: not even a refusal comes back
      return;
    }
    const toEpoch = this.state(to).epoch;
    const sentAt = this.clock.now();
    this.transmit(from, to, req, (copy, stalledMs) => {
      if (!this.isAlive(to, toEpoch)) return false;
      const budget = deadlineMs - (this.clock.now() - sentAt - stalledMs);
      this.state(to).transport!.receive(from, id, copy as Request, budget, fromEpoch);
      return true;
    }, req.type !== 'swim' && req.type !== 'ping' && req.type !== 'raft');
  }

  /** @internal Sends a response back to the requester (if both are still the same incarnations). */
  sendResponse(from: NodeId, fromEpoch: number, to: NodeId, toEpoch: number, id: number, resp: Response): void {
    if (!this.isAlive(from, fromEpoch)) return; // the answering node crashed meanwhile
    this.transmit(from, to, resp, (copy) => {
      if (!this.isAlive(to, toEpoch)) return false;
      this.state(to).transport!.onResponse(id, copy as Response);
      return true;
    });
  }

  /** The one place every message passes: faults, duplication, latency, cloning. */
  /**
   * Requests other than failure detection's that are on the wire now: a
   * simulation has not converged while a write is still travelling to a
   * replica (an unacknowledged write may land after the final check).
   */
  dataInFlight = 0;

  private transmit(from: NodeId, to: NodeId, msg: Message, deliver: (copy: Message, stalledMs: number) => boolean, data = false): void {
    this.stats.sent++;
    let extraDelay = 0;
    let stalledMs = 0;
    if (this.filter !== undefined) {
      const action = this.filter(from, to, msg);
      if (action === 'drop') {
        this.stats.dropped++;
        return;
      }
      if (action !== 'pass') {
        extraDelay = Math.max(0, action.delayMs);
        if (action.stalled === true) stalledMs = extraDelay;
      }
    }
    if (this.cut.has(linkKey(from, to))) {
      this.stats.dropped++;
      return;
    }
    if (this.dropRate > 0 && this.random.next() < this.dropRate) {
      this.stats.dropped++;
      return;
    }
    let copies = 1;
    if (this.duplicateRate > 0 && this.random.next() < this.duplicateRate) {
      copies = 2;
      this.stats.duplicated++;
    }
    for (let i = 0; i < copies; i++) {
      const copy = structuredClone(msg);
      if (data) this.dataInFlight++;
      this.clock.setTimer(this.latency() + extraDelay, () => {
        if (data) this.dataInFlight--;
        if (deliver(copy, stalledMs)) this.stats.delivered++;
        else this.stats.dropped++;
      });
    }
  }

  private latency(): number {
    if (this.maxLatency <= this.minLatency) return this.minLatency;
    return this.minLatency + this.random.next() * (this.maxLatency - this.minLatency);
  }

  private isAlive(node: NodeId, epoch: number): boolean {
    const st = this.nodes.get(node);
    return st !== undefined && !st.crashed && st.epoch === epoch && st.transport !== undefined && !st.transport.isClosed;
  }

  private state(node: NodeId): NodeState {
    let st = this.nodes.get(node);
    if (st === undefined) {
      st = { transport: undefined, crashed: false, epoch: 0 };
      this.nodes.set(node, st);
    }
    return st;
  }
}

function linkKey(from: NodeId, to: NodeId): string {
  return `${from}\u0000${to}`;
}

export class MemoryTransport implements Transport {
  private handler: Handler | undefined;
  private closed = false;
  private nextId = 1;
  private readonly pending = new Map<number, PendingM>();

  /** @internal use MemoryNetwork.transport */
  constructor(
    private readonly net: MemoryNetwork,
    readonly self: NodeId,
  ) {}

  get isClosed(): boolean {
    return this.closed;
  }

  serve(handler: Handler): void {
    this.handler = handler;
  }

  /** Hint, as in the gRPC transport: `node` is up and not cut off from this one. */
  reachable(node: NodeId): boolean {
    if (this.closed || this.net.isCrashed(this.self)) return false;
    if (node === this.self) return true;
    return this.net.isUp(node) && !this.net.isPartitioned(this.self, node);
  }

  request<R extends Request>(to: NodeId, req: R, deadlineMs: number): Promise<ResponseFor[R['type']]> {
    return new Promise<Response>((resolve, reject) => {
      const fail = (kind: TransportError['kind'], message: string, code?: string): void =>
        reject(new TransportError(kind, to, message, code));
      if (this.closed) return fail('unreachable', 'transport closed');
      if (this.net.isCrashed(this.self)) return fail('unreachable', `${this.self} is crashed`);
      if (to === this.self) return this.requestLocal(req, deadlineMs, resolve, fail);
      const id = this.nextId++;
      const timer = this.net.clock.setTimer(Math.max(0, deadlineMs), () => {
        if (this.pending.delete(id)) fail('timeout', `request ${req.type} to ${to} timed out`);
      });
      this.pending.set(id, { to, type: req.type, resolve, reject, timer });
      this.net.sendRequest(this.self, to, id, req, deadlineMs, () => {
        const p = this.pending.get(id);
        if (p === undefined) return;
        this.pending.delete(id);
        p.timer.cancel();
        fail('unreachable', `${to} refused the connection (down)`);
      });
    }) as Promise<ResponseFor[R['type']]>;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.net.closed(this.self);
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.timer.cancel();
      p.reject(new TransportError('timeout', p.to, 'transport closed with the request in flight'));
    }
  }

  private requestLocal(
    req: Request,
    deadlineMs: number,
    resolve: (r: Response) => void,
    fail: (kind: TransportError['kind'], message: string, code?: string) => void,
  ): void {
    const handler = this.handler;
    if (handler === undefined) return fail('remote', `${this.self} is not serving`, 'NotServing');
    let done = false;
    const timer = this.net.clock.setTimer(Math.max(0, deadlineMs), () => {
      if (done) return;
      done = true;
      fail('timeout', `request ${req.type} to ${this.self} (self) timed out`);
    });
    this.runHandler(handler, this.self, req).then((resp) => {
      if (done) return;
      done = true;
      timer.cancel();
      if (resp.type === 'error') fail('remote', resp.message, resp.code);
      else resolve(resp);
    });
  }

  /** Never rejects: a throwing handler becomes an ErrorResp. */
  private runHandler(handler: Handler, from: NodeId, req: Request): Promise<Response> {
    let result: Promise<Response>;
    try {
      result = handler(from, req);
    } catch (err) {
      result = Promise.reject(err);
    }
    return result.then(
      (resp) => resp,
      (err: unknown): Response => ({ type: 'error', code: errorCode(err), message: errorMessage(err) }),
    );
  }

  /** @internal A request arrived from the network. */
  receive(from: NodeId, id: number, req: Request, budgetMs: number, fromEpoch: number): void {
    const myEpoch = this.net.epochOf(this.self);
    const answer = (resp: Response): void => this.net.sendResponse(this.self, myEpoch, from, fromEpoch, id, resp);
    if (budgetMs <= 0) return; // expired in transit: skip the work
    const handler = this.handler;
    if (handler === undefined) return answer({ type: 'error', code: 'NotServing', message: `${this.self} is not serving` });
    void this.runHandler(handler, from, req).then(answer);
  }

  /** @internal A response arrived from the network. */
  onResponse(id: number, resp: Response): void {
    const p = this.pending.get(id);
    if (p === undefined) return; // late or duplicate
    this.pending.delete(id);
    p.timer.cancel();
    if (resp.type === 'error') p.reject(new TransportError('remote', p.to, resp.message, resp.code));
    else if (resp.type !== RESPONSE_TYPE[p.type]) {
      p.reject(new TransportError('remote', p.to, `${p.to} answered ${p.type} with ${resp.type}`, 'BadResponse'));
    } else p.resolve(resp);
  }
}
