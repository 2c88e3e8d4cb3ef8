// Original file: proto/ringstore.proto

import type { Long } from '@grpc/proto-loader';

export interface MemberUpdate {
  'node'?: (string);
  'state'?: (string);
  'incarnation'?: (number | string | Long);
  'accuser'?: (string);
  '_accuser'?: "accuser";
}

export interface MemberUpdate__Output {
  'node': (string);
  'state': (string);
  'incarnation': (number);
  'accuser'?: (string);
  '_accuser'?: "accuser";
}
