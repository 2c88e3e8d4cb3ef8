// The anti-entropy wire messages (Dynamo §4.7), defined with the rest of the
// inter-node protocol in transport/antientropy-messages.ts so that the
// transport's message union and codec need not import up from here.

export * from '../transport/antientropy-messages.js';
