// Errors callers can react to, each with a stable code. The HTTP layers map
// codes to statuses (api/errors.ts); QuorumError lives in types.ts.

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
