// Original file: proto/ringstore.proto


export interface AeCountOk {
  'count'?: (number);
}

export interface AeCountOk__Output {
  'count': (number);
}
