// A bound on everything a client can make a node hold (issue 11 §5;
// TigerBeetle's "put a limit on everything"), with a precise answer when one
// is reached. The settings live here, as the `limits` setting
// (RINGSTORE_LIMITS, a JSON object overriding some of DEFAULT_LIMITS); node.ts
// applies them with a few lines. docs/security.md "Limits" lists them.

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { ApiError } from '../api/errors.js';
import { sendError } from '../api/http.js';
import { S3Error } from '../s3/errors.js';
import { requestId, sendS3Error } from '../s3/http-util.js';
import type { GrpcListenerLimits } from '../transport/grpc-limits.js';
import type { Logger } from 'pino';
import { Gauge, type Registry } from 'prom-client';
import type { LmdbStore } from '../store/lmdb-store.js';
import { InsufficientStorageError } from '../util/errors.js';


/** The `limits` setting. */
export interface LimitSettings {
  /** Siblings a client write may leave on a key (coordinator/sibling-cap.ts; Riak's default). */
  readonly maxSiblings: number;
  /** Open connections per HTTP listener (native, S3); one more is closed at accept. */
  readonly maxConnections: number;
  /** HTTP requests being served at once on this node, all listeners together; beyond it: 503 SlowDown. */
  readonly maxRequestsInFlight: number;
  /** Declared request body bytes (Content-Length) being received at once on this node; beyond it: 503 SlowDown. */
  readonly maxBytesInFlight: number;
  /** The request line and headers must arrive within this (slow-loris). */
  readonly headersTimeoutMs: number;
  /** A whole request, body included, must arrive within this. */
  readonly requestTimeoutMs: number;
  /** A connection with no traffic for this long is closed. */
  readonly idleTimeoutMs: number;
  /** Request line plus headers, in bytes; more is answered 431. */
  readonly maxHeaderBytes: number;
}

export const DEFAULT_LIMITS: LimitSettings = Object.freeze({
  maxSiblings: 100,
  maxConnections: 1024,
  maxRequestsInFlight: 512,
  maxBytesInFlight: 512 * 1024 * 1024,
  headersTimeoutMs: 20_000,
  requestTimeoutMs: 300_000,
  idleTimeoutMs: 60_000,
  maxHeaderBytes: 16 * 1024,
});

/** What the public gRPC file API gets of the limits. */
export function filesGrpcLimits(l: LimitSettings): GrpcListenerLimits {
  return { maxConnections: l.maxConnections, maxConcurrentStreams: 100, idleTimeoutMs: l.idleTimeoutMs };
}

/**
 * Requests and declared body bytes in flight on one node, across its HTTP
 * listeners. A request past either bound is answered 503 SlowDown at once
 * (with Retry-After), before its body is read: the client backs off
 * instead of the node queueing work it cannot finish. One request bigger
 * than the byte budget alone is let through when nothing else is in flight.
 */
export class RequestGate {
  private inflight = 0;
  private bytes = 0;
  /** Requests refused so far (a /metrics gauge could show it). */
  refused = 0;

  constructor(private readonly limits: Pick<LimitSettings, 'maxRequestsInFlight' | 'maxBytesInFlight'>) {}

  /** A release function to call once the answer is done, or why the request is refused. */
  admit(req: IncomingMessage): (() => void) | string {
    const declared = Number(req.headers['content-length'] ?? 0);
    const bytes = Number.isSafeInteger(declared) && declared > 0 ? declared : 0;
    if (this.inflight >= this.limits.maxRequestsInFlight) {
      this.refused++;
      return `${this.inflight} requests in flight on this node (limit ${this.limits.maxRequestsInFlight}); retry after a pause`;
    }
    if (this.bytes > 0 && this.bytes + bytes > this.limits.maxBytesInFlight) {
      this.refused++;
      return `${this.bytes} request body bytes in flight on this node (limit ${this.limits.maxBytesInFlight}); retry after a pause`;
    }
    this.inflight++;
    this.bytes += bytes;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inflight--;
      this.bytes -= bytes;
    };
  }

  get counts(): { inflight: number; bytes: number } {
    return { inflight: this.inflight, bytes: this.bytes };
  }
}

type Refuse = (req: IncomingMessage, res: ServerResponse, why: string) => void;

/** 503 SlowDown in the native API's JSON. */
export const refuseJson: Refuse = (_req, res, why) => {
  // The body is not read: close the connection after the answer rather than drain it.
  sendError(res, new ApiError('SlowDown', why), { 'retry-after': '1', connection: 'close' });
};

/** 503 SlowDown in S3's XML. */
export const refuseS3: Refuse = (req, res, why) => {
  res.setHeader('connection', 'close');
  sendS3Error(req, res, new S3Error('SlowDown', `Please reduce your request rate: ${why}`, {}, { 'retry-after': '1' }), req.url ?? '/', requestId());
};

/** Routes that bypass the gate: a node under load still says it is alive. */
const UNGATED = /^\/(health|metrics)(\?|$)/;

/**
 * Applies the limits to one HTTP listener: connections (closed at accept
 * past the cap), header, request and idle timeouts, the header size, and
 * the node's request gate in front of its handlers. Call once the server's
 * handlers are attached and before it listens.
 */
export function applyHttpLimits(server: Server, limits: LimitSettings, gate: RequestGate, refuse: Refuse): void {
  server.maxConnections = limits.maxConnections;
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  // The Keep-Alive header a client plans its connection reuse by must
  // promise less than the node keeps. An idle connection is closed after
  // keepAliveTimeout (node:http) and the header deadline below; a client told
  // 60 s reused one closed at 20 s ("fetch failed" in the raft-cluster test).
  // Told exactly 20 s, a client reuses up to 19 s (Node's agent keeps a 1 s
  // margin) and still lost the race now and then: a 64 MiB upload's first
  // bytes arrived while the node's event loop was busy with three others,
  // the idle timer fired first, and the upload failed with EPIPE (about one
  // 64 MiB PUT in seven at c4 in the bench). So the header says three
  // quarters of the real idle limit (15 s of 20 s), set here because
  // node:http would otherwise advertise keepAliveTimeout itself.
  server.keepAliveTimeout = Math.min(server.keepAliveTimeout, limits.idleTimeoutMs, limits.headersTimeoutMs);
  const keepAliveHeader = `timeout=${Math.max(1, Math.floor((server.keepAliveTimeout * 3) / 4 / 1000))}`;
  // node:http reads the header limit from the server at each connection (a createServer option otherwise).
  (server as unknown as { maxHeaderSize: number }).maxHeaderSize = limits.maxHeaderBytes;
  server.setTimeout(limits.idleTimeoutMs, (socket: Socket) => socket.destroy());
  server.on('error', () => undefined);
  const headers = headerDeadlines(limits.headersTimeoutMs);
  server.on('connection', (socket: Socket) => {
    socket.on('error', () => undefined);
    headers.arm(socket);
  });
  if (server.listenerCount('clientError') === 0) server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => answerClientError(err, socket));
  for (const event of ['request', 'checkContinue', 'checkExpectation'] as const) {
    const handlers = server.listeners(event) as ((req: IncomingMessage, res: ServerResponse) => void)[];
    if (handlers.length === 0) continue;
    server.removeAllListeners(event);
    server.on(event, (req: IncomingMessage, res: ServerResponse) => {
      headers.started(req.socket);
      res.setHeader('keep-alive', keepAliveHeader);
      res.once('close', () => headers.finished(req.socket));
      if (UNGATED.test(req.url ?? '')) {
        for (const h of handlers) h.call(server, req, res);
        return;
      }
      const admitted = gate.admit(req);
      if (typeof admitted === 'string') {
        try {
          refuse(req, res, admitted);
        } catch {
          res.destroy();
        }
        return;
      }
      res.once('close', admitted);
      for (const h of handlers) h.call(server, req, res);
    });
  }
}

/**
 * The header deadline, per connection: node:http checks its headersTimeout
 * only every 30 s (connectionsCheckingInterval, fixed at construction), and
 * a slow-loris client sending a byte now and then never trips the idle
 * timeout. So: a connection must start each request within `ms` of opening
 * or of its previous answer, or it is closed. (An idle keep-alive
 * connection is closed after `ms` too.)
 */
function headerDeadlines(ms: number): { arm(s: Socket): void; started(s: Socket): void; finished(s: Socket): void } {
  const state = new WeakMap<Socket, { timer: NodeJS.Timeout | undefined; active: number }>();
  const arm = (s: Socket): void => {
    let st = state.get(s);
    if (st === undefined) {
      const fresh: { timer: NodeJS.Timeout | undefined; active: number } = { timer: undefined, active: 0 };
      state.set(s, (st = fresh));
      // Once per connection, not per request: a keep-alive connection is
      // armed again after every answer, and a listener each time piled up
      // (MaxListenersExceededWarning after 11 requests, and a leak).
      s.once('close', () => clearTimeout(fresh.timer));
    }
    if (st.timer !== undefined || st.active > 0 || s.destroyed) return;
    st.timer = setTimeout(() => s.destroy(), ms);
    st.timer.unref();
  };
  return {
    arm,
    started: (s) => {
      const st = state.get(s);
      if (st === undefined) return;
      st.active++;
      clearTimeout(st.timer);
      st.timer = undefined;
    },
    finished: (s) => {
      const st = state.get(s);
      if (st === undefined) return;
      st.active = Math.max(0, st.active - 1);
      arm(s);
    },
  };
}

/** A malformed request on a listener without its own clientError handler (S3): a 4xx with a code, in XML, then close. */
function answerClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, reason, code] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', 'RequestHeaderSectionTooLarge']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', 'RequestTimeout']
        : [400, 'Bad Request', 'BadRequest'];
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>malformed HTTP request: ${String(err.code ?? 'bad request').replace(/[<>&]/g, '')}</Message></Error>`;
  socket.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/xml\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}

// ---- a full disk or LMDB map: 507, and the node stays up -------------------

/** A commit that failed for want of space (or a failing disk): lmdb-js's "Commit failed", ENOSPC, MDB_MAP_FULL. */
export function isStorageFailure(err: unknown): boolean {
  const e = err as { message?: unknown; code?: unknown; commitError?: unknown } | null;
  if (e === null || typeof e !== 'object') return false;
  const message = typeof e.message === 'string' ? e.message : '';
  return e.commitError !== undefined || /Commit failed|MDB_MAP_FULL|ENOSPC|No space left/.test(message) || e.code === 'ENOSPC' || e.code === 28 || e.code === -30792;
}

/**
 * Makes the store's writes fail with InsufficientStorageError (a refusal:
 * the coordinator tries another origin; api/errors.ts storageFull answers
 * 507 when none could store it) instead of an internal error, and marks
 * lmdb-js's separate commitError promise handled so it cannot surface as an
 * unhandled rejection. Reads are untouched: a full node keeps serving them.
 */
export function guardStorage(store: LmdbStore, self: string, onFull: (err: unknown) => void): void {
  const translate = (err: unknown): never => {
    const commitError = (err as { commitError?: { catch?: (f: () => void) => void } } | null)?.commitError;
    if (typeof commitError?.catch === 'function') commitError.catch(() => undefined);
    if (!isStorageFailure(err)) throw err;
    onFull(err);
    throw new InsufficientStorageError(`${self}: the store could not commit the write (disk or LMDB map full, or failing): ${(err as Error).message}`);
  };
  const wrap = <A extends unknown[], R>(fn: (...a: A) => Promise<R>): ((...a: A) => Promise<R>) => {
    const bound = fn.bind(store);
    return (...a: A) => {
      try {
        return bound(...a).catch(translate);
      } catch (err) {
        return Promise.reject(err).catch(translate);
      }
    };
  };
  store.update = wrap(store.update);
  store.remove = wrap(store.remove);
  store.updateHint = wrap(store.updateHint);
  store.removeHint = wrap(store.removeHint);
  store.putMeta = wrap(store.putMeta);
}

// ---- nothing crashes a node --------------------------------------------------

let guarded = false;

/**
 * Process-wide last resorts, installed once by a server process
 * (node.ts stopOnSignals). An unhandled rejection is logged with its cause
 * and the process stays up: it is a promise someone forgot (lmdb-js's
 * commitError is one), and every request has its own handler. An uncaught
 * exception is logged with its cause and the process exits with status 1:
 * after a throw that unwound past every handler the process state is
 * unknown, LMDB is crash-safe, and the supervisor (or ringstore dev)
 * restarts it. docs/security.md "Limits" says the same.
 */
export function installCrashGuards(logger: Logger): void {
  if (guarded) return;
  guarded = true;
  process.on('unhandledRejection', (reason: unknown) => {
    logger.error({ err: reason }, 'unhandled promise rejection (logged; the node stays up)');
  });
  process.on('uncaughtException', (err: Error, origin: string) => {
    logger.fatal({ err, origin }, 'uncaught exception: exiting so that the supervisor restarts the node');
    logger.flush?.();
    process.exitCode = 1;
    setImmediate(() => process.exit(1));
  });
}

/**
 * ringstore_heap_used_after_gc_bytes: only in a process started with
 * --expose-gc (the fuzz suite's nodes, never production), each scrape runs a
 * full collection first, so a leak shows as growth rather than as garbage
 * not yet collected. Also the requests the gate refused.
 */
export function registerLimitMetrics(registry: Registry, gate: RequestGate): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc === 'function') {
    new Gauge({
      name: 'ringstore_heap_used_after_gc_bytes',
      help: 'V8 heap used right after a forced full collection (only with --expose-gc)',
      registers: [registry],
      collect() {
        gc();
        this.set(process.memoryUsage().heapUsed);
      },
    });
  }
  new Gauge({
    name: 'ringstore_requests_refused_slowdown',
    help: 'HTTP requests answered 503 SlowDown (requests or bytes in flight past the limits)',
    registers: [registry],
    collect() {
      this.set(gate.refused);
    },
  });
}
