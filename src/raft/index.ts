// Raft as a pure state machine (see raw-node.ts for how a driver uses it, docs/raft.md for the design).
export { RawNode, type Ready, type SoftState, type Status } from './raw-node.js';
export { Raft, type RaftBugs, type RaftConfig, type ProposeResult, type ProposeRefusal, type StateType } from './raft.js';
export { MemoryStorage, EMPTY_SNAPSHOT, bootstrapState, type Storage, type InitialState } from './storage.js';
export { applyConfChange, changes, decodeConfChange, encodeConfChange, describeConfState, ConfChangeError, type ConfChange } from './confchange.js';
export * from './messages.js';
