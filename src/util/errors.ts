// Errors in three tiers (docs/architecture.md):
//
//   1. Assertions (util/assert.ts) for broken invariants: a bug, never caught.
//   2. RingstoreError and its subclasses, below, for conditions a caller can
//      react to. Each has a stable PascalCase code (the casing S3 uses, as in
//      NoSuchBucket). The HTTP front ends map codes to statuses in one table
//      (api/errors.ts).
//   3. Plain results for domain outcomes (a key not found, a sibling set).
//
// Crossing the wire. A node that fails a request answers with an error
// message holding the code and the message (transport/messages.ts), never
// the class. The caller's transport turns it into a TransportError of kind
// 'remote' whose `remote` field is the error re-materialised by
// errorFromWire: an instance of the same class when the code is one of
// WIRE_ERRORS, a plain RingstoreError with the code otherwise. Callers test
// classes (`err.remote instanceof RefusedError`), never code strings.

/** An error a caller can react to, with a stable code. */
export class RingstoreError extends Error {
  constructor(
    readonly code: string,
    message: string,
    /** Machine-readable particulars, merged into the API's JSON error object. */
    readonly details: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
    this.name = code;
  }
}

/**
 * A replica refused a request before doing anything: it certainly changed
 * nothing, so a coordinator may send the write elsewhere instead of
 * reporting an unknown outcome.
 */
export class RefusedError extends RingstoreError {}

/** The hint table is full: the hinted write was not taken. */
export class HintsFullError extends RefusedError {
  constructor(message: string) {
    super('HintsFull', message);
  }
}

/**
 * A request carried replica data read too long ago to merge safely
 * (antientropy/data-age.ts): refused, so certainly not applied.
 */
export class StaleDataError extends RefusedError {
  constructor(message: string) {
    super('StaleData', message);
  }
}

/**
 * A client write would leave a key with more siblings than the cap
 * (coordinator/sibling-cap.ts): refused at the origin before anything is
 * stored. Only client writes are capped; merges never drop a sibling.
 */
export class TooManySiblingsError extends RefusedError {
  constructor(message: string) {
    super('TooManySiblings', message);
  }
}

/**
 * The store could not commit a write: the disk or the LMDB map is full (or
 * failing). Refused, certainly not applied: the coordinator tries another
 * origin, and a client whose write no replica could store gets 507.
 */
export class InsufficientStorageError extends RefusedError {
  constructor(message: string) {
    super('InsufficientStorage', message);
  }
}

/** A node was asked for something that component does not serve. */
export class UnsupportedRequestError extends RingstoreError {
  constructor(message: string) {
    super('UnsupportedRequest', message);
  }
}

/** The errors that keep their class across the wire, by code. */
const WIRE_ERRORS: Readonly<Record<string, new (message: string) => RingstoreError>> = {
  HintsFull: HintsFullError,
  StaleData: StaleDataError,
  TooManySiblings: TooManySiblingsError,
  InsufficientStorage: InsufficientStorageError,
  UnsupportedRequest: UnsupportedRequestError,
};

/** The error a remote node answered with, as its class on this side (see the file comment). */
export function errorFromWire(code: string | undefined, message: string): RingstoreError {
  const known = code === undefined ? undefined : WIRE_ERRORS[code];
  return known !== undefined ? new known(message) : new RingstoreError(code ?? 'InternalError', message);
}

/** The code an error travels with: its own, or InternalError for anything that has none. */
export function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.length > 0 ? code : 'InternalError';
}

/** The message of an Error, or the thrown value as text. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
