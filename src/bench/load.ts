// A closed-loop load generator: `concurrency` workers, each issuing one
// request after another for `seconds`, over keep-alive HTTP connections.
// Latencies go into a fixed-resolution histogram so memory stays bounded
// however long the phase runs.

import http from 'node:http';
import { authHeader } from './auth.js';

export interface PhaseResult {
  readonly phase: string;
  readonly op: string;
  readonly concurrency: number;
  readonly seconds: number;
  readonly ops: number;
  readonly ops_per_s: number;
  readonly mb_per_s: number;
  readonly p50_ms: number;
  readonly p95_ms: number;
  readonly p99_ms: number;
  readonly max_ms: number;
  readonly errors: number;
  readonly verify_failures: number;
  readonly first_error?: string;
}

/** Microsecond buckets up to 10 s: enough resolution for p99 of fast requests. */
export class Histogram {
  private readonly buckets = new Uint32Array(10_000_000 / 10 + 1);
  private count = 0;
  private max = 0;
  record(ms: number): void {
    const us = Math.round(ms * 1000);
    this.buckets[Math.min(Math.floor(us / 10), this.buckets.length - 1)]!++;
    this.count++;
    if (ms > this.max) this.max = ms;
  }
  quantile(q: number): number {
    const target = Math.ceil(this.count * q);
    let seen = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      seen += this.buckets[i]!;
      if (seen >= target && target > 0) return (i * 10) / 1000;
    }
    return 0;
  }
  get maxMs(): number {
    return this.max;
  }
}

export interface HttpResult {
  readonly status: number;
  readonly body: Buffer;
}

export function request(agent: http.Agent, url: URL, method: string, body?: Buffer, given: Record<string, string> = {}): Promise<HttpResult> {
  // Signed as the cluster's user (admin routes: its admin token) unless the caller signs itself.
  const headers = { ...authHeader(url), ...given };
  return new Promise((resolve, reject) => {
    const req = http.request(
      { agent, host: url.hostname, port: url.port, path: url.pathname + url.search, method, headers: body ? { ...headers, 'content-length': String(body.length) } : headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

export interface Work {
  /** Performs op number i; resolves with bytes moved, or throws / returns false on a failed check. */
  (i: number, worker: number): Promise<{ bytes: number; verified: boolean }>;
}

export async function runPhase(phase: string, op: string, concurrency: number, seconds: number, work: Work): Promise<PhaseResult> {
  const hist = new Histogram();
  let ops = 0;
  let bytes = 0;
  let errors = 0;
  let verifyFailures = 0;
  let firstError: string | undefined;
  let next = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      while (performance.now() < end) {
        const i = next++;
        const t0 = performance.now();
        try {
          const r = await work(i, w);
          hist.record(performance.now() - t0);
          ops++;
          bytes += r.bytes;
          if (!r.verified) verifyFailures++;
        } catch (err) {
          errors++;
          firstError ??= err instanceof Error ? err.message : String(err);
        }
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  const round = (x: number) => Math.round(x * 100) / 100;
  return {
    phase,
    op,
    concurrency,
    seconds: round(elapsed),
    ops,
    ops_per_s: Math.round(ops / elapsed),
    mb_per_s: round(bytes / elapsed / 1e6),
    p50_ms: round(hist.quantile(0.5)),
    p95_ms: round(hist.quantile(0.95)),
    p99_ms: round(hist.quantile(0.99)),
    max_ms: round(hist.maxMs),
    errors,
    verify_failures: verifyFailures,
    ...(firstError !== undefined ? { first_error: firstError } : {}),
  };
}
