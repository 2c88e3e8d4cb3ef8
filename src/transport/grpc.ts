// The real transport: gRPC between nodes (proto/ringstore.proto).
//
// A unary gRPC call costs about 175 µs of CPU per request, far too much for
// thousands of quorum writes per second on two cores, while one bidirectional
// stream carries tens of thousands of messages per second. So each node keeps
// ONE long-lived `Stream` call open to each peer it talks to, and multiplexes
// its requests on it by envelope id; the peer answers on the same stream.
// Envelopes written in the same event-loop turn travel as one gRPC message
// (Envelope.batch), which divides gRPC's per-message cost among them.
// Requests whose payload is large go by the unary `Call` instead, so that one
// big value does not hold up everything queued behind it on the stream.
//
// The parts, each in its own file:
//   grpc-peer.ts       the client end of the connection to one peer (its life cycle is drawn there)
//   grpc-server.ts     the server end: the Replica service, requests run through the handler
//   grpc-outbox.ts     batching of the envelopes written in one event-loop turn
//   grpc-bulk-lane.ts  big values on a TLS connection per peer (framing in bulk.ts, sockets in bulk-tls.ts)
//   node-tls.ts        mutual TLS on both ports: who a peer is, and whether it is a member
//   grpc-request.ts    one outgoing request and its single settlement
//   grpc-wire.ts       what both ends agree on: metadata keys, windows, limits
//   fault-filter.ts    the fault hook every outgoing message passes
// This file is the Transport itself: the address book, request(), requests
// to the node itself, and start and close.

import * as grpc from '@grpc/grpc-js';
import type net from 'node:net';
import tls from 'node:tls';

import type { NodeId } from '../version/dvv.js';
import type { Message, Request, Response, ResponseFor } from './messages.js';
import type { Handler, RequestOptions, Transport } from './transport.js';
import { packageDefinition, type Envelope__Output } from './codec.js';
import type { ProtoGrpcType } from './generated/ringstore.js';
import { throughFaults, type FaultFilter } from './fault-filter.js';
import { acceptBulkConnection, DEFAULT_BULK_SERVER_LIMITS } from './grpc-bulk-lane.js';
import { Peer, type PeerContext } from './grpc-peer.js';
import { errorCode, errorMessage, fail, settle, type Pending } from './grpc-request.js';
import { bindGrpcServer, ReplicaService, type Replier } from './grpc-server.js';
import { DEFAULT_MAX_MESSAGE, hostOf } from './grpc-wire.js';
import { estimateSize } from './message-size.js';
import { MemberGate, reportHandshakeFailures, peerOfSocket, RefusalLog, remoteOf, serverTlsOptions, type NodeSecurity } from './node-tls.js';

export type { FaultAction, FaultFilter } from './fault-filter.js';
export { estimateSize } from './message-size.js';

export interface GrpcTransportOptions {
  readonly self: NodeId;
  /** host:port to listen on; port 0 picks a free port (see boundPort). */
  readonly listen: string;
  /** Every other node's host:port. */
  readonly peers: ReadonlyMap<NodeId, string>;
  /** Largest message sent or accepted. Default 64 MiB. */
  readonly maxMessageBytes?: number;
  readonly log?: (msg: string) => void;
  /**
   * Mutual TLS on the gRPC port and the bulk lane (node-tls.ts): this
   * node's certificate and the member test. Required: nodes never talk in
   * the clear or to strangers.
   */
  readonly security: NodeSecurity;
  /** Where refused connections and calls are reported (rate-limited). Default: log. */
  readonly warn?: (msg: string) => void;
  readonly faults?: FaultFilter;
  /** Requests whose estimated size exceeds this go by unary Call instead of the stream. Default 1 MiB. */
  readonly unaryAboveBytes?: number;
  /** How long establishing a stream may take before queued requests fail 'unreachable'. Default 2000 ms. */
  readonly connectTimeoutMs?: number;
  /** Backoff after a failed connect: doubles from initial to max (ms), with jitter. Default 100 / 2000. */
  readonly backoffMs?: { readonly initial: number; readonly max: number };
  /**
   * The bulk lane (grpc-bulk-lane.ts): requests that go apart from the
   * stream travel on a plain TCP connection instead of the unary Call. Its
   * port, on the listen host, is announced to peers in the stream's headers.
   * Default on, port 0 (any free port).
   */
  readonly bulk?: boolean | { readonly port: number };
}

export class GrpcTransport implements Transport {
  private handler: Handler | undefined;
  private closed = false;
  private nextId = 1;
  private faults: FaultFilter | undefined;
  private peerAddrs: ReadonlyMap<NodeId, string>;
  private readonly peerConns = new Map<NodeId, Peer>();
  private readonly localPending = new Set<Pending>();
  private readonly unaryAbove: number;
  private readonly peerContext: PeerContext;
  /** @internal The server end (grpc-server.ts). */
  readonly service: ReplicaService;
  /** Refused connections and calls (node-tls.ts), counted and logged. */
  readonly refusals: RefusalLog;

  private readonly bulkSockets = new Set<net.Socket>();

  /** @internal use createGrpcTransport */
  constructor(
    readonly self: NodeId,
    private readonly server: grpc.Server,
    readonly boundPort: number,
    opts: GrpcTransportOptions,
    /** The bulk lane's listener (undefined: no bulk lane, big requests use the unary Call). */
    private readonly bulkServer: tls.Server | undefined,
    /** The member test of both listeners. */
    private readonly members: MemberGate,
    refusals: RefusalLog,
  ) {
    this.peerAddrs = new Map(opts.peers);
    this.refusals = refusals;
    const maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE;
    const maxBatchBytes = Math.min(1024 * 1024, Math.floor(maxMessageBytes / 4));
    this.unaryAbove = opts.unaryAboveBytes ?? 1024 * 1024;
    this.faults = opts.faults;
    const proto = grpc.loadPackageDefinition(packageDefinition()) as unknown as ProtoGrpcType;
    const send = (to: NodeId, msg: Message, commit: () => void, transmit: () => void): void => throughFaults(this.faults, to, msg, commit, transmit);
    this.peerContext = {
      self,
      maxMessageBytes,
      maxBatchBytes,
      connectTimeoutMs: opts.connectTimeoutMs ?? 2000,
      backoff: opts.backoffMs ?? { initial: 100, max: 2000 },
      log: opts.log ?? (() => {}),
      Client: proto.ringstore.v1.Replica,
      bulkLane: bulkServer !== undefined,
      identity: opts.security.identity,
      send,
    };
    this.service = new ReplicaService({
      self,
      maxMessageBytes,
      maxBatchBytes,
      handler: () => this.handler,
      closed: () => this.closed,
      bulkPort: () => {
        const bulk = this.bulkServer?.address();
        return bulk !== null && typeof bulk === 'object' ? bulk.port : undefined;
      },
      send,
      isMember: this.members.isMember,
      refused: (what) => this.refusals.report(what),
    });
  }

  // ---------------------------------------------------------------- public API

  serve(handler: Handler): void {
    this.handler = handler;
  }

  /**
   * Replaces the member test every incoming connection and call passes
   * (node-tls.ts): the control plane owns membership once it runs.
   */
  setMembership(isMember: (id: NodeId) => boolean): void {
    this.members.set(isMember);
  }

  /** Installs (or removes) the dev-only fault filter. */
  setFaults(filter: FaultFilter | undefined): void {
    this.faults = filter;
  }

  /** Hint: a stream to `node` is established right now (always true for self). */
  reachable(node: NodeId): boolean {
    if (this.closed) return false;
    if (node === this.self) return true;
    return this.peerConns.get(node)?.state === 'ready';
  }

  /**
   * Hint that `node` is up again (the membership view just saw it alive):
   * forget the reconnect backoff, so that the next request dials at once
   * instead of failing 'unreachable' for up to backoffMs.max after the peer
   * came back.
   */
  wake(node: NodeId): void {
    const peer = this.peerConns.get(node);
    if (peer === undefined || peer.state !== 'backoff') return;
    peer.backoffUntil = 0;
    peer.backoffMs = 0;
  }

  /**
   * Replaces the address book. Peers that vanished or moved are disconnected
   * (their queued requests fail 'unreachable', in-flight ones 'timeout').
   */
  setPeers(peers: ReadonlyMap<NodeId, string>): void {
    this.peerAddrs = new Map(peers);
    for (const [id, peer] of this.peerConns) {
      if (peers.get(id) !== peer.address) {
        this.peerConns.delete(id);
        peer.drop('peer removed or moved');
      }
    }
  }

  request<R extends Request>(to: NodeId, req: R, deadlineMs: number, opts?: RequestOptions): Promise<ResponseFor[R['type']]> {
    return new Promise<Response>((resolve, reject) => {
      const p: Pending = {
        id: this.nextId++,
        to,
        req,
        deadlineAt: Date.now() + deadlineMs,
        unary: to !== this.self && (opts?.bulk === true || estimateSize(req) > this.unaryAbove),
        resolve,
        reject,
        timer: undefined,
        written: false,
        settled: false,
        cancel: undefined,
      };
      if (this.closed) return fail(p, 'unreachable', 'transport closed');
      if (to === this.self) return this.requestLocal(p, deadlineMs);
      const address = this.peerAddrs.get(to);
      if (address === undefined) return fail(p, 'unreachable', `unknown node ${to}`);
      let peer = this.peerConns.get(to);
      if (peer === undefined) {
        peer = new Peer(to, address, this.peerContext);
        this.peerConns.set(to, peer);
      }
      if (peer.state === 'backoff' && Date.now() < peer.backoffUntil) {
        return fail(p, 'unreachable', `${to} unreachable (reconnect in ${peer.backoffUntil - Date.now()} ms)`);
      }
      const target = peer;
      p.timer = setTimeout(() => target.onDeadline(p), Math.max(0, deadlineMs));
      if (p.unary) peer.unary.add(p);
      else peer.pending.set(p.id, p);
      if (peer.state === 'ready') peer.dispatch(p);
      else if (peer.state !== 'connecting') peer.connect();
    }) as Promise<ResponseFor[R['type']]>;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.localPending) fail(p, 'timeout', 'transport closed');
    this.localPending.clear();
    for (const peer of this.peerConns.values()) peer.drop('transport closed');
    this.peerConns.clear();
    this.service.endStreams();
    for (const sock of this.bulkSockets) sock.destroy();
    this.bulkSockets.clear();
    this.bulkServer?.close();
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, 1000);
      this.server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
  }

  /** @internal A bulk-lane connection whose TLS handshake succeeded: admitted only from a member. */
  onBulkConnection(accepted: tls.TLSSocket): void {
    const from = peerOfSocket(accepted, this.members.isMember);
    if (this.closed || typeof from !== 'string') {
      if (typeof from !== 'string') this.refusals.report(`transport ${this.self}: refused a bulk-lane connection from ${remoteOf(accepted)}: ${from.refused}`);
      accepted.destroy();
      return;
    }
    const refused = (why: string): void => this.refusals.report(`transport ${this.self}: refused a bulk-lane connection from ${remoteOf(accepted)} (${from}): ${why}`);
    const handle = (env: Envelope__Output, out: Replier): void => {
      // Membership may have changed since the handshake: a removed member's connection ends at its next request.
      if (!this.members.isMember(from)) {
        refused(`${from} is no longer a member`);
        accepted.destroy();
        out.skip();
        out.done();
        return;
      }
      this.service.handle(from, env, out);
    };
    // limits: frames bounded by the message limit before any allocation (issue 11 §5).
    acceptBulkConnection(accepted, from, handle, this.bulkSockets, refused, { ...DEFAULT_BULK_SERVER_LIMITS, maxFrameBytes: this.peerContext.maxMessageBytes });
  }

  // ---------------------------------------------------------------- requests to self

  private requestLocal(p: Pending, deadlineMs: number): void {
    const handler = this.handler;
    if (handler === undefined) return fail(p, 'remote', `${this.self} is not serving`, 'NotServing');
    this.localPending.add(p);
    p.timer = setTimeout(() => {
      this.localPending.delete(p);
      fail(p, 'timeout', `request to ${this.self} (self) timed out after ${deadlineMs} ms`);
    }, Math.max(0, deadlineMs));
    p.written = true;
    let result: Promise<Response>;
    try {
      result = handler(this.self, p.req);
    } catch (err) {
      result = Promise.reject(err);
    }
    result.then(
      (resp) => {
        this.localPending.delete(p);
        settle(p, resp);
      },
      (err: unknown) => {
        this.localPending.delete(p);
        fail(p, 'remote', errorMessage(err), errorCode(err));
      },
    );
  }
}

/**
 * Starts a gRPC transport: binds the server (resolves once listening) and
 * connects to peers lazily, on their first request.
 */
export async function createGrpcTransport(opts: GrpcTransportOptions): Promise<GrpcTransport> {
  const maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE;
  if (opts.security.identity.self !== opts.self) throw new Error(`transport ${opts.self}: its certificate names ${opts.security.identity.self}`);
  // One refusal log for the gRPC listener and the bulk lane, the transport's own.
  const refusals = new RefusalLog(opts.warn ?? opts.log ?? (() => {}));
  const members = new MemberGate(opts.security.isMember);
  const security: NodeSecurity = { identity: opts.security.identity, isMember: members.isMember };
  const { server, port } = await bindGrpcServer(opts.listen, maxMessageBytes, security, (what) => refusals.report(what));
  let bulkServer: tls.Server | undefined;
  if (opts.bulk !== false) {
    const bulkPort = typeof opts.bulk === 'object' ? opts.bulk.port : 0;
    bulkServer = tls.createServer({ ...serverTlsOptions(opts.security.identity), noDelay: true });
    // A connection reaches onBulkConnection (and so the frame reader) only after a successful handshake.
    reportHandshakeFailures(bulkServer, (why, remote) => refusals.report(`transport ${opts.self}: refused a bulk-lane connection from ${remote}: ${why}`));
    await new Promise<void>((resolve, reject) => {
      bulkServer!.once('error', reject);
      bulkServer!.listen(bulkPort, hostOf(opts.listen), () => {
        bulkServer!.off('error', reject);
        resolve();
      });
    });
  }
  const transport = new GrpcTransport(opts.self, server, port, opts, bulkServer, members, refusals);
  bulkServer?.on('secureConnection', (sock: tls.TLSSocket) => transport.onBulkConnection(sock));
  transport.service.addTo(server);
  opts.log?.(`transport ${opts.self}: listening on ${opts.listen} (port ${port})`);
  return transport;
}
