// SWIM as the server runs it: SwimLiveness with its packets carried as
// fire-and-forget `swim` requests (transportSender) over the in-memory
// network, under a virtual clock. A crashed node is declared dead by
// everyone; once it is back (a new process, incarnation 0) it refutes and
// everyone holds it alive again; a node that leaves is heard at once.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { DEFAULT_SWIM_CONFIG } from '../../src/membership/swim.js';
import { SwimLiveness, transportSender } from '../../src/membership/swim-liveness.js';
import { MemoryNetwork, type MemoryTransport } from '../../src/transport/memory.js';
import { SeededRandom } from '../../src/util/runtime.js';
import { VirtualClock } from '../../src/sim/scheduler.js';


const IDS = ['a', 'b', 'c', 'd'];
const CONFIG = { ...DEFAULT_SWIM_CONFIG, probeIntervalMs: 200, probeTimeoutMs: 80 };

function world() {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ clock, random: new SeededRandom(3), minLatencyMs: 1, maxLatencyMs: 3 });
  const nodes = new Map<string, { swim: SwimLiveness; transport: MemoryTransport }>();
  let boot = 0;
  const start = (id: string): void => {
    const transport = net.transport(id);
    const swim = new SwimLiveness({ self: id, members: IDS, config: CONFIG, clock, random: new SeededRandom(++boot * 31), send: transportSender(transport, 1000) });
    transport.serve(async (from, req) => {
      if (req.type !== 'swim') throw new Error('only swim here');
      swim.receive(from, req.msg);
      return { type: 'swimOk' };
    });
    swim.start();
    nodes.set(id, { swim, transport });
  };
  for (const id of IDS) start(id);
  const state = (observer: string, of: string) => nodes.get(observer)!.swim.swim.member(of)?.state;
  return { clock, net, nodes, start, state };
}

describe('SWIM over the transport', () => {
  test('a crashed node is declared dead by all; back as a new process it refutes and is alive again', async () => {
    const w = world();
    await w.clock.advance(3000);
    for (const o of IDS) for (const x of IDS) if (o !== x) assert.equal(w.state(o, x), 'alive', `${o} sees ${x}`);
    w.nodes.get('d')!.swim.stop();
    w.net.crash('d');
    const crashedAt = w.clock.now();
    let allDeadAt = -1;
    for (let t = 0; t < 60_000 && allDeadAt < 0; t += 100) {
      await w.clock.advance(100);
      if (['a', 'b', 'c'].every((o) => w.state(o, 'd') === 'dead')) allDeadAt = w.clock.now();
    }
    assert.ok(allDeadAt > 0, 'd declared dead by everyone');
    // 4 nodes: suspicion floor 4 x 200 ms, confirmations from the two others bring it there.
    assert.ok(allDeadAt - crashedAt < 10_000, `took ${allDeadAt - crashedAt} ms`);
    for (const o of ['a', 'b', 'c']) assert.ok(!w.nodes.get(o)!.swim.isAlive('d'));

    await w.nodes.get('d')!.transport.close();
    w.net.restart('d');
    w.start('d');
    await w.clock.advance(5000);
    for (const o of ['a', 'b', 'c']) assert.equal(w.state(o, 'd'), 'alive', `${o} sees d back`);
    assert.ok(w.nodes.get('d')!.swim.swim.incarnation() > 0, 'd refuted its death with a higher incarnation');
    for (const x of ['a', 'b', 'c']) assert.equal(w.state('d', x), 'alive');
  });

  test('leave() is heard at once: the others hold the node "left", not alive, without waiting for suspicion', async () => {
    const w = world();
    await w.clock.advance(2000);
    w.nodes.get('c')!.swim.leave();
    await w.clock.advance(300);
    for (const o of ['a', 'b', 'd']) {
      assert.equal(w.state(o, 'c'), 'left');
      assert.ok(!w.nodes.get(o)!.swim.isAlive('c'));
    }
  });
});
