// Original file: proto/ringstore.proto

import type { AeKeySet as _ringstore_v1_AeKeySet, AeKeySet__Output as _ringstore_v1_AeKeySet__Output } from '../../ringstore/v1/AeKeySet.js';

export interface AeSetsOk {
  'entries'?: (_ringstore_v1_AeKeySet)[];
}

export interface AeSetsOk__Output {
  'entries': (_ringstore_v1_AeKeySet__Output)[];
}
