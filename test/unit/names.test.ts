// The one rule for bucket names and keys (src/store/names.ts) that the
// native API and the S3 API both enforce, each in its own error codes.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { bucketNameProblem, keyProblem, MAX_KEY_BYTES } from '../../src/store/names.js';
import { validateBucketName, validateKey } from '../../src/api/native-params.js';
import { checkKey, validBucketName } from '../../src/s3/context.js';

const GOOD_BUCKETS = ['abc', 'my-bucket', 'a.b.c', 'x'.repeat(63), '123', 'a.-b', 'a-.b', 'photos2026', 'xn-single-dash'];
const BAD_BUCKETS: readonly (readonly [string, RegExp])[] = [
  ['ab', /3 to 63/],
  ['x'.repeat(64), /3 to 63/],
  ['Upper', /lowercase/],
  ['under_score', /lowercase/],
  ['-start', /start and end/],
  ['end.', /start and end/],
  ['a..b', /adjacent dots/],
  ['192.168.5.4', /IP address/],
  ['xn--punycode', /"xn--"/],
  ['sthree-configurator', /"sthree-"/],
  ['amzn-s3-demo-bucket', /"amzn-s3-demo-"/],
  ['mine-s3alias', /"-s3alias"/],
  ['mine--ol-s3', /"--ol-s3"/],
  ['mine.mrap', /"\.mrap"/],
  ['mine--x-s3', /"--x-s3"/],
  ['mine--table-s3', /"--table-s3"/],
];

describe('bucket names', () => {
  test('names S3 accepts are accepted, by both APIs', () => {
    for (const name of GOOD_BUCKETS) {
      assert.equal(bucketNameProblem(name), undefined, name);
      assert.equal(validBucketName(name), true, name);
      validateBucketName(name);
    }
  });

  test('names S3 refuses are refused, each with its reason, by both APIs in their own codes', () => {
    for (const [name, why] of BAD_BUCKETS) {
      assert.match(bucketNameProblem(name) ?? '', why, name);
      assert.equal(validBucketName(name), false, name);
      assert.throws(() => validateBucketName(name), (e: any) => e.code === 'InvalidBucketName' && e.status === 400, name);
    }
  });
});

describe('keys', () => {
  test('a key is 1 to 1024 bytes of UTF-8, counted in bytes not characters', () => {
    assert.equal(keyProblem('k'.repeat(MAX_KEY_BYTES)), undefined);
    assert.deepEqual(keyProblem('k'.repeat(MAX_KEY_BYTES + 1)), { kind: 'tooLong', bytes: MAX_KEY_BYTES + 1 });
    assert.deepEqual(keyProblem('é'.repeat(513)), { kind: 'tooLong', bytes: 1026 });
    assert.deepEqual(keyProblem(''), { kind: 'empty' });
  });

  test('keys the store cannot list back faithfully are refused', () => {
    assert.equal(keyProblem('a\u0004')?.kind, 'unstorable');
    assert.equal(keyProblem('a\ud800')?.kind, 'unstorable');
    assert.equal(keyProblem('a\u0005/\u{1F600}'), undefined);
  });

  test('the native API answers InvalidKey, KeyTooLong; S3 answers KeyTooLongError, InvalidArgument', () => {
    const code = (f: () => void): string | undefined => {
      try {
        f();
        return undefined;
      } catch (e) {
        return (e as { code?: string }).code;
      }
    };
    assert.equal(code(() => validateKey('')), 'InvalidKey');
    assert.equal(code(() => validateKey('k'.repeat(1025))), 'KeyTooLong');
    assert.equal(code(() => validateKey('a\u0001')), 'InvalidKey');
    assert.equal(code(() => validateKey('fine')), undefined);
    assert.equal(code(() => checkKey('')), 'KeyTooLongError');
    assert.equal(code(() => checkKey('k'.repeat(1025))), 'KeyTooLongError');
    assert.equal(code(() => checkKey('a\u0001')), 'InvalidArgument');
    assert.equal(code(() => checkKey('fine')), undefined);
  });
});
