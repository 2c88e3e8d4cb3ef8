// Original file: proto/ringstore.proto

import type { KeyEntry as _ringstore_v1_KeyEntry, KeyEntry__Output as _ringstore_v1_KeyEntry__Output } from '../../ringstore/v1/KeyEntry.js';

export interface ListKeysOk {
  'keys'?: (_ringstore_v1_KeyEntry)[];
  'truncated'?: (boolean);
}

export interface ListKeysOk__Output {
  'keys': (_ringstore_v1_KeyEntry__Output)[];
  'truncated': (boolean);
}
