// Garbage collection of chunks (docs/s3.md "Large objects"): chunks of
// overwritten or deleted objects, of aborted and failed uploads, stay in
// `__chunks` until a collection finds nothing refers to them.
//
// A safe mark-and-sweep, run by one node at a time:
//
//   mark   every part record of multipart uploads in progress (`__s3parts`)
//          first (part records of finished or unknown uploads older than
//          the grace period are deleted instead: a Complete or Abort whose
//          own deletes failed, an UploadPart that lost a race; finished
//          upload records that old are deleted too), then every object of every bucket (all siblings, since
//          ListObjectVersions can reach any of them): the chunk hashes their
//          manifests name. Listings are strict: a member that does not
//          answer aborts the run (it might hold the only copy of a manifest).
//   sweep  every chunk key (listed without values), unmarked, is a
//          candidate. A candidate is deleted only if it was a candidate of
//          the previous completed run as well, and every one of its
//          siblings is older than the grace period.
//
// Why both conditions:
// - An upload writes its chunks before the manifest (or part record) that
//   names them. The grace period (default 24 h) bounds how long that may
//   take: a chunk younger than it is never deleted.
// - CopyObject, UploadPartCopy and CompleteMultipartUpload make new
//   references to chunks that may be old, reading the old reference just
//   before writing the new one. A run's listing can miss both (the old one
//   deleted before it was listed, the new one written after its bucket was
//   listed); the next run, which starts after that request has finished
//   (runs are at least minGapMs apart), sees the new reference.
// A deletion is a tombstone written with the context of the listing, so it
// supersedes exactly the versions the sweep saw: a chunk written again
// concurrently (the same bytes uploaded anew) survives as a live sibling, and
// a later write of it supersedes the tombstone.

import type { Coordinator } from '../coordinator/coordinator.js';
import type { Clock } from '../util/runtime.js';
import { setClock, type SiblingSet } from '../version/dvv.js';
import { CHUNK_BUCKET } from './chunks.js';
import { decodeObject } from './object-model.js';
import { json, PARTS_BUCKET, UPLOADS_BUCKET, type PartRecord, type UploadRecord } from './multipart.js';

export interface GcSettings {
  /** How often the collecting node runs a collection (ms); 0: only when asked. */
  readonly intervalMs: number;
  /** A chunk any of whose versions is younger than this is never deleted (ms). */
  readonly graceMs: number;
  /** A run's candidates count for the next run only if it starts at least this long after (ms). */
  readonly minGapMs: number;
  /**
   * A multipart upload still open this long after it was created is aborted
   * by the collection (ms; 0: never), as an S3 lifecycle rule's
   * AbortIncompleteMultipartUpload would: its parts then go like an aborted
   * upload's (issue 11 §5, a bound on what a client can leave behind).
   */
  readonly uploadExpiryMs?: number;
}

export const DEFAULT_GC_SETTINGS: GcSettings = {
  intervalMs: 6 * 3600_000,
  graceMs: 24 * 3600_000,
  minGapMs: 10 * 60_000,
  uploadExpiryMs: 7 * 24 * 3600_000,
};

export interface GcReport {
  readonly startedMs: number;
  readonly finishedMs: number;
  /** Completed (true) or aborted by a failure (error says why; nothing after the failure was deleted). */
  readonly ok: boolean;
  readonly error?: string;
  readonly buckets: number;
  readonly objects: number;
  readonly parts: number;
  /** Distinct chunks some manifest or part names. */
  readonly referenced: number;
  /** Chunk keys seen. */
  readonly chunks: number;
  /** Unreferenced chunks seen, deleted or not. */
  readonly unreferenced: number;
  readonly deleted: number;
  /** Unreferenced, but a version is younger than the grace period. */
  readonly keptYoung: number;
  /** Unreferenced, but not a candidate of the previous run (or that run was too recent): deleted next time at the earliest. */
  readonly keptFirstSeen: number;
  readonly deleteFailures: number;
  /** Part records of finished or unknown uploads deleted (older than the grace period). */
  readonly partsDropped: number;
  /** Records of finished uploads deleted (older than the grace period; kept until then to answer retries). */
  readonly uploadsForgotten: number;
  /** Uploads still open past uploadExpiryMs, aborted by this run. */
  readonly uploadsExpired: number;
}

const decoder = new TextDecoder();
const PAGE = 1000;

export class ChunkCollector {
  /** Candidates of the last completed run, and when that run started. */
  private previous: { readonly startedMs: number; readonly keys: ReadonlySet<string> } | undefined;
  private running: Promise<GcReport> | undefined;
  private last: GcReport | undefined;

  constructor(
    private readonly deps: {
      readonly coordinator: Coordinator;
      readonly clock: Clock;
      /** The storage names (coordinator/buckets-types.ts storageBucket) of every bucket, read linearizably: a bucket missed here would lose its chunks. */
      readonly buckets: () => Promise<string[]>;
    },
    readonly settings: GcSettings = DEFAULT_GC_SETTINGS,
  ) {}

  /** The last finished run's report. */
  get lastReport(): GcReport | undefined {
    return this.last;
  }

  /** Runs one collection (or joins the one running). */
  run(): Promise<GcReport> {
    this.running ??= this.collect().finally(() => (this.running = undefined));
    return this.running;
  }

  private async collect(): Promise<GcReport> {
    const { coordinator, clock } = this.deps;
    const startedMs = clock.now();
    const counts = { buckets: 0, objects: 0, parts: 0, chunks: 0, unreferenced: 0, deleted: 0, keptYoung: 0, keptFirstSeen: 0, deleteFailures: 0, partsDropped: 0, uploadsForgotten: 0, uploadsExpired: 0 };
    const referenced = new Set<string>();
    const report = (ok: boolean, error?: string): GcReport => ({ startedMs, finishedMs: clock.now(), ok, ...(error !== undefined ? { error } : {}), ...counts, referenced: referenced.size });
    const oldest = startedMs - this.settings.graceMs;
    try {
      // Uploads in progress; finished ones past the grace period are forgotten (no retry comes that late).
      const inProgress = new Set<string>();
      for await (const k of listAll(coordinator, UPLOADS_BUCKET, false)) {
        const rec = json<UploadRecord>(k.set);
        if (rec === undefined) continue;
        const expiry = this.settings.uploadExpiryMs ?? 0;
        if (rec.finished === undefined && expiry > 0 && rec.initiatedMs <= startedMs - expiry && (await tryExpire(coordinator, k.key, k.set, rec, startedMs))) counts.uploadsExpired++;
        else if (rec.finished === undefined) inProgress.add(rec.uploadId);
        else if (rec.finished.atMs <= oldest && (await tryDelete(coordinator, UPLOADS_BUCKET, k.key, k.set))) counts.uploadsForgotten++;
      }
      // Mark: part records first (Complete writes the manifest before it deletes them), then objects.
      for await (const k of listAll(coordinator, PARTS_BUCKET, false)) {
        const uploadId = k.key.slice(0, k.key.indexOf('/'));
        const records = k.set.siblings.filter((s) => s.value !== null).map((s) => JSON.parse(decoder.decode(s.value!)) as PartRecord);
        // A part of an upload not in progress, old enough that no upload started after the listing above can own it.
        if (!inProgress.has(uploadId) && records.every((r) => r.mtimeMs <= oldest) && (await tryDelete(coordinator, PARTS_BUCKET, k.key, k.set))) {
          counts.partsDropped++;
          continue;
        }
        for (const rec of records) {
          counts.parts++;
          for (const [h] of rec.chunks) referenced.add(h);
        }
      }
      // Every bucket, from the catalog after a linearizable read (a bucket deleted while a node was down
      // leaves objects under a storage name no bucket has: their chunks are garbage).
      const buckets = await this.deps.buckets();
      for (const b of buckets) {
        counts.buckets++;
        for await (const k of listAll(coordinator, b, false)) {
          for (const s of k.set.siblings) {
            if (s.value === null) continue;
            counts.objects++;
            for (const [h] of decodeObject(s).chunks) referenced.add(h);
          }
        }
      }
      // Sweep.
      const prev = this.previous !== undefined && startedMs - this.previous.startedMs >= this.settings.minGapMs ? this.previous.keys : new Set<string>();
      const candidates = new Set<string>();
      for await (const k of listAll(coordinator, CHUNK_BUCKET, true)) {
        counts.chunks++;
        if (referenced.has(k.key)) continue;
        counts.unreferenced++;
        if (!k.set.siblings.every((s) => s.meta.ts <= oldest)) {
          counts.keptYoung++;
          candidates.add(k.key);
          continue;
        }
        if (!prev.has(k.key)) {
          counts.keptFirstSeen++;
          candidates.add(k.key);
          continue;
        }
        try {
          await coordinator.put({ bucket: CHUNK_BUCKET, key: k.key, value: null, context: setClock(k.set) });
          counts.deleted++;
        } catch {
          counts.deleteFailures++;
          candidates.add(k.key);
        }
      }
      this.previous = { startedMs, keys: candidates };
      this.last = report(true);
    } catch (err) {
      // An incomplete mark must never feed a sweep: start over.
      this.previous = undefined;
      this.last = report(false, err instanceof Error ? err.message : String(err));
    }
    return this.last;
  }
}

/** A tombstone superseding exactly the versions listed; false if it could not be written (the next run tries again). */
/** Marks an upload that stayed open too long aborted, superseding exactly the record read (a concurrent Complete stays a sibling). */
async function tryExpire(coordinator: Coordinator, key: string, set: SiblingSet, rec: UploadRecord, atMs: number): Promise<boolean> {
  try {
    const value = new TextEncoder().encode(JSON.stringify({ ...rec, finished: { state: 'aborted', atMs } } satisfies UploadRecord));
    await coordinator.put({ bucket: UPLOADS_BUCKET, key, value, meta: { contentType: 'application/json' }, context: setClock(set) });
    return true;
  } catch {
    return false;
  }
}

async function tryDelete(coordinator: Coordinator, bucket: string, key: string, set: SiblingSet): Promise<boolean> {
  try {
    await coordinator.put({ bucket, key, value: null, context: setClock(set) });
    return true;
  } catch {
    return false;
  }
}

/** Every live key of a bucket, page by page, from every member (strict: all must answer). */
async function* listAll(coordinator: Coordinator, bucket: string, omitValues: boolean, prefix?: string): AsyncGenerator<{ key: string; set: SiblingSet }> {
  let after: string | undefined;
  for (;;) {
    const page = await coordinator.list({ bucket, prefix, after, limit: PAGE, strict: true, omitValues });
    yield* page.keys;
    if (!page.truncated || page.keys.length === 0) return;
    after = page.keys[page.keys.length - 1]!.key;
  }
}

/**
 * Runs the collector every settings.intervalMs on the node `leader()` says
 * is the collecting one (one node at a time: the lowest id it sees alive).
 * Returns the stop function.
 */
export function startGcTimer(collector: ChunkCollector, opts: { leader: () => boolean; onReport?: (r: GcReport) => void }): () => Promise<void> {
  const every = collector.settings.intervalMs;
  if (every <= 0) return async () => {};
  let stopped = false;
  let current: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    if (stopped || !opts.leader()) return;
    current = collector.run().then((r) => opts.onReport?.(r), () => undefined);
  }, every);
  timer.unref();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await current;
  };
}
