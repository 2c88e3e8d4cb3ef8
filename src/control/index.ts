// The control state machine replicated by Raft (docs/raft.md).
export * from './commands.js';
export * from './state.js';
export * from './plane.js';
