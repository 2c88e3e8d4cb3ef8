// Original file: proto/ringstore.proto


export interface ErrorResp {
  'code'?: (string);
  'message'?: (string);
}

export interface ErrorResp__Output {
  'code': (string);
  'message': (string);
}
