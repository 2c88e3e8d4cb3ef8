// Why a request was refused by authentication or authorization, with a
// stable code api/errors.ts maps to a status: 401 when who is asking was not
// established (no credentials, a bad or expired token, a bad signature), 403
// when it was and the answer is no (another user's bucket, a token without
// the scope).

import { RingstoreError } from '../util/errors.js';

export type AuthErrorCode =
  | 'MissingAuthentication'
  | 'InvalidToken'
  | 'ExpiredToken'
  | 'InsufficientScope'
  | 'AccessDenied'
  | 'InvalidAccessKeyId'
  | 'SignatureDoesNotMatch'
  | 'RequestTimeTooSkewed'
  | 'AuthorizationHeaderMalformed'
  | 'AuthorizationQueryParametersError'
  | 'InvalidRequest'
  | 'InvalidArgument';

export class AuthError extends RingstoreError {
  constructor(
    override readonly code: AuthErrorCode,
    message: string,
    details: Readonly<Record<string, unknown>> = {},
  ) {
    super(code, message, details);
  }
}

/** A refusal by the control plane (no such user, token or key), as the caller's error. */
export class DirectoryError extends RingstoreError {}
