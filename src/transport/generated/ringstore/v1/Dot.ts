// Original file: proto/ringstore.proto

import type { Long } from '@grpc/proto-loader';

export interface Dot {
  'node'?: (string);
  'counter'?: (number | string | Long);
}

export interface Dot__Output {
  'node': (string);
  'counter': (number);
}
