// The one place where errors become HTTP answers. Every error a client can
// react to has a stable code and one HTTP status; anything else is an
// InternalError (500), logged with its stack, and never crashes the process.

import { InvalidRequestError, RingstoreError } from '../coordinator/errors.js';
import { QuorumError } from '../coordinator/types.js';
import { ContextError } from '../version/context.js';

/** code -> HTTP status, for every code the HTTP APIs answer with. */
export const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  // 400
  InvalidBucketName: 400,
  InvalidKey: 400,
  KeyTooLong: 400,
  InvalidContext: 400,
  InvalidQuorum: 400,
  InvalidArgument: 400,
  MalformedRequest: 400,
  // 404
  NoSuchBucket: 404,
  NoSuchKey: 404,
  NotFound: 404,
  // 405
  MethodNotAllowed: 405,
  // 409
  BucketNotEmpty: 409,
  BucketAlreadyExists: 409,
  // 413
  EntityTooLarge: 413,
  // 500, 503
  InternalError: 500,
  QuorumNotReached: 503,
  ServiceUnavailable: 503,
};

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
    this.status = status ?? STATUS_BY_CODE[code] ?? 500;
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
export function toApiError(err: unknown): { error: ApiError; internal: boolean } {
  if (err instanceof ApiError) return { error: err, internal: err.status >= 500 && err.code === 'InternalError' };
  if (err instanceof QuorumError) {
    return {
      error: new ApiError('QuorumNotReached', err.message, {
        op: err.op,
        needed: err.needed,
        answered: err.answered,
        failed: err.failed,
        outcome: err.outcome,
      }),
      internal: false,
    };
  }
  if (err instanceof ContextError) return { error: new ApiError('InvalidContext', err.message), internal: false };
  if (err instanceof RingstoreError) {
    const status = STATUS_BY_CODE[err.code];
    if (status !== undefined) return { error: new ApiError(err.code, err.message, err.details), internal: status >= 500 };
    // A coded error the table does not know: a refusal of the request if the
    // coordinator called it invalid, otherwise a server-side failure.
    const invalid = err instanceof InvalidRequestError;
    return { error: new ApiError(err.code, err.message, err.details, invalid ? 400 : 500), internal: !invalid };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { error: new ApiError('InternalError', `internal error: ${message}`), internal: true };
}
