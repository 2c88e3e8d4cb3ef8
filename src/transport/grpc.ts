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
// Connection life of a peer (client side):
//   idle ──request──► connecting ──server headers──► ready
//     ▲                   │ fails / times out           │ stream fails
//     │                   ▼                             │
//     └──── backoff expires ◄── backoff                 └──► idle
// Requests made while connecting wait in a queue and are written only once
// the peer has answered the stream's headers, so a request is either
// certainly not delivered (connect failed: 'unreachable') or was written to
// an established stream (the stream dies: 'timeout', outcome unknown). In
// backoff, requests fail at once with 'unreachable'.

import * as grpc from '@grpc/grpc-js';
import type * as http2 from 'node:http2';
import net from 'node:net';

import type { NodeId, SiblingSet } from '../version/dvv.js';
import type { Request, Response, ResponseFor } from './messages.js';
import { TransportError, type Handler, type RequestOptions, type Transport } from './transport.js';
import {
  answerElision,
  fromEnvelope,
  type Elision,
  isRequest,
  packageDefinition,
  RESPONSE_TYPE,
  toEnvelope,
  type Envelope,
  type Envelope__Output,
  type Message,
} from './codec.js';
import type { ProtoGrpcType } from './generated/ringstore.js';
import type { ReplicaClient } from './generated/ringstore/v1/Replica.js';
import { connectBulk, FrameReader, helloBytes, readFramesFrom, writeFrame } from './bulk.js';
import { errorCode, errorMessage } from '../util/errors.js';

/** What the network does with one message (dev-only fault injection). */
export type FaultAction =
  | 'pass'
  | 'drop'
  | {
      readonly delayMs: number;
      /**
       * The delay is a stall before the receiver reads the request (a full
       * buffer, a congested stream), so it does not use up the request's
       * deadline: deadlines travel as a relative budget that starts at
       * receipt, so a stalled request is still served, however late.
       * Honoured by the in-memory network; the gRPC fault switch delays at
       * the sender, where the budget is taken when the frame is written.
       */
      readonly stalled?: boolean;
    };
/**
 * Decides the fate of each message this node sends to `to`: requests on the
 * client side, responses on the server side. Dropped requests time out.
 */
export type FaultFilter = (to: NodeId, msg: Message) => FaultAction;

export interface GrpcTransportOptions {
  readonly self: NodeId;
  /** host:port to listen on; port 0 picks a free port (see boundPort). */
  readonly listen: string;
  /** Every other node's host:port. */
  readonly peers: ReadonlyMap<NodeId, string>;
  /** Largest message sent or accepted. Default 64 MiB. */
  readonly maxMessageBytes?: number;
  readonly log?: (msg: string) => void;
  readonly faults?: FaultFilter;
  /** Requests whose estimated size exceeds this go by unary Call instead of the stream. Default 1 MiB. */
  readonly unaryAboveBytes?: number;
  /** How long establishing a stream may take before queued requests fail 'unreachable'. Default 2000 ms. */
  readonly connectTimeoutMs?: number;
  /** Backoff after a failed connect: doubles from initial to max (ms), with jitter. Default 100 / 2000. */
  readonly backoffMs?: { readonly initial: number; readonly max: number };
  /**
   * The bulk lane (bulk.ts): requests that go apart from the stream travel
   * on a plain TCP connection instead of the unary Call. Its port, on the
   * listen host, is announced to peers in the stream's headers. Default on,
   * port 0 (any free port).
   */
  readonly bulk?: boolean | { readonly port: number };
}

const DEFAULT_MAX_MESSAGE = 64 * 1024 * 1024;
/** HTTP/2 stream and connection receive window, on both sides of a connection. */
const FLOW_CONTROL_WINDOW = 16 * 1024 * 1024;
const FROM_KEY = 'ringstore-from';
/** Response-header key of the stream: the port of the server's bulk lane. */
const BULK_PORT_KEY = 'ringstore-bulk';
/** After a failed bulk connect, requests to that peer use the unary Call for this long. */
const BULK_RETRY_MS = 30_000;
/** A bulk connection stops reading while this many of its requests are being served. */
const BULK_SERVER_INFLIGHT_MAX = 32;

/** The client end of a bulk-lane connection to one peer. */
interface BulkConn {
  readonly sock: net.Socket;
  connected: boolean;
  /** Requests written on it, by envelope id, awaiting their answer. */
  readonly pending: Map<number, Pending>;
}

interface Pending {
  readonly id: number;
  readonly to: NodeId;
  readonly req: Request;
  readonly deadlineAt: number;
  readonly unary: boolean;
  readonly resolve: (r: Response) => void;
  readonly reject: (e: TransportError) => void;
  timer: NodeJS.Timeout | undefined;
  /** Handed to the network (written, or dropped/delayed by the fault filter). */
  written: boolean;
  settled: boolean;
  /** Cancels a unary call in flight. */
  cancel: (() => void) | undefined;
}

type PeerState = 'idle' | 'connecting' | 'ready' | 'backoff';

/**
 * Coalesces the envelopes written to one stream during one turn of the event
 * loop into a single gRPC message (Envelope.batch): gRPC's per-message cost
 * is paid once per turn instead of once per request or response. This cuts
 * the CPU of a small round-trip about threefold. Big envelopes go alone.
 */
class Outbox {
  private queue: Envelope[] = [];
  private queuedBytes = 0;
  private scheduled = false;
  private readonly maxEntryBytes: number;
  constructor(
    private readonly write: (env: Envelope) => void,
    private readonly maxBatchBytes: number,
  ) {
    this.maxEntryBytes = Math.floor(maxBatchBytes / 8);
  }

  push(env: Envelope, estimatedBytes: number): void {
    if (estimatedBytes > this.maxEntryBytes) {
      this.write(env);
      return;
    }
    if (this.queuedBytes + estimatedBytes > this.maxBatchBytes || this.queue.length >= 1024) this.flush();
    this.queue.push(env);
    this.queuedBytes += estimatedBytes;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  readonly flush = (): void => {
    this.scheduled = false;
    const q = this.queue;
    if (q.length === 0) return;
    this.queue = [];
    this.queuedBytes = 0;
    if (q.length === 1) this.write(q[0]!);
    else this.write({ id: 0, deadline_ms: 0, batch: q });
  };
}

/** Calls fn for each envelope a received message carries (itself, or its batch). */
function unbatch(env: Envelope__Output, fn: (e: Envelope__Output) => void): void {
  if (env.batch.length === 0) fn(env);
  else for (const e of env.batch) fn(e);
}

class Peer {
  state: PeerState = 'idle';
  client: ReplicaClient | undefined;
  stream: grpc.ClientDuplexStream<Envelope, Envelope__Output> | undefined;
  outbox: Outbox | undefined;
  connectTimer: NodeJS.Timeout | undefined;
  /** Stream requests: queued (not written) while connecting, then in flight. */
  readonly pending = new Map<number, Pending>();
  /** Unary calls (and bulk-lane requests) in flight. */
  readonly unary = new Set<Pending>();
  /** The peer's bulk-lane port, from its stream headers; undefined: it has none. */
  bulkPort: number | undefined;
  bulk: BulkConn | undefined;
  /** Until then, no bulk lane to this peer (a connect failed): unary instead. */
  bulkBrokenUntil = 0;
  backoffUntil = 0;
  backoffMs = 0;
  constructor(
    readonly id: NodeId,
    readonly address: string,
  ) {}
}

interface ServerStream {
  readonly call: grpc.ServerDuplexStream<Envelope__Output, Envelope>;
  alive: boolean;
  inflight: number;
  halfClosed: boolean;
}

/** The host part of host:port (IPv6 in brackets allowed). */
function hostOf(address: string): string {
  const i = address.lastIndexOf(':');
  const host = i < 0 ? address : address.slice(0, i);
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function encodeNodeId(id: NodeId): string {
  return encodeURIComponent(id);
}

function decodeNodeId(md: grpc.Metadata): NodeId {
  const v = md.get(FROM_KEY)[0];
  if (typeof v !== 'string') return '';
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}


/** Rough wire size of a message: the bytes of its values and keys, plus per-sibling overhead. */
export function estimateSize(msg: Message, el?: Elision): number {
  const setSize = (set: SiblingSet | null): number => {
    if (set === null) return 0;
    let n = 0;
    for (const s of set.siblings) n += (s.value === null || el?.omit?.(s) === true ? 0 : s.value.byteLength) + 256;
    return n;
  };
  switch (msg.type) {
    case 'putOrigin':
      return (msg.value?.byteLength ?? 0) + msg.key.length * 3 + 512;
    case 'putReplica':
      return setSize(msg.set) + msg.key.length * 3 + 256;
    case 'putOk':
    case 'getOk':
      return setSize(msg.set) + 64;
    case 'listKeysOk': {
      let n = 64;
      for (const k of msg.keys) n += setSize(k.set) + k.key.length * 3 + 16;
      return n;
    }
    default:
      return 256;
  }
}

export class GrpcTransport implements Transport {
  private handler: Handler | undefined;
  private closed = false;
  private nextId = 1;
  private faults: FaultFilter | undefined;
  private peerAddrs: ReadonlyMap<NodeId, string>;
  private readonly peerConns = new Map<NodeId, Peer>();
  private readonly serverStreams = new Set<ServerStream>();
  private readonly localPending = new Set<Pending>();
  private readonly maxMessageBytes: number;
  private readonly maxBatchBytes: number;
  private readonly unaryAbove: number;
  private readonly connectTimeoutMs: number;
  private readonly backoff: { readonly initial: number; readonly max: number };
  private readonly log: (msg: string) => void;
  private readonly Client: new (address: string, creds: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => ReplicaClient;

  private readonly bulkSockets = new Set<net.Socket>();

  /** @internal use createGrpcTransport */
  constructor(
    readonly self: NodeId,
    private readonly server: grpc.Server,
    readonly boundPort: number,
    opts: GrpcTransportOptions,
    /** The bulk lane's listener (undefined: no bulk lane, big requests use the unary Call). */
    private readonly bulkServer?: net.Server,
  ) {
    this.peerAddrs = new Map(opts.peers);
    this.maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE;
    this.maxBatchBytes = Math.min(1024 * 1024, Math.floor(this.maxMessageBytes / 4));
    this.unaryAbove = opts.unaryAboveBytes ?? 1024 * 1024;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 2000;
    this.backoff = opts.backoffMs ?? { initial: 100, max: 2000 };
    this.log = opts.log ?? (() => {});
    this.faults = opts.faults;
    const proto = grpc.loadPackageDefinition(packageDefinition()) as unknown as ProtoGrpcType;
    this.Client = proto.ringstore.v1.Replica;
  }

  // ---------------------------------------------------------------- public API

  serve(handler: Handler): void {
    this.handler = handler;
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
        this.dropPeer(peer, 'peer removed or moved');
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
      if (this.closed) return this.fail(p, 'unreachable', 'transport closed');
      if (to === this.self) return this.requestLocal(p, deadlineMs);
      const address = this.peerAddrs.get(to);
      if (address === undefined) return this.fail(p, 'unreachable', `unknown node ${to}`);
      let peer = this.peerConns.get(to);
      if (peer === undefined) {
        peer = new Peer(to, address);
        this.peerConns.set(to, peer);
      }
      if (peer.state === 'backoff' && Date.now() < peer.backoffUntil) {
        return this.fail(p, 'unreachable', `${to} unreachable (reconnect in ${peer.backoffUntil - Date.now()} ms)`);
      }
      p.timer = setTimeout(() => this.onDeadline(peer, p), Math.max(0, deadlineMs));
      if (p.unary) peer.unary.add(p);
      else peer.pending.set(p.id, p);
      if (peer.state === 'ready') this.dispatch(peer, p);
      else if (peer.state !== 'connecting') this.connect(peer);
    }) as Promise<ResponseFor[R['type']]>;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.localPending) this.fail(p, 'timeout', 'transport closed');
    this.localPending.clear();
    for (const peer of this.peerConns.values()) this.dropPeer(peer, 'transport closed');
    this.peerConns.clear();
    for (const s of this.serverStreams) {
      s.alive = false;
      try {
        s.call.end();
      } catch {
        // already gone
      }
    }
    this.serverStreams.clear();
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

  // ---------------------------------------------------------------- client side

  private requestLocal(p: Pending, deadlineMs: number): void {
    const handler = this.handler;
    if (handler === undefined) return this.fail(p, 'remote', `${this.self} is not serving`, 'NotServing');
    this.localPending.add(p);
    p.timer = setTimeout(() => {
      this.localPending.delete(p);
      this.fail(p, 'timeout', `request to ${this.self} (self) timed out after ${deadlineMs} ms`);
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
        this.settle(p, resp);
      },
      (err: unknown) => {
        this.localPending.delete(p);
        this.fail(p, 'remote', errorMessage(err), errorCode(err));
      },
    );
  }

  private client(peer: Peer): ReplicaClient {
    peer.client ??= new this.Client(peer.address, grpc.credentials.createInsecure(), this.channelOptions());
    return peer.client;
  }

  private channelOptions(): grpc.ChannelOptions {
    return {
      'grpc.max_send_message_length': this.maxMessageBytes,
      'grpc.max_receive_message_length': this.maxMessageBytes,
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      'grpc.initial_reconnect_backoff_ms': this.backoff.initial,
      'grpc.max_reconnect_backoff_ms': this.backoff.max,
      // One connection per (this transport, peer), not shared process-wide.
      'grpc.use_local_subchannel_pool': 1,
      // We do our own failure handling; retries would buffer every message.
      'grpc.enable_retries': 0,
      'grpc-node.flow_control_window': FLOW_CONTROL_WINDOW,
    };
  }

  private connect(peer: Peer): void {
    peer.state = 'connecting';
    const md = new grpc.Metadata();
    md.set(FROM_KEY, encodeNodeId(this.self));
    let stream: grpc.ClientDuplexStream<Envelope, Envelope__Output>;
    try {
      stream = this.client(peer).Stream(md);
    } catch (err) {
      this.onStreamEnd(peer, undefined, errorMessage(err));
      return;
    }
    peer.stream = stream;
    peer.outbox = new Outbox((env) => {
      if (peer.stream === stream) stream.write(env);
    }, this.maxBatchBytes);
    peer.connectTimer = setTimeout(() => {
      if (peer.stream !== stream || peer.state !== 'connecting') return;
      this.onStreamEnd(peer, stream, `connect timed out after ${this.connectTimeoutMs} ms`);
    }, this.connectTimeoutMs);
    stream.on('metadata', (md: grpc.Metadata) => {
      if (peer.stream !== stream || peer.state !== 'connecting') return;
      const announced = Number(md.get(BULK_PORT_KEY)[0]);
      const bulkPort = Number.isInteger(announced) && announced > 0 && announced < 65536 ? announced : undefined;
      // A peer that restarted announces a new port: try the lane again at once.
      if (bulkPort !== peer.bulkPort) peer.bulkBrokenUntil = 0;
      peer.bulkPort = bulkPort;
      clearTimeout(peer.connectTimer);
      peer.connectTimer = undefined;
      peer.state = 'ready';
      peer.backoffMs = 0;
      this.log(`transport ${this.self}: stream to ${peer.id} (${peer.address}) established`);
      for (const p of [...peer.pending.values()]) this.dispatch(peer, p);
      for (const p of [...peer.unary]) if (!p.written) this.dispatch(peer, p);
    });
    stream.on('data', (env: Envelope__Output) => unbatch(env, (e) => this.onResponse(peer, e)));
    stream.on('error', (err: Error) => this.onStreamEnd(peer, stream, err.message));
    stream.on('status', (st: grpc.StatusObject) => this.onStreamEnd(peer, stream, `stream ended: ${st.details || grpc.status[st.code]}`));
  }

  /** The stream died or could not be established. */
  private onStreamEnd(peer: Peer, stream: grpc.ClientDuplexStream<Envelope, Envelope__Output> | undefined, why: string): void {
    if (peer.stream !== stream) return;
    const wasReady = peer.state === 'ready';
    peer.stream = undefined;
    peer.outbox = undefined;
    clearTimeout(peer.connectTimer);
    peer.connectTimer = undefined;
    try {
      stream?.cancel();
    } catch {
      // already ended
    }
    const pending = [...peer.pending.values()];
    peer.pending.clear();
    if (wasReady) {
      // Connected before: try again on the next request without waiting.
      peer.state = 'idle';
      this.log(`transport ${this.self}: stream to ${peer.id} lost: ${why}`);
    } else {
      peer.backoffMs = peer.backoffMs === 0 ? this.backoff.initial : Math.min(this.backoff.max, peer.backoffMs * 2);
      const wait = Math.round(peer.backoffMs * (0.8 + 0.4 * Math.random()));
      peer.backoffUntil = Date.now() + wait;
      peer.state = 'backoff';
      this.log(`transport ${this.self}: cannot connect to ${peer.id} (${peer.address}): ${why}; retry in ${wait} ms`);
    }
    for (const p of pending) {
      if (p.written) this.fail(p, 'timeout', `stream to ${peer.id} failed with the request in flight (${why})`);
      else this.fail(p, 'unreachable', `cannot reach ${peer.id}: ${why}`);
    }
    if (!wasReady) {
      for (const p of [...peer.unary]) {
        if (!p.written) {
          peer.unary.delete(p);
          this.fail(p, 'unreachable', `cannot reach ${peer.id}: ${why}`);
        }
      }
    }
  }

  private onResponse(peer: Peer, env: Envelope__Output): void {
    const p = peer.pending.get(env.id);
    if (p === undefined) return; // answered after its deadline, or a duplicate
    peer.pending.delete(env.id);
    this.settleEnvelope(p, env);
  }

  private settleEnvelope(p: Pending, env: Envelope__Output): void {
    let msg: Message;
    try {
      msg = fromEnvelope(env, answerElision(p.req)).msg;
    } catch (err) {
      return this.fail(p, 'remote', `undecodable response from ${p.to}: ${errorMessage(err)}`, 'BadResponse');
    }
    this.settle(p, msg as Response);
  }

  /** Hands a request to the network: the one place every outgoing request passes. */
  private dispatch(peer: Peer, p: Pending): void {
    if (p.settled || p.written) return;
    this.send(p.to, p.req, () => (p.written = true), () => {
      if (p.settled) return;
      if (!p.unary) this.writeStream(peer, p);
      else if (this.bulkServer !== undefined && peer.bulkPort !== undefined && Date.now() >= peer.bulkBrokenUntil) this.writeBulk(peer, p);
      else this.callUnary(peer, p);
    });
  }

  // ---------------------------------------------------------------- bulk lane

  /** The connection of the bulk lane to `peer`, dialled on first use. */
  private bulkConn(peer: Peer): BulkConn {
    if (peer.bulk !== undefined) return peer.bulk;
    const host = hostOf(peer.address);
    const pending = new Map<number, Pending>();
    const reader = new FrameReader((env) => {
      const p = pending.get(env.id);
      if (p === undefined) return; // answered after its deadline
      pending.delete(env.id);
      peer.unary.delete(p);
      this.settleEnvelope(p, env);
    });
    const sock = connectBulk(host, peer.bulkPort as number, reader);
    const conn: BulkConn = { sock, connected: false, pending };
    peer.bulk = conn;
    sock.write(helloBytes(this.self));
    // A filtered port would leave the connect hanging for minutes.
    sock.setTimeout(this.connectTimeoutMs, () => {
      if (!conn.connected) sock.destroy(new Error(`connect timed out after ${this.connectTimeoutMs} ms`));
    });
    sock.on('connect', () => {
      conn.connected = true;
      sock.setTimeout(0);
      this.log(`transport ${this.self}: bulk lane to ${peer.id} (${host}:${String(peer.bulkPort)}) established`);
    });
    const gone = (err?: Error): void => {
      if (peer.bulk === conn) peer.bulk = undefined;
      const why = err?.message ?? 'closed';
      if (!conn.connected) {
        // Nothing reached the peer: use the unary Call for a while, and send these by it.
        peer.bulkBrokenUntil = Date.now() + BULK_RETRY_MS;
        this.log(`transport ${this.self}: bulk lane to ${peer.id} unavailable (${why}); unary calls for ${BULK_RETRY_MS} ms`);
        for (const p of pending.values()) if (!p.settled) this.callUnary(peer, p);
      } else {
        for (const p of pending.values()) {
          peer.unary.delete(p);
          this.fail(p, 'timeout', `bulk lane to ${peer.id} failed with the request in flight (${why})`);
        }
      }
      pending.clear();
    };
    sock.on('error', gone);
    sock.on('close', () => gone());
    return conn;
  }

  private writeBulk(peer: Peer, p: Pending): void {
    const size = estimateSize(p.req);
    if (size > this.maxMessageBytes) {
      peer.unary.delete(p);
      return this.fail(p, 'remote', `message too large for ${peer.id}: about ${size} bytes, limit ${this.maxMessageBytes}`, 'MessageTooLarge');
    }
    const conn = this.bulkConn(peer);
    const budget = Math.max(1, p.deadlineAt - Date.now());
    conn.pending.set(p.id, p);
    p.cancel = () => conn.pending.delete(p.id);
    writeFrame(conn.sock, toEnvelope(p.id, Math.min(budget, 0xffffffff), p.req));
  }

  /** @internal A connection accepted by the bulk server (paused on connect). */
  onBulkConnection(accepted: net.Socket): void {
    if (this.closed) {
      accepted.destroy();
      return;
    }
    let from: NodeId = '';
    let inflight = 0;
    let paused = false;
    let sock: net.Socket | undefined = undefined;
    const reader = new FrameReader(
      (env) => {
        inflight++;
        if (inflight >= BULK_SERVER_INFLIGHT_MAX && !paused) {
          paused = true;
          sock?.pause();
        }
        this.handleIncoming(from, env, {
          write: (answer) => {
            if (sock !== undefined && !sock.destroyed) writeFrame(sock, answer);
          },
          skip: () => {},
          done: () => {
            inflight--;
            if (paused && inflight < BULK_SERVER_INFLIGHT_MAX / 2) {
              paused = false;
              sock?.resume();
            }
          },
        });
      },
      (id) => (from = id),
    );
    sock = readFramesFrom(accepted, reader, (err) => sock?.destroy(err));
    sock.setNoDelay(true);
    this.bulkSockets.add(sock);
    sock.on('error', () => undefined);
    sock.on('close', () => this.bulkSockets.delete(sock as net.Socket));
  }

  private writeStream(peer: Peer, p: Pending): void {
    const outbox = peer.outbox;
    if (outbox === undefined || peer.state !== 'ready') {
      // Only reachable after a fault-filter delay across a stream failure.
      peer.pending.delete(p.id);
      return this.fail(p, 'timeout', `stream to ${peer.id} failed with the request in flight`);
    }
    const budget = Math.max(1, p.deadlineAt - Date.now());
    outbox.push(toEnvelope(p.id, Math.min(budget, 0xffffffff), p.req), estimateSize(p.req));
  }

  private callUnary(peer: Peer, p: Pending): void {
    const budget = Math.max(1, p.deadlineAt - Date.now());
    const md = new grpc.Metadata();
    md.set(FROM_KEY, encodeNodeId(this.self));
    const call = this.client(peer).Call(
      toEnvelope(p.id, Math.min(budget, 0xffffffff), p.req),
      md,
      { deadline: Date.now() + budget },
      (err, env) => {
        peer.unary.delete(p);
        if (p.settled) return;
        if (err !== null) {
          if (err.code === grpc.status.RESOURCE_EXHAUSTED) {
            return this.fail(p, 'remote', `message too large for ${peer.id}: ${err.details}`, 'MessageTooLarge');
          }
          if (err.code === grpc.status.UNIMPLEMENTED) return this.fail(p, 'remote', err.details, 'Unimplemented');
          return this.fail(p, 'timeout', `call to ${peer.id} failed, outcome unknown: ${err.details}`);
        }
        if (env === undefined) return this.fail(p, 'remote', `empty response from ${peer.id}`, 'BadResponse');
        this.settleEnvelope(p, env);
      },
    );
    p.cancel = () => call.cancel();
  }

  private onDeadline(peer: Peer, p: Pending): void {
    p.timer = undefined;
    peer.pending.delete(p.id);
    peer.unary.delete(p);
    p.cancel?.();
    if (p.written) this.fail(p, 'timeout', `request ${p.req.type} to ${p.to} timed out`);
    else this.fail(p, 'unreachable', `no connection to ${p.to} before the deadline`);
  }

  private settle(p: Pending, msg: Response): void {
    if (p.settled) return;
    if (msg.type === 'error') return this.fail(p, 'remote', msg.message, msg.code);
    if (msg.type !== RESPONSE_TYPE[p.req.type]) {
      return this.fail(p, 'remote', `${p.to} answered ${p.req.type} with ${msg.type}`, 'BadResponse');
    }
    p.settled = true;
    clearTimeout(p.timer);
    p.resolve(msg);
  }

  private fail(p: Pending, kind: TransportError['kind'], message: string, code?: string): void {
    if (p.settled) return;
    p.settled = true;
    clearTimeout(p.timer);
    p.reject(new TransportError(kind, p.to, message, code));
  }

  private dropPeer(peer: Peer, why: string): void {
    const stream = peer.stream;
    peer.stream = undefined;
    clearTimeout(peer.connectTimer);
    for (const p of peer.pending.values()) {
      this.fail(p, p.written ? 'timeout' : 'unreachable', `${why} (${peer.id})`);
    }
    peer.pending.clear();
    for (const p of peer.unary) {
      p.cancel?.();
      this.fail(p, p.written ? 'timeout' : 'unreachable', `${why} (${peer.id})`);
    }
    peer.unary.clear();
    peer.bulk?.pending.clear();
    peer.bulk?.sock.destroy();
    peer.bulk = undefined;
    try {
      stream?.cancel();
    } catch {
      // already ended
    }
    peer.client?.close();
    peer.state = 'idle';
  }

  // ---------------------------------------------------------------- fault hook

  /**
   * Every message this node sends (requests and responses) passes here, so
   * that a fault filter can drop or delay it. `commit` marks the message as
   * handed to the network before the filter acts.
   */
  private send(to: NodeId, msg: Message, commit: () => void, transmit: () => void): void {
    const action = this.faults === undefined ? 'pass' : this.faults(to, msg);
    commit();
    if (action === 'pass') transmit();
    else if (action !== 'drop') setTimeout(transmit, Math.max(0, action.delayMs));
  }

  // ---------------------------------------------------------------- server side

  /** @internal */
  onServerStream(call: grpc.ServerDuplexStream<Envelope__Output, Envelope>): void {
    const from = decodeNodeId(call.metadata);
    const s: ServerStream = { call, alive: !this.closed, inflight: 0, halfClosed: false };
    if (!s.alive) {
      call.end();
      return;
    }
    this.serverStreams.add(s);
    // Answer the headers at once: the client writes nothing until it sees them.
    const md = new grpc.Metadata();
    const bulk = this.bulkServer?.address();
    if (bulk !== null && typeof bulk === 'object') md.set(BULK_PORT_KEY, String(bulk.port));
    call.sendMetadata(md);
    const gone = (): void => {
      s.alive = false;
      this.serverStreams.delete(s);
    };
    const outbox = new Outbox((env) => {
      if (s.alive) call.write(env);
    }, this.maxBatchBytes);
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
    call.on('data', (env: Envelope__Output) =>
      unbatch(env, (e) => {
        s.inflight++;
        this.handleIncoming(from, e, out);
      }),
    );
    call.on('end', () => {
      s.halfClosed = true;
      endIfDone();
    });
    call.on('error', gone);
    call.on('cancelled', gone);
    call.on('close', gone);
  }

  /** @internal */
  onServerCall(call: grpc.ServerUnaryCall<Envelope__Output, Envelope>, callback: grpc.sendUnaryData<Envelope>): void {
    const from = decodeNodeId(call.metadata);
    if (call.request.batch.length > 0) {
      callback({ code: grpc.status.INVALID_ARGUMENT, details: 'batches go on the stream' });
      return;
    }
    this.handleIncoming(from, call.request, {
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
  private handleIncoming(from: NodeId, env: Envelope__Output, out: Replier): void {
    const id = env.id;
    let elision: Elision | undefined = undefined;
    const answer = (resp: Response): void => {
      this.send(from, resp, () => {}, () => out.write(toEnvelope(id, 0, resp, elision), estimateSize(resp, elision)));
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
    const handler = this.handler;
    if (handler === undefined || this.closed) {
      return answer({ type: 'error', code: 'NotServing', message: `${this.self} is not serving` });
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
        if (estimateSize(resp) > this.maxMessageBytes - 64 * 1024) {
          return answer({ type: 'error', code: 'ResponseTooLarge', message: `response to ${msg.type} exceeds ${this.maxMessageBytes} bytes` });
        }
        answer(resp);
      },
      (err: unknown) => answer({ type: 'error', code: errorCode(err), message: errorMessage(err) }),
    );
  }
}

interface Replier {
  write(env: Envelope, estimatedBytes: number): void;
  skip(): void;
  done(): void;
}

/**
 * Starts a gRPC transport: binds the server (resolves once listening) and
 * connects to peers lazily, on their first request.
 */
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

export async function createGrpcTransport(opts: GrpcTransportOptions): Promise<GrpcTransport> {
  const maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE;
  const server = new grpc.Server({
    'grpc.max_send_message_length': maxMessageBytes,
    'grpc.max_receive_message_length': maxMessageBytes,
    // Detect clients that vanished without closing their streams.
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc-node.flow_control_window': FLOW_CONTROL_WINDOW,
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(opts.listen, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  widenServerWindows(server, FLOW_CONTROL_WINDOW);
  let bulkServer: net.Server | undefined;
  if (opts.bulk !== false) {
    const bulkPort = typeof opts.bulk === 'object' ? opts.bulk.port : 0;
    bulkServer = net.createServer({ pauseOnConnect: true, noDelay: true });
    await new Promise<void>((resolve, reject) => {
      bulkServer!.once('error', reject);
      bulkServer!.listen(bulkPort, hostOf(opts.listen), () => {
        bulkServer!.off('error', reject);
        resolve();
      });
    });
  }
  const transport = new GrpcTransport(opts.self, server, port, opts, bulkServer);
  bulkServer?.on('connection', (sock: net.Socket) => transport.onBulkConnection(sock));
  const proto = grpc.loadPackageDefinition(packageDefinition()) as unknown as ProtoGrpcType;
  server.addService(proto.ringstore.v1.Replica.service, {
    Stream: (call: grpc.ServerDuplexStream<Envelope__Output, Envelope>) => transport.onServerStream(call),
    Call: (call: grpc.ServerUnaryCall<Envelope__Output, Envelope>, cb: grpc.sendUnaryData<Envelope>) => transport.onServerCall(call, cb),
  } satisfies grpc.UntypedServiceImplementation);
  opts.log?.(`transport ${opts.self}: listening on ${opts.listen} (port ${port})`);
  return transport;
}
