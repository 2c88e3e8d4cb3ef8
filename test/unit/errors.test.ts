// Errors in three tiers: coded classes that keep their class across the wire
// (util/errors.ts), and one table from code to HTTP and S3 answers (api/errors.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errorFromWire, HintsFullError, RefusedError, RingstoreError, StaleDataError, UnsupportedRequestError } from '../../src/util/errors.js';
import { TransportError } from '../../src/transport/transport.js';
import { ERROR_MAP, toApiError } from '../../src/api/errors.js';
import { toS3Error, S3Error } from '../../src/s3/errors.js';
import { QuorumError } from '../../src/coordinator/types.js';
import { InvalidQuorumError } from '../../src/coordinator/quorum.js';
import { certainlyNotApplied, replicaFailure } from '../../src/coordinator/targets.js';
import { ContextError } from '../../src/version/context.js';
import { NoSuchBucketError } from '../../src/coordinator/errors.js';

test('every code is PascalCase and every S3 column names a code that maps to itself', () => {
  for (const [code, m] of Object.entries(ERROR_MAP)) {
    assert.match(code, /^[A-Z][A-Za-z0-9]*$/, code);
    assert.equal(ERROR_MAP[m.s3]?.s3, m.s3, `${code} -> ${m.s3}`);
    assert.equal(ERROR_MAP[m.s3]?.s3Status, m.s3Status, `${code} -> ${m.s3} status`);
  }
});

test('a refusal crosses the wire as its code and comes back as its class', () => {
  for (const err of [new HintsFullError('full'), new StaleDataError('old'), new UnsupportedRequestError('no')]) {
    const back = new TransportError('remote', 'n2', err.message, err.code).remote;
    assert.ok(back instanceof err.constructor, err.code);
    assert.equal(back?.code, err.code);
    assert.equal(back?.message, err.message);
  }
  const unknown = errorFromWire('SomethingNew', 'm');
  assert.ok(unknown instanceof RingstoreError && !(unknown instanceof RefusedError));
  assert.equal(unknown.code, 'SomethingNew');
  assert.equal(new TransportError('timeout', 'n2', 'late').remote, undefined);
});

test('only an undelivered request or a refusal is certainly not applied', () => {
  assert.ok(certainlyNotApplied(new TransportError('unreachable', 'n2', 'down')));
  assert.ok(certainlyNotApplied(new TransportError('remote', 'n2', 'full', 'HintsFull')));
  assert.ok(certainlyNotApplied(new TransportError('remote', 'n2', 'old', 'StaleData')));
  assert.ok(!certainlyNotApplied(new TransportError('timeout', 'n2', 'late')));
  assert.ok(!certainlyNotApplied(new TransportError('remote', 'n2', 'boom', 'InternalError')));
  assert.ok(!certainlyNotApplied(new HintsFullError('not through a transport')));
});

test('each failed replica keeps its own code and reason', () => {
  assert.deepEqual(replicaFailure('n2', new TransportError('remote', 'n2', 'hint table full', 'HintsFull')), { node: 'n2', code: 'HintsFull', reason: 'hint table full' });
  assert.deepEqual(replicaFailure('n3', new TransportError('timeout', 'n3', 'deadline')), { node: 'n3', code: 'Timeout', reason: 'timeout' });
  assert.deepEqual(replicaFailure('n4', new TransportError('unreachable', 'n4', 'refused')), { node: 'n4', code: 'Unreachable', reason: 'unreachable' });
  assert.deepEqual(replicaFailure('n5', new Error('disk')), { node: 'n5', code: 'InternalError', reason: 'disk' });
});

test('a quorum failure answers 503 with every replica reason in JSON, and ServiceUnavailable in S3', () => {
  const failed = [
    { node: 'n2', code: 'Timeout', reason: 'timeout' },
    { node: 'n3', code: 'HintsFull', reason: 'hint table full' },
  ];
  const q = new QuorumError('write', 2, ['n1'], failed, 'unknown');
  const api = toApiError(q);
  assert.equal(api.error.status, 503);
  assert.equal(api.error.code, 'QuorumNotReached');
  assert.equal(api.internal, false);
  assert.deepEqual(api.error.details['failed'], failed);
  assert.equal(api.error.details['outcome'], 'unknown');
  const s3 = toS3Error(q);
  assert.equal(s3.error.code, 'ServiceUnavailable');
  assert.equal(s3.error.status, 503);
  assert.match(s3.error.message, /n3: hint table full \[HintsFull\]/);
});

test('one table gives both APIs their answer for the same error', () => {
  const cases: [unknown, number, string, number][] = [
    [new NoSuchBucketError('b'), 404, 'NoSuchBucket', 404],
    [new ContextError('edited'), 400, 'InvalidArgument', 400],
    [new InvalidQuorumError('r=4 is more than n=3', { r: 4 }, 3), 400, 'InvalidArgument', 400],
    [new Error('bug'), 500, 'InternalError', 500],
  ];
  for (const [err, http, s3code, s3status] of cases) {
    assert.equal(toApiError(err).error.status, http, String(err));
    assert.equal(toS3Error(err).error.code, s3code, String(err));
    assert.equal(toS3Error(err).error.status, s3status, String(err));
  }
  assert.equal(new S3Error('EntityTooLarge', 'x').status, 400);
  assert.equal(toApiError(new InvalidQuorumError('bad', { n: 4 }, 3)).error.details['nodes'], 3);
});
