// The control plane's own failures (as opposed to a command's refusal, which
// is an ApplyResult): callers map them through api/errors.ts like any
// RingstoreError.

import { RingstoreError } from '../util/errors.js';

/**
 * No answer from the control plane in time: no leader could be reached, or
 * the entry was not applied before the deadline. For a proposal the outcome
 * is unknown (it may still be applied); retrying is safe for commands that
 * are idempotent in effect (a second createBucket of the same name by the
 * same owner answers BucketAlreadyExists with that owner).
 */
export class ControlUnavailableError extends RingstoreError {
  constructor(message: string, details: Readonly<Record<string, unknown>> = {}) {
    super('ControlUnavailable', message, details);
  }
}
