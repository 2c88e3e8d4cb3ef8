// Who is on the other end of a connection between nodes: mutual TLS on the
// gRPC port and on the bulk lane (docs/security.md, "Between nodes"). The
// certificates come from node/tls-identity.ts; this file holds what both
// transports do with them:
//
//   - both ends present their certificate and check the other's against the
//     cluster CAs (one per configured cluster key): a process without a
//     cluster key fails the TLS handshake itself;
//   - a peer's node id is the subject of its certificate, and nothing else:
//     not the `ringstore-from` metadata, not the bulk lane's hello, not a
//     field of a message;
//   - a server lets a connection through to HTTP/2 or to the bulk lane's
//     frame reader only once its certificate names a member (`isMember`), so
//     a non-member's connection is closed before any session, stream or
//     frame buffer exists for it;
//   - a client checks that the server it dialled is the node it meant.

import type * as grpc from '@grpc/grpc-js';
import * as grpcjs from '@grpc/grpc-js';
import tls from 'node:tls';

import { isNodeId, type NodeId } from '../version/dvv.js';

/** What node/tls-identity.ts issues: PEM text for node:tls. */
export interface NodeTlsIdentity {
  readonly self: NodeId;
  /** The cluster key ids, signing key first. */
  readonly keyIds: readonly string[];
  /** This node's private key. */
  readonly key: string;
  /** This node's certificate (subject CN = its id), then a cross certificate per extra key. */
  readonly certChain: string;
  /** The CA certificate of every configured cluster key: the roots a peer must chain to. */
  readonly trustedCas: string;
}

/** Who may connect: the identity to present and the member test (swappable: the control plane will own membership). */
export interface NodeSecurity {
  readonly identity: NodeTlsIdentity;
  isMember(id: NodeId): boolean;
}

/** The member test in force, swappable while connections come and go (the control plane will own membership). */
export class MemberGate {
  constructor(private test: (id: NodeId) => boolean) {}
  readonly isMember = (id: NodeId): boolean => this.test(id);
  set(test: (id: NodeId) => boolean): void {
    this.test = test;
  }
}

/**
 * What TLS names the server: node ids need not be host names, and an IP
 * address is not allowed as SNI (RFC 6066 §3). The server's identity is
 * checked against its certificate by checkPeerIs below instead.
 */
export const TLS_SERVERNAME = 'ringstore-node';

/** The node id a verified certificate names, or a reason it names none. */
export function identityOfCert(cert: tls.PeerCertificate | undefined): NodeId | { refused: string } {
  if (cert === undefined || cert === null || cert.raw === undefined) return { refused: 'no client certificate' };
  const cn = cert.subject?.CN as unknown;
  if (typeof cn !== 'string' || !isNodeId(cn)) return { refused: `certificate names no node id (subject ${JSON.stringify(cert.subject ?? null)})` };
  return cn;
}

/** The node id of the peer on a TLS socket whose handshake succeeded, or why it is refused. */
export function peerOfSocket(sock: tls.TLSSocket, isMember: (id: NodeId) => boolean): NodeId | { refused: string } {
  if (!sock.authorized) return { refused: `not authorized: ${String(sock.authorizationError ?? 'no certificate')}` };
  const id = identityOfCert(sock.getPeerCertificate());
  if (typeof id !== 'string') return id;
  if (!isMember(id)) return { refused: `${id} is not a member` };
  return id;
}

/** Server-side TLS settings of the bulk lane (gRPC gets the same from grpcServerCredentials). */
export function serverTlsOptions(identity: NodeTlsIdentity): tls.TlsOptions {
  return {
    key: identity.key,
    cert: identity.certChain,
    ca: identity.trustedCas,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.3',
  };
}

/** Client-side TLS settings for a connection to `expected`. */
export function clientTlsOptions(identity: NodeTlsIdentity, expected: NodeId): tls.ConnectionOptions {
  return {
    secureContext: clientContext(identity),
    servername: TLS_SERVERNAME,
    checkServerIdentity: (_host, cert) => checkPeerIs(expected, cert),
    minVersion: 'TLSv1.3',
  };
}

const contexts = new WeakMap<NodeTlsIdentity, tls.SecureContext>();

function clientContext(identity: NodeTlsIdentity): tls.SecureContext {
  let ctx = contexts.get(identity);
  if (ctx === undefined) {
    ctx = tls.createSecureContext({ key: identity.key, cert: identity.certChain, ca: identity.trustedCas, minVersion: 'TLSv1.3' });
    contexts.set(identity, ctx);
  }
  return ctx;
}

/** undefined when `cert` names `expected`, else the error that fails the connection. */
export function checkPeerIs(expected: NodeId, cert: tls.PeerCertificate): Error | undefined {
  const id = identityOfCert(cert);
  if (id === expected) return undefined;
  const err = new Error(`the server is not ${expected}: ${typeof id === 'string' ? `its certificate names ${id}` : id.refused}`) as Error & { code: string };
  err.code = 'ERR_RINGSTORE_WRONG_PEER';
  return err;
}

export function grpcServerCredentials(identity: NodeTlsIdentity): grpc.ServerCredentials {
  return grpcjs.ServerCredentials.createSsl(Buffer.from(identity.trustedCas), [{ private_key: Buffer.from(identity.key), cert_chain: Buffer.from(identity.certChain) }], true);
}

export function grpcChannelCredentials(identity: NodeTlsIdentity, expected: NodeId): grpc.ChannelCredentials {
  return grpcjs.credentials.createFromSecureContext(clientContext(identity), { checkServerIdentity: (_host, cert) => checkPeerIs(expected, cert) });
}

/** Channel options every secure channel to a peer needs. */
export const SECURE_CHANNEL_OPTIONS: grpc.ChannelOptions = { 'grpc.ssl_target_name_override': TLS_SERVERNAME };

/** The node id behind a gRPC call, from its TLS session, or why it is refused. */
export function peerOfCall(call: { getAuthContext(): { sslPeerCertificate?: tls.PeerCertificate } | null }, isMember: (id: NodeId) => boolean): NodeId | { refused: string } {
  const id = identityOfCert(call.getAuthContext()?.sslPeerCertificate);
  if (typeof id !== 'string') return id;
  if (!isMember(id)) return { refused: `${id} is not a member` };
  return id;
}

/**
 * Lets a TLS server's connections reach its 'secureConnection' listeners
 * (for http2: the session) only when `admit` says so; refused sockets are
 * destroyed at once. Handshake failures (no certificate, an unknown CA: the
 * wrong cluster key) are reported too.
 */
export function gateSecureConnections(server: tls.Server, admit: (sock: tls.TLSSocket) => boolean, refused: (why: string, remote: string) => void): void {
  const listeners = server.listeners('secureConnection') as ((sock: tls.TLSSocket) => void)[];
  server.removeAllListeners('secureConnection');
  server.on('secureConnection', (sock: tls.TLSSocket) => {
    if (!admit(sock)) {
      sock.destroy();
      return;
    }
    for (const l of listeners) l.call(server, sock);
  });
  reportHandshakeFailures(server, refused);
}

/** Reports failed handshakes (no certificate, an unknown CA: the wrong cluster key) and closes their sockets. */
export function reportHandshakeFailures(server: tls.Server, refused: (why: string, remote: string) => void): void {
  server.on('tlsClientError', (err: Error, sock: tls.TLSSocket) => {
    refused(`TLS handshake failed: ${err.message}`, remoteOf(sock));
    sock.destroy();
  });
}

export function remoteOf(sock: { remoteAddress?: string | undefined; remotePort?: number | undefined }): string {
  return `${sock.remoteAddress ?? '?'}:${sock.remotePort ?? '?'}`;
}

/**
 * Reports refused connections without letting a flood of them flood the
 * log: at most `burst` lines per `windowMs`, then one line with the count.
 */
export class RefusalLog {
  private windowStart = 0;
  private lines = 0;
  private suppressed = 0;
  count = 0;
  /** The last refusals, logged or not (newest last, at most 32). */
  readonly recent: string[] = [];
  constructor(
    private readonly log: (msg: string) => void,
    private readonly burst = 20,
    private readonly windowMs = 10_000,
  ) {}

  report(what: string): void {
    this.count++;
    this.recent.push(what);
    if (this.recent.length > 32) this.recent.shift();
    const now = Date.now();
    if (now - this.windowStart >= this.windowMs) {
      if (this.suppressed > 0) this.log(`refused ${this.suppressed} more connections or calls in the last ${this.windowMs} ms`);
      this.windowStart = now;
      this.lines = 0;
      this.suppressed = 0;
    }
    if (this.lines < this.burst) {
      this.lines++;
      this.log(what);
    } else this.suppressed++;
  }
}
