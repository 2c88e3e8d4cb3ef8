// Canned ACLs: who besides the owner may read. ringstore keeps S3's canned
// ACLs that only widen reading (`public-read`: anyone, without a key;
// `authenticated-read`: any holder of a key); writing always needs the
// owner's key, so `public-read-write` is refused rather than half-honoured.
// Explicit grants to other accounts are not implemented.
//
// A bucket's ACL is part of its metadata in the bucket catalog (the control
// state: BucketInfo.acl, set by the catalog's setAcl for exactly one bucket
// id, so a bucket deleted and made again starts private). An object's ACL rides in its metadata
// (object-model.ts); an object without one follows its bucket's ACL, so a
// public-read bucket is a public download folder (S3 itself would also
// need each object made public-read).

import type { IncomingMessage } from 'node:http';
import type { BucketAcl } from '../coordinator/buckets-types.js';
import { S3Error } from './errors.js';
import type { AuthResult } from './sigv4.js';
import { xmlString } from './xml.js';

export type CannedAcl = BucketAcl;

export const ALL_USERS = 'http://acs.amazonaws.com/groups/global/AllUsers';
export const AUTHENTICATED_USERS = 'http://acs.amazonaws.com/groups/global/AuthenticatedUsers';
const XSI = 'http://www.w3.org/2001/XMLSchema-instance';

/** Canned ACLs that mean "the owner only" here: a bucket's owner owns every object in it. */
const OWNER_ONLY = new Set(['private', 'bucket-owner-full-control', 'bucket-owner-read']);

/** A canned ACL name as a request gives it: the ACL, or the S3 error refusing it. */
export function parseCannedAcl(v: string): CannedAcl {
  const name = v.trim();
  if (OWNER_ONLY.has(name)) return 'private';
  if (name === 'public-read' || name === 'authenticated-read') return name;
  if (name === 'public-read-write' || name === 'authenticated-read-write') {
    throw new S3Error('NotImplemented', `canned ACL ${name} is refused: ringstore never accepts a write without the owner's key (use public-read to let anyone read)`, { Header: 'x-amz-acl' });
  }
  if (name === 'aws-exec-read' || name === 'log-delivery-write') throw new S3Error('NotImplemented', `canned ACL ${name} is not supported by ringstore`, { Header: 'x-amz-acl' });
  throw new S3Error('InvalidArgument', `${JSON.stringify(name)} is not a canned ACL`, { ArgumentName: 'x-amz-acl', ArgumentValue: name });
}

/** The request's x-amz-acl, if any; explicit grant headers are not implemented. */
export function requestAcl(req: IncomingMessage): CannedAcl | undefined {
  for (const name of Object.keys(req.headers)) {
    if (name.startsWith('x-amz-grant-')) throw new S3Error('NotImplemented', `${name}: explicit grants are not supported by ringstore (canned ACLs are)`, { Header: name });
  }
  const v = req.headers['x-amz-acl'];
  if (v === undefined) return undefined;
  return parseCannedAcl(Array.isArray(v) ? v.join(',') : v);
}

/** Whether `acl` lets a caller who is not the owner read. */
export function aclAllowsRead(acl: CannedAcl | undefined, auth: AuthResult): boolean {
  return acl === 'public-read' || (acl === 'authenticated-read' && auth.anonymous !== true);
}

/** The AccessControlPolicy document GetBucketAcl / GetObjectAcl answer. */
export function policyXml(owner: string, acl: CannedAcl): Record<string, unknown> {
  // Group grants first, then the owner's (the order Ceph answers in, which s3-tests' checks rely on).
  const grants: Record<string, unknown>[] = [];
  if (acl === 'public-read') grants.push({ Grantee: { '@_xmlns:xsi': XSI, '@_xsi:type': 'Group', URI: ALL_USERS }, Permission: 'READ' });
  if (acl === 'authenticated-read') grants.push({ Grantee: { '@_xmlns:xsi': XSI, '@_xsi:type': 'Group', URI: AUTHENTICATED_USERS }, Permission: 'READ' });
  grants.push({ Grantee: { '@_xmlns:xsi': XSI, '@_xsi:type': 'CanonicalUser', ID: owner, DisplayName: owner }, Permission: 'FULL_CONTROL' });
  return { Owner: { ID: owner, DisplayName: owner }, AccessControlList: { Grant: grants } };
}

/**
 * The canned ACL an AccessControlPolicy body amounts to: the owner's
 * FULL_CONTROL plus at most READ for AllUsers or AuthenticatedUsers. Other
 * grants (to other accounts, or of other permissions) are NotImplemented.
 */
export function aclFromPolicy(doc: Record<string, unknown>, owner: string): CannedAcl {
  const ownerEl = doc['Owner'];
  if (typeof ownerEl === 'object' && ownerEl !== null) {
    const id = xmlString((ownerEl as Record<string, unknown>)['ID'])?.trim();
    if (id !== undefined && id !== owner) throw new S3Error('AccessDenied', 'the Owner of an ACL cannot be changed');
  }
  const list = doc['AccessControlList'];
  const grants = typeof list === 'object' && list !== null ? (((list as Record<string, unknown>)['Grant'] as unknown[] | undefined) ?? []) : [];
  let acl: CannedAcl = 'private';
  for (const g of grants) {
    const rec = (typeof g === 'object' && g !== null ? g : {}) as Record<string, unknown>;
    const grantee = (typeof rec['Grantee'] === 'object' && rec['Grantee'] !== null ? rec['Grantee'] : {}) as Record<string, unknown>;
    const permission = xmlString(rec['Permission'])?.trim();
    const id = xmlString(grantee['ID'])?.trim();
    const uri = xmlString(grantee['URI'])?.trim();
    if (permission === undefined || (id === undefined && uri === undefined)) throw new S3Error('MalformedACLError', 'every <Grant> needs a <Grantee> (ID or URI) and a <Permission>');
    if (id === owner && permission === 'FULL_CONTROL') continue;
    if (uri === ALL_USERS && permission === 'READ') acl = 'public-read';
    else if (uri === AUTHENTICATED_USERS && permission === 'READ' && acl !== 'public-read') acl = 'authenticated-read';
    else throw new S3Error('NotImplemented', `a grant of ${permission} to ${id ?? uri} is not supported by ringstore: only the canned ACLs private, public-read and authenticated-read are`);
  }
  return acl;
}
