// Original file: proto/ringstore.proto

import type { Dot as _ringstore_v1_Dot, Dot__Output as _ringstore_v1_Dot__Output } from '../../ringstore/v1/Dot.js';
import type { VersionVector as _ringstore_v1_VersionVector, VersionVector__Output as _ringstore_v1_VersionVector__Output } from '../../ringstore/v1/VersionVector.js';
import type { SiblingMeta as _ringstore_v1_SiblingMeta, SiblingMeta__Output as _ringstore_v1_SiblingMeta__Output } from '../../ringstore/v1/SiblingMeta.js';

export interface Sibling {
  'dot'?: (_ringstore_v1_Dot | null);
  'past'?: (_ringstore_v1_VersionVector | null);
  'value'?: (Buffer | Uint8Array | string);
  'meta'?: (_ringstore_v1_SiblingMeta | null);
  'value_elided'?: (boolean);
  'value_attached'?: (number);
  '_value'?: "value";
}

export interface Sibling__Output {
  'dot': (_ringstore_v1_Dot__Output | null);
  'past': (_ringstore_v1_VersionVector__Output | null);
  'value'?: (Buffer);
  'meta': (_ringstore_v1_SiblingMeta__Output | null);
  'value_elided': (boolean);
  'value_attached': (number);
  '_value'?: "value";
}
