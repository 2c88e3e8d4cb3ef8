// `node dist/src/sim/layout/main.js`: runs the layout simulator over a range
// of seeds (docs/layout.md, "Simulator").
//
//   node dist/src/sim/layout/main.js [--seeds N] [--start S] [--seed S [--trace]] [--bug NAME]...

import { LAYOUT_SIM_BUG_NAMES, describeLayoutConfig, type LayoutSimBugs } from './config.js';
import { coverage, runLayoutSeed } from './run.js';

const USAGE = `usage: node dist/src/sim/layout/main.js [--seeds N] [--start S] [--seed S [--trace]] [--bug NAME]...\n  bugs: ${LAYOUT_SIM_BUG_NAMES.join(', ')}`;

function main(argv: readonly string[]): number {
  let seeds = 100;
  let start: number | undefined;
  let one: number | undefined;
  let trace = false;
  const bugs: Record<string, boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isSafeInteger(v) || v < 0) throw new Error(`${a} needs a non-negative integer`);
      return v;
    };
    if (a === '--seeds') seeds = num();
    else if (a === '--start') start = num();
    else if (a === '--seed') one = num();
    else if (a === '--trace') trace = true;
    else if (a === '--bug') {
      const b = argv[++i] ?? '';
      if (!(LAYOUT_SIM_BUG_NAMES as readonly string[]).includes(b)) throw new Error(`unknown bug ${b}`);
      bugs[b] = true;
    } else if (a === '--help') {
      console.log(USAGE);
      return 0;
    } else throw new Error(`unknown argument ${a}`);
  }
  const first = one ?? start ?? 1 + Math.floor(Math.random() * 1_000_000_000);
  const count = one === undefined ? seeds : 1;
  if (one === undefined) console.log(`sim layout: seeds ${first}..${first + count - 1}`);
  const began = Date.now();
  let failed = 0;
  const totals = { writesOk: 0, readsOk: 0, deletesOk: 0, syncs: 0, changes: 0, changesWhileDown: 0, replacements: 0, backToBack: 0, retired: 0, maxLive: 0, collections: 0, collectionsRestarted: 0 };
  // Seeds that drew each of what the issue asks of every seed with more nodes than N.
  const covered = { add: 0, remove: 0, replace: 0, whileDown: 0, backToBack: 0, all: 0 };
  for (let seed = first; seed < first + count; seed++) {
    const r = runLayoutSeed(seed, { bugs: bugs as LayoutSimBugs });
    totals.writesOk += r.stats.writesOk;
    totals.readsOk += r.stats.readsOk;
    totals.syncs += r.stats.syncs;
    totals.changes += r.stats.changes;
    totals.changesWhileDown += r.stats.changesWhileDown;
    totals.replacements += r.stats.replacements;
    totals.retired += r.stats.retired;
    totals.maxLive = Math.max(totals.maxLive, r.stats.maxLive);
    totals.deletesOk += r.stats.deletesOk;
    totals.backToBack += r.stats.backToBack;
    totals.collections += r.stats.collections;
    totals.collectionsRestarted += r.stats.collectionsRestarted;
    const c = coverage(r.stats);
    for (const k of Object.keys(covered) as (keyof typeof covered)[]) if (c[k]) covered[k]++;
    if (one !== undefined) console.log(`seed=${seed} ${describeLayoutConfig(r.config)} fingerprint=${r.fingerprint}`);
    if (trace) for (const line of r.trace) console.log(`  ${line}`);
    if (r.violations.length === 0) continue;
    failed++;
    console.log(`FAIL seed=${seed} checker=${[...new Set(r.violations.map((v) => v.checker))].join(',')} (${r.violations.length} violations)`);
    console.log(`    config: ${describeLayoutConfig(r.config)}`);
    console.log(`    first:  @${r.violations[0]!.step} ${r.violations[0]!.message}`);
    console.log(`    replay: node dist/src/sim/layout/main.js --seed ${seed} --trace${Object.keys(bugs).map((b) => ` --bug ${b}`).join('')}`);
  }
  const wall = (Date.now() - began) / 1000;
  console.log(`sim layout: ${count} seeds, ${failed} failed, ${wall.toFixed(1)} s wall; ${totals.changes} layout changes (${totals.replacements} replacements, ${totals.changesWhileDown} while a node was down, ${totals.backToBack} back to back), ${totals.retired} versions retired, up to ${totals.maxLive} live at once, ${totals.syncs} syncs, ${totals.writesOk} writes, ${totals.deletesOk} deletes and ${totals.readsOk} reads acknowledged, ${totals.collections} tombstones collected (${totals.collectionsRestarted} collections restarted on a new version)`);
  console.log(`sim layout: seeds that drew an add ${covered.add}, a remove ${covered.remove}, a replacement ${covered.replace}, a change while a node was down ${covered.whileDown}, a back-to-back change ${covered.backToBack}; all five ${covered.all} of ${count}`);
  return failed > 0 ? 1 : 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (err) {
  console.error(`${(err as Error).message}\n${USAGE}`);
  process.exitCode = 2;
}
