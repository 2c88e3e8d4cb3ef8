// Original file: proto/ringstore.proto


export interface GetReq {
  'bucket'?: (string);
  'key'?: (string);
  'omit_values'?: (boolean);
}

export interface GetReq__Output {
  'bucket': (string);
  'key': (string);
  'omit_values': (boolean);
}
