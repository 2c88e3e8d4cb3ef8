// The public gRPC file API (proto/files/v1/files.proto; seed 003's
// FileService, seed 002's upload/download): its own gRPC server on its own
// port, apart from the inter-node transport.
//
// Files are S3 objects: the same layout (object-model.ts: small values
// inline, larger ones as 4 MiB content-addressed chunks), the same bucket
// ownership rule (only the owner uses a bucket), the same access keys. So a
// file uploaded here downloads through S3 or the shell, and back. Bytes
// stream through the chunk store in both directions: an upload is cut into
// chunks while it arrives (storeStream waits while WRITE_PARALLEL chunk
// writes are in flight, and gRPC's flow control holds the client), a
// download reads READ_AHEAD chunks ahead and waits for the stream to drain,
// so a node's memory does not grow with the file's size.

import { capGrpcConnections, grpcLimitOptions, type GrpcListenerLimits } from '../transport/grpc-limits.js';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { storageBucket, type BucketCatalogApi, type BucketInfo } from '../coordinator/buckets-types.js';
import type { Coordinator } from '../coordinator/coordinator.js';
import { QuorumError, type GetResult } from '../coordinator/types.js';
import type { Quorum } from '../coordinator/quorum.js';
import { bucketQuorum } from '../s3/context.js';
import { ApiError, toApiError } from '../api/errors.js';
import { validateBucketName, validateKey } from '../api/native-params.js';
import { readRange, storeStream, type ChunkStore } from '../s3/chunks.js';
import type { CredentialStore } from '../auth/credential-store.js';
import { decodeObject, encodeObject, s3Winner, versionIdOf, type StoredObject } from '../s3/object-model.js';
import { liveSiblings, siblingClock, type Sibling, type VersionVector } from '../version/dvv.js';
import { AuthError, NonceCache, verifyCall } from './auth.js';
import {
  fileServiceDefinition,
  MAX_MESSAGE_BYTES,
  MESSAGE_CHUNK,
  methodPath,
  type ClockEntryMsg,
  type DownloadRequestMsg,
  type DownloadResponseMsg,
  type FileInfoMsg,
  type KeyRequestMsg,
  type ListRequestMsg,
  type ListResponseMsg,
  type PlacementMsg,
  type SearchRequestMsg,
  type StatResponseMsg,
  type UploadHeaderMsg,
  type UploadRequestMsg,
  type UploadResponseMsg,
} from './messages.js';
import type { FileEntry, UserIndex } from '../coordinator/user-index.js';
import { FILES_LIMIT_DEFAULT, FILES_LIMIT_MAX } from './users-api.js';

export interface FilesServiceDeps {
  readonly coordinator: Pick<Coordinator, 'get' | 'put' | 'list'>;
  readonly buckets: Pick<BucketCatalogApi, 'get' | 'create'>;
  readonly chunks: ChunkStore;
  readonly credentials: CredentialStore;
  readonly index: Pick<UserIndex, 'list' | 'search' | 'written' | 'deleted'>;
  readonly now: () => number;
  /** The node's configured quorum: what a bucket created without one (by S3 or by this API) uses, as S3 does. */
  readonly defaultQuorum: Quorum;
  readonly logger?: { error(obj: object, msg: string): void };
}

export interface FilesServer {
  readonly port: number;
  close(): Promise<void>;
}

/** A refusal with its gRPC status and a machine-readable code (sent as x-ringstore-error-code). */
export class FilesError extends Error {
  override name = 'FilesError';
  constructor(
    readonly status: grpc.status,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const GRPC_BY_API_CODE: Readonly<Record<string, grpc.status>> = {
  InvalidBucketName: grpc.status.INVALID_ARGUMENT,
  InvalidKey: grpc.status.INVALID_ARGUMENT,
  KeyTooLong: grpc.status.INVALID_ARGUMENT,
  InvalidArgument: grpc.status.INVALID_ARGUMENT,
  InvalidQuorum: grpc.status.INVALID_ARGUMENT,
  MalformedRequest: grpc.status.INVALID_ARGUMENT,
  NoSuchBucket: grpc.status.NOT_FOUND,
  NoSuchKey: grpc.status.NOT_FOUND,
  QuorumNotReached: grpc.status.UNAVAILABLE,
  ServiceUnavailable: grpc.status.UNAVAILABLE,
};

/** Any failure as the gRPC error a client sees; `internal` when it is a bug to log. */
export function toGrpcError(err: unknown): { error: grpc.ServiceError; internal: boolean } {
  let status: grpc.status;
  let code: string;
  let message: string;
  let internal = false;
  if (err instanceof FilesError) ({ status, code, message } = err);
  else if (err instanceof AuthError) {
    status = err.code === 'TooManyNonces' ? grpc.status.RESOURCE_EXHAUSTED : grpc.status.UNAUTHENTICATED;
    code = err.code;
    message = err.message;
  } else {
    const api = toApiError(err);
    code = api.error.code;
    message = api.error.message;
    status = GRPC_BY_API_CODE[code] ?? grpc.status.INTERNAL;
    internal = api.internal || (status === grpc.status.INTERNAL && !(err instanceof QuorumError));
  }
  const metadata = new grpc.Metadata();
  metadata.set('x-ringstore-error-code', code);
  const error = Object.assign(new Error(`${code}: ${message}`), { code: status, details: `${code}: ${message}`, metadata });
  return { error, internal };
}

function clockEntries(vv: VersionVector | null): ClockEntryMsg[] {
  return Object.entries(vv ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([node, counter]) => ({ node, counter }));
}

function infoOf(bucket: string, key: string, owner: string, obj: StoredObject): FileInfoMsg {
  return {
    bucket,
    key,
    size: obj.info.size,
    owner,
    content_type: obj.info.contentType,
    modified_ms: obj.info.mtimeMs,
    etag: obj.info.etag,
    version: versionIdOf(obj.sibling),
  };
}

function entryInfo(f: FileEntry): FileInfoMsg {
  return { bucket: f.bucket, key: f.key, size: f.size, owner: f.owner, content_type: f.contentType, modified_ms: f.mtimeMs, etag: f.etag ?? '', version: '' };
}

function limitOf(raw: number | undefined): number {
  if (raw === undefined || raw === 0) return FILES_LIMIT_DEFAULT;
  if (!Number.isInteger(raw) || raw < 1 || raw > FILES_LIMIT_MAX) throw new FilesError(grpc.status.INVALID_ARGUMENT, 'InvalidArgument', `limit must be from 1 to ${FILES_LIMIT_MAX}`);
  return raw;
}

export class FileService {
  private readonly nonces = new NonceCache();

  constructor(private readonly deps: FilesServiceDeps) {}

  /** The caller's user, from the call's signed metadata. */
  private async caller(call: { readonly metadata: grpc.Metadata }, method: string): Promise<string> {
    const get = (name: string): string | undefined => {
      const v = call.metadata.get(name)[0];
      return v === undefined ? undefined : typeof v === 'string' ? v : v.toString('utf8');
    };
    return (await verifyCall(get, methodPath(method), this.deps.credentials, this.nonces, this.deps.now())).owner;
  }

  /** The bucket, which must exist (or is created for the caller) and belong to the caller, as in S3. */
  private async ownedBucket(name: string, owner: string, create = false): Promise<BucketInfo> {
    validateBucketName(name);
    let info = await this.deps.buckets.get(name);
    if (info === undefined && create) info = (await this.deps.buckets.create(name, { owner })).bucket;
    if (info === undefined) throw new ApiError('NoSuchBucket', `bucket ${JSON.stringify(name)} does not exist`);
    if (info.owner !== owner) throw new FilesError(grpc.status.PERMISSION_DENIED, 'AccessDenied', `bucket ${JSON.stringify(name)} belongs to another user`);
    return info;
  }

  /**
   * The bucket's quorum: the node's configured default under the bucket's
   * own overrides, exactly as S3 reads it (bucketQuorum): a one-node
   * cluster's buckets must not ask for three copies.
   */
  private quorum(info: BucketInfo): Quorum {
    return { ...this.deps.defaultQuorum, ...bucketQuorum(info) };
  }

  private async current(info: BucketInfo, key: string, r?: number): Promise<{ read: GetResult; object: StoredObject | undefined }> {
    const q = this.quorum(info);
    const read = await this.deps.coordinator.get({ bucket: storageBucket(info), key, n: q.n, r: r ?? q.r });
    const s = s3Winner(read.set);
    return { read, object: s === undefined || s.value === null ? undefined : decodeObject(s) };
  }

  private async requireObject(info: BucketInfo, key: string): Promise<StoredObject> {
    const { object } = await this.current(info, key);
    if (object === undefined) throw new ApiError('NoSuchKey', `file ${JSON.stringify(`${info.name}/${key}`)} does not exist`);
    return object;
  }

  /** Upload (mode 'create') and Update (mode 'replace'). */
  async store(call: grpc.ServerReadableStream<UploadRequestMsg, UploadResponseMsg>, mode: 'create' | 'replace'): Promise<UploadResponseMsg> {
    const owner = await this.caller(call, mode === 'create' ? 'Upload' : 'Update');
    const messages = call[Symbol.asyncIterator]() as AsyncIterator<UploadRequestMsg>;
    const first = await messages.next();
    const header = first.done === true || first.value.part !== 'header' ? undefined : (first.value as { header: UploadHeaderMsg }).header;
    if (header === undefined || header === null) throw new FilesError(grpc.status.INVALID_ARGUMENT, 'MissingHeader', 'the first message of an upload must be its header (bucket, key)');
    validateKey(header.key);
    const info = await this.ownedBucket(header.bucket, owner, mode === 'create');
    // The read that checks existence is also the write's context: the new version replaces what it saw (S3's PUT, read-first.ts).
    const { read, object: existing } = await this.current(info, header.key);
    if (mode === 'create' && existing !== undefined && header.overwrite !== true) {
      throw new FilesError(grpc.status.ALREADY_EXISTS, 'FileExists', `file ${header.bucket}/${header.key} already exists (use Update, or set overwrite)`);
    }
    if (mode === 'replace' && existing === undefined) throw new ApiError('NoSuchKey', `file ${header.bucket}/${header.key} does not exist (use Upload)`);
    const md5 = createHash('md5');
    async function* data(): AsyncGenerator<Buffer> {
      for (;;) {
        const m = await messages.next();
        if (m.done === true) return;
        if (m.value.part !== 'chunk') throw new FilesError(grpc.status.INVALID_ARGUMENT, 'DuplicateHeader', 'only the first message of an upload may be a header');
        const chunk = (m.value as { chunk: Buffer }).chunk;
        md5.update(chunk);
        yield chunk;
      }
    }
    const stored = await storeStream(this.deps.chunks, data());
    const contentType = header.content_type || 'application/octet-stream';
    const etag = md5.digest('hex');
    const enc = encodeObject({ etag, size: stored.size, contentType, headers: {} }, stored.inline !== undefined ? { inline: stored.inline } : { chunks: stored.chunks });
    const q = this.quorum(info);
    const result = await this.deps.coordinator.put({ bucket: storageBucket(info), key: header.key, value: enc.value, meta: enc.meta, context: read.context, supersedeVisible: true, n: q.n, w: q.w });
    await this.deps.index.written({ owner, bucket: info.name, bucketId: info.id, key: header.key, size: stored.size, contentType, etag, w: q.w });
    const mine = s3Winner(result.set);
    return {
      file: {
        bucket: info.name,
        key: header.key,
        size: stored.size,
        owner: info.owner,
        content_type: contentType,
        modified_ms: mine?.meta.ts ?? this.deps.now(),
        etag,
        version: mine !== undefined ? versionIdOf(mine) : '',
      },
      placement: { partition: result.partition, preference_list: [...result.preferenceList], replicas: [...result.replicasWritten] },
    };
  }

  async download(call: grpc.ServerWritableStream<DownloadRequestMsg, DownloadResponseMsg>): Promise<void> {
    const owner = await this.caller(call, 'Download');
    const req = call.request;
    validateKey(req.key);
    const info = await this.ownedBucket(req.bucket, owner);
    const obj = await this.requireObject(info, req.key);
    const size = obj.info.size;
    const offset = req.offset ?? 0;
    const length = req.length ?? 0;
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > size || !Number.isSafeInteger(length) || length < 0) {
      throw new FilesError(grpc.status.OUT_OF_RANGE, 'InvalidRange', `the range offset=${offset} length=${length} does not fit the ${size}-byte file`);
    }
    const end = length === 0 ? size : Math.min(size, offset + length);
    const send = async (msg: DownloadResponseMsg): Promise<void> => {
      if (call.cancelled) throw new FilesError(grpc.status.CANCELLED, 'Cancelled', 'the client went away');
      if (!call.write(msg)) await Promise.race([once(call, 'drain'), once(call, 'cancelled')]);
    };
    await send({ info: infoOf(info.name, req.key, info.owner, obj) });
    const pieces: Iterable<Buffer> | AsyncIterable<Buffer> =
      obj.inline !== undefined
        ? [Buffer.from(obj.inline.buffer, obj.inline.byteOffset + offset, end - offset)]
        : readRange(this.deps.chunks, obj.chunks, offset, end);
    for await (const piece of pieces) {
      for (let o = 0; o < piece.length; o += MESSAGE_CHUNK) await send({ chunk: piece.subarray(o, Math.min(piece.length, o + MESSAGE_CHUNK)) });
    }
    call.end();
  }

  async stat(call: grpc.ServerUnaryCall<KeyRequestMsg, StatResponseMsg>): Promise<StatResponseMsg> {
    const owner = await this.caller(call, 'Stat');
    validateKey(call.request.key);
    const info = await this.ownedBucket(call.request.bucket, owner);
    // Ask every replica, to show every clock; with one down, a quorum will do.
    let cur: Awaited<ReturnType<FileService['current']>>;
    try {
      cur = await this.current(info, call.request.key, this.quorum(info).n);
    } catch (err) {
      if (!(err instanceof QuorumError)) throw err;
      cur = await this.current(info, call.request.key);
    }
    if (cur.object === undefined) throw new ApiError('NoSuchKey', `file ${JSON.stringify(`${info.name}/${call.request.key}`)} does not exist`);
    const { read } = cur;
    const sizeOf = (s: Sibling): number => (s.value === null ? 0 : decodeObject(s).info.size);
    return {
      info: infoOf(info.name, call.request.key, info.owner, cur.object),
      placement: { partition: read.partition, preference_list: [...read.preferenceList], replicas: [...read.replicasRead] },
      replica_clocks: Object.entries(read.vectorClocks).map(([node, vv]) => ({ node, clock: clockEntries(vv), holds_nothing: vv === null })),
      versions: read.set.siblings.map((s) => ({
        node: s.dot.node,
        counter: s.dot.counter,
        clock: clockEntries(siblingClock(s)),
        size: sizeOf(s),
        modified_ms: s.meta.ts,
        deleted: s.value === null,
      })),
    };
  }

  async list(call: grpc.ServerUnaryCall<ListRequestMsg, ListResponseMsg>): Promise<ListResponseMsg> {
    const owner = await this.caller(call, 'List');
    const req = call.request;
    const limit = limitOf(req.limit);
    const after = req.page_token || undefined;
    if (!req.bucket) {
      const r = await this.deps.index.list(owner, { limit, ...(req.prefix ? { prefix: req.prefix } : {}), ...(after !== undefined ? { after } : {}) });
      const last = r.files[r.files.length - 1];
      return { files: r.files.map(entryInfo), truncated: r.truncated, next_page_token: r.truncated && last !== undefined ? `${last.bucket}/${last.key}` : '' };
    }
    const info = await this.ownedBucket(req.bucket, owner);
    const listed = await this.deps.coordinator.list({ bucket: storageBucket(info), limit, ...(req.prefix ? { prefix: req.prefix } : {}), ...(after !== undefined ? { after } : {}) });
    const files: FileInfoMsg[] = [];
    for (const k of listed.keys) {
      const s = s3Winner({ siblings: liveSiblings(k.set) });
      if (s !== undefined) files.push(infoOf(info.name, k.key, info.owner, decodeObject(s)));
    }
    const last = listed.keys[listed.keys.length - 1];
    return { files, truncated: listed.truncated, next_page_token: listed.truncated && last !== undefined ? last.key : '' };
  }

  async search(call: grpc.ServerUnaryCall<SearchRequestMsg, ListResponseMsg>): Promise<ListResponseMsg> {
    const owner = await this.caller(call, 'Search');
    if (!call.request.query) throw new FilesError(grpc.status.INVALID_ARGUMENT, 'InvalidArgument', 'the query is empty (a substring of bucket/key, or a glob such as *.pdf)');
    const r = await this.deps.index.search(owner, call.request.query, { limit: limitOf(call.request.limit) });
    return { files: r.files.map(entryInfo), truncated: r.truncated, next_page_token: '' };
  }

  async delete(call: grpc.ServerUnaryCall<KeyRequestMsg, { deleted: boolean }>): Promise<{ deleted: boolean }> {
    const owner = await this.caller(call, 'Delete');
    validateKey(call.request.key);
    const info = await this.ownedBucket(call.request.bucket, owner);
    const key = call.request.key;
    // Only dots and clocks matter: the tombstone supersedes what this read saw.
    const q = this.quorum(info);
    const read = await this.deps.coordinator.get({ bucket: storageBucket(info), key, n: q.n, r: q.r, omitValues: true });
    const winner = s3Winner(read.set);
    if (winner === undefined || winner.value === null) throw new ApiError('NoSuchKey', `file ${JSON.stringify(`${info.name}/${key}`)} does not exist`);
    await this.deps.coordinator.put({ bucket: storageBucket(info), key, value: null, context: read.context, supersedeVisible: true, n: q.n, w: q.w });
    await this.deps.index.deleted({ owner, bucket: info.name, bucketId: info.id, key, w: q.w });
    return { deleted: true };
  }
}

export interface BoundFilesServer extends FilesServer {
  /** Starts answering calls (until then they fail with UNIMPLEMENTED). */
  serve(deps: FilesServiceDeps): void;
}

/** The public file API's bounds (issue 11 §5); a node passes its `limits` setting's. */
export const FILES_GRPC_LIMITS: GrpcListenerLimits = { maxConnections: 1024, maxConcurrentStreams: 100, idleTimeoutMs: 60_000 };

/**
 * Binds the FileService's port (host:port; port 0 picks one) without
 * serving yet: a node binds it first thing, so that the port chosen for it
 * (`ringstore dev` picks free ones) is not taken meanwhile, and serves once
 * the coordinator and the chunk store exist.
 */
/** The certificate chain and key the file API serves TLS with (the node's tlsCert/tlsKey, as the HTTP ports). */
export interface FilesTls {
  readonly cert: Buffer;
  readonly key: Buffer;
}

export async function bindFilesServer(listen: string, limits: GrpcListenerLimits = FILES_GRPC_LIMITS, tls?: FilesTls): Promise<BoundFilesServer> {
  const server = new grpc.Server({ 'grpc.max_receive_message_length': MAX_MESSAGE_BYTES, 'grpc.max_send_message_length': MAX_MESSAGE_BYTES, ...grpcLimitOptions(limits) });
  const port = await new Promise<number>((resolve, reject) => {
    // With a certificate, TLS without client certificates: callers prove who
    // they are with the call signature (auth.ts), as S3 clients do with SigV4.
    const creds = tls === undefined ? grpc.ServerCredentials.createInsecure() : grpc.ServerCredentials.createSsl(null, [{ cert_chain: tls.cert, private_key: tls.key }], false);
    server.bindAsync(listen, creds, (err, p) => (err !== null ? reject(err) : resolve(p)));
  });
  capGrpcConnections(server, limits.maxConnections); // limits
  let closing: Promise<void> | undefined;
  return {
    port,
    serve: (deps) => addFileService(server, deps),
    // Idempotent: a node closes it among the first things it stops, and again on a failed start.
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        const force = setTimeout(() => server.forceShutdown(), 5000);
        force.unref();
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      })),
  };
}

/** Binds and serves at once. */
export async function startFilesServer(deps: FilesServiceDeps, listen: string): Promise<FilesServer> {
  const bound = await bindFilesServer(listen);
  bound.serve(deps);
  return bound;
}

function addFileService(server: grpc.Server, deps: FilesServiceDeps): void {
  const svc = new FileService(deps);
  const fail = (err: unknown, method: string): grpc.ServiceError => {
    const { error, internal } = toGrpcError(err);
    if (internal) deps.logger?.error({ err, method }, 'files gRPC call failed');
    return error;
  };
  const unary =
    <Req, Res>(method: string, fn: (call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>) =>
    (call: grpc.ServerUnaryCall<Req, Res>, callback: grpc.sendUnaryData<Res>): void => {
      fn(call).then(
        (r) => callback(null, r),
        (err: unknown) => callback(fail(err, method)),
      );
    };
  const upload =
    (mode: 'create' | 'replace') =>
    (call: grpc.ServerReadableStream<UploadRequestMsg, UploadResponseMsg>, callback: grpc.sendUnaryData<UploadResponseMsg>): void => {
      svc.store(call, mode).then(
        (r) => callback(null, r),
        (err: unknown) => {
          // Stop reading what the client still sends; the status tells it why.
          call.destroy();
          callback(fail(err, mode === 'create' ? 'Upload' : 'Update'));
        },
      );
    };
  server.addService(fileServiceDefinition().service, {
    Upload: upload('create'),
    Update: upload('replace'),
    Download: (call: grpc.ServerWritableStream<DownloadRequestMsg, DownloadResponseMsg>): void => {
      svc.download(call).catch((err: unknown) => {
        if (!call.cancelled) call.destroy(fail(err, 'Download'));
      });
    },
    Stat: unary('Stat', (c: grpc.ServerUnaryCall<KeyRequestMsg, StatResponseMsg>) => svc.stat(c)),
    List: unary('List', (c: grpc.ServerUnaryCall<ListRequestMsg, ListResponseMsg>) => svc.list(c)),
    Search: unary('Search', (c: grpc.ServerUnaryCall<SearchRequestMsg, ListResponseMsg>) => svc.search(c)),
    Delete: unary('Delete', (c: grpc.ServerUnaryCall<KeyRequestMsg, { deleted: boolean }>) => svc.delete(c)),
  });
}

/** For PlacementMsg consumers that want the type. */
export type { PlacementMsg };
