// The HTTP front of a node: one node:http server (no framework: it is the
// fastest thing Node has) that routes /health, /metrics and the native JSON
// API, times every request into Prometheus metrics, and turns every failure
// into a JSON error instead of a crash. Other routes (/cluster, /_antientropy,
// /_faults, /_s3, /users) mount beside the native one through `mounts`; the
// S3 API has its own server on its own port (s3/server.ts).
//
// Nobody in without a key (issue 11): every mount says who may enter. Admin
// routes (the default, so a new mount is closed until it says otherwise)
// need an admin token, /metrics one with the metrics-read scope, user routes
// (the native API) establish the caller (auth/http-auth.ts) before the
// handler runs; only /health and the index stay open.

import { createHash } from 'node:crypto';
import { createServer as createHttpsServer } from 'node:https';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { payloadHashOf, type HttpAuth, type Principal } from '../auth/http-auth.js';
import type { Logger } from 'pino';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { NodeId } from '../version/dvv.js';
import { ApiError, errorBody, toApiError } from './errors.js';

export interface ParsedUrl {
  /** The raw (still percent-encoded) path, without the query. */
  readonly path: string;
  readonly query: URLSearchParams;
}

/** Per-request state the router and handlers share (the metrics route label). */
export interface RequestCtx {
  route: string;
  readonly startNs: bigint;
  /** Who a user route's request proved it is; undefined for an anonymous one (the handler decides what that may do). */
  principal?: Principal | undefined;
}

export type RouteHandler = (req: IncomingMessage, res: ServerResponse, url: ParsedUrl, ctx: RequestCtx) => Promise<void>;

/** A mount point: requests whose path is `prefix` or starts with `prefix/` go to `handler`. */
export interface Mount {
  readonly prefix: string;
  readonly handler: RouteHandler;
  /** 'user': the native API's callers (SigV4 or a user token; anonymous reaches the handler as such). Default 'admin': an admin token. */
  readonly access?: 'user' | 'admin';
}

/** A certificate and key in PEM: the server speaks HTTPS. */
export interface TlsFiles {
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
}

export interface HttpServerOptions {
  readonly self: NodeId;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly mounts: readonly Mount[];
  /** Extra fields for the /health answer (addresses, uptime...). */
  readonly health?: () => Record<string, unknown>;
  /** Who may do what (auth/http-auth.ts). */
  readonly auth: HttpAuth;
  /** Serve HTTPS with this certificate. */
  readonly tls?: TlsFiles | undefined;
}

export function parseUrl(raw: string | undefined): ParsedUrl {
  const url = raw ?? '/';
  const q = url.indexOf('?');
  if (q < 0) return { path: url, query: new URLSearchParams() };
  return { path: url.slice(0, q), query: new URLSearchParams(url.slice(q + 1)) };
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string | number> = {},
  headOnly = false,
): void {
  const text = JSON.stringify(body);
  headers['content-type'] = 'application/json; charset=utf-8';
  headers['content-length'] = Buffer.byteLength(text);
  res.writeHead(status, headers);
  if (headOnly) res.end();
  else res.end(text);
}

export function sendError(res: ServerResponse, err: ApiError, headers: Record<string, string | number> = {}, headOnly = false): void {
  if (res.headersSent) {
    // Too late for a clean answer: cut the connection so the client sees a failure, not a truncated success.
    res.destroy();
    return;
  }
  if (err.status === 405 && err.details['allow'] !== undefined) headers['allow'] = String(err.details['allow']);
  // RFC 9110 §11.6.1: a 401 says which scheme would do.
  if (err.status === 401) headers['www-authenticate'] = 'Bearer realm="ringstore", AWS4-HMAC-SHA256';
  sendJson(res, err.status, errorBody(err), headers, headOnly);
}

/** The client went away before its request was complete: nothing to answer. */
export class ClientAbortedError extends Error {
  override name = 'ClientAbortedError';
}

/**
 * Reads a request body into one buffer, refusing more than `limitBytes`: a
 * declared Content-Length above the limit is refused before reading a byte,
 * and an undeclared (chunked) body is cut off as soon as it passes the limit,
 * so memory never holds more than the limit and nothing half-read is stored.
 */
export function readBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  const length = declared === undefined ? -1 : Number(declared);
  if (length > limitBytes) return Promise.reject(tooLarge(limitBytes, length));
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let done = false;
    const finish = (err: Error | null, value?: Buffer): void => {
      if (done) return;
      done = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
      if (err) reject(err);
      else resolve(value as Buffer);
    };
    const onData = (chunk: Buffer): void => {
      total += chunk.length;
      if (total > limitBytes) {
        req.pause();
        finish(tooLarge(limitBytes, -1));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total);
      const signed = payloadHashOf(req);
      if (signed !== undefined && createHash('sha256').update(body).digest('hex') !== signed) {
        finish(new ApiError('XAmzContentSHA256Mismatch', 'the body does not match the x-amz-content-sha256 the request signed'));
        return;
      }
      finish(null, body);
    };
    const onError = (err: Error): void => finish(new ClientAbortedError(err.message));
    const onClose = (): void => {
      if (!req.complete) finish(new ClientAbortedError('client closed the connection before the body was complete'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/** A refused body is discarded (never buffered) up to this many bytes, so that the client can read the answer. */
const DRAIN_MAX_BYTES = 64 * 1024 * 1024;
const DRAIN_MAX_MS = 10_000;

/**
 * Prepares an answer sent before the request body has been read to its end
 * (a refusal). Closing the connection at once makes most clients fail with
 * EPIPE/ECONNRESET before they read the answer, so a body of reasonable size
 * is read and thrown away (nothing is buffered, nothing stored) and the
 * connection stays usable; a body declared larger than that, or one that
 * keeps coming for too long, gets the connection closed. Returns the headers
 * the answer needs.
 */
export function answerEarly(req: IncomingMessage): Record<string, string> {
  if (req.complete) return {};
  const declared = req.headers['content-length'] === undefined ? -1 : Number(req.headers['content-length']);
  if (declared > DRAIN_MAX_BYTES) return { connection: 'close' };
  let seen = 0;
  const cut = (): void => {
    req.socket?.destroy();
  };
  const timer = setTimeout(cut, DRAIN_MAX_MS);
  timer.unref();
  const stop = (): void => clearTimeout(timer);
  req.on('data', (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > DRAIN_MAX_BYTES) cut();
  });
  req.once('end', stop);
  req.once('close', stop);
  req.resume();
  return {};
}

export function tooLarge(limitBytes: number, declaredBytes: number): ApiError {
  return new ApiError(
    'EntityTooLarge',
    `the body is larger than the ${limitBytes}-byte limit of one object`,
    declaredBytes >= 0 ? { max_bytes: limitBytes, declared_bytes: declaredBytes } : { max_bytes: limitBytes },
  );
}

class HttpMetrics {
  private readonly requests: Counter<'route' | 'method' | 'status'>;
  private readonly duration: Histogram<'route' | 'method' | 'status'>;
  private readonly children = new Map<string, { count: Counter.Internal; time: Histogram.Internal<'route' | 'method' | 'status'> }>();

  constructor(registry: Registry) {
    this.requests = new Counter({
      name: 'ringstore_http_requests_total',
      help: 'HTTP requests answered, by route, method and status',
      labelNames: ['route', 'method', 'status'],
      registers: [registry],
    });
    this.duration = new Histogram({
      name: 'ringstore_http_request_duration_seconds',
      help: 'HTTP request duration from arrival to the end of the answer',
      labelNames: ['route', 'method', 'status'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers: [registry],
    });
  }

  observe(route: string, method: string, status: number, seconds: number): void {
    const k = `${route}|${method}|${status}`;
    let child = this.children.get(k);
    if (child === undefined) {
      // A bounded set: routes and methods are a closed list, statuses a small one.
      const labels = { route, method, status: String(status) };
      child = { count: this.requests.labels(labels), time: this.duration.labels(labels) };
      this.children.set(k, child);
    }
    child.count.inc();
    child.time.observe(seconds);
  }
}

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'OPTIONS', 'PATCH']);

export function createHttpServer(opts: HttpServerOptions): Server {
  const { self, logger, registry, mounts } = opts;
  const metrics = new HttpMetrics(registry);
  const startedMs = Date.now();

  const builtin: Record<string, RouteHandler> = {
    '/health': async (req, res, _url, ctx) => {
      ctx.route = 'health';
      if (req.method !== 'GET' && req.method !== 'HEAD') throw methodNotAllowed('GET, HEAD');
      sendJson(res, 200, { ok: true, node: self, uptime_s: Math.round((Date.now() - startedMs) / 1000), ...opts.health?.() }, {}, req.method === 'HEAD');
    },
    // Seed 001's liveness probe (seed-apis.md §1), open like /health: it says nothing but "up".
    '/checkServerStatus': async (req, res, _url, ctx) => {
      ctx.route = 'health';
      if (req.method !== 'GET' && req.method !== 'HEAD') throw methodNotAllowed('GET, HEAD');
      const text = 'Server Up and Running';
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) });
      res.end(req.method === 'HEAD' ? undefined : text);
    },
    '/metrics': async (req, res, _url, ctx) => {
      ctx.route = 'metrics';
      await opts.auth.admin(req, 'metrics-read');
      if (req.method !== 'GET' && req.method !== 'HEAD') throw methodNotAllowed('GET, HEAD');
      const text = await registry.metrics();
      res.writeHead(200, { 'content-type': registry.contentType, 'content-length': Buffer.byteLength(text) });
      res.end(req.method === 'HEAD' ? undefined : text);
    },
    '/': async (req, res, _url, ctx) => {
      ctx.route = 'index';
      if (req.method !== 'GET' && req.method !== 'HEAD') throw methodNotAllowed('GET, HEAD');
      sendJson(
        res,
        200,
        { ok: true, service: 'ringstore', node: self, endpoints: ['/buckets', '/health', '/metrics', ...mounts.map((m) => m.prefix)] },
        {},
        req.method === 'HEAD',
      );
    },
  };

  const guarded = (m: Mount): RouteHandler => {
    if (m.access === 'user') {
      return async (req, res, url, ctx) => {
        const q = req.url?.indexOf('?') ?? -1;
        ctx.principal = await opts.auth.user(req, url.path, q < 0 ? '' : (req.url as string).slice(q + 1));
        return m.handler(req, res, url, ctx);
      };
    }
    return async (req, res, url, ctx) => {
      await opts.auth.admin(req, 'admin');
      return m.handler(req, res, url, ctx);
    };
  };
  const guardedMounts = mounts.map((m) => ({ prefix: m.prefix, handler: guarded(m) }));

  const route = (path: string): RouteHandler | undefined => {
    const b = builtin[path];
    if (b !== undefined) return b;
    for (const m of guardedMounts) {
      if (path === m.prefix || (path.startsWith(m.prefix) && path.charCodeAt(m.prefix.length) === 47 /* '/' */)) return m.handler;
    }
    return undefined;
  };

  const serverOptions = { keepAliveTimeout: 65_000, headersTimeout: 30_000, requestTimeout: 300_000 };
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const ctx: RequestCtx = { route: 'other', startNs: process.hrtime.bigint() };
    const method = req.method ?? 'GET';
    res.setHeader('x-ringstore-node', self);
    const onDone = (): void => {
      const seconds = Number(process.hrtime.bigint() - ctx.startNs) / 1e9;
      metrics.observe(ctx.route, KNOWN_METHODS.has(method) ? method : 'OTHER', res.headersSent ? res.statusCode : 499, seconds);
    };
    let handled: Promise<void>;
    try {
      const url = parseUrl(req.url);
      const handler = route(url.path);
      handled = handler ? handler(req, res, url, ctx) : Promise.reject(new ApiError('NotFound', `no such endpoint: ${url.path}`));
    } catch (err) {
      handled = Promise.reject(err);
    }
    handled
      .catch((err: unknown) => {
        if (err instanceof ClientAbortedError) {
          res.destroy();
          return;
        }
        const { error, internal } = toApiError(err);
        if (internal) logger.error({ err, method, url: req.url }, 'request failed');
        else logger.debug({ code: error.code, method, url: req.url }, 'request refused');
        sendError(res, error, answerEarly(req), method === 'HEAD');
      })
      .then(onDone)
      .catch((err: unknown) => {
        // Nothing here may become an unhandled rejection: that would end the process.
        logger.error({ err }, 'failed to answer a request');
        res.destroy();
      });
  };
  const server: Server = opts.tls !== undefined ? (createHttpsServer({ ...serverOptions, cert: opts.tls.cert, key: opts.tls.key }, onRequest) as unknown as Server) : createServer(serverOptions, onRequest);
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    // Malformed HTTP: answer 400 when the socket can still carry it; never throw.
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const body = JSON.stringify(errorBody(new ApiError('MalformedRequest', `malformed HTTP request: ${err.code ?? err.message}`)));
    socket.end(`HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  });
  return server;
}

export function methodNotAllowed(allow: string): ApiError {
  return new ApiError('MethodNotAllowed', `method not allowed here; allowed: ${allow}`, { allow });
}
