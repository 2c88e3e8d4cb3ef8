// Original file: proto/ringstore.proto


export interface GetReq {
  'bucket'?: (string);
  'key'?: (string);
}

export interface GetReq__Output {
  'bucket': (string);
  'key': (string);
}
