// Deletes that mean what the client meant, through partitions, freezes and
// crashes (issue 16), in the style of a Jepsen test: five real node
// processes with the fault switch on; writers, overwriters and deleters go
// through random nodes while a seeded nemesis cuts links one way and both
// ways, splits the cluster 2|3, freezes a process (SIGSTOP/SIGCONT) and
// kills one (kill -9) and restarts it. Then everything heals, the test waits
// until every node answers the same for every key, and checks every key at
// r=3 through every node:
//
// - the last acknowledged write of a key is visible (200, or 300 listing it);
// - after an acknowledged context-less DELETE that followed only
//   acknowledged strict (sloppy=false) writes and was strict itself, with
//   R + W > N (the default 2 + 2 > 3), no node shows a value: 404;
// - after any other acknowledged DELETE the read finds no value (404), or a
//   visible conflict: 300 with conflict "delete" and the tombstone listed.
//   A 200 with a value, or a 300 without a tombstone, hides the delete and
//   fails.
//
// Operations on one key are sequential (one client holds a key at a time),
// so "after" is real time. A key whose last acknowledged operation was
// followed by one of unknown outcome (a timeout, a crash mid-request, 503
// outcome unknown) is not judged. Seeded: JEPSEN_SEED replays the nemesis and
// the clients' choices (not the timing); JEPSEN_DURATION_MS sets how long
// the clients and the nemesis run (default 60 s). The seed, the fault
// schedule and the figures are printed at the end, and in the failure.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { heal, memberStates, pendingHints, startCluster, waitFor, type TestCluster, type TestNode } from '../helpers/cluster.js';
import { SeededRandom } from '../../src/util/runtime.js';

const SEED = process.env['JEPSEN_SEED'] !== undefined ? Number(process.env['JEPSEN_SEED']) : Math.floor(Math.random() * 2 ** 31);
const DURATION_MS = Number(process.env['JEPSEN_DURATION_MS'] ?? 60_000);
const NODES = 5;
const BUCKET = 'jepsen';
/** Keys the writers create at most: the final check reads each through every node. */
const MAX_KEYS = 250;
/** A client gives up on a request after this long: the outcome is then unknown. */
const CLIENT_TIMEOUT_MS = 12_000;
const CONVERGE_TIMEOUT_MS = 180_000;

type Outcome = 'ok' | 'failed' | 'unknown';

interface Op {
  readonly kind: 'put' | 'delete';
  readonly strict: boolean;
  /** The value a put wrote (unique per put). */
  readonly value: string | null;
  readonly node: string;
  readonly invokedAt: number;
  completedAt: number;
  outcome: Outcome;
  detail: string;
}

interface KeyState {
  readonly key: string;
  readonly ops: Op[];
  busy: boolean;
}

interface Fault {
  readonly at: number;
  what: string;
  durationMs: number;
  error?: string;
}

interface Answer {
  readonly status: number;
  /** Live values (200: the body; 300: every sibling's value). */
  readonly values: readonly string[];
  /** Tombstone dots listed (300 only). */
  readonly tombstones: readonly string[];
  readonly conflict: string | null;
}

const rel = (t0: number) => Date.now() - t0;

/** The running cluster's signed fetch (TestCluster.fetch): set when the cluster starts. */
let signed: TestCluster['fetch'] = () => Promise.reject(new Error('no cluster running'));

async function fetchText(url: string, init: RequestInit = {}): Promise<{ status: number; text: string; headers: Headers }> {
  const res = await signed(url, { ...init, signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS) });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

/** ok, failed (certainly not applied) or unknown, from a write's HTTP answer or the error fetch threw. */
function classify(res: { status: number; text: string } | Error): { outcome: Outcome; detail: string } {
  if (res instanceof Error) {
    const cause = (res as Error & { cause?: { code?: string } }).cause;
    // Refused: the request never reached a node process.
    if (cause?.code === 'ECONNREFUSED') return { outcome: 'failed', detail: 'connection refused' };
    return { outcome: 'unknown', detail: `${res.name}: ${cause?.code ?? res.message}` };
  }
  if (res.status === 200) return { outcome: 'ok', detail: '' };
  let err: { code?: string; outcome?: string; op?: string } = {};
  try {
    err = (JSON.parse(res.text) as { error?: typeof err }).error ?? {};
  } catch {
    // not JSON: a proxy or a crash
  }
  if (res.status === 503 && (err.outcome === 'not_applied' || err.op === 'read')) return { outcome: 'failed', detail: `503 ${err.outcome ?? err.op}` };
  if (res.status >= 400 && res.status < 500) return { outcome: 'failed', detail: `${res.status} ${err.code ?? ''}` };
  return { outcome: 'unknown', detail: `${res.status} ${err.code ?? ''} ${err.outcome ?? ''}` };
}

async function readKey(node: TestNode, key: string, r: number): Promise<Answer> {
  const res = await fetchText(`${node.http}/buckets/${BUCKET}/${encodeURIComponent(key)}?r=${r}`);
  if (res.status === 200) return { status: 200, values: [res.text], tombstones: [], conflict: res.headers.get('x-ringstore-conflict') };
  if (res.status === 404) return { status: 404, values: [], tombstones: [], conflict: null };
  if (res.status === 300) {
    const body = JSON.parse(res.text) as { conflict: string | null; siblings: { value?: string }[]; tombstones: { dot: { node: string; counter: number } }[] };
    return {
      status: 300,
      values: body.siblings.map((s) => s.value ?? '?').sort(),
      tombstones: body.tombstones.map((t) => `${t.dot.node}:${t.dot.counter}`).sort(),
      conflict: body.conflict,
    };
  }
  throw new Error(`GET ${key} via ${node.id}: ${res.status} ${res.text.slice(0, 200)}`);
}

const sameAnswer = (a: Answer, b: Answer): boolean => a.status === b.status && a.values.join('\n') === b.values.join('\n') && a.tombstones.join(',') === b.tombstones.join(',');

/** Sets one node's fault rules directly (a 2|3 split needs several peers per node, which cut() replaces one at a time). */
async function setRules(node: TestNode, drop: readonly string[], direction: 'both' | 'in' | 'out'): Promise<void> {
  const res = await signed(`${node.http}/_faults`, { method: 'POST', body: JSON.stringify({ drop, direction }), headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(10_000) });
  if (res.status !== 200) throw new Error(`POST ${node.id}/_faults: ${res.status} ${await res.text()}`);
}

async function pool<T>(items: readonly T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

test(`jepsen: acknowledged deletes and writes survive cuts, a 2|3 split, freezes and kill -9 (seed ${SEED}, ${DURATION_MS} ms)`, { timeout: DURATION_MS + 480_000 }, async (t) => {
  const cluster: TestCluster = await startCluster({ nodes: NODES, faults: true, nodeSettings: { antiEntropy: { intervalMs: 1000 } } });
  signed = cluster.fetch;
  const faults: Fault[] = [];
  const keys = new Map<string, KeyState>();
  const failures: string[] = [];
  const stats = { ok: 0, failed: 0, unknown: 0, reads: 0, checked: 0, ambiguous: 0, exactDeletes: 0, sloppyDeletes: 0, visibleConflicts: 0, convergeMs: -1 };
  const frozen = new Set<number>();
  const t0 = Date.now();
  const report = (): string =>
    `jepsen-deletes seed=${SEED} duration=${DURATION_MS}ms ops=${stats.ok + stats.failed + stats.unknown} (ok ${stats.ok}, failed ${stats.failed}, unknown ${stats.unknown}) reads=${stats.reads} ` +
    `faults=${faults.length} keys=${keys.size} checked=${stats.checked} ambiguous=${stats.ambiguous} exact-deletes=${stats.exactDeletes} sloppy-deletes=${stats.sloppyDeletes} ` +
    `visible-conflicts=${stats.visibleConflicts} failures=${failures.length} converge=${stats.convergeMs}ms\n` +
    `replay: JEPSEN_SEED=${SEED} JEPSEN_DURATION_MS=${DURATION_MS}\nfault schedule:\n` +
    faults.map((f) => `  @${f.at}ms ${f.what} for ${f.durationMs}ms${f.error !== undefined ? ` (error: ${f.error})` : ''}`).join('\n');

  try {
    assert.equal((await fetchText(`${cluster.nodes[0]!.http}/buckets/${BUCKET}`, { method: 'POST' })).status, 200);
    const running = () => Date.now() - t0 < DURATION_MS;
    const anyNode = (r: SeededRandom) => cluster.nodes[r.int(cluster.nodes.length)] as TestNode;

    const write = async (st: KeyState, r: SeededRandom, kind: 'put' | 'delete', context?: string): Promise<Op> => {
      const node = anyNode(r);
      const strict = r.next() < 0.5;
      const value = kind === 'put' ? `${st.key}#${st.ops.length}` : null;
      const op: Op = { kind, strict, value, node: node.id, invokedAt: rel(t0), completedAt: -1, outcome: 'unknown', detail: '' };
      st.ops.push(op);
      const headers: Record<string, string> = { 'content-type': 'text/plain' };
      if (context !== undefined) headers['x-ringstore-context'] = context;
      const url = `${node.http}/buckets/${BUCKET}/${encodeURIComponent(st.key)}${strict ? '?sloppy=false' : ''}`;
      let res: { status: number; text: string } | Error;
      try {
        res = await fetchText(url, { method: kind === 'put' ? 'PUT' : 'DELETE', headers, ...(value !== null ? { body: value } : {}) });
      } catch (err) {
        res = err as Error;
      }
      const c = classify(res);
      op.outcome = c.outcome;
      op.detail = c.detail;
      op.completedAt = rel(t0);
      stats[c.outcome]++;
      if (!(res instanceof Error) && res.status >= 500 && res.status !== 503) failures.push(`${kind} ${st.key} via ${node.id}: ${res.status} ${res.text.slice(0, 300)}`);
      return op;
    };

    /** A free key whose last acknowledged op is of `kind` (and not followed by an unknown one). */
    const pick = (r: SeededRandom, kind: 'put' | 'delete'): KeyState | undefined => {
      const free = [...keys.values()].filter((k) => !k.busy && lastOk(k)?.kind === kind && !ambiguous(k));
      return free.length === 0 ? undefined : free[r.int(free.length)];
    };

    /** One of the few free keys whose acknowledged put completed last. */
    const pickRecent = (r: SeededRandom): KeyState | undefined => {
      const recent = [...keys.values()]
        .filter((k) => !k.busy && lastOk(k)?.kind === 'put' && !ambiguous(k))
        .sort((a, b) => (lastOk(b) as Op).completedAt - (lastOk(a) as Op).completedAt)
        .slice(0, 4);
      return recent.length === 0 ? undefined : recent[r.int(recent.length)];
    };

    // Writers create keys (and sometimes re-create deleted ones); overwriters read and write with the context; deleters delete without one.
    const writer = async (id: number) => {
      const r = new SeededRandom(SEED ^ (0x1000 + id));
      let n = 0;
      while (running()) {
        const again = r.next() < 0.15 ? pick(r, 'delete') : undefined;
        if (again === undefined && keys.size >= MAX_KEYS) {
          await overwriteOnce(r);
          continue;
        }
        const st = again ?? { key: `w${id}-${n++}`, ops: [], busy: false };
        keys.set(st.key, st);
        st.busy = true;
        await write(st, r, 'put');
        st.busy = false;
      }
    };
    const overwriteOnce = async (r: SeededRandom): Promise<void> => {
      const st = pick(r, 'put');
      if (st === undefined) {
        await new Promise((res) => setTimeout(res, 20));
        return;
      }
      st.busy = true;
      try {
        stats.reads++;
        const read = await fetchText(`${anyNode(r).http}/buckets/${BUCKET}/${encodeURIComponent(st.key)}`).catch(() => undefined);
        const context = read?.headers.get('x-ringstore-context') ?? undefined;
        if (read !== undefined && (read.status === 200 || read.status === 300) && context !== undefined) await write(st, r, 'put', context);
      } finally {
        st.busy = false;
      }
    };
    const overwriter = async (id: number) => {
      const r = new SeededRandom(SEED ^ (0x2000 + id));
      while (running()) await overwriteOnce(r);
    };
    const deleter = async (id: number) => {
      const r = new SeededRandom(SEED ^ (0x3000 + id));
      while (running()) {
        // Mostly a key whose put was acknowledged just now (through another node, whose replica may lag), sometimes any.
        const st = r.next() < 0.7 ? pickRecent(r) : pick(r, 'put');
        if (st === undefined) {
          await new Promise((res) => setTimeout(res, 5));
          continue;
        }
        st.busy = true;
        await write(st, r, 'delete');
        st.busy = false;
      }
    };

    // The nemesis: one fault at a time, each for 2-8 s, 1-3 s apart.
    const nemesis = async () => {
      const r = new SeededRandom(SEED ^ 0xfa017);
      const ids = cluster.nodes.map((n) => n.id);
      const node = (id: string) => cluster.nodes.find((n) => n.id === id) as TestNode;
      while (running()) {
        await new Promise((res) => setTimeout(res, 1000 + r.int(2000)));
        if (!running()) break;
        const victim = ids[r.int(ids.length)] as string;
        const others = ids.filter((x) => x !== victim);
        const durationMs = 2000 + r.int(6000);
        const kind = r.int(5);
        const fault: Fault = { at: rel(t0), what: '', durationMs };
        faults.push(fault);
        try {
          if (kind === 0) {
            const peers = others.filter(() => r.next() < 0.6);
            if (peers.length === 0) peers.push(others[0] as string);
            const direction = r.next() < 0.5 ? 'in' : 'out';
            fault.what = `one-way cut: ${victim} ${direction === 'in' ? 'hears nothing from' : 'reaches nothing of'} ${peers.join(',')}`;
            await setRules(node(victim), peers, direction);
            await Promise.all(peers.map((p) => setRules(node(p), [victim], direction === 'in' ? 'out' : 'in')));
            await new Promise((res) => setTimeout(res, durationMs));
            await heal(cluster);
          } else if (kind === 1) {
            fault.what = `two-way cut: ${victim} isolated`;
            await setRules(node(victim), others, 'both');
            await Promise.all(others.map((p) => setRules(node(p), [victim], 'both')));
            await new Promise((res) => setTimeout(res, durationMs));
            await heal(cluster);
          } else if (kind === 2) {
            const shuffled = [...ids].sort(() => r.next() - 0.5);
            const a = shuffled.slice(0, 2);
            const b = shuffled.slice(2);
            fault.what = `split ${a.join(',')} | ${b.join(',')}`;
            await Promise.all([...a.map((x) => setRules(node(x), b, 'both')), ...b.map((x) => setRules(node(x), a, 'both'))]);
            await new Promise((res) => setTimeout(res, durationMs));
            await heal(cluster);
          } else if (kind === 3) {
            const pid = node(victim).pid;
            fault.what = `freeze ${victim} (SIGSTOP pid ${pid})`;
            process.kill(pid, 'SIGSTOP');
            frozen.add(pid);
            await new Promise((res) => setTimeout(res, durationMs));
            process.kill(pid, 'SIGCONT');
            frozen.delete(pid);
          } else {
            fault.what = `kill -9 ${victim}, restart`;
            await cluster.kill(victim, 'SIGKILL');
            await new Promise((res) => setTimeout(res, durationMs));
            const startedAt = Date.now();
            await cluster.restart(victim);
            fault.durationMs += Date.now() - startedAt;
          }
        } catch (err) {
          fault.error = err instanceof Error ? err.message : String(err);
        }
      }
    };

    await Promise.all([nemesis(), ...[0, 1, 2].map(writer), ...[0, 1].map(overwriter), ...[0, 1].map(deleter)]);

    // ------------------------------------------------------------ heal
    const healedAt = Date.now();
    for (const pid of frozen) process.kill(pid, 'SIGCONT');
    for (const n of cluster.nodes) if (n.pid === 0) await cluster.restart(n.id);
    await heal(cluster);
    const judged = [...keys.values()].filter((k) => lastOk(k) !== undefined && !ambiguous(k));
    stats.ambiguous = [...keys.values()].filter(ambiguous).length;
    let answers = new Map<string, Answer[]>();
    await waitFor(
      async () => {
        for (const n of cluster.nodes) {
          if (Object.values(await memberStates(cluster, n)).some((s) => s !== 'alive')) return false;
          if ((await pendingHints(cluster, n)) > 0) return false;
        }
        const next = new Map<string, Answer[]>();
        let agree = true;
        await pool(judged, 8, async (k) => {
          const got = await Promise.all(cluster.nodes.map((n) => readKey(n, k.key, 3)));
          next.set(k.key, got);
          if (!got.every((a) => sameAnswer(a, got[0] as Answer))) agree = false;
        });
        answers = next;
        return agree;
      },
      { what: 'every node to answer the same for every key at r=3, no hint pending, every view alive', timeoutMs: CONVERGE_TIMEOUT_MS, intervalMs: 500 },
    );
    stats.convergeMs = Date.now() - healedAt;

    // ----------------------------------------------------------- check
    for (const k of judged) {
      const last = lastOk(k) as Op;
      const got = answers.get(k.key) as Answer[];
      stats.checked++;
      const show = (a: Answer, i: number) => `${cluster.nodes[i]!.id}: ${a.status} [${a.values.join(' ')}] tombstones [${a.tombstones.join(' ')}]`;
      if (last.kind === 'put') {
        got.forEach((a, i) => {
          if (!a.values.includes(last.value as string)) failures.push(`lost write: ${k.key} last acknowledged put ${last.value} @${last.completedAt}ms; ${show(a, i)}; history ${history(k)}`);
        });
        continue;
      }
      const before = k.ops.slice(0, k.ops.indexOf(last));
      const exact = last.strict && before.every((o) => o.outcome === 'failed' || (o.outcome === 'ok' && (o.kind === 'delete' || o.strict)));
      if (exact) stats.exactDeletes++;
      else stats.sloppyDeletes++;
      got.forEach((a, i) => {
        if (a.status === 404) return;
        if (exact) failures.push(`undone delete (strict, R+W>N): ${k.key} deleted @${last.completedAt}ms; ${show(a, i)}; history ${history(k)}`);
        else if (a.status === 300 && a.conflict === 'delete' && a.tombstones.length > 0) {
          if (i === 0) stats.visibleConflicts++;
        } else failures.push(`hidden delete conflict: ${k.key} deleted @${last.completedAt}ms; ${show(a, i)}; history ${history(k)}`);
      });
    }
    const summary = report();
    t.diagnostic(summary.split('\n')[0] as string);
    process.stdout.write(`${summary}\n`);
    assert.ok(stats.ok > 0, 'no operation succeeded');
    assert.deepEqual(failures.slice(0, 20), [], `${failures.length} failures\n${summary}`);
  } catch (err) {
    process.stderr.write(`${report()}\nfailures:\n${failures.slice(0, 20).join('\n')}\n`);
    throw err;
  } finally {
    for (const pid of frozen) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // already gone
      }
    }
    await cluster.stop();
  }
});

function lastOk(k: KeyState): Op | undefined {
  for (let i = k.ops.length - 1; i >= 0; i--) if (k.ops[i]!.outcome === 'ok') return k.ops[i];
  return undefined;
}

/** Some op after the last acknowledged one may have been applied: the key's final state is not determined. */
function ambiguous(k: KeyState): boolean {
  const last = lastOk(k);
  const from = last === undefined ? 0 : k.ops.indexOf(last) + 1;
  return k.ops.slice(from).some((o) => o.outcome === 'unknown') || (last === undefined && k.ops.some((o) => o.outcome === 'unknown'));
}

function history(k: KeyState): string {
  return k.ops.map((o) => `${o.kind}${o.value !== null ? `(${o.value})` : ''}${o.strict ? '/strict' : ''} via ${o.node} @${o.invokedAt}-${o.completedAt} ${o.outcome}${o.detail ? ` (${o.detail})` : ''}`).join('; ');
}
