// The client end of the gRPC transport's connection to one peer: one
// long-lived bidirectional `Stream` call multiplexing requests by envelope
// id, a unary `Call` for requests too big for the stream, and the bulk lane
// (grpc-bulk-lane.ts) when the peer announced one.
//
// Connection life of a peer:
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

import type { NodeId } from '../version/dvv.js';
import type { Message } from './messages.js';
import { toEnvelope, type Envelope, type Envelope__Output } from './codec.js';
import type { ReplicaClient } from './generated/ringstore/v1/Replica.js';
import { Outbox, unbatch } from './grpc-outbox.js';
import { fail, settleEnvelope, errorMessage, type Pending } from './grpc-request.js';
import { writeBulk, type BulkConn, type BulkLaneContext } from './grpc-bulk-lane.js';
import { BULK_PORT_KEY, encodeNodeId, FLOW_CONTROL_WINDOW, FROM_KEY } from './grpc-wire.js';
import { estimateSize } from './message-size.js';
import { grpcChannelCredentials, SECURE_CHANNEL_OPTIONS } from './node-tls.js';

/** What a peer connection needs of the transport that owns it. */
export interface PeerContext extends BulkLaneContext {
  readonly maxBatchBytes: number;
  /** Backoff after a failed connect: doubles from initial to max (ms), with jitter. */
  readonly backoff: { readonly initial: number; readonly max: number };
  readonly Client: new (address: string, creds: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => ReplicaClient;
  /** This node listens for bulk-lane connections, so it uses the lane too. */
  readonly bulkLane: boolean;
  /** The fault hook (fault-filter.ts throughFaults) every outgoing message passes. */
  send(to: NodeId, msg: Message, commit: () => void, transmit: () => void): void;
}

export type PeerState = 'idle' | 'connecting' | 'ready' | 'backoff';

export class Peer {
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
    private readonly ctx: PeerContext,
  ) {}

  private grpcClient(): ReplicaClient {
    // Mutual TLS; the handshake fails unless the server's certificate names this peer (node-tls.ts).
    this.client ??= new this.ctx.Client(this.address, grpcChannelCredentials(this.ctx.identity, this.id), this.channelOptions());
    return this.client;
  }

  private channelOptions(): grpc.ChannelOptions {
    return {
      'grpc.max_send_message_length': this.ctx.maxMessageBytes,
      'grpc.max_receive_message_length': this.ctx.maxMessageBytes,
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      'grpc.initial_reconnect_backoff_ms': this.ctx.backoff.initial,
      'grpc.max_reconnect_backoff_ms': this.ctx.backoff.max,
      // One connection per (this transport, peer), not shared process-wide.
      'grpc.use_local_subchannel_pool': 1,
      // We do our own failure handling; retries would buffer every message.
      'grpc.enable_retries': 0,
      'grpc-node.flow_control_window': FLOW_CONTROL_WINDOW,
      ...SECURE_CHANNEL_OPTIONS,
    };
  }

  connect(): void {
    const ctx = this.ctx;
    this.state = 'connecting';
    const md = new grpc.Metadata();
    md.set(FROM_KEY, encodeNodeId(ctx.self));
    let stream: grpc.ClientDuplexStream<Envelope, Envelope__Output>;
    try {
      stream = this.grpcClient().Stream(md);
    } catch (err) {
      this.onStreamEnd(undefined, errorMessage(err));
      return;
    }
    this.stream = stream;
    this.outbox = new Outbox((env) => {
      if (this.stream === stream) stream.write(env);
    }, ctx.maxBatchBytes);
    this.connectTimer = setTimeout(() => {
      if (this.stream !== stream || this.state !== 'connecting') return;
      this.onStreamEnd(stream, `connect timed out after ${ctx.connectTimeoutMs} ms`);
    }, ctx.connectTimeoutMs);
    stream.on('metadata', (md: grpc.Metadata) => {
      if (this.stream !== stream || this.state !== 'connecting') return;
      const announced = Number(md.get(BULK_PORT_KEY)[0]);
      const bulkPort = Number.isInteger(announced) && announced > 0 && announced < 65536 ? announced : undefined;
      // A peer that restarted announces a new port: try the lane again at once.
      if (bulkPort !== this.bulkPort) this.bulkBrokenUntil = 0;
      this.bulkPort = bulkPort;
      clearTimeout(this.connectTimer);
      this.connectTimer = undefined;
      this.state = 'ready';
      this.backoffMs = 0;
      ctx.log(`transport ${ctx.self}: stream to ${this.id} (${this.address}) established`);
      for (const p of [...this.pending.values()]) this.dispatch(p);
      for (const p of [...this.unary]) if (!p.written) this.dispatch(p);
    });
    stream.on('data', (env: Envelope__Output) => unbatch(env, (e) => this.onResponse(e)));
    stream.on('error', (err: Error) => this.onStreamEnd(stream, err.message));
    stream.on('status', (st: grpc.StatusObject) => this.onStreamEnd(stream, `stream ended: ${st.details || grpc.status[st.code]}`));
  }

  /** The stream died or could not be established. */
  private onStreamEnd(stream: grpc.ClientDuplexStream<Envelope, Envelope__Output> | undefined, why: string): void {
    const ctx = this.ctx;
    if (this.stream !== stream) return;
    const wasReady = this.state === 'ready';
    this.stream = undefined;
    this.outbox = undefined;
    clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    try {
      stream?.cancel();
    } catch {
      // already ended
    }
    const pending = [...this.pending.values()];
    this.pending.clear();
    if (wasReady) {
      // Connected before: try again on the next request without waiting.
      this.state = 'idle';
      ctx.log(`transport ${ctx.self}: stream to ${this.id} lost: ${why}`);
    } else {
      this.backoffMs = this.backoffMs === 0 ? ctx.backoff.initial : Math.min(ctx.backoff.max, this.backoffMs * 2);
      const wait = Math.round(this.backoffMs * (0.8 + 0.4 * Math.random()));
      this.backoffUntil = Date.now() + wait;
      this.state = 'backoff';
      ctx.log(`transport ${ctx.self}: cannot connect to ${this.id} (${this.address}): ${why}; retry in ${wait} ms`);
    }
    for (const p of pending) {
      if (p.written) fail(p, 'timeout', `stream to ${this.id} failed with the request in flight (${why})`);
      else fail(p, 'unreachable', `cannot reach ${this.id}: ${why}`);
    }
    if (!wasReady) {
      for (const p of [...this.unary]) {
        if (!p.written) {
          this.unary.delete(p);
          fail(p, 'unreachable', `cannot reach ${this.id}: ${why}`);
        }
      }
    }
  }

  private onResponse(env: Envelope__Output): void {
    const p = this.pending.get(env.id);
    if (p === undefined) return; // answered after its deadline, or a duplicate
    this.pending.delete(env.id);
    settleEnvelope(p, env);
  }

  /** Hands a request to the network: the one place every outgoing request passes. */
  dispatch(p: Pending): void {
    if (p.settled || p.written) return;
    this.ctx.send(p.to, p.req, () => (p.written = true), () => {
      if (p.settled) return;
      if (!p.unary) this.writeStream(p);
      else if (this.ctx.bulkLane && this.bulkPort !== undefined && Date.now() >= this.bulkBrokenUntil) writeBulk(this.ctx, this, p);
      else this.callUnary(p);
    });
  }

  private writeStream(p: Pending): void {
    const outbox = this.outbox;
    if (outbox === undefined || this.state !== 'ready') {
      // Only reachable after a fault-filter delay across a stream failure.
      this.pending.delete(p.id);
      return fail(p, 'timeout', `stream to ${this.id} failed with the request in flight`);
    }
    const budget = Math.max(1, p.deadlineAt - Date.now());
    outbox.push(toEnvelope(p.id, Math.min(budget, 0xffffffff), p.req), estimateSize(p.req));
  }

  callUnary(p: Pending): void {
    const budget = Math.max(1, p.deadlineAt - Date.now());
    const md = new grpc.Metadata();
    md.set(FROM_KEY, encodeNodeId(this.ctx.self));
    const call = this.grpcClient().Call(
      toEnvelope(p.id, Math.min(budget, 0xffffffff), p.req),
      md,
      { deadline: Date.now() + budget },
      (err, env) => {
        this.unary.delete(p);
        if (p.settled) return;
        if (err !== null) {
          if (err.code === grpc.status.RESOURCE_EXHAUSTED) {
            return fail(p, 'remote', `message too large for ${this.id}: ${err.details}`, 'MessageTooLarge');
          }
          if (err.code === grpc.status.UNIMPLEMENTED) return fail(p, 'remote', err.details, 'Unimplemented');
          return fail(p, 'timeout', `call to ${this.id} failed, outcome unknown: ${err.details}`);
        }
        if (env === undefined) return fail(p, 'remote', `empty response from ${this.id}`, 'BadResponse');
        settleEnvelope(p, env);
      },
    );
    p.cancel = () => call.cancel();
  }

  onDeadline(p: Pending): void {
    p.timer = undefined;
    this.pending.delete(p.id);
    this.unary.delete(p);
    p.cancel?.();
    if (p.written) fail(p, 'timeout', `request ${p.req.type} to ${p.to} timed out`);
    else fail(p, 'unreachable', `no connection to ${p.to} before the deadline`);
  }

  /** Closes everything to this peer; its requests fail ('timeout' if written, else 'unreachable'). */
  drop(why: string): void {
    const stream = this.stream;
    this.stream = undefined;
    clearTimeout(this.connectTimer);
    for (const p of this.pending.values()) {
      fail(p, p.written ? 'timeout' : 'unreachable', `${why} (${this.id})`);
    }
    this.pending.clear();
    for (const p of this.unary) {
      p.cancel?.();
      fail(p, p.written ? 'timeout' : 'unreachable', `${why} (${this.id})`);
    }
    this.unary.clear();
    this.bulk?.pending.clear();
    this.bulk?.sock.destroy();
    this.bulk = undefined;
    try {
      stream?.cancel();
    } catch {
      // already ended
    }
    this.client?.close();
    this.state = 'idle';
  }
}
