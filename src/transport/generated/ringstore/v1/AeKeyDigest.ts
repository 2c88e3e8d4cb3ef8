// Original file: proto/ringstore.proto


export interface AeKeyDigest {
  'bucket'?: (string);
  'key'?: (string);
  'digest'?: (string);
}

export interface AeKeyDigest__Output {
  'bucket': (string);
  'key': (string);
  'digest': (string);
}
