import type { Quorum } from './types.js';

export interface BucketInfo {
  readonly name: string;
  readonly owner: string;
  readonly createdMs: number;
  readonly quorum: Quorum;
}
