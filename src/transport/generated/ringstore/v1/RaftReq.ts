// Original file: proto/ringstore.proto


export interface RaftReq {
  'version'?: (number);
  'payload'?: (Buffer | Uint8Array | string);
}

export interface RaftReq__Output {
  'version': (number);
  'payload': (Buffer);
}
