// Original file: proto/ringstore.proto

import type { AeShape as _ringstore_v1_AeShape, AeShape__Output as _ringstore_v1_AeShape__Output } from '../../ringstore/v1/AeShape.js';
import type { AeKeyRef as _ringstore_v1_AeKeyRef, AeKeyRef__Output as _ringstore_v1_AeKeyRef__Output } from '../../ringstore/v1/AeKeyRef.js';

export interface AeLeafKeysReq {
  'shape'?: (_ringstore_v1_AeShape | null);
  'partition'?: (number);
  'leaves'?: (number)[];
  'after'?: (_ringstore_v1_AeKeyRef | null);
  'limit'?: (number);
}

export interface AeLeafKeysReq__Output {
  'shape': (_ringstore_v1_AeShape__Output | null);
  'partition': (number);
  'leaves': (number)[];
  'after': (_ringstore_v1_AeKeyRef__Output | null);
  'limit': (number);
}
