// How an S3 object lives in a key's sibling: the value is the object's bytes
// (small objects) or a JSON manifest of chunk refs (large ones); the S3
// metadata rides in the sibling's `meta.headers` under their HTTP names, so
// the native API shows them as they are. Values written by other APIs
// without S3 metadata read as plain inline objects.

import { createHash } from 'node:crypto';
import type { Coordinator } from '../coordinator/coordinator.js';
import { dotKey, lwwWinner, type Sibling, type SiblingSet, type VersionVector } from '../version/dvv.js';
import type { ChunkRef } from './chunks.js';
import { S3Error } from './errors.js';
import type { ChecksumAlgorithm } from './checksum.js';
import type { CannedAcl } from './acl.js';

/** Standard headers stored with an object and returned on GET/HEAD. */
export const STORED_HEADERS = ['cache-control', 'content-disposition', 'content-encoding', 'content-language', 'expires'] as const;

const H_ETAG = 'etag';
const H_SIZE = 'x-rs-size';
const H_MTIME = 'x-rs-mtime';
const H_LAYOUT = 'x-rs-layout';
const H_PARTS = 'x-rs-parts';
const H_CKS_TYPE = 'x-rs-checksum-type';
const H_ACL = 'x-rs-acl';

export interface ObjectInfo {
  readonly etag: string;
  readonly size: number;
  readonly mtimeMs: number;
  readonly contentType: string;
  /** x-amz-meta-* (names lower-case, with the prefix) and the STORED_HEADERS. */
  readonly headers: Readonly<Record<string, string>>;
  readonly checksum?: { readonly algo: ChecksumAlgorithm; readonly value: string; readonly type: 'FULL_OBJECT' | 'COMPOSITE' };
  /** Part sizes of a multipart object, in order. */
  readonly parts?: readonly number[];
  /** The object's own canned ACL; without one it follows its bucket's (acl.ts). */
  readonly acl?: CannedAcl;
}

export interface StoredObject {
  readonly info: ObjectInfo;
  readonly inline: Uint8Array | undefined;
  readonly chunks: readonly ChunkRef[];
  readonly sibling: Sibling;
}

export interface ObjectBody {
  readonly inline?: Uint8Array;
  readonly chunks?: readonly ChunkRef[];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The value and sibling metadata to write for an object. */
export function encodeObject(info: Omit<ObjectInfo, 'mtimeMs'>, body: ObjectBody): { value: Uint8Array; meta: { contentType: string; headers: Record<string, string> } } {
  const headers: Record<string, string> = { ...info.headers, [H_ETAG]: info.etag, [H_SIZE]: String(info.size) };
  if (info.checksum !== undefined) {
    headers[`x-amz-checksum-${info.checksum.algo}`] = info.checksum.value;
    headers[H_CKS_TYPE] = info.checksum.type;
  }
  if (info.parts !== undefined) headers[H_PARTS] = JSON.stringify(info.parts);
  if (info.acl !== undefined) headers[H_ACL] = info.acl;
  let value: Uint8Array;
  if (body.chunks !== undefined) {
    headers[H_LAYOUT] = 'chunks';
    value = encoder.encode(JSON.stringify({ chunks: body.chunks }));
  } else {
    value = body.inline ?? new Uint8Array(0);
  }
  return { value, meta: { contentType: info.contentType, headers } };
}

/** Reads the S3 view of one sibling (must be live). */
export function decodeObject(s: Sibling): StoredObject {
  const value = s.value as Uint8Array;
  const h = s.meta.headers ?? {};
  let chunks: ChunkRef[] = [];
  let inline: Uint8Array | undefined = value;
  if (h[H_LAYOUT] === 'chunks') {
    const m = JSON.parse(decoder.decode(value)) as { chunks: ChunkRef[] };
    chunks = m.chunks;
    inline = undefined;
  }
  const size = h[H_SIZE] !== undefined ? Number(h[H_SIZE]) : value.length;
  const etag = h[H_ETAG] ?? createHash('md5').update(value).digest('hex');
  const mtimeMs = h[H_MTIME] !== undefined ? Number(h[H_MTIME]) : s.meta.ts;
  const headers: Record<string, string> = {};
  let checksum: ObjectInfo['checksum'];
  for (const [k, v] of Object.entries(h)) {
    if (k.startsWith('x-amz-meta-') || (STORED_HEADERS as readonly string[]).includes(k)) headers[k] = v;
    else if (k.startsWith('x-amz-checksum-')) checksum = { algo: k.slice('x-amz-checksum-'.length) as ChecksumAlgorithm, value: v, type: h[H_CKS_TYPE] === 'COMPOSITE' ? 'COMPOSITE' : 'FULL_OBJECT' };
  }
  const info: ObjectInfo = {
    etag,
    size,
    mtimeMs,
    contentType: s.meta.contentType ?? 'binary/octet-stream',
    headers,
    ...(checksum !== undefined ? { checksum } : {}),
    ...(h[H_PARTS] !== undefined ? { parts: JSON.parse(h[H_PARTS]) as number[] } : {}),
    ...(h[H_ACL] !== undefined ? { acl: h[H_ACL] as CannedAcl } : {}),
  };
  return { info, inline, chunks, sibling: s };
}

/**
 * S3 version ids name siblings: the dot (node, counter) in base64url. The
 * literal "null" (what clients send for unversioned objects) names the winner.
 */
export function versionIdOf(s: Sibling): string {
  return Buffer.from(dotKey(s.dot)).toString('base64url');
}

/** The sibling an S3 request addresses: the LWW winner, or one by version id (tombstones included). */
export function pickSibling(set: SiblingSet, versionId: string | undefined): Sibling | undefined {
  if (versionId === undefined || versionId === 'null') return s3Winner(set);
  const found = set.siblings.find((s) => versionIdOf(s) === versionId);
  if (found === undefined) throw new S3Error('NoSuchVersion', 'The specified version does not exist.');
  return found;
}

/**
 * A tombstone written by a delete-by-version-id: it supersedes exactly one
 * sibling and is not itself a delete marker, so it never wins the S3 view.
 */
export const H_VERSION_REMOVAL = 'x-rs-version-removal';

export function isVersionRemoval(s: Sibling): boolean {
  return s.value === null && s.meta.headers?.[H_VERSION_REMOVAL] !== undefined;
}

/** The S3-visible sibling: the LWW winner among values and delete markers. */
export function s3Winner(set: SiblingSet): Sibling | undefined {
  const visible = set.siblings.filter((s) => !isVersionRemoval(s));
  return visible.length === set.siblings.length ? lwwWinner(set) : lwwWinner({ siblings: visible });
}

export interface Loaded {
  readonly object: StoredObject | undefined;
  readonly set: SiblingSet;
  readonly context: VersionVector;
  /** The addressed sibling is a tombstone (a delete marker). */
  readonly deleteMarker: Sibling | undefined;
}

export async function loadObject(coordinator: Coordinator, bucket: string, key: string, versionId?: string, quorum: { n?: number; r?: number } = {}): Promise<Loaded> {
  const read = await coordinator.get({ bucket, key, n: quorum.n, r: quorum.r });
  const s = pickSibling(read.set, versionId);
  if (s === undefined) return { object: undefined, set: read.set, context: read.context, deleteMarker: undefined };
  if (s.value === null) return { object: undefined, set: read.set, context: read.context, deleteMarker: s };
  return { object: decodeObject(s), set: read.set, context: read.context, deleteMarker: undefined };
}

export function mtimeHeader(ms: number): Record<string, string> {
  return { [H_MTIME]: String(ms) };
}
