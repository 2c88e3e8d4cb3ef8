// Original file: proto/ringstore.proto

import type { AeKeyDigest as _ringstore_v1_AeKeyDigest, AeKeyDigest__Output as _ringstore_v1_AeKeyDigest__Output } from '../../ringstore/v1/AeKeyDigest.js';

export interface AeKeysOk {
  'entries'?: (_ringstore_v1_AeKeyDigest)[];
  'truncated'?: (boolean);
}

export interface AeKeysOk__Output {
  'entries': (_ringstore_v1_AeKeyDigest__Output)[];
  'truncated': (boolean);
}
