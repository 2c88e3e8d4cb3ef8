// Original file: proto/ringstore.proto

import type { SiblingSet as _ringstore_v1_SiblingSet, SiblingSet__Output as _ringstore_v1_SiblingSet__Output } from '../../ringstore/v1/SiblingSet.js';
import type { Long } from '@grpc/proto-loader';

export interface PutReplicaReq {
  'bucket'?: (string);
  'key'?: (string);
  'set'?: (_ringstore_v1_SiblingSet | null);
  'hint_for'?: (string);
  'as_of_ms'?: (number | string | Long);
  '_hint_for'?: "hint_for";
}

export interface PutReplicaReq__Output {
  'bucket': (string);
  'key': (string);
  'set': (_ringstore_v1_SiblingSet__Output | null);
  'hint_for'?: (string);
  'as_of_ms': (number);
  '_hint_for'?: "hint_for";
}
