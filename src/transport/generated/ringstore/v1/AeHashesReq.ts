// Original file: proto/ringstore.proto

import type { AeShape as _ringstore_v1_AeShape, AeShape__Output as _ringstore_v1_AeShape__Output } from '../../ringstore/v1/AeShape.js';

export interface AeHashesReq {
  'shape'?: (_ringstore_v1_AeShape | null);
  'partition'?: (number);
  'level'?: (number);
  'indices'?: (number)[];
}

export interface AeHashesReq__Output {
  'shape': (_ringstore_v1_AeShape__Output | null);
  'partition': (number);
  'level': (number);
  'indices': (number)[];
}
