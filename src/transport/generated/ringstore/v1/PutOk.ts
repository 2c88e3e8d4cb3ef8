// Original file: proto/ringstore.proto

import type { SiblingSet as _ringstore_v1_SiblingSet, SiblingSet__Output as _ringstore_v1_SiblingSet__Output } from '../../ringstore/v1/SiblingSet.js';

export interface PutOk {
  'set'?: (_ringstore_v1_SiblingSet | null);
}

export interface PutOk__Output {
  'set': (_ringstore_v1_SiblingSet__Output | null);
}
