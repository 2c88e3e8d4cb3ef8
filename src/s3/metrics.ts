// The S3 layer's counters on a node's /metrics (prom-client): the read
// cache's hits and misses, chunk reads and writes, corrupt replicas skipped
// and repaired. Collected from the counters the S3 code keeps, at scrape time.

import { Counter, Gauge, type Registry } from 'prom-client';
import type { ChunkStore } from './chunks.js';
import type { ObjectCache } from './cache.js';

export function registerS3Metrics(registry: Registry, chunks: ChunkStore, objects?: ObjectCache): void {
  // Counters kept by the S3 code, carried over at each scrape.
  const counter = (name: string, help: string, read: () => number): void => {
    let last = 0;
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        const now = read();
        if (now > last) this.inc(now - last);
        last = now;
      },
    });
  };
  const s = chunks.stats;
  counter('ringstore_s3_chunk_cache_hits_total', 'S3 chunk reads answered from the read cache', () => s.cacheHits);
  counter('ringstore_s3_chunk_cache_misses_total', 'S3 chunk reads that went to a replica', () => s.cacheMisses);
  counter('ringstore_s3_chunks_written_total', 'S3 chunks written', () => s.written);
  counter('ringstore_s3_chunk_corrupt_skipped_total', 'S3 chunk copies that failed their hash check and were skipped', () => s.corruptSkipped);
  counter('ringstore_s3_chunk_repaired_total', 'S3 chunks rewritten after a corrupt or missing copy was found', () => s.repaired);
  if (objects !== undefined) {
    const o = objects.stats;
    counter('ringstore_s3_object_cache_hits_total', 'S3 reads of small objects whose value came from the cache (after a values-free quorum read)', () => o.hits);
    counter('ringstore_s3_object_cache_misses_total', 'S3 reads of small objects that read values from the replicas', () => o.misses);
    new Gauge({ name: 'ringstore_s3_object_cache_bytes', help: 'Bytes of small objects in the S3 read cache', registers: [registry], collect() { this.set(o.bytes); } });
  }
}
