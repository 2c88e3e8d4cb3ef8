// Original file: proto/ringstore.proto

import type { AeKeyDigest as _ringstore_v1_AeKeyDigest, AeKeyDigest__Output as _ringstore_v1_AeKeyDigest__Output } from '../../ringstore/v1/AeKeyDigest.js';

export interface AeGcRemoveReq {
  'partition'?: (number);
  'entries'?: (_ringstore_v1_AeKeyDigest)[];
}

export interface AeGcRemoveReq__Output {
  'partition': (number);
  'entries': (_ringstore_v1_AeKeyDigest__Output)[];
}
