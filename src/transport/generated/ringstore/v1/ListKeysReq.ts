// Original file: proto/ringstore.proto


export interface ListKeysReq {
  'bucket'?: (string);
  'prefix'?: (string);
  'after'?: (string);
  'limit'?: (number);
}

export interface ListKeysReq__Output {
  'bucket': (string);
  'prefix': (string);
  'after': (string);
  'limit': (number);
}
