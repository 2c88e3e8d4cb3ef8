export type { MemberState, MemberUpdate, SwimAck, SwimEffect, SwimMessage, SwimNack, SwimPing, SwimPingReq } from './messages.js';
export { DEFAULT_SWIM_CONFIG, incarnationInRange, MAX_ACCUSED_INCARNATION, MAX_INCARNATION, Swim, validateSwimConfig } from './swim.js';
export type { MemberView, SwimConfig, SwimCounters } from './swim.js';
export { SwimDriver } from './swim-driver.js';
export type { SwimDriverHooks, SwimDriverOptions } from './swim-driver.js';
export { Awareness, expectedConfirmations, retransmitLimit, suspicionTimeoutMinMs, suspicionTimeoutMs } from './suspicion.js';
export { BroadcastQueue } from './broadcast.js';
export { SwimLiveness, transportSender } from './swim-liveness.js';
export type { SwimLivenessOptions } from './swim-liveness.js';
