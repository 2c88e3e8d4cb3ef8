// Every failure the S3 API answers with: each error knows its S3 code and
// HTTP status (from the one code table, api/errors.ts ERROR_MAP), and
// renders as the S3 XML error body. Errors from the layers below
// (coordinator, bucket catalog, quorum) are translated here and nowhere else.

import { InvalidRequestError } from '../coordinator/errors.js';
import { errorMessage, RingstoreError } from '../util/errors.js';
import { ERROR_MAP, storageFull } from '../api/errors.js';
import { QuorumError } from '../coordinator/types.js';

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
    this.status = ERROR_MAP[code]?.s3Status ?? 500;
  }
}

export const notImplemented = (what: string): S3Error => new S3Error('NotImplemented', `${what} is not implemented by ringstore`);

/**
 * Translates anything thrown below the S3 layer. `internal` marks errors
 * that are bugs or server-side failures (logged with their stack).
 */
export function toS3Error(thrown: unknown): { error: S3Error; internal: boolean } {
  const err = storageFull(thrown); // limits: 507 when every replica is out of space
  if (err instanceof S3Error) return { error: err, internal: err.code === 'InternalError' };
  if (err instanceof RingstoreError) {
    // The S3 column of the code table; a coded error the table does not know
    // is a refusal if the coordinator called the request invalid, else a bug.
    const code = ERROR_MAP[err.code]?.s3 ?? (err instanceof InvalidRequestError ? 'InvalidArgument' : 'InternalError');
    // Garage-style: a quorum failure says how many answered and what the others said.
    const message = err instanceof QuorumError ? `quorum not reached: ${err.message}` : err.message;
    return { error: new S3Error(code, message), internal: code === 'InternalError' };
  }
  return { error: new S3Error('InternalError', `internal error: ${errorMessage(err)}`), internal: true };
}
