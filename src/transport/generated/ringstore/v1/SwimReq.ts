// Original file: proto/ringstore.proto

import type { MemberUpdate as _ringstore_v1_MemberUpdate, MemberUpdate__Output as _ringstore_v1_MemberUpdate__Output } from '../../ringstore/v1/MemberUpdate.js';

export interface SwimReq {
  'kind'?: (string);
  'seq'?: (number);
  'from'?: (string);
  'target'?: (string);
  'updates'?: (_ringstore_v1_MemberUpdate)[];
}

export interface SwimReq__Output {
  'kind': (string);
  'seq': (number);
  'from': (string);
  'target': (string);
  'updates': (_ringstore_v1_MemberUpdate__Output)[];
}
