// Original file: proto/ringstore.proto

import type { AeKeySet as _ringstore_v1_AeKeySet, AeKeySet__Output as _ringstore_v1_AeKeySet__Output } from '../../ringstore/v1/AeKeySet.js';

export interface AePushReq {
  'partition'?: (number);
  'entries'?: (_ringstore_v1_AeKeySet)[];
}

export interface AePushReq__Output {
  'partition': (number);
  'entries': (_ringstore_v1_AeKeySet__Output)[];
}
