// What protocol code needs from the network. Implemented by gRPC (grpc.ts)
// for real nodes and by an in-memory network (memory.ts) for simulation;
// both run the same compliance tests.

import type { NodeId } from '../version/dvv.js';
import type { Request, ResponseFor } from './messages.js';
import { errorFromWire, type RingstoreError } from '../util/errors.js';

/**
 * Why a request failed. `unreachable` means the request was certainly not
 * delivered (no connection): safe to retry elsewhere. `timeout` means the
 * outcome is unknown: the remote may or may not have applied it. `remote`
 * means the remote answered with an error response.
 */
export type TransportErrorKind = 'unreachable' | 'timeout' | 'remote';

export class TransportError extends Error {
  override name = 'TransportError';
  /** For kind 'remote': the remote's error as its class here (util/errors.ts errorFromWire). */
  readonly remote: RingstoreError | undefined;
  constructor(
    readonly kind: TransportErrorKind,
    readonly node: NodeId,
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.remote = kind === 'remote' ? errorFromWire(code, message) : undefined;
  }
}

export interface RequestOptions {
  /**
   * The request or its answer is big (a large value): a transport that
   * multiplexes small requests on one channel sends it apart, so that it
   * does not hold up the small ones queued behind it.
   */
  readonly bulk?: boolean;
}

export type Handler = (from: NodeId, req: Request) => Promise<ResponseFor[Request['type']]>;

export interface Transport {
  readonly self: NodeId;
  /**
   * Sends req to `to` and resolves with its response, or rejects with a
   * TransportError. Every request has a deadline; nothing waits forever.
   * A request to self is delivered to the local handler without the network.
   */
  request<R extends Request>(to: NodeId, req: R, deadlineMs: number, opts?: RequestOptions): Promise<ResponseFor[R['type']]>;
  /** Installs the handler for incoming requests (one per node). */
  serve(handler: Handler): void;
  close(): Promise<void>;
}
