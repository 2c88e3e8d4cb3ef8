// Original file: proto/ringstore.proto

import type { AeKeyRef as _ringstore_v1_AeKeyRef, AeKeyRef__Output as _ringstore_v1_AeKeyRef__Output } from '../../ringstore/v1/AeKeyRef.js';

export interface AeFetchReq {
  'partition'?: (number);
  'keys'?: (_ringstore_v1_AeKeyRef)[];
  'max_bytes'?: (number);
}

export interface AeFetchReq__Output {
  'partition': (number);
  'keys': (_ringstore_v1_AeKeyRef__Output)[];
  'max_bytes': (number);
}
