// Conditional requests (RFC 7232 as S3 applies them) and byte ranges.

import type { IncomingMessage } from 'node:http';
import { S3Error } from './errors.js';
import { httpDate } from './http-util.js';
import type { ObjectInfo } from './object-model.js';

function etagList(v: string): string[] {
  return v.split(',').map((s) => s.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1'));
}

export function etagMatches(v: string, etag: string): boolean {
  const list = etagList(v);
  return list.includes('*') || list.includes(etag);
}

const seconds = (ms: number): number => Math.floor(ms / 1000);

/**
 * GET/HEAD conditions: If-Match and If-Unmodified-Since fail with 412,
 * If-None-Match and If-Modified-Since with 304. With `prefix`
 * ('x-amz-copy-source-') the copy-source forms, which all fail with 412.
 */
export function checkReadConditions(req: IncomingMessage, info: ObjectInfo, prefix = ''): void {
  const h = (n: string): string | undefined => {
    const v = req.headers[prefix + n];
    return Array.isArray(v) ? v.join(',') : v;
  };
  const notModified = prefix === '' ? 'NotModified' : 'PreconditionFailed';
  const ifMatch = h('if-match');
  const ifUnmod = h('if-unmodified-since');
  const ifNone = h('if-none-match');
  const ifMod = h('if-modified-since');
  // Most reads carry no condition: nothing more to do (and no validators to format).
  if (ifMatch === undefined && ifUnmod === undefined && ifNone === undefined && ifMod === undefined) return;
  // RFC 7232 §4.1: a 304 carries the validators a 200 would have.
  const validators: Record<string, string> = prefix === '' ? { etag: `"${info.etag}"`, 'last-modified': httpDate(info.mtimeMs) } : {};
  if (ifMatch !== undefined) {
    if (!etagMatches(ifMatch, info.etag)) throw new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: 'If-Match' });
  } else if (ifUnmod !== undefined) {
    const t = Date.parse(ifUnmod);
    if (!Number.isNaN(t) && seconds(info.mtimeMs) > seconds(t)) throw new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: 'If-Unmodified-Since' });
  }
  if (ifNone !== undefined) {
    if (etagMatches(ifNone, info.etag)) throw new S3Error(notModified, 'Not Modified', {}, validators);
  } else if (ifMod !== undefined) {
    const t = Date.parse(ifMod);
    if (!Number.isNaN(t) && seconds(info.mtimeMs) <= seconds(t)) throw new S3Error(notModified, 'Not Modified', {}, validators);
  }
}

/**
 * Conditional writes: `If-None-Match: *` (only if absent) and `If-Match`
 * (only if the current ETag matches). Checked against a quorum read just
 * before the commit, so two racing conditional writers can both succeed:
 * the store has no compare-and-swap (documented in docs/s3.md).
 */
export function checkWriteConditions(req: IncomingMessage, current: ObjectInfo | undefined): void {
  const ifNone = req.headers['if-none-match'];
  const ifMatch = req.headers['if-match'];
  if (ifNone !== undefined) {
    // "*": only if absent; ETags: only if the current object is none of them.
    if (current !== undefined && etagMatches(ifNone, current.etag)) throw new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: 'If-None-Match' });
  }
  if (ifMatch !== undefined) {
    if (current === undefined) throw new S3Error('NoSuchKey', 'The specified key does not exist.');
    if (!etagMatches(ifMatch, current.etag)) throw new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: 'If-Match' });
  }
}

export function hasWriteConditions(req: IncomingMessage): boolean {
  return req.headers['if-none-match'] !== undefined || req.headers['if-match'] !== undefined;
}

/**
 * A single `bytes=` range against an object of `size` bytes: [start, end),
 * undefined to serve the whole object (absent or ignorable header), or a
 * 416 InvalidRange when it cannot be satisfied.
 */
export function parseRange(v: string | undefined, size: number): { start: number; end: number } | undefined {
  if (v === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(v.trim());
  // Multiple ranges and other units: serve the whole object, as S3 does.
  if (m === null) return undefined;
  const a = m[1]!;
  const b = m[2]!;
  const unsatisfiable = () => new S3Error('InvalidRange', 'The requested range is not satisfiable', { RangeRequested: v, ActualObjectSize: size });
  if (a === '' && b === '') return undefined;
  if (a === '') {
    const n = Number(b);
    if (n === 0 || size === 0) throw unsatisfiable();
    return { start: Math.max(0, size - n), end: size };
  }
  const start = Number(a);
  if (start >= size) throw unsatisfiable();
  const last = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  if (last < start) return undefined; // syntactically invalid: ignored (RFC 7233 §3.1)
  return { start, end: last + 1 };
}
