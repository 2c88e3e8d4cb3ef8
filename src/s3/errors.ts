// Every failure the S3 API answers with: each error knows its S3 code and
// HTTP status (one table, below), and renders as the S3 XML error body.
// Errors from the layers below (coordinator, bucket catalog, quorum) are
// translated here and nowhere else.

import { RingstoreError, InvalidRequestError } from '../coordinator/errors.js';
import { QuorumError } from '../coordinator/types.js';

/** S3 error code -> HTTP status, for every code this API answers with. */
export const S3_STATUS: Readonly<Record<string, number>> = {
  AccessDenied: 403,
  AccessForbidden: 403,
  AuthorizationHeaderMalformed: 400,
  AuthorizationQueryParametersError: 400,
  BadDigest: 400,
  BadRequest: 400,
  BucketAlreadyExists: 409,
  BucketAlreadyOwnedByYou: 409,
  BucketNotEmpty: 409,
  EntityTooLarge: 400,
  EntityTooSmall: 400,
  IncompleteBody: 400,
  InternalError: 500,
  InvalidAccessKeyId: 403,
  InvalidArgument: 400,
  InvalidBucketName: 400,
  InvalidDigest: 400,
  InvalidPart: 400,
  InvalidPartNumber: 400,
  InvalidPartOrder: 400,
  InvalidRange: 416,
  InvalidRequest: 400,
  KeyTooLongError: 400,
  MalformedACLError: 400,
  MalformedXML: 400,
  MetadataTooLarge: 400,
  MethodNotAllowed: 405,
  MissingContentLength: 411,
  MissingSecurityHeader: 400,
  NoSuchBucket: 404,
  NoSuchKey: 404,
  NoSuchUpload: 404,
  NoSuchVersion: 404,
  NotImplemented: 501,
  NotModified: 304,
  PreconditionFailed: 412,
  RequestTimeTooSkewed: 403,
  ServiceUnavailable: 503,
  SignatureDoesNotMatch: 403,
  UnexpectedContent: 400,
  XAmzContentSHA256Mismatch: 400,
  InvalidChunkSizeError: 400,
};

export class S3Error extends Error {
  override name = 'S3Error';
  readonly status: number;
  constructor(
    readonly code: string,
    message: string,
    /** Extra elements of the XML error body (BucketName, Key, UploadId...). */
    readonly extra: Readonly<Record<string, string | number>> = {},
    /** Response headers the answer carries (a 304 its ETag and Last-Modified). */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.status = S3_STATUS[code] ?? 500;
  }
}

export const notImplemented = (what: string): S3Error => new S3Error('NotImplemented', `${what} is not implemented by ringstore`);

/**
 * Translates anything thrown below the S3 layer. `internal` marks errors
 * that are bugs or server-side failures (logged with their stack).
 */
export function toS3Error(err: unknown): { error: S3Error; internal: boolean } {
  if (err instanceof S3Error) return { error: err, internal: err.code === 'InternalError' };
  if (err instanceof QuorumError) {
    // Garage-style: say how many answered and what the others said.
    return { error: new S3Error('ServiceUnavailable', `quorum not reached: ${err.message}`), internal: false };
  }
  if (err instanceof RingstoreError) {
    switch (err.code) {
      case 'NoSuchBucket':
      case 'BucketNotEmpty':
      case 'BucketAlreadyExists':
        return { error: new S3Error(err.code, err.message), internal: false };
    }
    if (err instanceof InvalidRequestError) return { error: new S3Error('InvalidArgument', err.message), internal: false };
    return { error: new S3Error('InternalError', err.message), internal: true };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { error: new S3Error('InternalError', `internal error: ${message}`), internal: true };
}
