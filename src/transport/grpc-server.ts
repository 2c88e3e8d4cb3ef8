// The server end of the gRPC transport: the proto's Replica service. Both of
// its methods (the multiplexed `Stream` and the unary `Call`), and the bulk
// lane's connections, run each incoming request through the node's handler
// here, and send the answer back through the fault hook.

import { capGrpcConnections, grpcLimitOptions, type GrpcListenerLimits } from './grpc-limits.js';
import * as grpc from '@grpc/grpc-js';
import type * as http2 from 'node:http2';
import type tls from 'node:tls';

import type { NodeId } from '../version/dvv.js';
import { isRequest, type Message, type Response } from './messages.js';
import type { Handler } from './transport.js';
import { answerElision, fromEnvelope, packageDefinition, toEnvelope, type Elision, type Envelope, type Envelope__Output } from './codec.js';
import type { ProtoGrpcType } from './generated/ringstore.js';
import { Outbox, unbatch } from './grpc-outbox.js';
import { errorCode, errorMessage } from './grpc-request.js';
import { BULK_PORT_KEY, decodeNodeId, FLOW_CONTROL_WINDOW, FROM_KEY } from './grpc-wire.js';
import { estimateSize } from './message-size.js';
import { gateSecureConnections, grpcServerCredentials, peerOfCall, peerOfSocket, remoteOf, type NodeSecurity } from './node-tls.js';

/** Where the answer to one incoming request goes. */
export interface Replier {
  write(env: Envelope, estimatedBytes: number): void;
  skip(): void;
  done(): void;
}

/** What the service needs of the transport that owns it. */
export interface ServiceContext {
  readonly self: NodeId;
  readonly maxMessageBytes: number;
  readonly maxBatchBytes: number;
  handler(): Handler | undefined;
  closed(): boolean;
  /** The bulk lane's port, announced in the stream headers; undefined: no lane. */
  bulkPort(): number | undefined;
  /** The fault hook (fault-filter.ts throughFaults) every answer passes. */
  send(to: NodeId, msg: Message, commit: () => void, transmit: () => void): void;
  /** Is `id` a member now (node-tls.ts): checked again on every call, as membership changes. */
  isMember(id: NodeId): boolean;
  /** A connection or call was refused. */
  refused(what: string): void;
}

interface ServerStream {
  readonly call: grpc.ServerDuplexStream<Envelope__Output, Envelope>;
  alive: boolean;
  inflight: number;
  halfClosed: boolean;
}

export class ReplicaService {
  private readonly streams = new Set<ServerStream>();

  constructor(private readonly ctx: ServiceContext) {}

  /** Registers the Stream and Call methods on `server`. */
  addTo(server: grpc.Server): void {
    const proto = grpc.loadPackageDefinition(packageDefinition()) as unknown as ProtoGrpcType;
    server.addService(proto.ringstore.v1.Replica.service, {
      Stream: (call: grpc.ServerDuplexStream<Envelope__Output, Envelope>) => this.onStream(call),
      Call: (call: grpc.ServerUnaryCall<Envelope__Output, Envelope>, cb: grpc.sendUnaryData<Envelope>) => this.onCall(call, cb),
    } satisfies grpc.UntypedServiceImplementation);
  }

  /** Ends every open stream (the transport is closing). */
  endStreams(): void {
    for (const s of this.streams) {
      s.alive = false;
      try {
        s.call.end();
      } catch {
        // already gone
      }
    }
    this.streams.clear();
  }

  /**
   * The caller's node id, from its TLS certificate (node-tls.ts); a call
   * whose certificate names no member, or whose metadata claims another id,
   * is refused before any of its messages is read.
   */
  private callerOf(call: grpc.ServerDuplexStream<Envelope__Output, Envelope> | grpc.ServerUnaryCall<Envelope__Output, Envelope>): NodeId | grpc.StatusObject {
    const id = peerOfCall(call, (n) => this.ctx.isMember(n));
    const refuse = (code: grpc.status, why: string): grpc.StatusObject => {
      this.ctx.refused(`transport ${this.ctx.self}: refused a call from ${call.getPeer()}: ${why}`);
      return { code, details: why, metadata: new grpc.Metadata() };
    };
    if (typeof id !== 'string') return refuse(grpc.status.UNAUTHENTICATED, id.refused);
    const claimed = call.metadata.get(FROM_KEY).length > 0 ? decodeNodeId(call.metadata) : id;
    if (claimed !== id) return refuse(grpc.status.PERMISSION_DENIED, `its certificate names ${id} but its metadata claims ${claimed}`);
    return id;
  }

  private onStream(call: grpc.ServerDuplexStream<Envelope__Output, Envelope>): void {
    const from = this.callerOf(call);
    if (typeof from !== 'string') {
      call.emit('error', from);
      return;
    }
    const s: ServerStream = { call, alive: !this.ctx.closed(), inflight: 0, halfClosed: false };
    if (!s.alive) {
      call.end();
      return;
    }
    this.streams.add(s);
    // Answer the headers at once: the client writes nothing until it sees them.
    const md = new grpc.Metadata();
    const bulkPort = this.ctx.bulkPort();
    if (bulkPort !== undefined) md.set(BULK_PORT_KEY, String(bulkPort));
    call.sendMetadata(md);
    const gone = (): void => {
      s.alive = false;
      this.streams.delete(s);
    };
    const outbox = new Outbox((env) => {
      if (s.alive) call.write(env);
    }, this.ctx.maxBatchBytes);
    const endIfDone = (): void => {
      if (s.halfClosed && s.inflight === 0 && s.alive) {
        outbox.flush();
        gone();
        call.end();
      }
    };
    const out: Replier = {
      write: (env, bytes) => {
        if (s.alive) outbox.push(env, bytes);
      },
      skip: () => {},
      done: () => {
        s.inflight--;
        endIfDone();
      },
    };
    call.on('data', (env: Envelope__Output) => {
      if (!s.alive) return;
      // Membership may have changed since the stream opened: a removed member's stream ends here.
      if (!this.ctx.isMember(from)) {
        this.ctx.refused(`transport ${this.ctx.self}: ended the stream from ${from}: no longer a member`);
        gone();
        call.emit('error', { code: grpc.status.PERMISSION_DENIED, details: `${from} is not a member` });
        return;
      }
      unbatch(env, (e) => {
        s.inflight++;
        this.handle(from, e, out);
      });
    });
    call.on('end', () => {
      s.halfClosed = true;
      endIfDone();
    });
    call.on('error', gone);
    call.on('cancelled', gone);
    call.on('close', gone);
  }

  private onCall(call: grpc.ServerUnaryCall<Envelope__Output, Envelope>, callback: grpc.sendUnaryData<Envelope>): void {
    const from = this.callerOf(call);
    if (typeof from !== 'string') {
      callback(from);
      return;
    }
    if (call.request.batch.length > 0) {
      callback({ code: grpc.status.INVALID_ARGUMENT, details: 'batches go on the stream' });
      return;
    }
    this.handle(from, call.request, {
      write: (env) => callback(null, env),
      skip: () => callback({ code: grpc.status.DEADLINE_EXCEEDED, details: 'deadline passed before the answer' }),
      done: () => {},
    });
  }

  /**
   * Runs one incoming request through the handler. out.done is called once
   * when the request is finished with; before it, either out.skip (nothing to
   * answer: the deadline passed) or the answer goes through the fault hook to
   * out.write (possibly later, or never if dropped).
   */
  handle(from: NodeId, env: Envelope__Output, out: Replier): void {
    const ctx = this.ctx;
    const id = env.id;
    let elision: Elision | undefined = undefined;
    const answer = (resp: Response): void => {
      ctx.send(from, resp, () => {}, () => out.write(toEnvelope(id, 0, resp, elision), estimateSize(resp, elision)));
      out.done();
    };
    const skip = (): void => {
      out.skip();
      out.done();
    };
    let msg: Message;
    try {
      msg = fromEnvelope(env).msg;
    } catch (err) {
      // No body we know: a newer peer sent a message this node does not speak.
      const code = env.body === undefined ? 'UnsupportedRequest' : 'BadRequest';
      return answer({ type: 'error', code, message: `undecodable request: ${errorMessage(err)}` });
    }
    if (!isRequest(msg)) return answer({ type: 'error', code: 'BadRequest', message: `${msg.type} is not a request` });
    // A write's answer leaves out the values the writer sent (codec.ts Elision).
    elision = answerElision(msg);
    const deadlineMs = env.deadline_ms;
    if (deadlineMs === 0) return skip(); // already expired: skip the work
    const deadlineAt = Date.now() + deadlineMs;
    const handler = ctx.handler();
    if (handler === undefined || ctx.closed()) {
      return answer({ type: 'error', code: 'NotServing', message: `${ctx.self} is not serving` });
    }
    let result: Promise<Response>;
    try {
      result = handler(from, msg);
    } catch (err) {
      result = Promise.reject(err);
    }
    result.then(
      (resp) => {
        if (Date.now() > deadlineAt) return skip(); // the caller has given up
        if (estimateSize(resp) > ctx.maxMessageBytes - 64 * 1024) {
          return answer({ type: 'error', code: 'ResponseTooLarge', message: `response to ${msg.type} exceeds ${ctx.maxMessageBytes} bytes` });
        }
        answer(resp);
      },
      (err: unknown) => answer({ type: 'error', code: errorCode(err), message: errorMessage(err) }),
    );
  }
}

/** Peers need a connection each and a stream per call in flight; these leave room for reconnects and bursts. */
const INTERNODE_GRPC_LIMITS: GrpcListenerLimits = { maxConnections: 256, maxConcurrentStreams: 4096, idleTimeoutMs: 0 };

/**
 * A gRPC server for the Replica service, bound to `listen` with mutual TLS
 * (resolves with the port once listening). Connections whose certificate
 * names no member are closed before HTTP/2 sees them.
 */
export async function bindGrpcServer(
  listen: string,
  maxMessageBytes: number,
  security: NodeSecurity,
  refused: (what: string) => void,
): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server({
    'grpc.max_send_message_length': maxMessageBytes,
    'grpc.max_receive_message_length': maxMessageBytes,
    // Detect clients that vanished without closing their streams.
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc-node.flow_control_window': FLOW_CONTROL_WINDOW,
    // limits: streams per connection bounded; peers keep one long stream, so no idle cut (issue 11 §5).
    ...grpcLimitOptions(INTERNODE_GRPC_LIMITS),
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(listen, grpcServerCredentials(security.identity), (err, p) => (err ? reject(err) : resolve(p)));
  });
  gateServer(server, security, refused);
  widenServerWindows(server, FLOW_CONTROL_WINDOW);
  capGrpcConnections(server, INTERNODE_GRPC_LIMITS.maxConnections); // limits
  return { server, port };
}

/**
 * grpc-js has no server option for HTTP/2 flow-control windows (the
 * client's `grpc-node.flow_control_window` only sizes what the client
 * receives), so a server received every request with nghttp2's default
 * 64 KiB windows: a 4 MiB request needed 64 window updates, each waiting for
 * the receiving node's event loop, so a busy receiver stalled every sender
 * (4 MiB chunk writes timed out at 3 s under load and live nodes were taken
 * for dead). Widen the windows of each session the server accepts.
 */
function widenServerWindows(server: grpc.Server, bytes: number): void {
  const servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(servers instanceof Map)) return; // a grpc-js without this field: default windows
  for (const h2 of servers.keys() as IterableIterator<http2.Http2Server>) {
    h2.on('session', (session: http2.ServerHttp2Session) => {
      try {
        session.setLocalWindowSize(bytes);
        session.settings({ initialWindowSize: bytes });
      } catch {
        // the session closed at once; nothing to widen
      }
    });
  }
}

/**
 * Puts the membership gate (node-tls.ts gateSecureConnections) in front of
 * every listener of the server. grpc-js offers no hook between the TLS
 * handshake and the HTTP/2 session, so this reaches its listeners the way
 * widenServerWindows does; unlike that one it refuses to run without them,
 * since a node must not listen unguarded.
 */
function gateServer(server: grpc.Server, security: NodeSecurity, refused: (what: string) => void): void {
  const servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(servers instanceof Map) || servers.size === 0) {
    server.forceShutdown();
    throw new Error('grpc-js exposes no listeners to guard (http2Servers): cannot refuse non-members; check the pinned @grpc/grpc-js version');
  }
  for (const h2 of servers.keys() as IterableIterator<http2.Http2SecureServer>) {
    gateSecureConnections(
      h2 as unknown as tls.Server,
      (sock) => {
        const id = peerOfSocket(sock, (n) => security.isMember(n));
        if (typeof id === 'string') return true;
        refused(`transport ${security.identity.self}: refused a gRPC connection from ${remoteOf(sock)}: ${id.refused}`);
        return false;
      },
      (why, remote) => refused(`transport ${security.identity.self}: refused a gRPC connection from ${remote}: ${why}`),
    );
  }
}
