// The one place where errors become HTTP answers, for both front ends. Every
// error a client can react to has a stable PascalCase code (util/errors.ts)
// and one row in ERROR_MAP: the native JSON API's HTTP status, and the S3
// error (code and status) the S3 API answers with. s3/errors.ts renders the
// S3 column; nothing else maps codes to statuses. Anything without a code is
// an InternalError (500), logged with its stack, and never crashes the process.

import { InvalidRequestError } from '../coordinator/errors.js';
import { errorMessage, RingstoreError } from '../util/errors.js';

export interface ErrorMapping {
  /** Status of the native JSON API. */
  readonly http: number;
  /** The S3 error code the S3 API answers with, and its status. */
  readonly s3: string;
  readonly s3Status: number;
}

/** A code both APIs answer with alike (the S3 codes themselves). */
const same = (status: number, s3?: string): ErrorMapping => ({ http: status, s3: s3 ?? '', s3Status: status });
/** A code the native API answers with `http`, and S3 as the S3 code `s3` with its status. */
const as = (http: number, s3: string, s3Status: number): ErrorMapping => ({ http, s3, s3Status });

const TABLE: Record<string, ErrorMapping> = {
  // Refusals of the request: 4xx.
  InvalidBucketName: same(400),
  InvalidKey: as(400, 'InvalidArgument', 400),
  KeyTooLong: as(400, 'KeyTooLongError', 400),
  InvalidContext: as(400, 'InvalidArgument', 400),
  InvalidQuorum: as(400, 'InvalidArgument', 400),
  InvalidArgument: same(400),
  MalformedRequest: as(400, 'InvalidRequest', 400),
  NoSuchBucket: same(404),
  NoSuchKey: same(404),
  NotFound: as(404, 'InvalidRequest', 400),
  MethodNotAllowed: same(405),
  Forbidden: as(403, 'AccessDenied', 403),
  BucketNotEmpty: same(409),
  BucketAlreadyExists: same(409),
  EntityTooLarge: as(413, 'EntityTooLarge', 400),
  // Authentication (401: who is asking was not established) and authorization (403: it was, and the answer is no).
  MissingAuthentication: as(401, 'AccessDenied', 403),
  InvalidToken: as(401, 'AccessDenied', 403),
  ExpiredToken: as(401, 'ExpiredToken', 400),
  InsufficientScope: as(403, 'AccessDenied', 403),
  NoSuchUser: as(404, 'InvalidArgument', 400),
  NoSuchAccessKey: as(404, 'InvalidArgument', 400),
  NoSuchUserToken: as(404, 'InvalidArgument', 400),
  NoSuchAdminToken: as(404, 'InvalidArgument', 400),
  AccessKeyInUse: as(409, 'InvalidArgument', 400),
  InvalidCommand: as(400, 'InvalidArgument', 400),
  // limits: a client write past the sibling cap (coordinator/sibling-cap.ts).
  TooManySiblings: as(409, 'OperationAborted', 409),
  // Failures on the server's side: 5xx. The replica-level refusals only
  // reach a client if a caller lets one through instead of a quorum error.
  InternalError: same(500),
  UnsupportedRequest: as(500, 'InternalError', 500),
  QuorumNotReached: as(503, 'ServiceUnavailable', 503),
  ServiceUnavailable: same(503),
  ControlUnavailable: as(503, 'ServiceUnavailable', 503), // raft: the control plane has no leader in time
  HintsFull: as(503, 'ServiceUnavailable', 503),
  StaleData: as(503, 'ServiceUnavailable', 503),
  // limits: a node past its requests or bytes in flight; a full disk or LMDB map (node/limits.ts).
  SlowDown: same(503),
  InsufficientStorage: same(507),
  // Codes only the S3 API answers with.
  AccessDenied: same(403),
  AccessForbidden: same(403),
  AuthorizationHeaderMalformed: same(400),
  AuthorizationQueryParametersError: same(400),
  BadDigest: same(400),
  BadRequest: same(400),
  BucketAlreadyOwnedByYou: same(409),
  EntityTooSmall: same(400),
  IncompleteBody: same(400),
  InvalidAccessKeyId: as(401, 'InvalidAccessKeyId', 403),
  InvalidChunkSizeError: same(400),
  InvalidDigest: same(400),
  InvalidPart: same(400),
  InvalidPartNumber: same(400),
  InvalidPartOrder: same(400),
  InvalidRange: same(416),
  InvalidRequest: same(400),
  KeyTooLongError: same(400),
  MalformedACLError: same(400),
  MalformedXML: same(400),
  MetadataTooLarge: same(400),
  MissingContentLength: same(411),
  MissingSecurityHeader: same(400),
  NoSuchUpload: same(404),
  NoSuchVersion: same(404),
  NotImplemented: same(501),
  NotModified: same(304),
  OperationAborted: same(409),
  PreconditionFailed: same(412),
  RequestTimeTooSkewed: as(401, 'RequestTimeTooSkewed', 403),
  SignatureDoesNotMatch: as(401, 'SignatureDoesNotMatch', 403),
  UnexpectedContent: same(400),
  XAmzContentSHA256Mismatch: same(400),
};
for (const [code, m] of Object.entries(TABLE)) if (m.s3 === '') TABLE[code] = { ...m, s3: code };

/** code -> how each API answers it, for every code the HTTP APIs answer with. */
export const ERROR_MAP: Readonly<Record<string, ErrorMapping>> = TABLE;

/** The native API's status for a code: 400 for an unknown code of a refused request, else 500. */
export function httpStatus(code: string, invalidRequest = false): number {
  return ERROR_MAP[code]?.http ?? (invalidRequest ? 400 : 500);
}

/** An error meant for the client: code, status, message and optional details merged into the error object. */
export class ApiError extends Error {
  override name = 'ApiError';
  readonly status: number;
  constructor(
    readonly code: string,
    message: string,
    readonly details: Readonly<Record<string, unknown>> = {},
    status?: number,
  ) {
    super(message);
    this.status = status ?? httpStatus(code);
  }
}

/** The JSON body of every error answer. */
export interface ErrorBody {
  readonly ok: false;
  readonly error: { readonly code: string; readonly message: string; readonly [detail: string]: unknown };
}

export function errorBody(err: ApiError): ErrorBody {
  return { ok: false, error: { code: err.code, message: err.message, ...err.details } };
}

/**
 * Translates anything thrown below the API into an ApiError. Returns
 * `internal: true` when the error is not one callers can react to, so that
 * the HTTP layer logs it.
 */
export function toApiError(thrown: unknown): { error: ApiError; internal: boolean } {
  const err = storageFull(thrown);
  if (err instanceof ApiError) return { error: err, internal: err.status >= 500 && err.code === 'InternalError' };
  if (err instanceof RingstoreError) {
    // A coded error the table does not know: a refusal of the request if the
    // coordinator called it invalid, otherwise a server-side failure.
    const known = ERROR_MAP[err.code] !== undefined;
    const status = httpStatus(err.code, err instanceof InvalidRequestError);
    return { error: new ApiError(err.code, err.message, err.details, status), internal: known ? status === 500 : status >= 500 };
  }
  return { error: new ApiError('InternalError', `internal error: ${errorMessage(err)}`), internal: true };
}

/**
 * limits: a write no replica could store because every one that answered is
 * out of space is told as such (507 InsufficientStorage), not as a generic
 * quorum failure; anything else is returned as it is.
 */
export function storageFull(err: unknown): unknown {
  if (!(err instanceof RingstoreError) || err.code !== 'QuorumNotReached') return err;
  const d = err.details as { failed?: readonly { code: string }[]; outcome?: string };
  const failed = d.failed ?? [];
  if (d.outcome !== 'not_applied' || failed.length === 0 || !failed.every((f) => f.code === 'InsufficientStorage')) return err;
  return new RingstoreError('InsufficientStorage', `no replica could store the write: ${err.message}`, err.details);
}
