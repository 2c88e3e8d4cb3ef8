// Original file: proto/ringstore.proto

import type { AeKeySet as _ringstore_v1_AeKeySet, AeKeySet__Output as _ringstore_v1_AeKeySet__Output } from '../../ringstore/v1/AeKeySet.js';
import type { Long } from '@grpc/proto-loader';

export interface AePushReq {
  'partition'?: (number);
  'entries'?: (_ringstore_v1_AeKeySet)[];
  'as_of_ms'?: (number | string | Long);
}

export interface AePushReq__Output {
  'partition': (number);
  'entries': (_ringstore_v1_AeKeySet__Output)[];
  'as_of_ms': (number);
}
