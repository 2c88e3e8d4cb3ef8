// Failures on real node processes over loopback: SWIM failure detection,
// sloppy quorum and durable hinted handoff (Dynamo §4.6) under a kill -9 and under a
// network cut made with the dev-only fault switch, and hints surviving a
// kill -9 of the fallback that holds them.
//
// Four nodes with N=3, so every partition has one fallback node (with three
// nodes and N=3 there is nobody to stand in). Anti-entropy is switched off
// in this cluster: what converges the replicas here is hinted handoff alone.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cut, heal, memberStates, pendingHints, startCluster, waitFor, type TestCluster, type TestNode } from '../helpers/cluster.js';

let cluster: TestCluster;

before(async () => {
  cluster = await startCluster({ nodes: 4, quorum: { n: 3, r: 2, w: 2 }, faults: true, nodeSettings: { antiEntropy: { enabled: false } } });
});

after(async () => {
  await cluster?.stop();
});

const node = (id: string): TestNode => cluster.nodes.find((n) => n.id === id) as TestNode;

interface WriteAnswer {
  status: number;
  json: {
    ok?: boolean;
    origin?: string;
    preference_list?: string[];
    replicas_written?: string[];
    hinted?: { node: string; for: string }[];
    vector_clocks?: Record<string, Record<string, number>>;
    context?: string;
    error?: { code: string; message: string };
  };
  atMs: number;
}

async function put(n: TestNode, bucket: string, key: string, value: string, opts: { w?: number; context?: string } = {}): Promise<WriteAnswer> {
  const q = opts.w !== undefined ? `?w=${opts.w}` : '';
  try {
    const res = await cluster.fetch(`${n.http}/buckets/${bucket}/${key}${q}`, {
      method: 'PUT',
      body: value,
      headers: opts.context !== undefined ? { 'x-ringstore-context': opts.context } : {},
      signal: AbortSignal.timeout(20_000),
    });
    return { status: res.status, json: (await res.json()) as WriteAnswer['json'], atMs: Date.now() };
  } catch (err) {
    return { status: 0, json: { error: { code: 'fetch', message: (err as Error).message } }, atMs: Date.now() };
  }
}

/**
 * The dot the write minted: the origin's current actor (the node id, or
 * `node~epoch` after a kill -9: version/counter-lease.ts) and its counter in
 * the origin's own clock after the write.
 */
function dotOf(a: WriteAnswer): { node: string; counter: number } {
  const origin = a.json.origin as string;
  const clock = (a.json.vector_clocks as Record<string, Record<string, number>>)[origin]!;
  const epoch = (actor: string): number => (actor === origin ? 0 : Number(actor.slice(origin.length + 1)));
  const actor = Object.keys(clock)
    .filter((x) => x === origin || x.startsWith(`${origin}~`))
    .sort((x, y) => epoch(x) - epoch(y))
    .at(-1)!;
  return { node: actor, counter: clock[actor]! };
}

interface LocalKey {
  key: string;
  dots: string[];
  clock: Record<string, number>;
}

/** What one node stores itself for a bucket (its replicas, not its hints), by key: sorted sibling dots. */
async function localKeys(n: TestNode, bucket: string): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const [key, k] of await localEntries(n, bucket)) out.set(key, k.dots.slice().sort());
  return out;
}

async function localEntries(n: TestNode, bucket: string): Promise<Map<string, LocalKey>> {
  const out = new Map<string, LocalKey>();
  let after = '';
  for (;;) {
    const res = await cluster.fetch(`${n.http}/cluster/keys?bucket=${bucket}&limit=10000${after ? `&after=${encodeURIComponent(after)}` : ''}`, { signal: AbortSignal.timeout(20_000) });
    const body = (await res.json()) as { keys: LocalKey[]; truncated: boolean };
    for (const k of body.keys) out.set(k.key, k);
    if (!body.truncated || body.keys.length === 0) return out;
    after = body.keys[body.keys.length - 1]!.key;
  }
}

async function everyoneSeesEveryoneAlive(): Promise<boolean> {
  for (const n of cluster.nodes) {
    const view = await memberStates(cluster, n);
    if (Object.values(view).some((s) => s !== 'alive')) return false;
  }
  return true;
}

async function noHintsPending(): Promise<boolean> {
  const counts = await Promise.all(cluster.nodes.map((n) => pendingHints(cluster, n)));
  return counts.every((c) => c === 0);
}

test('kill -9 under steady W=2 load: writes keep succeeding through hinted fallbacks; after the restart the hints are delivered and all three owners agree', async (t) => {
  const bucket = 'steady';
  assert.equal((await cluster.fetch(`${node('n1').http}/buckets/${bucket}`, { method: 'PUT' })).status, 200);
  const victim = 'n4';
  const coordinators = ['n1', 'n2', 'n3'];
  // A client fails over from a coordinator it is told is going down.
  const avoid = new Set<string>();
  const answers: { key: string; via: string; a: WriteAnswer }[] = [];
  /** Requests each coordinator is answering right now. */
  const inFlight = new Map<string, number>();
  let stop = false;
  t.after(() => void (stop = true)); // a failed assertion must not leave the writers running
  let seq = 0;
  const writer = async (w: number): Promise<void> => {
    for (let i = w; !stop; i++) {
      const usable = coordinators.filter((c) => !avoid.has(c));
      const via = usable[i % usable.length]!;
      const key = `k${String(seq++).padStart(6, '0')}`;
      inFlight.set(via, (inFlight.get(via) ?? 0) + 1);
      const a = await put(node(via), bucket, key, `value of ${key}`);
      inFlight.set(via, inFlight.get(via)! - 1);
      answers.push({ key, via, a });
    }
  };
  const load = [0, 1, 2, 3].map(writer);

  await waitFor(() => answers.length >= 100, { what: 'writes before the kill' });
  const killedAt = Date.now();
  await cluster.kill(victim, 'SIGKILL');
  // Keep writing while the survivors notice the crash (SWIM) and afterwards.
  await waitFor(async () => (await memberStates(cluster, node('n1')))[victim] === 'dead', { what: `${victim} declared dead by n1`, timeoutMs: 60_000 });
  const detectedAt = Date.now();
  const detectedMs = detectedAt - killedAt;
  // Strict quorum (?sloppy=false, Riak's pw) refuses the stand-in that the default sloppy quorum uses.
  for (let i = 0; ; i++) {
    const key = `strict-${i}`;
    const sloppy = await cluster.fetch(`${node('n1').http}/buckets/${bucket}/${key}?w=3`, { method: 'PUT', body: 'x' });
    const body = (await sloppy.json()) as WriteAnswer['json'];
    if (!body.preference_list?.includes(victim)) continue;
    assert.equal(sloppy.status, 200);
    assert.deepEqual(body.hinted?.map((h) => h.for), [victim]);
    const strict = await cluster.fetch(`${node('n1').http}/buckets/${bucket}/${key}?w=3&sloppy=false`, { method: 'PUT', body: 'y' });
    assert.equal(strict.status, 503);
    break;
  }
  // Writes go on through the outage until the fallbacks hold a good number of hints for it.
  await waitFor(
    async () =>
      answers.filter((x) => x.a.status === 200 && x.a.atMs > detectedAt).length >= 200 &&
      (await Promise.all(coordinators.map((id) => pendingHints(cluster, node(id))))).some((n) => n >= 20),
    { what: `hinted writes for ${victim} during its outage`, timeoutMs: 60_000, intervalMs: 250 },
  );

  // Hints survive a kill -9 of the fallback holding them.
  const holders = await Promise.all(coordinators.map(async (id) => ({ id, pending: await pendingHints(cluster, node(id)) })));
  const fallback = holders.sort((a, b) => b.pending - a.pending)[0]!;
  assert.ok(fallback.pending > 0, 'some node holds hints for the dead owner');
  avoid.add(fallback.id);
  await waitFor(() => (inFlight.get(fallback.id) ?? 0) === 0, { what: `writes in flight to ${fallback.id} answered`, intervalMs: 10 });
  const fallbackKilledAt = Date.now();
  await cluster.kill(fallback.id, 'SIGKILL');
  await cluster.restart(fallback.id);
  avoid.delete(fallback.id);
  const kept = await pendingHints(cluster, node(fallback.id));
  process.stderr.write(`[kill -9] ${fallback.id} held ${fallback.pending} hints before its own kill -9 and restart, ${kept} after\n`);
  assert.ok(kept >= fallback.pending, `${fallback.id} kept its hints through kill -9 (${fallback.pending} before, ${kept} after)`);
  const fallbackBackAt = Date.now();
  await waitFor(() => answers.some((x) => x.via === fallback.id && x.a.status === 200 && x.a.atMs > fallbackBackAt), {
    what: `writes coordinated by ${fallback.id} again after its restart`,
  });

  const duringOutage = answers.filter((x) => x.a.atMs > killedAt);
  await cluster.restart(victim); // waits until every node sees it alive again
  const restartedAt = Date.now();
  await waitFor(() => answers.some((x) => x.a.atMs > restartedAt + 1000), { what: 'writes after the restart' });
  stop = true;
  await Promise.all(load);

  const failed = answers.filter((x) => x.a.status !== 200);
  const hinted = duringOutage.filter((x) => (x.a.json.hinted ?? []).some((h) => h.for === victim));
  process.stderr.write(
    `[kill -9] ${answers.length} writes, ${duringOutage.length} after the kill, ${failed.length} failed, ${hinted.length} answers name a fallback for ${victim}; n1 declared it dead after ${detectedMs} ms\n`,
  );
  // A write whose request was on the wire to the victim at the instant of
  // the kill may time out (outcome unknown); nothing else may fail.
  const nearKill = (at: number): boolean => Math.abs(at - killedAt) < 10_000 || Math.abs(at - fallbackKilledAt) < 10_000;
  for (const f of failed) assert.ok(nearKill(f.a.atMs), `write ${f.key} failed long after the kills: ${JSON.stringify(f.a.json)}`);
  assert.ok(failed.length <= 8, `${failed.length} writes failed`);
  assert.ok(hinted.length > 0, 'some answers name the fallback that stood in for the dead owner');
  for (const h of hinted) for (const x of h.a.json.hinted!) assert.ok(!h.a.json.preference_list!.includes(x.node), 'a stand-in is not an owner');

  await waitFor(noHintsPending, { what: 'every hint delivered', timeoutMs: 60_000, intervalMs: 250 });
  const deliveredAfterMs = Date.now() - restartedAt;

  // Every acknowledged key: the same sibling set on all three owners.
  const held = new Map<string, Map<string, string[]>>();
  for (const n of cluster.nodes) held.set(n.id, await localKeys(n, bucket));
  let checked = 0;
  for (const { key, a } of answers) {
    if (a.status !== 200) continue;
    const owners = a.json.preference_list!;
    const sets = owners.map((o) => held.get(o)!.get(key));
    for (let i = 0; i < owners.length; i++) {
      assert.ok(sets[i] !== undefined, `${key} missing on owner ${owners[i]}`);
      assert.deepEqual(sets[i], sets[0], `${key}: ${owners[i]} holds ${JSON.stringify(sets[i])}, ${owners[0]} holds ${JSON.stringify(sets[0])}`);
    }
    const d = dotOf(a);
    assert.ok(sets[0]!.includes(`${d.node}:${d.counter}`), `${key}: the acknowledged dot ${d.node}:${d.counter} is on the owners`);
    checked++;
  }
  process.stderr.write(`[kill -9] hints delivered ${deliveredAfterMs} ms after the restart; ${checked} keys identical on their three owners\n`);
});

test('one node cut off while both sides take writes: after healing every acknowledged write is on all owners or superseded, and concurrent writes are siblings', async (t) => {
  const bucket = 'cut';
  assert.equal((await cluster.fetch(`${node('n1').http}/buckets/${bucket}`, { method: 'PUT' })).status, 200);
  await waitFor(everyoneSeesEveryoneAlive, { what: 'a healthy cluster', timeoutMs: 60_000 });
  const isolated = 'n1';

  // Keys the isolated node owns, so that its W=1 writes are taken by itself.
  const shared: string[] = [];
  for (let i = 0; shared.length < 12; i++) {
    const a = await put(node('n2'), bucket, `s${i}`, 'initial', { w: 3 });
    assert.equal(a.status, 200, JSON.stringify(a.json));
    if (a.json.preference_list!.includes(isolated)) shared.push(`s${i}`);
  }

  const acked: { key: string; a: WriteAnswer; side: 'minority' | 'majority' }[] = [];
  const last = new Map<string, { minority?: string; majority?: string }>();
  const ctx = new Map<string, string>(); // per side and key: the context of our own last write
  const lastRefusal = new Map<string, string>();
  let stop = false;
  t.after(() => void (stop = true)); // a failed assertion must not leave the writers running
  // One writer per side writes the shared keys, so that a side's writes to a
  // key are sequential and each supersedes the previous one; the second
  // majority writer adds load on keys of its own.
  const writer = async (side: 'minority' | 'majority', via: string[], w: number, tag: string, sharedKeys: boolean): Promise<void> => {
    for (let i = 0; !stop; i++) {
      const own = sharedKeys && (i % 3 !== 2 || side === 'minority');
      const key = own ? shared[i % shared.length]! : `${side}-${tag}-${i}`;
      const value = `${side} ${i}`;
      const a = await put(node(via[i % via.length]!), bucket, key, value, { w, ...(ctx.has(`${side}/${key}`) ? { context: ctx.get(`${side}/${key}`)! } : {}) });
      if (a.status !== 200) {
        lastRefusal.set(side, `${a.status} ${JSON.stringify(a.json.error ?? a.json)}`);
        continue;
      }
      acked.push({ key, a, side });
      // Each side supersedes its own previous write of a key, never the other side's.
      ctx.set(`${side}/${key}`, a.json.context!);
      if (shared.includes(key)) last.set(key, { ...last.get(key), [side]: value });
    }
  };

  await cut(cluster, isolated);
  const cutAt = Date.now();
  const load = [writer('minority', [isolated], 1, 'a', true), writer('majority', ['n2', 'n3', 'n4'], 2, 'a', true), writer('majority', ['n3', 'n4', 'n2'], 2, 'b', false)];
  await waitFor(async () => (await memberStates(cluster, node('n2')))[isolated] === 'dead', { what: `the majority declares ${isolated} dead`, timeoutMs: 60_000 });
  // The cut lasts until both sides have taken writes to the shared keys, the
  // majority plenty after giving the isolated node up, and the majority holds
  // hints for it. (The minority's writes stop once its cached bucket
  // metadata expires: reading it again needs R=2, which one node cannot reach.)
  const deadAt = Date.now();
  const count = (side: 'minority' | 'majority', since = cutAt): number => acked.filter((x) => x.side === side && x.a.atMs > since).length;
  let seen = '';
  await waitFor(
    async () => {
      const both = [...last.values()].filter((l) => l.minority !== undefined && l.majority !== undefined).length;
      const hints = await Promise.all(['n2', 'n3', 'n4'].map((id) => pendingHints(cluster, node(id))));
      seen = `minority ${count('minority')}, majority ${count('majority', deadAt)} since ${isolated} was declared dead, shared keys written on both sides ${both}, hints on n2..n4 ${hints.join('/')}, last refusals ${JSON.stringify(Object.fromEntries(lastRefusal))}`;
      return count('minority') >= 10 && count('majority', deadAt) >= 50 && both >= 6 && hints.some((n) => n > 0);
    },
    { what: 'writes on both sides of the cut, and hints for the isolated node', timeoutMs: 120_000, intervalMs: 250 },
  ).catch((err: Error) => {
    throw new Error(`${err.message} (${seen})`);
  });
  stop = true;
  await Promise.all(load);
  await heal(cluster);
  const healedAt = Date.now();
  const minority = acked.filter((x) => x.side === 'minority').length;
  process.stderr.write(`[cut] ${acked.length} writes acknowledged during the ${healedAt - cutAt} ms cut (${minority} on the minority side)\n`);
  assert.ok(minority >= 10, 'the minority side kept taking writes');
  assert.ok(acked.length - minority >= 10, 'the majority side kept taking writes');

  await waitFor(everyoneSeesEveryoneAlive, { what: 'every node sees every node alive after the heal', timeoutMs: 60_000, intervalMs: 250 });
  await waitFor(noHintsPending, { what: 'every hint delivered after the heal', timeoutMs: 60_000, intervalMs: 250 });
  const convergedMs = Date.now() - healedAt;

  // A replica's clock covers a dot iff it holds that write or one that
  // causally follows it (the origin's own later dots, or a write whose
  // context saw it).
  const held = new Map<string, Map<string, LocalKey>>();
  for (const n of cluster.nodes) held.set(n.id, await localEntries(n, bucket));
  for (const { key, a } of acked) {
    const d = dotOf(a);
    for (const o of a.json.preference_list!) {
      const k = held.get(o)!.get(key);
      assert.ok((k?.clock[d.node] ?? 0) >= d.counter, `${key}: owner ${o} has neither ${d.node}:${d.counter} nor a write that follows it (holds ${JSON.stringify(k)})`);
    }
  }
  // Concurrent writes on the two sides are both kept: read every shared key through the API.
  let siblings = 0;
  for (const key of shared) {
    const want = last.get(key);
    if (want?.minority === undefined || want.majority === undefined) continue;
    const res = await cluster.fetch(`${node('n3').http}/buckets/${bucket}/${key}?r=3`, { headers: { accept: 'application/json' } });
    const body = (await res.json()) as { siblings: { value: string }[] };
    const values = body.siblings.map((s) => s.value).sort();
    assert.deepEqual(values, [want.majority, want.minority].sort(), `${key}: the last write of each side survives as a sibling`);
    siblings++;
  }
  assert.ok(siblings >= 6, `${siblings} shared keys written on both sides`);
  process.stderr.write(`[cut] converged (hints delivered) ${convergedMs} ms after the heal; ${acked.length} acknowledged writes checked on every owner; ${siblings} keys with one sibling per side\n`);
});
