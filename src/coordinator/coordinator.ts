// A request's life (Dynamo §4.5): preference list -> fan-out -> wait for W
// or R -> reconcile -> read repair -> answer. Any node coordinates any
// request. The same object is also the replica-side handler of the
// inter-node protocol, since both sides share the store and the ring.
//
// The parts live in files named for them: write.ts (the write path and its
// origin), read.ts (reads and read repair), list.ts (bucket listings),
// replica.ts (the replica side), origin.ts (minting before the commit), hint-table.ts (hinted writes kept here),
// targets.ts (sloppy-quorum replica choice), quorum.ts (N, R, W).

import type { GetRequest, GetResult, ListRequest, ListResult, PutRequest, PutResult } from './types.js';
import { DEFAULT_COORDINATOR_CONFIG, type CoordinatorDeps, type CoordinatorEnv } from './deps.js';
import { HintTable } from './hint-table.js';
import { write } from './write.js';
import { Reader } from './read.js';
import { list } from './list.js';
import { ReplicaSide } from './replica.js';
import { Origin } from './origin.js';
import type { Handler } from '../transport/transport.js';
import { TransportError } from '../transport/transport.js';
import type { Request, ResponseFor } from '../transport/messages.js';
import type { NodeId } from '../version/dvv.js';
import { replicaDeadlineMs } from './deadline.js';

export { DEFAULT_COORDINATOR_CONFIG, type CoordinatorBugs, type CoordinatorConfig, type CoordinatorDeps, type CoordinatorEvents, type HintDeps } from './deps.js';
export { HintsFullError } from './hint-table.js';

export class Coordinator {
  readonly self: NodeId;
  private readonly env: CoordinatorEnv;
  private readonly hints: HintTable;
  private readonly reader: Reader;
  private readonly replica: ReplicaSide;
  private readonly origin: Origin;

  constructor(deps: CoordinatorDeps) {
    this.self = deps.self;
    const config = { ...DEFAULT_COORDINATOR_CONFIG, ...deps.config };
    this.env = { self: deps.self, deps, config, call: (node, req) => this.call(node, req) };
    this.hints = new HintTable(this.env);
    this.reader = new Reader(this.env);
    this.origin = new Origin(this.env);
    this.replica = new ReplicaSide(this.env, this.hints, this.origin);
  }

  /** Writes in flight by the layout version they were routed with (quietBefore). */
  private readonly writesByVersion = new Map<number, number>();

  /** A write (or, with a null value, a delete) of one key (write.ts). */
  put(req: PutRequest): Promise<PutResult> {
    const v = this.env.deps.ring().version;
    // A ring fixed at start (version 0) never changes: nothing to track.
    if (v === 0) return write(this.env, this.hints, this.replica, req);
    this.writesByVersion.set(v, (this.writesByVersion.get(v) ?? 0) + 1);
    return write(this.env, this.hints, this.replica, req).finally(() => {
      const k = (this.writesByVersion.get(v) ?? 1) - 1;
      if (k === 0) this.writesByVersion.delete(v);
      else this.writesByVersion.set(v, k);
    });
  }

  /**
   * No write this node coordinates was routed with a layout version older
   * than v: what a node must know before it reports having seen v, since
   * such a write may skip v's owners (docs/layout.md).
   */
  quietBefore(v: number): boolean {
    for (const [version, k] of this.writesByVersion) if (version < v && k > 0) return false;
    return true;
  }

  /** A read of one key, with read repair after the answer (read.ts). */
  get(req: GetRequest): Promise<GetResult> {
    return this.reader.get(req);
  }

  /** Live keys of a bucket across the cluster, in key order (list.ts). */
  list(req: ListRequest): Promise<ListResult> {
    return list(this.env, req);
  }

  /** The replica side: serves another coordinator's requests (replica.ts). */
  readonly handle: Handler = async (from: NodeId, req: Request): Promise<ResponseFor[Request['type']]> => {
    return (await this.replica.serve(from, req)) as ResponseFor[Request['type']];
  };

  private async call<R extends Request>(node: NodeId, req: R): Promise<ResponseFor[R['type']]> {
    const { transport, liveness } = this.env.deps;
    try {
      const resp = await transport.request(node, req, replicaDeadlineMs(this.env.config, req));
      if (node !== this.self) liveness.reportSuccess(node);
      return resp;
    } catch (err) {
      if (err instanceof TransportError && err.kind !== 'remote' && node !== this.self) liveness.reportFailure(node, err.kind);
      throw err;
    }
  }
}
