// Original file: proto/ringstore.proto

import type { AeShape as _ringstore_v1_AeShape, AeShape__Output as _ringstore_v1_AeShape__Output } from '../../ringstore/v1/AeShape.js';

export interface AeRootsReq {
  'shape'?: (_ringstore_v1_AeShape | null);
  'partitions'?: (number)[];
}

export interface AeRootsReq__Output {
  'shape': (_ringstore_v1_AeShape__Output | null);
  'partitions': (number)[];
}
