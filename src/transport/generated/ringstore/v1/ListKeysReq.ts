// Original file: proto/ringstore.proto


export interface ListKeysReq {
  'bucket'?: (string);
  'prefix'?: (string);
  'after'?: (string);
  'limit'?: (number);
  'omit_values'?: (boolean);
}

export interface ListKeysReq__Output {
  'bucket': (string);
  'prefix': (string);
  'after': (string);
  'limit': (number);
  'omit_values': (boolean);
}
