// Bounds on a gRPC listener (issue 11 §5). grpc-js has options for streams
// per connection and idle connections, but none for the number of
// connections: that one is set on the HTTP/2 servers grpc-js listens with
// (as grpc-server.ts widens their windows), so one more is closed at accept.

import type * as grpc from '@grpc/grpc-js';
import type http2 from 'node:http2';

export interface GrpcListenerLimits {
  readonly maxConnections: number;
  /** Concurrent calls on one connection. */
  readonly maxConcurrentStreams: number;
  /** A connection with no call in flight for this long is closed (0: never). */
  readonly idleTimeoutMs: number;
}

/** The grpc.Server options for these limits. */
export function grpcLimitOptions(l: GrpcListenerLimits): grpc.ServerOptions {
  return {
    'grpc.max_concurrent_streams': l.maxConcurrentStreams,
    ...(l.idleTimeoutMs > 0 ? { 'grpc.max_connection_idle_ms': l.idleTimeoutMs } : {}),
  };
}

/**
 * Caps the connections of every HTTP/2 server a bound grpc.Server listens
 * with, and gives each a permanent error handler (a failing session or
 * socket is closed, never thrown at the process). Call after bindAsync.
 */
export function capGrpcConnections(server: grpc.Server, maxConnections: number): void {
  const servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(servers instanceof Map)) return; // a grpc-js without this field: uncapped
  for (const h2 of servers.keys() as IterableIterator<http2.Http2Server>) {
    h2.maxConnections = maxConnections;
    h2.on('sessionError', () => undefined);
    h2.on('session', (session: http2.ServerHttp2Session) => session.on('error', () => undefined));
  }
}
