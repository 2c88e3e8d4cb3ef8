// A bound on everything a client can make a node hold (issue 11 §5;
// TigerBeetle's "put a limit on everything"), with a precise answer when one
// is reached. The settings live here, as the `limits` setting
// (RINGSTORE_LIMITS, a JSON object overriding some of DEFAULT_LIMITS); node.ts
// applies them with a few lines. docs/security.md "Limits" lists them.

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
  /** An open S3 multipart upload is aborted (its parts collected) this long after it was created. */
  readonly multipartExpiryMs: number;
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
  multipartExpiryMs: 7 * 24 * 3600 * 1000,
});
