// Original file: proto/ringstore.proto


export interface Pong {
  'node'?: (string);
}

export interface Pong__Output {
  'node': (string);
}
