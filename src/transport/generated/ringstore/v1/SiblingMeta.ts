// Original file: proto/ringstore.proto

import type { Long } from '@grpc/proto-loader';

export interface SiblingMeta {
  'ts'?: (number | string | Long);
  'content_type'?: (string);
  'headers'?: ({[key: string]: string});
  '_content_type'?: "content_type";
}

export interface SiblingMeta__Output {
  'ts': (number);
  'content_type'?: (string);
  'headers': ({[key: string]: string});
  '_content_type'?: "content_type";
}
