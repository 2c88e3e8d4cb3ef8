// Layout changes (issue 10's pure core; docs/layout.md): the assignment that
// moves little, the history of live versions, staged changes and plans.
export * from './types.js';
export * from './targets.js';
export * from './assign.js';
export * from './history.js';
export * from './plan.js';
