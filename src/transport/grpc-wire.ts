// What both ends of a gRPC connection between nodes agree on: the metadata
// that names the caller (a claim, checked) and announces the bulk lane, the largest message,
// and the HTTP/2 flow-control window.

import type * as grpc from '@grpc/grpc-js';

import type { NodeId } from '../version/dvv.js';

export const DEFAULT_MAX_MESSAGE = 64 * 1024 * 1024;
/** HTTP/2 stream and connection receive window, on both sides of a connection. */
export const FLOW_CONTROL_WINDOW = 16 * 1024 * 1024;
/**
 * Request-metadata key: the id the calling node claims. Never trusted: the
 * caller's id is its TLS certificate's, and a claim of another is refused
 * (node-tls.ts, grpc-server.ts).
 */
export const FROM_KEY = 'ringstore-from';
/** Response-header key of the stream: the port of the server's bulk lane. */
export const BULK_PORT_KEY = 'ringstore-bulk';

/** The host part of host:port (IPv6 in brackets allowed). */
export function hostOf(address: string): string {
  const i = address.lastIndexOf(':');
  const host = i < 0 ? address : address.slice(0, i);
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

export function encodeNodeId(id: NodeId): string {
  return encodeURIComponent(id);
}

export function decodeNodeId(md: grpc.Metadata): NodeId {
  const v = md.get(FROM_KEY)[0];
  if (typeof v !== 'string') return '';
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}
