// The dot floor lives with the dots (version/dot-floor.ts); handoff and
// anti-entropy both raise it. Re-exported here for the node's wiring.

export { DotFloor, DOT_FLOOR_META } from '../version/dot-floor.js';
