// Original file: proto/ringstore.proto

import type { Long } from '@grpc/proto-loader';

export interface VersionVector {
  'counters'?: ({[key: string]: number | string | Long});
}

export interface VersionVector__Output {
  'counters': ({[key: string]: number});
}
