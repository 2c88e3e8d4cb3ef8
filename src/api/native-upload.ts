// The native API's upload route:
//
//   POST   /buckets/{bucket}/files        store each file of a multipart/form-data upload
//
// Each file is its own write, under its file name.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import busboy from 'busboy';
import type { Quorum } from '../coordinator/types.js';
import { ApiError, errorBody, toApiError } from './errors.js';
import { answerEarly, sendJson, type ParsedUrl } from './http.js';
import { seed001Fields, writeAnswer } from './native-answers.js';
import { requireBucket } from './native-buckets.js';
import { storageBucket, type BucketInfo } from '../coordinator/buckets-types.js';
import type { NativeApiReady } from './native-deps.js';
import { parseQuorumParams, resolveQuorum, validateKey } from './native-params.js';
import { nativeWrite } from '../coordinator/read-first.js';

/** Files of one multipart upload stored at the same time (bounds memory to this many objects). */
const UPLOAD_PARALLEL_FILES = 4;
const UPLOAD_MAX_FILES = 1000;

export async function upload(deps: NativeApiReady, req: IncomingMessage, res: ServerResponse, url: ParsedUrl, bucket: string, found: BucketInfo | undefined): Promise<void> {
  const given = parseQuorumParams(url.query);
  const info = requireBucket(bucket, found);
  const q = resolveQuorum(info.quorum, given, deps.clusterSize());
  const { files, fatal } = await storeUploadedFiles(req, deps, bucket, storageBucket(info), q);
  for (const f of files) if (f['ok'] === true) await deps.files?.written({ owner: info.owner, bucket, bucketId: info.id, key: f['key'] as string, size: f['size'] as number, w: q.w });
  if (files.length === 0) {
    throw fatal ?? new ApiError('MalformedRequest', 'the form holds no file (send each file as a multipart/form-data part with a filename)');
  }
  const closing = answerEarly(req);
  const failed = files.find((f) => f['ok'] !== true);
  if (fatal === null && failed === undefined) {
    // Seed 001 posts one file (field `file_content`) and reads its write at the top level.
    const one = files.length === 1 ? files[0] : undefined;
    const seed001 = one === undefined ? {} : { pref_list: one['pref_list'], replicas_written: one['replicas_written'], vector_clock_list: one['vector_clock_list'] };
    sendJson(res, 200, { ok: true, bucket, files, ...seed001 });
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
}

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
function storeUploadedFiles(req: IncomingMessage, deps: NativeApiReady, bucket: string, storage: string, q: Quorum): Promise<UploadOutcome> {
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
          const result = await nativeWrite(deps.coordinator, { bucket: storage, key: filename, value, meta: fileInfo.mimeType ? { contentType: fileInfo.mimeType } : {}, context: null, n: q.n, w: q.w }, undefined);
          files[index] = { ...writeAnswer(bucket, storage, filename, result, deps.contextMac), ...seed001Fields(result), filename, size };
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
