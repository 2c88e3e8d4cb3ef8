// npm run sim -- [--seeds N] [--start S] [--seed S [--trace]] [--bug NAME] [--layout] [--no-raft | --raft-only] [--verbose]
//
// Runs seeds start..start+N-1 (default: 100 seeds from a random start, so
// that every run explores new ground; the start is printed), prints one line
// per failing seed, then a summary. --seed S replays exactly one seed and
// prints its configuration, verdict and (with --trace) every event.
//
// Every seed runs twice: the data path (run.ts) and the Raft control plane
// (raft/run.ts), each on its own scheduler, so that the data path's
// fingerprints do not depend on the control plane's. --no-raft and
// --raft-only run one of them; a --bug of either kind runs only its kind.

import { runSeed, type RunResult } from './run.js';
import { BUG_NAMES, describeConfig, type SimBugs } from './config.js';
import { noStats, sumStats } from './world.js';
import { runRaftSeed, type RaftRunResult } from './raft/run.js';
import { describeRaftConfig, RAFT_BUG_NAMES, type RaftSimBugs } from './raft/config.js';

interface Args {
  seeds: number;
  start: number | undefined;
  seed: number | undefined;
  trace: boolean;
  bugs: Record<string, boolean>;
  raftBugs: Record<string, boolean>;
  verbose: boolean;
  data: boolean;
  raft: boolean;
  /** Every seed draws layout changes (a mover --bug implies it). */
  layout: boolean;
}

const USAGE = `usage: npm run sim -- [--seeds N] [--start S] [--seed S [--trace]] [--bug ${[...BUG_NAMES, ...RAFT_BUG_NAMES].join('|')}] [--layout] [--no-raft | --raft-only] [--verbose]`;

function parseArgs(argv: readonly string[]): Args {
  const a: Args = { seeds: 100, start: undefined, seed: undefined, trace: false, bugs: {}, raftBugs: {}, verbose: false, data: true, raft: true, layout: false };
  const num = (i: number): number => {
    const v = Number(argv[i]);
    if (!Number.isSafeInteger(v) || v < 0) throw new Error(`${argv[i - 1]} needs a non-negative integer\n${USAGE}`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    switch (argv[i]) {
      case '--seeds':
        a.seeds = num(++i);
        break;
      case '--start':
        a.start = num(++i);
        break;
      case '--seed':
        a.seed = num(++i);
        break;
      case '--trace':
        a.trace = true;
        break;
      case '--bug': {
        const name = argv[++i] ?? '';
        if ((RAFT_BUG_NAMES as readonly string[]).includes(name)) {
          a.raftBugs[name] = true;
          a.data = false;
        } else if ((BUG_NAMES as readonly string[]).includes(name)) {
          a.bugs[name] = true;
          a.raft = false;
        } else throw new Error(`unknown bug ${name}\n${USAGE}`);
        break;
      }
      case '--layout':
        a.layout = true;
        break;
      case '--no-raft':
        a.raft = false;
        break;
      case '--raft-only':
        a.data = false;
        break;
      case '--verbose':
        a.verbose = true;
        break;
      case '--help':
      case '-h':
        console.log(USAGE);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown argument ${argv[i]}\n${USAGE}`);
    }
  }
  return a;
}

/**
 * The short trace of a failure: the last lines that mention a write the
 * first violation names (found by replaying the seed with the full trace,
 * which is also a determinism check), else the last lines of the run.
 */
async function shortTrace(r: RunResult, bugs: SimBugs, layout: boolean): Promise<string[]> {
  const ids = new Set((r.violations[0]?.message ?? '').match(/\bw\d+\b/g) ?? []);
  if (ids.size === 0) return r.traceTail.slice(-6);
  const full = await runSeed(r.seed, { traceAll: true, bugs, layout });
  if (full.fingerprint !== r.fingerprint) return [`REPLAY DIVERGED: ${r.fingerprint} then ${full.fingerprint} (nondeterminism bug in the simulator)`];
  const hits = (full.trace ?? []).filter((l) => !l.includes(' swim') && [...ids].some((id) => new RegExp(`\\b${id}\\b`).test(l)));
  return hits.slice(-8);
}

function failureLine(r: RunResult, trace: readonly string[]): string {
  const v = r.violations[0];
  const checkers = [...new Set(r.violations.map((x) => x.checker))].join(',');
  const tail = trace.map((l) => '      ' + l.trim()).join('\n');
  return (
    `FAIL seed=${r.seed} checker=${checkers} (${r.violations.length} violations)\n` +
    `    config: ${describeConfig(r.config)}\n` +
    `    first:  ${v?.message.split('\n')[0] ?? ''}\n` +
    `    trace (replay: npm run sim -- --seed ${r.seed} --trace${r.config.layout !== undefined ? ' --layout' : ''}${bugFlags(r)}):\n${tail}`
  );
}

function bugFlags(r: RunResult): string {
  return Object.entries(r.config.bugs)
    .filter(([, on]) => on === true)
    .map(([name]) => ` --bug ${name}`)
    .join('');
}

async function replay(seed: number, args: Args): Promise<number> {
  const dataCode = args.data ? await replayData(seed, args) : 0;
  const raftCode = args.raft ? await replayRaft(seed, args) : 0;
  return dataCode || raftCode;
}

async function replayRaft(seed: number, args: Args): Promise<number> {
  const r = await runRaftSeed(seed, { traceAll: args.trace, bugs: args.raftBugs as RaftSimBugs });
  if (args.trace) for (const line of r.trace ?? []) console.log(line);
  console.log(`raft seed=${seed} ${describeRaftConfig(r.config)}`);
  console.log(`raft events=${r.events} simulated=${(r.simulatedMs / 1000).toFixed(1)}s ops=${r.ops} ok=${r.opsOk} leaders=${r.leaders} raftFp=${r.fingerprint}`);
  if (r.violations.length === 0) {
    console.log('raft PASS');
    return 0;
  }
  for (const v of r.violations.slice(0, 50)) console.log(`raft VIOLATION ${v.checker}: ${v.message}`);
  return 1;
}

function raftFailureLine(r: RaftRunResult): string {
  const v = r.violations[0];
  const checkers = [...new Set(r.violations.map((x) => x.checker))].join(',');
  const bugs = Object.entries(r.config.bugs)
    .filter(([, on]) => on === true)
    .map(([name]) => ` --bug ${name}`)
    .join('');
  return (
    `FAIL raft seed=${r.seed} checker=${checkers} (${r.violations.length} violations)\n` +
    `    config: ${describeRaftConfig(r.config)}\n` +
    `    first:  ${v?.message.split('\n')[0] ?? ''}\n` +
    `    trace (replay: npm run sim -- --seed ${r.seed} --raft-only --trace${bugs}):\n${r.traceTail
      .slice(-8)
      .map((l) => '      ' + l.trim())
      .join('\n')}`
  );
}

async function replayData(seed: number, args: Args): Promise<number> {
  const r = await runSeed(seed, { traceAll: args.trace, bugs: args.bugs as SimBugs, layout: args.layout });
  if (args.trace) for (const line of r.trace ?? []) console.log(line);
  console.log(`seed=${seed} ${describeConfig(r.config)}`);
  console.log(`events=${r.events} simulated=${(r.simulatedMs / 1000).toFixed(1)}s ops=${r.ops} ok=${r.opsOk} fingerprint=${r.fingerprint}`);
  if (r.violations.length === 0) {
    console.log('PASS');
    return 0;
  }
  for (const v of r.violations.slice(0, 50)) console.log(`VIOLATION ${v.checker}: ${v.message}`);
  if (r.violations.length > 50) console.log(`... and ${r.violations.length - 50} more`);
  return 1;
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (args.seed !== undefined) return replay(args.seed, args);
  // The one place a random start is chosen; it is printed, so the range can be rerun.
  const start = args.start ?? Math.floor(Math.random() * 1_000_000_000);
  console.log(`sim: seeds ${start}..${start + args.seeds - 1}`);
  const t0 = performance.now();
  let simulatedMs = 0;
  let failures = 0;
  let events = 0;
  const total = noStats();
  const raftTotal = { wallMs: 0, failures: 0, events: 0, simulatedMs: 0, ops: 0, leaders: 0 };
  for (let i = 0; i < args.seeds; i++) {
    const seed = start + i;
    if (args.raft) {
      const t = performance.now();
      const rr = await runRaftSeed(seed, { bugs: args.raftBugs as RaftSimBugs });
      raftTotal.wallMs += performance.now() - t;
      raftTotal.events += rr.events;
      raftTotal.simulatedMs += rr.simulatedMs;
      raftTotal.ops += rr.ops;
      raftTotal.leaders += rr.leaders;
      if (rr.violations.length > 0) {
        raftTotal.failures++;
        console.log(raftFailureLine(rr));
      }
    }
    if (!args.data) continue;
    const r = await runSeed(seed, { bugs: args.bugs as SimBugs, layout: args.layout });
    simulatedMs += r.simulatedMs;
    events += r.events;
    sumStats(total, r.stats);
    if (r.violations.length > 0) {
      failures++;
      console.log(failureLine(r, await shortTrace(r, args.bugs as SimBugs, args.layout)));
    } else if (args.verbose) {
      const st = r.stats;
      console.log(
        `ok   seed=${seed} ${describeConfig(r.config)} ops=${r.ops} events=${r.events} ` +
          `hints=${st.hintsDelivered} ae=${st.aeKeysPulled}+${st.aeKeysPushed} collected=${st.tombstonesCollected} stale=${st.staleRefused}`,
      );
    }
  }
  let wallS = (performance.now() - t0) / 1000;
  if (args.raft) {
    const rs = raftTotal.wallMs / 1000;
    console.log(
      `sim raft: ${args.seeds} seeds, ${raftTotal.failures} failed, ${rs.toFixed(1)} s wall, ${((args.seeds / rs) * 60).toFixed(0)} seeds/min, ` +
        `${(raftTotal.simulatedMs / 1000 / rs).toFixed(0)} simulated s per wall s, ${(raftTotal.events / rs).toFixed(0)} events/s, ${raftTotal.ops} client ops`,
    );
  }
  if (!args.data) return raftTotal.failures > 0 ? 1 : 0;
  // The data path's own figures, without the control plane's share of the wall time.
  wallS -= raftTotal.wallMs / 1000;
  console.log(
    `sim: ${args.seeds} seeds, ${failures} failed, ${wallS.toFixed(1)} s wall, ` +
      `${((args.seeds / wallS) * 60).toFixed(0)} seeds/min, ` +
      `${(simulatedMs / 1000 / wallS).toFixed(0)} simulated s per wall s, ` +
      `${(events / wallS).toFixed(0)} events/s`,
  );
  console.log(
    `sim: handoff delivered ${total.hintsDelivered} hints, anti-entropy repaired ${total.aeKeysPulled + total.aeKeysPushed} keys ` +
      `(${total.aeKeysPulled} pulled, ${total.aeKeysPushed} pushed), collection removed ${total.tombstonesCollected} tombstones, ` +
      `${total.staleRefused} copies refused as too old` +
      (args.layout || total.moverKeysDropped > 0 ? `; layout movers pulled ${total.moverBytesPulled} bytes and dropped ${total.moverKeysDropped} keys` : ''),
  );
  return failures > 0 || raftTotal.failures > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(2);
  },
);
