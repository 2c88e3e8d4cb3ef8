// Dev-only fault injection (README, "Fault injection"): drop or delay the traffic
// between this node and chosen peers, in one direction or both, and heal it,
// for tests and demos on real processes. Off unless the node was started
// with --faults (RINGSTORE_FAULTS=1); the HTTP switch answers 403 otherwise.
//
// Where it acts, so that every inter-node message (coordinator requests,
// SWIM packets, handoff, anti-entropy) meets the same fate:
//   out  (this node -> peer): the gRPC transport's fault filter, which sees
//        every request and every response this node sends;
//   in   (peer -> this node): the request handler (requests from the peer
//        are not handled and not answered) and the request path (answers
//        from the peer are ignored, so the request times out as it would).
// A dropped request therefore always looks like a lost packet to its
// sender: a timeout, never an error.

import type { FaultDirection, FaultSpec, FaultSwitch } from '../api/faults.js';
import type { FaultAction, FaultFilter } from '../transport/grpc.js';
import type { Message } from '../transport/codec.js';
import type { Request, ResponseFor } from '../transport/messages.js';
import { TransportError, type Handler, type RequestOptions, type Transport } from '../transport/transport.js';
import type { NodeId } from '../version/dvv.js';

/** The error code of a request dropped on arrival; its answer is dropped on the way out. */
const DROPPED = 'FaultDropped';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class FaultInjector implements FaultSwitch {
  private drop = new Set<NodeId>();
  private delay = new Set<NodeId>();
  private delayMs = 0;
  private direction: FaultDirection = 'both';
  /** Messages dropped and delayed since start, for /_faults. */
  readonly stats = { dropped: 0, delayed: 0 };

  constructor(readonly self: NodeId) {}

  /** Replaces the rules. Throws RangeError on a malformed spec. */
  set(spec: FaultSpec): void {
    const direction = spec.direction ?? 'both';
    if (direction !== 'both' && direction !== 'in' && direction !== 'out') throw new RangeError('direction must be "both", "in" or "out"');
    const ids = (v: unknown, name: string): Set<NodeId> => {
      if (v === undefined) return new Set();
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && x !== '')) throw new RangeError(`${name} must be a list of node ids`);
      return new Set(v as NodeId[]);
    };
    const drop = ids(spec.drop, 'drop');
    const delay = ids(spec.delay, 'delay');
    const delayMs = spec.delayMs ?? 0;
    if (!(Number.isFinite(delayMs) && delayMs >= 0 && delayMs <= 600_000)) throw new RangeError('delayMs must be a number of milliseconds from 0 to 600000');
    if (delay.size > 0 && delayMs === 0) throw new RangeError('delay needs delayMs > 0');
    this.drop = drop;
    this.delay = delay;
    this.delayMs = delayMs;
    this.direction = direction;
  }

  clear(): void {
    this.set({});
  }

  describe(): Required<FaultSpec> & { stats: { dropped: number; delayed: number } } {
    return { drop: [...this.drop].sort(), delay: [...this.delay].sort(), delayMs: this.delayMs, direction: this.direction, stats: { ...this.stats } };
  }

  /** The fate of traffic with `peer` in direction `dir`. */
  verdict(peer: NodeId, dir: 'in' | 'out'): FaultAction {
    if (peer === this.self || (this.direction !== 'both' && this.direction !== dir)) return 'pass';
    if (this.drop.has(peer)) return 'drop';
    if (this.delay.has(peer)) return { delayMs: this.delayMs };
    return 'pass';
  }

  /** For the gRPC transport's `faults` option: everything this node sends. */
  readonly outgoing: FaultFilter = (to: NodeId, msg: Message): FaultAction => {
    // A request wrapHandler dropped (and already counted) must go unanswered.
    if (msg.type === 'error' && msg.code === DROPPED) return 'drop';
    const v = this.verdict(to, 'out');
    this.count(v);
    return v;
  };

  /** Wraps the request handler: requests arriving from a cut peer are neither handled nor answered. */
  wrapHandler(handler: Handler): Handler {
    return async (from, req) => {
      const v = this.verdict(from, 'in');
      this.count(v);
      if (v === 'drop') throw Object.assign(new Error('dropped by fault injection'), { code: DROPPED });
      if (v !== 'pass') await sleep(v.delayMs);
      return handler(from, req);
    };
  }

  /** Wraps the transport's request path: answers arriving from a cut peer are lost, so the request times out. */
  wrapTransport(inner: Transport): Transport {
    const request = <R extends Request>(to: NodeId, req: R, deadlineMs: number, opts?: RequestOptions): Promise<ResponseFor[R['type']]> => {
      const deadlineAt = Date.now() + deadlineMs;
      const arrive = async <T>(settle: () => T): Promise<T> => {
        const v = this.verdict(to, 'in');
        this.count(v);
        const left = deadlineAt - Date.now();
        if (v === 'drop') {
          await sleep(Math.max(0, left));
          throw new TransportError('timeout', to, `request ${req.type} to ${to} timed out (answer dropped by fault injection)`);
        }
        if (v !== 'pass') {
          if (v.delayMs >= left) {
            await sleep(Math.max(0, left));
            throw new TransportError('timeout', to, `request ${req.type} to ${to} timed out (answer delayed by fault injection)`);
          }
          await sleep(v.delayMs);
        }
        return settle();
      };
      return inner.request(to, req, deadlineMs, opts).then(
        (resp) => arrive(() => resp),
        (err: unknown) =>
          arrive(() => {
            throw err;
          }),
      );
    };
    return {
      self: inner.self,
      request,
      serve: (handler) => inner.serve(this.wrapHandler(handler)),
      close: () => inner.close(),
    };
  }

  private count(v: FaultAction): void {
    if (v === 'drop') this.stats.dropped++;
    else if (v !== 'pass') this.stats.delayed++;
  }
}
