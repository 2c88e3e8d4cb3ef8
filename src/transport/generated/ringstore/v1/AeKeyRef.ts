// Original file: proto/ringstore.proto


export interface AeKeyRef {
  'bucket'?: (string);
  'key'?: (string);
}

export interface AeKeyRef__Output {
  'bucket': (string);
  'key': (string);
}
