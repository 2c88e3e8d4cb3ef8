// Original file: proto/ringstore.proto


export interface AeHashesOk {
  'hashes'?: (Buffer | Uint8Array | string);
}

export interface AeHashesOk__Output {
  'hashes': (Buffer);
}
