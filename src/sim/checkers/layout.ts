// Layout: after layout changes (docs/sim.md, "Layout changes") the final
// state is where the final layout version says it is: the history retired
// down to one version with every change applied, every key held by exactly
// its final owners, every removed node stopped and empty (replicas and hint
// table), no node of the final layout stopped. World.layoutProblems finds
// them; runs without layout changes have none.

import type { Checker, CheckInput, Violation } from './model.js';

export const layoutPlacement: Checker = {
  name: 'layout',
  check(input: CheckInput): Violation[] {
    return input.final.problems.filter((p) => p.what === 'layout').map((p) => ({ checker: this.name, message: `final state: ${p.message}` }));
  },
};
