// Original file: proto/ringstore.proto

import type { SiblingMeta as _ringstore_v1_SiblingMeta, SiblingMeta__Output as _ringstore_v1_SiblingMeta__Output } from '../../ringstore/v1/SiblingMeta.js';
import type { VersionVector as _ringstore_v1_VersionVector, VersionVector__Output as _ringstore_v1_VersionVector__Output } from '../../ringstore/v1/VersionVector.js';

export interface PutOriginReq {
  'bucket'?: (string);
  'key'?: (string);
  'value'?: (Buffer | Uint8Array | string);
  'meta'?: (_ringstore_v1_SiblingMeta | null);
  'context'?: (_ringstore_v1_VersionVector | null);
  'supersede_local'?: (boolean);
  'hint_for'?: (string);
  'value_attached'?: (number);
  '_value'?: "value";
  '_hint_for'?: "hint_for";
}

export interface PutOriginReq__Output {
  'bucket': (string);
  'key': (string);
  'value'?: (Buffer);
  'meta': (_ringstore_v1_SiblingMeta__Output | null);
  'context': (_ringstore_v1_VersionVector__Output | null);
  'supersede_local': (boolean);
  'hint_for'?: (string);
  'value_attached': (number);
  '_value'?: "value";
  '_hint_for'?: "hint_for";
}
