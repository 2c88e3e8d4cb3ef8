// The native JSON API (issue 2 §7), in the shape of seed 001 but showing
// everything Dynamo hides: who coordinated, the preference list, the replicas
// a write landed on (and the hinted ones), every replica's vector clock, the
// siblings and the causal context.
//
//   GET    /buckets                       list buckets
//   POST   /buckets/{bucket}              create (PUT too; JSON body or ?n=&r=&w= for defaults)
//   GET    /buckets/{bucket}              bucket info + keys (?prefix=&after=&limit=)
//   DELETE /buckets/{bucket}              delete an empty bucket
//   PUT    /buckets/{bucket}/{key...}     store the raw body
//   POST   /buckets/{bucket}/files        store each file of a multipart/form-data upload
//   GET    /buckets/{bucket}/{key...}     the value, or JSON with every sibling (HEAD too)
//   DELETE /buckets/{bucket}/{key...}     write a tombstone
//
// This file translates and validates; all protocol decisions are the
// coordinator's.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { isUtf8 } from 'node:buffer';
import busboy from 'busboy';
import type { Readable } from 'node:stream';
import type { BucketInfo } from '../coordinator/buckets-types.js';
import type { GetRequest, GetResult, ListRequest, ListResult, PutRequest, PutResult, Quorum } from '../coordinator/types.js';
import { decodeContext, encodeContext } from '../version/context.js';
import { keyProblem } from '../store/store.js';
import { liveSiblings, siblingClock, type NodeId, type Sibling, type VersionVector } from '../version/dvv.js';
import type { FileEvents } from '../files/user-index.js';
import { ApiError, errorBody, toApiError } from './errors.js';
import { answerEarly, methodNotAllowed, readBody, sendJson, type ParsedUrl, type RequestCtx, type RouteHandler } from './http.js';

/** What the native API needs from the coordinator (coordinator/coordinator.ts implements it). */
export interface NativeCoordinator {
  put(req: PutRequest): Promise<PutResult>;
  get(req: GetRequest): Promise<GetResult>;
  list(req: ListRequest): Promise<ListResult>;
}

/** What the native API needs from the bucket catalog (coordinator/buckets.ts implements it). */
export interface NativeBuckets {
  create(name: string, opts: { owner?: string; quorum?: Partial<Quorum> }): Promise<{ created: boolean; bucket: BucketInfo }>;
  remove(name: string): Promise<void>;
  get(name: string): Promise<BucketInfo | undefined>;
  list(): Promise<BucketInfo[]>;
}

export interface NativeApiDeps {
  readonly self: NodeId;
  readonly coordinator: NativeCoordinator;
  readonly buckets: NativeBuckets;
  /** Number of nodes in the current layout: the upper bound of n. */
  clusterSize(): number;
  /** Defaults for buckets created without explicit quorum settings (clamped to the cluster size). */
  readonly defaultQuorum: Quorum;
  /** The largest value one PUT or one uploaded file may carry. */
  readonly maxObjectBytes: number;
  /** Called for failures inside a multipart upload that are not the client's fault. */
  readonly onInternalError?: (err: unknown, what: string) => void;
  /** The per-user file index (files/user-index.ts); a file's owner here is its bucket's owner (no authentication yet). */
  readonly files?: FileEvents;
}

export const MAX_KEY_BYTES = 1024;
export const LIST_LIMIT_DEFAULT = 1000;
export const LIST_LIMIT_MAX = 10_000;
/** Files of one multipart upload stored at the same time (bounds memory to this many objects). */
const UPLOAD_PARALLEL_FILES = 4;
const UPLOAD_MAX_FILES = 1000;

const CONTEXT_HEADER = 'x-ringstore-context';

// ---------------------------------------------------------------------------
// Validation

const BUCKET_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const IPV4_RE = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

/** S3's rules: 3-63 characters of lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit. */
export function validateBucketName(name: string): void {
  let why: string | undefined;
  if (name.length < 3 || name.length > 63) why = 'must be 3 to 63 characters long';
  else if (!BUCKET_RE.test(name)) why = 'may contain only lowercase letters, digits, dots and hyphens, and must start and end with a letter or digit';
  else if (name.includes('..')) why = 'must not contain two adjacent dots';
  else if (name.includes('.-') || name.includes('-.')) why = 'must not contain a dot next to a hyphen';
  else if (IPV4_RE.test(name)) why = 'must not look like an IP address';
  if (why !== undefined) throw new ApiError('InvalidBucketName', `bucket name ${JSON.stringify(name)} ${why}`, { bucket: name });
}

export function validateKey(key: string): void {
  if (key.length === 0) throw new ApiError('InvalidKey', 'the key is empty');
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > MAX_KEY_BYTES) throw new ApiError('KeyTooLong', `the key is ${bytes} bytes of UTF-8; at most ${MAX_KEY_BYTES} are allowed`, { max_bytes: MAX_KEY_BYTES, key_bytes: bytes });
  const problem = keyProblem(key);
  if (problem !== undefined) throw new ApiError('InvalidKey', `the key ${problem}`);
}

function decodeSegment(raw: string, code: 'InvalidBucketName' | 'InvalidKey'): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new ApiError(code, `bad percent-encoding in ${JSON.stringify(raw.slice(0, 100))}`);
  }
}

export interface QuorumParams {
  n?: number;
  r?: number;
  w?: number;
}

function parseQuorumValue(name: string, raw: unknown): number | undefined {
  if (raw === undefined || raw === null || raw === '') return undefined;
  const v = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d{1,6}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(v) || v < 1) throw new ApiError('InvalidQuorum', `${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return v;
}

export function parseQuorumParams(src: { get(name: string): unknown }): QuorumParams {
  const out: QuorumParams = {};
  for (const name of ['n', 'r', 'w'] as const) {
    const v = parseQuorumValue(name, src.get(name) ?? undefined);
    if (v !== undefined) out[name] = v;
  }
  return out;
}

/**
 * `?sloppy=false` forbids fallback nodes for this write (strict quorum, like
 * Riak's pw): owners the membership view holds down count as failed instead
 * of being replaced by a hinted stand-in. Default: sloppy (Dynamo §4.6).
 */
export function parseSloppy(query: URLSearchParams): { sloppy?: boolean } {
  const v = query.get('sloppy');
  if (v === null) return {};
  if (v === 'false' || v === '0') return { sloppy: false };
  if (v === 'true' || v === '1' || v === '') return { sloppy: true };
  throw new ApiError('InvalidArgument', `sloppy must be true or false, got ${JSON.stringify(v)}`);
}

/**
 * The quorum a request runs with: explicit values are checked strictly
 * (1 <= r, w <= n <= nodes); defaults from the bucket are clamped to the n in
 * force, so that `?n=1` alone is a valid request.
 */
export function resolveQuorum(defaults: Quorum, given: QuorumParams, clusterSize: number): Quorum {
  const n = given.n ?? Math.min(defaults.n, clusterSize);
  const bad = (message: string): ApiError =>
    new ApiError('InvalidQuorum', message, { n: given.n ?? null, r: given.r ?? null, w: given.w ?? null, nodes: clusterSize });
  if (n < 1) throw bad('n must be at least 1');
  if (n > clusterSize) throw bad(`n=${n} is more than the ${clusterSize} nodes of the cluster`);
  const r = given.r ?? Math.min(defaults.r, n);
  const w = given.w ?? Math.min(defaults.w, n);
  if (r > n) throw bad(`r=${r} is more than n=${n}`);
  if (w > n) throw bad(`w=${w} is more than n=${n}`);
  return { n, r, w };
}

function parseContext(token: string | undefined, bucket: string, key: string): VersionVector | null {
  if (token === undefined || token === '') return null;
  return decodeContext(token, bucket, key);
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function wantsJson(req: IncomingMessage, url: ParsedUrl): boolean {
  const q = url.query.get('json');
  if (q !== null && q !== '0' && q !== 'false') return true;
  const accept = req.headers.accept;
  return accept !== undefined && accept.includes('application/json');
}

// ---------------------------------------------------------------------------
// Answers

function clocksJson<T extends VersionVector | null>(clocks: Readonly<Record<NodeId, T>>): Record<NodeId, T> {
  return { ...clocks };
}

export function writeAnswer(bucket: string, key: string, r: PutResult): Record<string, unknown> {
  return {
    ok: true,
    bucket,
    key,
    coordinator: r.coordinator,
    origin: r.origin,
    partition: r.partition,
    preference_list: r.preferenceList,
    replicas_written: r.replicasWritten,
    hinted: r.hinted.map((h) => ({ node: h.node, for: h.for })),
    vector_clocks: clocksJson(r.vectorClocks),
    siblings: liveSiblings(r.set).length,
    context: encodeContext(r.context, bucket, key),
  };
}

function siblingJson(s: Sibling): Record<string, unknown> {
  const value = s.value as Uint8Array;
  const buf = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  const out: Record<string, unknown> = {
    dot: { node: s.dot.node, counter: s.dot.counter },
    clock: siblingClock(s),
    last_modified: new Date(s.meta.ts).toISOString(),
    content_type: s.meta.contentType ?? null,
    size: buf.length,
  };
  if (s.meta.headers !== undefined && Object.keys(s.meta.headers).length > 0) out['headers'] = s.meta.headers;
  if (isUtf8(buf)) out['value'] = buf.toString('utf8');
  out['value_base64'] = buf.toString('base64');
  return out;
}

export function readAnswer(bucket: string, key: string, r: GetResult): Record<string, unknown> {
  const live = liveSiblings(r.set);
  return {
    ok: true,
    bucket,
    key,
    coordinator: r.coordinator,
    partition: r.partition,
    preference_list: r.preferenceList,
    replicas_read: r.replicasRead,
    vector_clocks: clocksJson(r.vectorClocks),
    context: encodeContext(r.context, bucket, key),
    siblings: live.map(siblingJson),
    tombstones: r.set.siblings
      .filter((s) => s.value === null)
      .map((s) => ({ dot: { node: s.dot.node, counter: s.dot.counter }, clock: siblingClock(s), last_modified: new Date(s.meta.ts).toISOString() })),
  };
}

function bucketJson(b: BucketInfo): Record<string, unknown> {
  return { name: b.name, owner: b.owner, created: new Date(b.createdMs).toISOString(), quorum: { n: b.quorum.n, r: b.quorum.r, w: b.quorum.w } };
}

// ---------------------------------------------------------------------------
// The handler

export function createNativeApi(deps: NativeApiDeps): RouteHandler {
  const { coordinator, buckets } = deps;

  const requireBucket = async (name: string): Promise<BucketInfo> => {
    const info = await buckets.get(name);
    if (info === undefined) throw new ApiError('NoSuchBucket', `bucket ${JSON.stringify(name)} does not exist`, { bucket: name });
    return info;
  };

  // -- /buckets -------------------------------------------------------------

  const listBuckets = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const all = await buckets.list();
    all.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    sendJson(res, 200, { ok: true, buckets: all.map(bucketJson) }, {}, req.method === 'HEAD');
  };

  // -- /buckets/{bucket} ------------------------------------------------------

  const createBucket = async (req: IncomingMessage, res: ServerResponse, url: ParsedUrl, bucket: string): Promise<void> => {
    let body: Record<string, unknown> = {};
    const raw = await readBody(req, 64 * 1024);
    if (raw.length > 0 && raw.toString('utf8').trim().length > 0) {
      try {
        const parsed: unknown = JSON.parse(raw.toString('utf8'));
        if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
        body = parsed as Record<string, unknown>;
      } catch (err) {
        throw new ApiError('MalformedRequest', `the body must be a JSON object: ${(err as Error).message}`);
      }
    }
    const fromBody = body['quorum'] !== undefined && typeof body['quorum'] === 'object' && body['quorum'] !== null ? (body['quorum'] as Record<string, unknown>) : body;
    const given: QuorumParams = {
      ...parseQuorumParams({ get: (k: string) => fromBody[k] }),
      ...parseQuorumParams(url.query),
    };
    const quorum = resolveQuorum(deps.defaultQuorum, given, deps.clusterSize());
    const owner = typeof body['owner'] === 'string' ? body['owner'] : undefined;
    const { created, bucket: info } = await buckets.create(bucket, owner !== undefined ? { owner, quorum } : { quorum });
    sendJson(res, 200, { ok: true, created, bucket: bucketJson(info) });
  };

  const deleteBucket = async (res: ServerResponse, bucket: string): Promise<void> => {
    await buckets.remove(bucket);
    sendJson(res, 200, { ok: true, bucket, deleted: true });
  };

  const bucketInfo = async (req: IncomingMessage, res: ServerResponse, url: ParsedUrl, bucket: string): Promise<void> => {
    const info = await requireBucket(bucket);
    if (req.method === 'HEAD') {
      sendJson(res, 200, { ok: true }, {}, true);
      return;
    }
    const limitRaw = url.query.get('limit');
    let limit = LIST_LIMIT_DEFAULT;
    if (limitRaw !== null && limitRaw !== '') {
      limit = /^\d{1,9}$/.test(limitRaw) ? Number(limitRaw) : NaN;
      if (!(limit >= 1 && limit <= LIST_LIMIT_MAX)) throw new ApiError('InvalidArgument', `limit must be an integer from 1 to ${LIST_LIMIT_MAX}`, { limit: limitRaw });
    }
    const prefix = url.query.get('prefix') ?? '';
    const after = url.query.get('after') ?? '';
    const listed = await coordinator.list({ bucket, limit, ...(prefix ? { prefix } : {}), ...(after ? { after } : {}) });
    const keys: Record<string, unknown>[] = [];
    for (const k of listed.keys) {
      const live = liveSiblings(k.set);
      if (live.length === 0) continue;
      let newest = live[0] as Sibling;
      for (const s of live) if (s.meta.ts > newest.meta.ts) newest = s;
      keys.push({
        key: k.key,
        siblings: live.length,
        size: newest.value?.byteLength ?? 0,
        content_type: newest.meta.contentType ?? null,
        last_modified: new Date(newest.meta.ts).toISOString(),
      });
    }
    const last = listed.keys[listed.keys.length - 1];
    sendJson(res, 200, {
      ok: true,
      ...bucketJson(info),
      bucket: info.name,
      prefix,
      keys,
      truncated: listed.truncated,
      next_after: listed.truncated && last !== undefined ? last.key : null,
    });
  };

  // -- /buckets/{bucket}/{key...} -------------------------------------------

  const putObject = async (req: IncomingMessage, res: ServerResponse, url: ParsedUrl, bucket: string, key: string): Promise<void> => {
    validateKey(key);
    const given = parseQuorumParams(url.query);
    const context = parseContext(headerValue(req, CONTEXT_HEADER) ?? url.query.get('context') ?? undefined, bucket, key);
    const info = await requireBucket(bucket);
    const q = resolveQuorum(info.quorum, given, deps.clusterSize());
    const sloppy = parseSloppy(url.query);
    const value = await readBody(req, deps.maxObjectBytes);
    const contentType = headerValue(req, 'content-type');
    const result = await coordinator.put({
      bucket,
      key,
      value,
      meta: contentType !== undefined ? { contentType } : {},
      context,
      n: q.n,
      w: q.w,
      ...sloppy,
    });
    await deps.files?.written({ owner: info.owner, bucket, key, size: value.length, contentType, w: q.w });
    const answer = writeAnswer(bucket, key, result);
    sendJson(res, 200, answer, { [CONTEXT_HEADER]: answer['context'] as string, 'x-ringstore-coordinator': result.coordinator });
  };

  const deleteObject = async (req: IncomingMessage, res: ServerResponse, url: ParsedUrl, bucket: string, key: string): Promise<void> => {
    validateKey(key);
    const given = parseQuorumParams(url.query);
    let token = headerValue(req, CONTEXT_HEADER) ?? url.query.get('context') ?? undefined;
    // A DELETE may carry its context as JSON too: { "context": "..." }.
    const raw = await readBody(req, 64 * 1024);
    if (token === undefined && raw.length > 0) {
      try {
        const parsed = JSON.parse(raw.toString('utf8')) as { context?: unknown };
        if (typeof parsed.context === 'string') token = parsed.context;
      } catch {
        throw new ApiError('MalformedRequest', 'a DELETE body must be empty or a JSON object such as {"context": "..."}');
      }
    }
    const context = parseContext(token, bucket, key);
    const info = await requireBucket(bucket);
    const q = resolveQuorum(info.quorum, given, deps.clusterSize());
    // Without a context, a delete removes what the origin replica holds (the
    // user asked for the key to go); with one, exactly what the read saw.
    const result = await coordinator.put({ bucket, key, value: null, meta: {}, context, supersedeVisible: true, n: q.n, w: q.w, ...parseSloppy(url.query) });
    await deps.files?.deleted({ owner: info.owner, bucket, key, w: q.w });
    const answer: Record<string, unknown> = { ...writeAnswer(bucket, key, result), deleted: true };
    sendJson(res, 200, answer, { [CONTEXT_HEADER]: answer['context'] as string, 'x-ringstore-coordinator': result.coordinator });
  };

  const getObject = async (req: IncomingMessage, res: ServerResponse, url: ParsedUrl, bucket: string, key: string): Promise<void> => {
    const head = req.method === 'HEAD';
    validateKey(key);
    const given = parseQuorumParams(url.query);
    const info = await requireBucket(bucket);
    const q = resolveQuorum(info.quorum, given, deps.clusterSize());
    const result = await coordinator.get({ bucket, key, n: q.n, r: q.r });
    const live = liveSiblings(result.set);
    const context = encodeContext(result.context, bucket, key);
    const headers: Record<string, string | number> = {
      'x-ringstore-coordinator': result.coordinator,
      'x-ringstore-siblings': live.length,
    };
    if (live.length === 0) {
      const details: Record<string, unknown> = { bucket, key, coordinator: result.coordinator, replicas_read: result.replicasRead };
      // A deleted key still has a context: a write that carries it supersedes the tombstone.
      if (result.set.siblings.length > 0) {
        details['context'] = context;
        headers[CONTEXT_HEADER] = context;
      }
      const err = new ApiError('NoSuchKey', `key ${JSON.stringify(key)} does not exist in bucket ${JSON.stringify(bucket)}`, details);
      sendJson(res, err.status, errorBody(err), headers, head);
      return;
    }
    headers[CONTEXT_HEADER] = context;
    const json = wantsJson(req, url);
    if (json || live.length > 1) {
      sendJson(res, json ? 200 : 300, readAnswer(bucket, key, result), headers, head);
      return;
    }
    const s = live[0] as Sibling;
    const value = s.value as Uint8Array;
    headers['content-type'] = s.meta.contentType ?? 'application/octet-stream';
    headers['content-length'] = value.byteLength;
    headers['etag'] = `"${s.dot.node}-${s.dot.counter}"`;
    headers['last-modified'] = new Date(s.meta.ts).toUTCString();
    headers['x-ringstore-replicas-read'] = result.replicasRead.join(',');
    res.writeHead(200, headers);
    if (head) res.end();
    else res.end(value);
  };

  // -- POST /buckets/{bucket}/files -----------------------------------------

  const upload = async (req: IncomingMessage, res: ServerResponse, url: ParsedUrl, bucket: string): Promise<void> => {
    const given = parseQuorumParams(url.query);
    const info = await requireBucket(bucket);
    const q = resolveQuorum(info.quorum, given, deps.clusterSize());
    const { files, fatal } = await storeUploadedFiles(req, deps, bucket, q);
    for (const f of files) if (f['ok'] === true) await deps.files?.written({ owner: info.owner, bucket, key: f['key'] as string, size: f['size'] as number, w: q.w });
    if (files.length === 0) {
      throw fatal ?? new ApiError('MalformedRequest', 'the form holds no file (send each file as a multipart/form-data part with a filename)');
    }
    const closing = answerEarly(req);
    const failed = files.find((f) => f['ok'] !== true);
    if (fatal === null && failed === undefined) {
      sendJson(res, 200, { ok: true, bucket, files });
      return;
    }
    // The first failing file decides the status (413 for a file too large...); a broken form is a 400.
    const fileError = failed?.['error'] as { code: string; message: string } | undefined;
    const error =
      fileError !== undefined
        ? new ApiError(fileError.code, `file ${JSON.stringify(failed?.['filename'])}: ${fileError.message}`)
        : (fatal as ApiError);
    const stored = files.filter((f) => f['ok'] === true).length;
    sendJson(res, error.status, { ...errorBody(error), bucket, stored, files }, closing);
  };

  // -- routing ----------------------------------------------------------------

  return async (req: IncomingMessage, res: ServerResponse, url: ParsedUrl, ctx: RequestCtx): Promise<void> => {
    const method = req.method ?? 'GET';
    const path = url.path;
    if (path === '/buckets' || path === '/buckets/') {
      ctx.route = 'buckets';
      if (method === 'GET' || method === 'HEAD') return listBuckets(req, res);
      throw methodNotAllowed('GET, HEAD');
    }
    const rest = path.slice('/buckets/'.length);
    const slash = rest.indexOf('/');
    const bucket = decodeSegment(slash < 0 ? rest : rest.slice(0, slash), 'InvalidBucketName');
    if (slash < 0) {
      ctx.route = 'bucket';
      validateBucketName(bucket);
      switch (method) {
        case 'GET':
        case 'HEAD':
          return bucketInfo(req, res, url, bucket);
        case 'POST':
        case 'PUT':
          return createBucket(req, res, url, bucket);
        case 'DELETE':
          return deleteBucket(res, bucket);
        default:
          throw methodNotAllowed('GET, HEAD, POST, PUT, DELETE');
      }
    }
    validateBucketName(bucket);
    const rawKey = rest.slice(slash + 1);
    if (method === 'POST') {
      if (rawKey !== 'files') throw methodNotAllowed('GET, HEAD, PUT, DELETE (POST only to /buckets/{bucket}/files)');
      ctx.route = 'upload';
      return upload(req, res, url, bucket);
    }
    ctx.route = 'object';
    const key = decodeSegment(rawKey, 'InvalidKey');
    switch (method) {
      case 'GET':
      case 'HEAD':
        return getObject(req, res, url, bucket, key);
      case 'PUT':
        return putObject(req, res, url, bucket, key);
      case 'DELETE':
        return deleteObject(req, res, url, bucket, key);
      default:
        throw methodNotAllowed('GET, HEAD, PUT, DELETE');
    }
  };
}

// ---------------------------------------------------------------------------
// Multipart upload

interface UploadOutcome {
  /** One entry per file part, in form order. */
  readonly files: Record<string, unknown>[];
  /** Why the upload stopped before the end of the form, if it did. */
  readonly fatal: ApiError | null;
}

/**
 * Streams a multipart/form-data body and stores each file under its file
 * name as soon as it is complete, a few at a time (busboy's backpressure
 * holds the socket while the slots are full). A file above the object limit
 * is never stored and the upload stops reading there. Files stored before a
 * failure stay stored (each file is its own write); the answer lists every
 * file with its own result.
 */
function storeUploadedFiles(req: IncomingMessage, deps: NativeApiDeps, bucket: string, q: Quorum): Promise<UploadOutcome> {
  let bb: busboy.Busboy;
  try {
    bb = busboy({
      headers: req.headers,
      preservePath: true,
      defParamCharset: 'utf8',
      limits: { fileSize: deps.maxObjectBytes, files: UPLOAD_MAX_FILES, fields: 100, parts: UPLOAD_MAX_FILES + 100 },
    });
  } catch (err) {
    return Promise.reject(new ApiError('MalformedRequest', `expected a multipart/form-data body: ${(err as Error).message}`));
  }
  return new Promise((resolve) => {
    const files: Record<string, unknown>[] = [];
    const pending: Promise<void>[] = [];
    const open = new Set<Readable>();
    let inflight = 0;
    const waiters: (() => void)[] = [];
    let stopped = false;
    let fatal: ApiError | null = null;

    const failEntry = (filename: string, err: unknown): Record<string, unknown> => {
      const { error, internal } = toApiError(err);
      if (internal) deps.onInternalError?.(err, `upload of ${bucket}/${filename}`);
      return { filename, key: filename, ...errorBody(error) };
    };

    /** Stops reading the form (on error, on a too-large file, or at its end) and answers once stored files are done. */
    const finish = (why: ApiError | null): void => {
      if (stopped) return;
      stopped = true;
      fatal = why;
      req.unpipe(bb);
      for (const s of open) s.destroy();
      for (const w of waiters.splice(0)) w();
      void Promise.all(pending).then(() => resolve({ files, fatal }));
    };

    const acquire = async (): Promise<void> => {
      while (inflight >= UPLOAD_PARALLEL_FILES && !stopped) await new Promise<void>((r) => waiters.push(r));
      inflight++;
    };
    const release = (): void => {
      inflight--;
      waiters.shift()?.();
    };

    bb.on('file', (_field: string, stream: Readable, fileInfo: busboy.FileInfo) => {
      const filename = fileInfo.filename ?? '';
      const index = files.length;
      files.push({ ok: false, filename });
      if (stopped) {
        stream.resume();
        return;
      }
      try {
        validateKey(filename);
      } catch (err) {
        files[index] = failEntry(filename, err);
        stream.resume();
        return;
      }
      open.add(stream);
      const task = (async () => {
        await acquire();
        try {
          if (stopped) throw new ApiError('MalformedRequest', 'not stored: the upload stopped before this file was read');
          const chunks: Buffer[] = [];
          let size = 0;
          let truncated = false;
          let complete = false;
          await new Promise<void>((done) => {
            stream.on('data', (c: Buffer) => {
              size += c.length;
              chunks.push(c);
            });
            stream.on('limit', () => {
              truncated = true;
              finish(null);
            });
            stream.on('end', () => {
              complete = true;
              done();
            });
            stream.on('error', () => done());
            stream.on('close', () => done());
            if (stream.destroyed) done();
          });
          open.delete(stream);
          if (truncated) {
            // Never store part of an object.
            throw new ApiError('EntityTooLarge', `the file is larger than the ${deps.maxObjectBytes}-byte limit of one object`, { max_bytes: deps.maxObjectBytes });
          }
          if (!complete) throw new ApiError('MalformedRequest', 'not stored: the upload ended before this file was complete');
          const value = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
          const result = await deps.coordinator.put({
            bucket,
            key: filename,
            value,
            meta: fileInfo.mimeType ? { contentType: fileInfo.mimeType } : {},
            context: null,
            n: q.n,
            w: q.w,
          });
          files[index] = { ...writeAnswer(bucket, filename, result), filename, size };
        } catch (err) {
          files[index] = failEntry(filename, err);
        } finally {
          open.delete(stream);
          release();
        }
      })();
      pending.push(task);
    });
    bb.on('filesLimit', () => finish(new ApiError('MalformedRequest', `an upload may carry at most ${UPLOAD_MAX_FILES} files`)));
    bb.on('partsLimit', () => finish(new ApiError('MalformedRequest', 'too many parts in the form')));
    bb.on('error', (err: Error) => finish(new ApiError('MalformedRequest', `malformed multipart body: ${err.message}`)));
    bb.on('close', () => finish(null));
    req.on('error', () => finish(new ApiError('MalformedRequest', 'the upload was interrupted')));
    req.on('close', () => {
      if (!req.complete) finish(new ApiError('MalformedRequest', 'the upload was interrupted'));
    });
    req.pipe(bb);
  });
}
