// Original file: proto/ringstore.proto

import type { SiblingSet as _ringstore_v1_SiblingSet, SiblingSet__Output as _ringstore_v1_SiblingSet__Output } from '../../ringstore/v1/SiblingSet.js';

export interface AeKeySet {
  'bucket'?: (string);
  'key'?: (string);
  'set'?: (_ringstore_v1_SiblingSet | null);
}

export interface AeKeySet__Output {
  'bucket': (string);
  'key': (string);
  'set': (_ringstore_v1_SiblingSet__Output | null);
}
