// Original file: proto/ringstore.proto

import type { Sibling as _ringstore_v1_Sibling, Sibling__Output as _ringstore_v1_Sibling__Output } from '../../ringstore/v1/Sibling.js';

export interface SiblingSet {
  'siblings'?: (_ringstore_v1_Sibling)[];
}

export interface SiblingSet__Output {
  'siblings': (_ringstore_v1_Sibling__Output)[];
}
