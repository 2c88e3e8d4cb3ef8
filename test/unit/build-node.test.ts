// The composition root as a server uses it: three nodes built by buildNode
// over the in-memory network and a virtual clock, SWIM's packets carried as
// `swim` requests on the same transport (the default channel). One handler
// per node must send each message to its component: SWIM packets to the
// detector, anti-entropy's to the AntiEntropy component, the rest to the
// coordinator. (The simulator builds its nodes with the same function; its
// fingerprints check that wiring.)

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { buildNode, type NodeComponents, type NodeComponentsConfig } from '../../src/components/build-node.js';
import { DEFAULT_SWIM_CONFIG } from '../../src/membership/swim.js';
import { Ring } from '../../src/ring/ring.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { MemoryNetwork } from '../../src/transport/memory.js';
import { SeededRandom } from '../../src/util/runtime.js';
import { liveSiblings } from '../../src/version/dvv.js';
import { VirtualClock } from '../../src/sim/scheduler.js';

const IDS = ['a', 'b', 'c'];
const PARTITIONS = 8;

const CONFIG: NodeComponentsConfig = {
  members: IDS,
  partitions: PARTITIONS,
  quorum: { n: 3, r: 2, w: 2 },
  membership: { detector: 'swim', swim: { ...DEFAULT_SWIM_CONFIG, probeIntervalMs: 200, probeTimeoutMs: 80 } },
  coordinator: { replicaTimeoutMs: 1000 },
  handoff: { config: {}, maxHints: 1000, maxHintBytes: 1 << 20 },
  // Rounds run only when the test asks (no timer-driven rounds racing the assertions).
  antiEntropy: { enabled: false, shape: { fanout: 4, depth: 1 }, config: { tombstoneGraceMs: 60_000 } },
};

function cluster() {
  const clock = new VirtualClock(1_700_000_000_000);
  const net = new MemoryNetwork({ clock, random: new SeededRandom(7), minLatencyMs: 1, maxLatencyMs: 3 });
  const ring = new Ring({ epoch: 1, partitions: PARTITIONS, nodes: IDS.map((id) => ({ id, zone: id, weight: 1 })) });
  const stored = new Map<string, number>();
  const nodes = new Map<string, NodeComponents>();
  IDS.forEach((id, i) => {
    const c = buildNode(
      { self: id, clock, random: new SeededRandom(i + 1), transport: net.transport(id), store: new MemoryStore(), ring: () => ring },
      CONFIG,
      { coordinator: { hintStored: (owner) => stored.set(owner, (stored.get(owner) ?? 0) + 1) } },
    );
    c.start();
    nodes.set(id, c);
  });
  const node = (id: string): NodeComponents => nodes.get(id) as NodeComponents;
  return { clock, net, ring, node };
}

describe('buildNode', () => {
  test('SWIM packets over the transport reach the detector: every member sees every other alive', async () => {
    const { clock, node } = cluster();
    await clock.advance(2000);
    for (const id of IDS) {
      const view = node(id).membership.view();
      assert.equal(view.detector, 'swim');
      assert.deepEqual(
        view.members.map((m) => `${m.id}:${m.state}`),
        IDS.filter((x) => x !== id).map((x) => `${x}:alive`),
      );
      assert.ok((view.counters?.acksReceived ?? 0) > 0, `${id} got acks to its probes`);
    }
  });

  test('coordinator requests reach the other owners: a write at W=3 is on every store', async () => {
    const { clock, node } = cluster();
    await clock.advance(500);
    const put = node('a').coordinator.put({ bucket: 'b', key: 'k', value: new TextEncoder().encode('v'), meta: {}, context: null, w: 3 });
    await clock.advance(100);
    const r = await put;
    assert.deepEqual([...r.replicasWritten].sort(), IDS);
    for (const id of IDS) assert.equal(liveSiblings(node(id).store.read('b', 'k') ?? { siblings: [] }).length, 1, id);
  });

  test('anti-entropy messages reach the AntiEntropy component: rounds repair a key only one owner holds', async () => {
    const { clock, ring, node } = cluster();
    await clock.advance(500);
    const write = node('a').store.update(ring.partitionOf('b', 'only-on-a'), 'b', 'only-on-a', () => ({
      siblings: [{ dot: { node: 'a', counter: 1 }, past: {}, value: new Uint8Array([1]), meta: { ts: clock.now() } }],
    }));
    await clock.advance(10);
    await write;
    assert.equal(node('b').store.read('b', 'only-on-a'), undefined);
    // Each owner exchanges with its successor in the preference list: after
    // one round on every node the key has travelled round the ring.
    let differing = 0;
    for (let pass = 0; pass < 2; pass++) {
      for (const id of IDS) {
        const round = node(id).antiEntropy.runRound();
        await clock.advance(1000);
        differing += (await round).partitionsDiffering;
      }
    }
    assert.ok(differing > 0, 'some round saw the difference');
    for (const id of IDS) assert.equal(node(id).store.read('b', 'only-on-a')?.siblings.length, 1, `${id} holds the key`);
  });

  test('stop() leaves the membership, which the others see as left; halt() says nothing, so they find it dead', async () => {
    const { clock, net, node } = cluster();
    await clock.advance(2000);
    const stopping = node('a').stop();
    await clock.advance(500);
    await stopping;
    assert.equal(node('b').membership.view().members.find((m) => m.id === 'a')?.state, 'left');
    node('c').halt();
    net.crash('c');
    await clock.advance(20_000);
    assert.equal(node('b').membership.view().members.find((m) => m.id === 'c')?.state, 'dead');
  });
});
