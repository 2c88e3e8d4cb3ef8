// The Raft driver (control/driver.ts) on virtual time: several drivers over
// in-memory storage and a scheduled network, as the node wiring runs them
// over LMDB and gRPC. Each test names the part of the driver's contract
// (raw-node.ts, docs/raft.md) or the Raft section it checks.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RaftDriver, type DriverStorage, type DriverWrite } from '../../src/control/driver.js';
import { ControlUnavailableError } from '../../src/control/driver-errors.js';
import { initialConf, initialControlState, voterTarget } from '../../src/control/driver-voters.js';
import type { ConfState, Message } from '../../src/raft/messages.js';
import { MemoryStorage } from '../../src/raft/storage.js';
import { NodeClock, Scheduler } from '../../src/sim/scheduler.js';
import { SeededRandom } from '../../src/util/runtime.js';

/** MemoryStorage with the driver's durable writes, each taking `diskMs` of virtual time. */
class SlowDisk extends MemoryStorage implements DriverStorage {
  inFlight = 0;
  saves = 0;
  constructor(
    private readonly sched: Scheduler,
    private readonly diskMs: number,
  ) {
    super();
  }
  static founding(sched: Scheduler, diskMs: number, conf: ConfState, data?: Uint8Array): SlowDisk {
    const d = new SlowDisk(sched, diskMs);
    const b = MemoryStorage.bootstrap(conf);
    d.applySnapshot(data === undefined ? b.snapshot() : { meta: b.snapshot().meta, data });
    d.setHardState(b.hardState());
    return d;
  }
  save(w: DriverWrite): Promise<void> {
    this.inFlight++;
    return new Promise((resolve) => {
      this.sched.schedule(this.diskMs, 'disk', () => {
        if (w.snapshot !== undefined) this.applySnapshot(w.snapshot);
        if (w.entries !== undefined) this.append(w.entries);
        if (w.hardState !== undefined) this.setHardState(w.hardState);
        this.inFlight--;
        this.saves++;
        resolve();
      });
    });
  }
}

interface Net {
  sched: Scheduler;
  drivers: Map<string, RaftDriver>;
  disks: Map<string, SlowDisk>;
  down: Set<string>;
  sent: { from: string; inFlightSaves: number }[];
  start(id: string, opts?: { compactEvery?: number }): RaftDriver;
  run(ms: number, until?: () => boolean): Promise<void>;
  leader(): RaftDriver | undefined;
}

function net(ids: string[], conf: ConfState, opts: { timeoutMs?: number; data?: Uint8Array; joiners?: string[]; diskMs?: number } = {}): Net {
  const sched = new Scheduler();
  const random = new SeededRandom(7);
  const n: Net = {
    sched,
    drivers: new Map(),
    disks: new Map(),
    down: new Set(),
    sent: [],
    start(id, o = {}) {
      const disk = n.disks.get(id) as SlowDisk;
      const d = new RaftDriver({
        id,
        storage: disk,
        clock: new NodeClock(sched, id, 0, 1),
        random,
        tickMs: 10,
        electionTick: 10,
        heartbeatTick: 1,
        timeoutMs: opts.timeoutMs ?? 2000,
        compactEvery: o.compactEvery ?? 1000,
        send: (msgs: readonly Message[]) => {
          for (const m of msgs) {
            n.sent.push({ from: id, inFlightSaves: disk.inFlight });
            sched.schedule(1 + random.next(), 'net', () => {
              if (n.down.has(m.to) || n.down.has(m.from)) return;
              n.drivers.get(m.to)?.receive(m);
            });
          }
        },
      });
      n.drivers.set(id, d);
      n.down.delete(id);
      d.start();
      return d;
    },
    run: (ms, until) => sched.runUntil(sched.now + ms, until),
    leader: () => [...n.drivers.entries()].find(([id, d]) => !n.down.has(id) && d.status().role === 'leader')?.[1],
  };
  for (const id of ids) n.disks.set(id, SlowDisk.founding(sched, opts.diskMs ?? 2, conf, opts.data));
  for (const id of opts.joiners ?? []) n.disks.set(id, new SlowDisk(sched, opts.diskMs ?? 2));
  for (const id of [...ids, ...(opts.joiners ?? [])]) n.start(id);
  return n;
}

const THREE: ConfState = { voters: ['a', 'b', 'c'], learners: [] };

async function settle<T>(n: Net, p: Promise<T>, ms = 5000): Promise<T> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  await n.run(ms, () => done);
  return p;
}

test('three drivers elect one leader (§5.2) and a command proposed through a follower is applied on every node (§5.3)', async () => {
  const n = net(['a', 'b', 'c'], THREE);
  await n.run(2000, () => n.leader() !== undefined);
  const leader = n.leader();
  assert.ok(leader !== undefined, 'a leader within 2 s of virtual time');
  const follower = [...n.drivers.values()].find((d) => d !== leader) as RaftDriver;
  const r = await settle(n, follower.propose({ type: 'createBucket', name: 'photos', owner: 'alice' }));
  assert.equal(r.ok, true);
  // Answered once applied on the proposing node: its state shows the bucket at once.
  assert.equal(follower.state.bucket('photos')?.owner, 'alice');
  await n.run(200);
  for (const d of n.drivers.values()) assert.equal(d.state.bucket('photos')?.owner, 'alice');
  const bytes = [...n.drivers.values()].map((d) => Buffer.from(d.state.snapshot()).toString('hex'));
  assert.ok(bytes.every((b) => b === bytes[0]), 'byte-identical control states');
});

test('a Ready is persisted before any of its messages leave (raw-node.ts step 1 before step 2)', async () => {
  const n = net(['a', 'b', 'c'], THREE);
  await n.run(2000, () => n.leader() !== undefined);
  const leader = n.leader() as RaftDriver;
  await settle(n, leader.propose({ type: 'putUser', user: 'u1' }));
  assert.ok(n.sent.length > 0);
  assert.deepEqual(
    n.sent.filter((s) => s.inFlightSaves > 0),
    [],
    'no message sent while its node had a write in flight',
  );
  assert.ok([...n.disks.values()].every((d) => d.saves > 0));
});

test('with no leader reachable a proposal fails with ControlUnavailable at its deadline, and confirm() too', async () => {
  const n = net(['a', 'b', 'c'], THREE, { timeoutMs: 500 });
  n.down.add('b');
  n.down.add('c');
  const a = n.drivers.get('a') as RaftDriver;
  await assert.rejects(settle(n, a.propose({ type: 'putUser', user: 'u1' })), (err: unknown) => err instanceof ControlUnavailableError && err.code === 'ControlUnavailable');
  await assert.rejects(settle(n, a.confirm()), ControlUnavailableError);
  assert.equal(a.state.user('u1'), undefined);
});

test('a proposal made before any leader exists is retried and applied once one is elected', async () => {
  const n = net(['a', 'b', 'c'], THREE, { timeoutMs: 5000 });
  const a = n.drivers.get('a') as RaftDriver;
  // At time 0 nobody leads yet: Raft refuses (noLeader), the driver retries at each tick.
  const r = await settle(n, a.propose({ type: 'putUser', user: 'early' }));
  assert.equal(r.ok, true);
  assert.ok(a.state.user('early') !== undefined);
});

test('confirm() resolves on a follower once it has applied the leader\'s read point (dissertation §6.4)', async () => {
  const n = net(['a', 'b', 'c'], THREE);
  await n.run(2000, () => n.leader() !== undefined);
  const leader = n.leader() as RaftDriver;
  const follower = [...n.drivers.values()].find((d) => d !== leader) as RaftDriver;
  n.down.add(follower.status().id);
  // The follower is cut off while the leader applies a change...
  await settle(n, leader.propose({ type: 'putUser', user: 'late' }));
  assert.equal(follower.state.user('late'), undefined);
  n.down.delete(follower.status().id);
  // ...and its confirm() returns only once it holds that change.
  await settle(n, follower.confirm());
  assert.ok(follower.state.user('late') !== undefined);
});

test('a restarted driver comes back with its log: its state is rebuilt and it follows again', async () => {
  const n = net(['a', 'b', 'c'], THREE);
  await n.run(2000, () => n.leader() !== undefined);
  const leader = n.leader() as RaftDriver;
  for (let i = 0; i < 5; i++) await settle(n, leader.propose({ type: 'putUser', user: `u${i}` }));
  const victim = [...n.drivers.entries()].find(([, d]) => d !== leader)?.[0] as string;
  n.drivers.get(victim)?.stop();
  n.down.add(victim);
  const restarted = n.start(victim);
  await n.run(1000, () => restarted.state.user('u4') !== undefined);
  for (let i = 0; i < 5; i++) assert.ok(restarted.state.user(`u${i}`) !== undefined);
  assert.ok(restarted.status().term >= leader.status().term);
});

test('a learner added by a configuration change starts empty and catches up from a snapshot of the compacted log (§7, §4.2.1)', async () => {
  const data = initialControlState([{ id: 'a', addresses: { rpc: 'a:1' }, zone: 'z', capacity: 1, role: 'storage' }]);
  const n = net(['a', 'b', 'c'], THREE, { data, joiners: ['d'] });
  // Compact often on the founding members.
  for (const id of ['a', 'b', 'c']) {
    n.drivers.get(id)?.stop();
    n.start(id, { compactEvery: 5 });
  }
  await n.run(3000, () => n.leader() !== undefined);
  const leader = n.leader() as RaftDriver;
  for (let i = 0; i < 12; i++) await settle(n, leader.propose({ type: 'putUser', user: `u${i}` }));
  assert.ok(leader.status().snapshotIndex > 1, 'the leader compacted its log');
  await settle(n, leader.changeConf({ type: 'addLearner', node: 'd' }));
  const d = n.drivers.get('d') as RaftDriver;
  await n.run(2000, () => d.state.user('u11') !== undefined);
  assert.ok(d.state.user('u11') !== undefined);
  assert.deepEqual(d.state.layout().nodes.map((x) => x.id), ['a']);
  assert.deepEqual(d.status().learners, ['d']);
  // A learner's proposals go through the leader like anyone's.
  assert.equal((await settle(n, d.propose({ type: 'putUser', user: 'from-d' }))).ok, true);
});

test('a configuration change is refused at a node that does not lead', async () => {
  const n = net(['a', 'b', 'c'], THREE);
  await n.run(2000, () => n.leader() !== undefined);
  const follower = [...n.drivers.values()].find((d) => d.status().role !== 'leader') as RaftDriver;
  await assert.rejects(settle(n, follower.changeConf({ type: 'removeNode', node: 'c' })), /does not lead/);
});

test('the founding configuration has an odd number of voters, at most maxVoters, spread over zones', () => {
  const members = [
    { id: 'n1', zone: 'z1' },
    { id: 'n2', zone: 'z1' },
    { id: 'n3', zone: 'z1' },
    { id: 'n4', zone: 'z2' },
    { id: 'n5', zone: 'z2' },
    { id: 'n6', zone: 'z3' },
    { id: 'n7', zone: 'z1' },
  ];
  assert.deepEqual(initialConf(members, 5), { voters: ['n1', 'n2', 'n4', 'n5', 'n6'], learners: ['n3', 'n7'] });
  assert.deepEqual(initialConf(members, 3), { voters: ['n1', 'n4', 'n6'], learners: ['n2', 'n3', 'n5', 'n7'] });
  assert.deepEqual(initialConf(members.slice(0, 4), 5).voters.length, 3);
  assert.deepEqual(initialConf([{ id: 'solo', zone: 'z' }], 5), { voters: ['solo'], learners: [] });
  assert.equal(voterTarget(2, 5), 1);
  assert.equal(voterTarget(6, 5), 5);
  assert.equal(voterTarget(9, 4), 3);
  // Every founding member computes the same bytes whatever order it lists the members in.
  const nodes = members.map((m) => ({ id: m.id, addresses: { rpc: `${m.id}:1` }, zone: m.zone, capacity: 1, role: 'storage' as const }));
  assert.deepEqual(initialControlState(nodes), initialControlState([...nodes].reverse()));
});

test('the leader replaces a voter that stays unreachable by promoting a learner, then demotes it; back, it follows as a learner', async () => {
  const conf = { voters: ['a', 'b', 'c'], learners: ['d'] };
  const data = initialControlState(['a', 'b', 'c', 'd'].map((id) => ({ id, addresses: { rpc: `${id}:1` }, zone: 'z', capacity: 1, role: 'storage' as const })));
  const n = net(['a', 'b', 'c', 'd'], conf, { data });
  for (const d of n.drivers.values()) d.maintainVoters({ intervalMs: 50, maxVoters: 3, replaceAfterMs: 300 });
  await n.run(3000, () => n.leader() !== undefined);
  const leader = n.leader() as RaftDriver;
  await settle(n, leader.propose({ type: 'putUser', user: 'u' }));
  const victim = ['a', 'b', 'c'].find((id) => id !== leader.status().id) as string;
  n.down.add(victim);
  await n.run(5000, () => {
    const s = n.leader()?.status();
    return s !== undefined && s.voters.includes('d') && !s.voters.includes(victim);
  });
  const s = (n.leader() as RaftDriver).status();
  assert.deepEqual([...s.voters].sort(), ['a', 'b', 'c', 'd'].filter((x) => x !== victim));
  assert.deepEqual(s.learners, [victim]);
  // Back, the demoted node follows the log as a learner; three voters are what maxVoters wants, so it stays one.
  n.down.delete(victim);
  await settle(n, (n.leader() as RaftDriver).propose({ type: 'putUser', user: 'after' }));
  const v = n.drivers.get(victim) as RaftDriver;
  await n.run(2000, () => v.state.user('after') !== undefined);
  assert.ok(v.state.user('after') !== undefined);
  await n.run(1000);
  assert.deepEqual((n.leader() as RaftDriver).status().learners, [victim]);
});

test('a proposal waiting while a slow disk write is in flight is appended once, however many ticks pass (no duplicate entries)', async () => {
  // Each write takes 25 ms, 2.5 ticks: proposals and their retries queue up behind it.
  const n = net(['a', 'b', 'c'], THREE, { diskMs: 25 });
  await n.run(5000, () => n.leader() !== undefined);
  const all = [...n.drivers.values()];
  const answers = await settle(
    n,
    Promise.all(all.flatMap((d, i) => [0, 1, 2].map((k) => d.propose({ type: 'putUser', user: `u${i}-${k}` })))),
    20_000,
  );
  assert.ok(answers.every((r) => r.ok));
  await n.run(500);
  const disk = n.disks.get((n.leader() as RaftDriver).status().id) as SlowDisk;
  const ids: string[] = [];
  for (const e of disk.entries(disk.firstIndex(), disk.lastIndex() + 1) as readonly { data: Uint8Array; kind: string }[]) {
    if (e.kind === 'normal' && e.data.length > 0) ids.push((JSON.parse(new TextDecoder().decode(e.data)) as { id: string }).id);
  }
  assert.equal(ids.length, 9);
  assert.equal(new Set(ids).size, 9, `request ids in the log: ${ids.join(' ')}`);
});

/** A disk whose writes in flight are lost in a crash (they never land, and never resolve). */
class CrashableDisk extends SlowDisk {
  epoch = 0;
  constructor(
    private readonly s: Scheduler,
    private readonly rnd: SeededRandom,
  ) {
    super(s, 0);
  }
  static foundingC(sched: Scheduler, rnd: SeededRandom, conf: ConfState): CrashableDisk {
    const d = new CrashableDisk(sched, rnd);
    const b = MemoryStorage.bootstrap(conf);
    d.applySnapshot(b.snapshot());
    d.setHardState(b.hardState());
    return d;
  }
  override save(w: DriverWrite): Promise<void> {
    const epoch = this.epoch;
    return new Promise((resolve) => {
      this.s.schedule(1 + this.rnd.next() * 8, 'disk', () => {
        if (epoch !== this.epoch) return;
        if (w.snapshot !== undefined) this.applySnapshot(w.snapshot);
        if (w.entries !== undefined) this.append(w.entries);
        if (w.hardState !== undefined) this.setHardState(w.hardState);
        resolve();
      });
    });
  }
}

test('under message loss, duplication, delays and crashes in the middle of disk writes, every acknowledged creation survives, one owner per name, and the nodes converge (30 seeds)', async () => {
  for (let seed = 1; seed <= 30; seed++) {
    const sched = new Scheduler();
    const rnd = new SeededRandom(seed);
    const ids = ['a', 'b', 'c', 'd', 'e'];
    const conf = { voters: ids, learners: [] };
    const disks = new Map(ids.map((id) => [id, CrashableDisk.foundingC(sched, rnd, conf)] as const));
    const drivers = new Map<string, RaftDriver>();
    const up = new Set<string>();
    let faults = true;
    const start = (id: string): void => {
      const disk = disks.get(id) as CrashableDisk;
      const d = new RaftDriver({
        id,
        storage: disk,
        clock: new NodeClock(sched, id, 0, 0.95 + rnd.next() * 0.1),
        random: rnd,
        tickMs: 10,
        electionTick: 10,
        heartbeatTick: 1,
        timeoutMs: 1500,
        compactEvery: 7 + Math.floor(rnd.next() * 20),
        send: (msgs) => {
          for (const m of msgs) {
            if (faults && rnd.next() < 0.05) continue;
            const copies = faults && rnd.next() < 0.03 ? 2 : 1;
            for (let k = 0; k < copies; k++) {
              sched.schedule(1 + rnd.next() * (faults ? 15 : 3), 'net', () => {
                if (up.has(m.to) && up.has(m.from)) drivers.get(m.to)?.receive(m);
              });
            }
          }
        },
      });
      drivers.set(id, d);
      up.add(id);
      d.start();
    };
    const crash = (id: string): void => {
      drivers.get(id)?.stop();
      (disks.get(id) as CrashableDisk).epoch++;
      up.delete(id);
    };
    for (const id of ids) start(id);

    const acked = new Map<string, string>();
    const answers: { name: string; owner: string }[] = [];
    const pending: Promise<unknown>[] = [];
    const names = ['x', 'y', 'z'];
    for (let t = 0; t < 3000; t += 15) {
      sched.schedule(t, 'client', () => {
        const live = ids.filter((i) => up.has(i));
        const through = live[Math.floor(rnd.next() * live.length)];
        if (through === undefined) return;
        const contested = rnd.next() < 0.3;
        const name = contested ? (names[Math.floor(rnd.next() * names.length)] as string) : `s${t}`;
        const owner = `o-${through}-${t}`;
        pending.push(
          (drivers.get(through) as RaftDriver).propose({ type: 'createBucket', name, owner }).then(
            (r) => {
              if (r.ok) {
                assert.ok(!acked.has(name), `seed ${seed}: two creations of ${name} acknowledged`);
                acked.set(name, owner);
              } else if (r.code === 'BucketAlreadyExists') answers.push({ name, owner: r.bucket?.owner as string });
            },
            () => undefined,
          ),
        );
      });
    }
    for (let t = 100; t < 3000; t += 150 + Math.floor(rnd.next() * 200)) {
      sched.schedule(t, 'fault', () => {
        const down = ids.filter((i) => !up.has(i));
        if (down.length > 0 && (down.length >= 2 || rnd.next() < 0.5)) start(down[0] as string);
        else crash(ids[Math.floor(rnd.next() * ids.length)] as string);
      });
    }
    await sched.runUntil(3200);
    // Heal: faults off, everyone up.
    faults = false;
    for (const id of ids) if (!up.has(id)) start(id);
    await sched.runUntil(3200 + 20_000, () => {
      const ds = ids.map((i) => drivers.get(i) as RaftDriver);
      const l = ds.find((d) => d.status().role === 'leader');
      return l !== undefined && ds.every((d) => d.applied === l.status().commit && d.status().commit === l.status().commit);
    });
    const snaps = ids.map((i) => Buffer.from((drivers.get(i) as RaftDriver).state.snapshot()).toString());
    assert.ok(
      snaps.every((s) => s === snaps[0]),
      `seed ${seed}: states differ: ${ids.map((i) => `${i}@${(drivers.get(i) as RaftDriver).applied}`).join(' ')}`,
    );
    assert.ok(acked.size >= 10, `seed ${seed}: only ${acked.size} creations acknowledged`);
    const final = (drivers.get('a') as RaftDriver).state;
    for (const [name, owner] of acked) assert.equal(final.bucket(name)?.owner, owner, `seed ${seed}: acknowledged ${name} by ${owner}`);
    for (const a of answers) assert.equal(final.bucket(a.name)?.owner, a.owner, `seed ${seed}: an answer named ${a.owner} as the owner of ${a.name}`);
    for (const d of drivers.values()) d.stop();
  }
});
