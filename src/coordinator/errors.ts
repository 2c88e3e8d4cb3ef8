// The coordinator's errors callers can react to, each with a stable code
// (the tiers and the wire: util/errors.ts). The HTTP layers map codes to
// statuses in one table (api/errors.ts). QuorumError lives in types.ts, next
// to the results it stands in for.

import { RingstoreError } from '../util/errors.js';

export { RingstoreError };

export class NoSuchBucketError extends RingstoreError {
  constructor(bucket: string) {
    super('NoSuchBucket', `bucket ${JSON.stringify(bucket)} does not exist`);
  }
}

export class BucketExistsError extends RingstoreError {
  constructor(bucket: string) {
    super('BucketAlreadyExists', `bucket ${JSON.stringify(bucket)} already exists`);
  }
}

export class BucketNotEmptyError extends RingstoreError {
  constructor(bucket: string) {
    super('BucketNotEmpty', `bucket ${JSON.stringify(bucket)} is not empty`);
  }
}

/** A request the coordinator refuses as malformed (bad quorum numbers, bad key...). */
export class InvalidRequestError extends RingstoreError {}
