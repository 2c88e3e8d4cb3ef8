// The gRPC transport's bulk lane: requests whose values are large travel on
// a mutual-TLS connection per peer (framing in bulk.ts, TLS in bulk-tls.ts
// and node-tls.ts) instead of a unary
// gRPC call, because grpc-js spends ~1.8 ms of CPU per MB on each side
// against ~0.2 ms here (BENCHMARKS.md). The client end dials the port the
// peer announced in its stream headers and falls back to the unary Call for
// a while when it cannot; the server end feeds what it reads to the same
// request handling as the stream.

import type net from 'node:net';
import type tls from 'node:tls';

import type { NodeId } from '../version/dvv.js';
import { toEnvelope, type Envelope__Output } from './codec.js';
import { FrameReader, helloBytes, writeFrame } from './bulk.js';
import { connectBulkTls, feedFrames } from './bulk-tls.js';
import { clientTlsOptions, type NodeTlsIdentity } from './node-tls.js';
import { fail, settleEnvelope, type Pending } from './grpc-request.js';
import type { Replier } from './grpc-server.js';
import { hostOf } from './grpc-wire.js';
import { estimateSize } from './message-size.js';

/** After a failed bulk connect, requests to that peer use the unary Call for this long. */
const BULK_RETRY_MS = 30_000;
/** A bulk connection stops reading while this many of its requests are being served. */
const BULK_SERVER_INFLIGHT_MAX = 32;

/** Bounds on the server end of the lane (issue 11 §5). A peer needs one connection; these leave room for reconnects. */
export interface BulkServerLimits {
  /** The most a frame may declare (header plus attachments): the transport's message limit. */
  readonly maxFrameBytes: number;
  /** Connections open at once; one more is closed at accept. */
  readonly maxConnections: number;
  /** A connection that has not sent its hello by then is closed. */
  readonly helloTimeoutMs: number;
}

export const DEFAULT_BULK_SERVER_LIMITS: BulkServerLimits = Object.freeze({ maxFrameBytes: 64 * 1024 * 1024, maxConnections: 256, helloTimeoutMs: 10_000 });

/** The client end of a bulk-lane connection to one peer. */
export interface BulkConn {
  readonly sock: net.Socket;
  connected: boolean;
  /** Requests written on it, by envelope id, awaiting their answer. */
  readonly pending: Map<number, Pending>;
}

export interface BulkLaneContext {
  readonly self: NodeId;
  readonly connectTimeoutMs: number;
  readonly maxMessageBytes: number;
  readonly log: (msg: string) => void;
  /** This node's TLS identity: the lane is mutual TLS like the gRPC port (node-tls.ts). */
  readonly identity: NodeTlsIdentity;
}

/** What the lane needs of the peer connection (grpc-peer.ts) it serves. */
export interface BulkPeer {
  readonly id: NodeId;
  readonly address: string;
  readonly bulkPort: number | undefined;
  bulk: BulkConn | undefined;
  bulkBrokenUntil: number;
  readonly unary: Set<Pending>;
  callUnary(p: Pending): void;
}

/** The connection of the bulk lane to `peer`, dialled on first use. */
function bulkConn(ctx: BulkLaneContext, peer: BulkPeer): BulkConn {
  if (peer.bulk !== undefined) return peer.bulk;
  const host = hostOf(peer.address);
  const pending = new Map<number, Pending>();
  const reader = new FrameReader((env) => {
    const p = pending.get(env.id);
    if (p === undefined) return; // answered after its deadline
    pending.delete(env.id);
    peer.unary.delete(p);
    settleEnvelope(p, env);
  });
  // The handshake fails unless the server's certificate names this peer.
  const sock = connectBulkTls(host, peer.bulkPort as number, reader, clientTlsOptions(ctx.identity, peer.id));
  const conn: BulkConn = { sock, connected: false, pending };
  peer.bulk = conn;
  sock.write(helloBytes(ctx.self));
  // A filtered port would leave the connect hanging for minutes.
  sock.setTimeout(ctx.connectTimeoutMs, () => {
    if (!conn.connected) sock.destroy(new Error(`connect timed out after ${ctx.connectTimeoutMs} ms`));
  });
  sock.on('secureConnect', () => {
    conn.connected = true;
    sock.setTimeout(0);
    ctx.log(`transport ${ctx.self}: bulk lane to ${peer.id} (${host}:${String(peer.bulkPort)}) established`);
  });
  const gone = (err?: Error): void => {
    if (peer.bulk === conn) peer.bulk = undefined;
    const why = err?.message ?? 'closed';
    if (!conn.connected) {
      // Nothing reached the peer: use the unary Call for a while, and send these by it.
      peer.bulkBrokenUntil = Date.now() + BULK_RETRY_MS;
      ctx.log(`transport ${ctx.self}: bulk lane to ${peer.id} unavailable (${why}); unary calls for ${BULK_RETRY_MS} ms`);
      for (const p of pending.values()) if (!p.settled) peer.callUnary(p);
    } else {
      for (const p of pending.values()) {
        peer.unary.delete(p);
        fail(p, 'timeout', `bulk lane to ${peer.id} failed with the request in flight (${why})`);
      }
    }
    pending.clear();
  };
  sock.on('error', gone);
  sock.on('close', () => gone());
  return conn;
}

/** Sends one request to `peer` on its bulk lane. */
export function writeBulk(ctx: BulkLaneContext, peer: BulkPeer, p: Pending): void {
  const size = estimateSize(p.req);
  if (size > ctx.maxMessageBytes) {
    peer.unary.delete(p);
    return fail(p, 'remote', `message too large for ${peer.id}: about ${size} bytes, limit ${ctx.maxMessageBytes}`, 'MessageTooLarge');
  }
  const conn = bulkConn(ctx, peer);
  const budget = Math.max(1, p.deadlineAt - Date.now());
  conn.pending.set(p.id, p);
  p.cancel = () => conn.pending.delete(p.id);
  writeFrame(conn.sock, toEnvelope(p.id, Math.min(budget, 0xffffffff), p.req));
}

/**
 * Serves a connection from member `from` (its TLS certificate said so:
 * node-tls.ts) accepted by the bulk server: each request it carries goes to
 * `handle`, and reading pauses while too many are being served. A hello
 * that names another node closes the connection (`refused`). The socket is
 * in `sockets` until it closes.
 */
export function acceptBulkConnection(
  accepted: tls.TLSSocket,
  from: NodeId,
  handle: (env: Envelope__Output, out: Replier) => void,
  sockets: Set<net.Socket>,
  refused: (why: string) => void,
  limits: BulkServerLimits = DEFAULT_BULK_SERVER_LIMITS,
): void {
  if (sockets.size >= limits.maxConnections) {
    refused(`more than ${limits.maxConnections} bulk-lane connections`);
    accepted.on('error', () => undefined);
    accepted.destroy();
    return;
  }
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
      handle(env, {
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
    (claimed) => {
      clearTimeout(helloTimer);
      // Identity is the certificate's; a hello claiming another is a spoof.
      if (claimed !== from) throw new SpoofedHello(`its certificate names ${from} but its hello claims ${claimed}`);
    },
    // limits: frames bounded by the message limit before any allocation (issue 11 §5).
    limits.maxFrameBytes,
  );
  sock = accepted;
  feedFrames(accepted, reader, (err) => {
    if (err instanceof SpoofedHello) refused(err.message);
    accepted.destroy(err);
  });
  sock.setNoDelay(true);
  sockets.add(sock);
  const helloTimer = setTimeout(() => sock?.destroy(new Error(`no hello within ${limits.helloTimeoutMs} ms`)), limits.helloTimeoutMs);
  helloTimer.unref();
  sock.on('error', () => undefined);
  sock.on('close', () => {
    clearTimeout(helloTimer);
    sockets.delete(sock as net.Socket);
  });
}

class SpoofedHello extends Error {}
