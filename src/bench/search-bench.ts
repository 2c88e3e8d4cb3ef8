// `npm run bench -- --phases search`: the per-user file index at scale.
// Writes `files` small files through the native API, spread evenly over
// `users` users (one bucket each, owned by its user), so every write also
// maintains the index; then times listing all of one user's files and
// searches by substring and glob, each answered from that user's index
// replicas alone (src/coordinator/user-index.ts).

import type http from 'node:http';
import { request, runPhase, type PhaseResult } from './load.js';

export interface SearchBenchOptions {
  readonly files: number;
  readonly users: number;
  /** Writers during the load. */
  readonly concurrency: number;
  /** Timed repetitions of each query. */
  readonly runs: number;
  readonly print: (line: Record<string, unknown>) => void;
}

const EXTS = ['pdf', 'txt', 'jpg', 'csv', 'md'];
const userOf = (i: number, users: number): string => `user${(i % users) + 1}`;
/** File i's key: 50 folders, five extensions (so *.pdf matches a fifth of a user's files). */
const keyOf = (i: number): string => `dir${Math.floor(i / 7) % 50}/file-${i}.${EXTS[Math.floor(i / 5) % EXTS.length]}`;

interface Timing {
  readonly p50_ms: number;
  readonly p95_ms: number;
  readonly max_ms: number;
}

function timings(ms: number[]): Timing {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number): number => Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))]! * 10) / 10;
  return { p50_ms: at(0.5), p95_ms: at(0.95), max_ms: Math.round(s[s.length - 1]! * 10) / 10 };
}

export async function searchBench(agent: http.Agent, bases: readonly string[], opts: SearchBenchOptions): Promise<PhaseResult[]> {
  const results: PhaseResult[] = [];
  // Each user's bucket is theirs: a token per user (made with the admin token), which creates and fills it.
  const tokenOf = new Map<string, string>();
  for (let u = 1; u <= opts.users; u++) {
    const made = await request(agent, new URL(`/_auth/users/user${u}/tokens`, bases[0]), 'POST', Buffer.from('{"ttl":"1d"}'), { 'content-type': 'application/json' });
    if (made.status !== 201) throw new Error(`a token for user${u}: ${made.status} ${made.body.toString()}`);
    tokenOf.set(`user${u}`, (JSON.parse(made.body.toString('utf8')) as { token: string }).token);
  }
  const as = (user: string, h: Record<string, string> = {}): Record<string, string> => ({ ...h, authorization: `Bearer ${tokenOf.get(user)!}` });
  for (let u = 1; u <= opts.users; u++) {
    const res = await request(agent, new URL(`/buckets/sb-user${u}`, bases[0]), 'POST', undefined, as(`user${u}`));
    if (res.status !== 200) throw new Error(`creating bucket sb-user${u}: ${res.status} ${res.body.toString()}`);
  }
  // The load: every file once, as fast as the writers go (each write is the object and its index entry).
  {
    let next = 0;
    let errors = 0;
    let firstError: string | undefined;
    const value = Buffer.from('0123456789abcdef');
    const ms: number[] = [];
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: opts.concurrency }, async (_, w) => {
        for (let i = next++; i < opts.files; i = next++) {
          const t = performance.now();
          const res = await request(agent, new URL(`/buckets/sb-${userOf(i, opts.users)}/${keyOf(i)}`, bases[w % bases.length]), 'PUT', value, as(userOf(i, opts.users), { 'content-type': 'text/plain' })).catch(
            (err: Error) => ({ status: 0, body: Buffer.from(err.message) }),
          );
          if (res.status === 200) ms.push(performance.now() - t);
          else {
            errors++;
            firstError ??= `${res.status} ${res.body.toString().slice(0, 200)}`;
          }
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    opts.print({ phase: 'search-load', op: 'put+index', files: opts.files, users: opts.users, concurrency: opts.concurrency, seconds: Math.round(seconds * 10) / 10, ops_per_s: Math.round(ms.length / seconds), ...timings(ms), errors, ...(firstError !== undefined ? { first_error: firstError } : {}) });
    if (errors > 0) throw new Error(`${errors} writes failed, first: ${firstError}`);
  }

  const perUser = Math.floor(opts.files / opts.users);
  const get = async (base: string, path: string): Promise<{ ms: number; body: Record<string, unknown> }> => {
    const t0 = performance.now();
    // A user's files are theirs alone: read as that user.
    const res = await request(agent, new URL(path, base), 'GET', undefined, as(/^\/users\/([^/]+)\//.exec(path)![1]!));
    const ms = performance.now() - t0;
    if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${res.body.toString().slice(0, 200)}`);
    return { ms, body: JSON.parse(res.body.toString('utf8')) as Record<string, unknown> };
  };

  // Listing all of one user's files: pages of 10,000.
  {
    const ms: number[] = [];
    let count = 0;
    for (let run = 0; run < opts.runs; run++) {
      const t0 = performance.now();
      count = 0;
      let after = '';
      for (;;) {
        const r = await get(bases[run % bases.length]!, `/users/user1/files?limit=10000${after ? `&after=${encodeURIComponent(after)}` : ''}`);
        count += (r.body['files'] as unknown[]).length;
        if (r.body['truncated'] !== true) break;
        after = r.body['next_after'] as string;
      }
      ms.push(performance.now() - t0);
    }
    const line = { phase: 'search-list-all', user_files: perUser, listed: count, runs: opts.runs, ...timings(ms) };
    opts.print(line);
    if (count !== perUser) throw new Error(`user1 lists ${count} files, expected ${perUser}`);
  }

  // Searches: one rare substring, one folder, one glob; each from every node in turn.
  const rare = `file-${opts.users * Math.floor(opts.files / (2 * opts.users))}.`;
  const queries: { query: string; expect: (n: number) => boolean }[] = [
    { query: rare, expect: (n) => n === 1 },
    { query: 'dir7/', expect: (n) => n > 0 && n < perUser / 10 },
    { query: '*.pdf', expect: (n) => Math.abs(n - perUser / EXTS.length) <= perUser / 50 },
  ];
  for (const q of queries) {
    const ms: number[] = [];
    let matches = 0;
    let scanned = 0;
    let replicas: unknown;
    for (let run = 0; run < opts.runs; run++) {
      const r = await get(bases[run % bases.length]!, `/users/user1/files?limit=10000&search=${encodeURIComponent(q.query)}`);
      ms.push(r.ms);
      matches = (r.body['files'] as unknown[]).length;
      scanned = r.body['scanned'] as number;
      replicas = r.body['replicas'];
    }
    opts.print({ phase: 'search', user: 'user1', query: q.query, user_files: perUser, total_files: opts.files, scanned, matches, replicas, runs: opts.runs, ...timings(ms) });
    if (!q.expect(matches)) throw new Error(`search ${q.query} found ${matches}`);
  }

  // Searches under load: 8 at a time, random users and queries, from every node.
  const mixed = await runPhase('search-c8', 'search', 8, 10, async (i, w) => {
    const user = `user${(i % opts.users) + 1}`;
    const query = ['*.csv', 'dir1', 'file-99', '*/file-1*.md'][i % 4]!;
    const r = await get(bases[w % bases.length]!, `/users/${user}/files?limit=10000&search=${encodeURIComponent(query)}`);
    return { bytes: 0, verified: (r.body['scanned'] as number) === perUser };
  });
  results.push(mixed);
  opts.print({ ...mixed });
  return results;
}
