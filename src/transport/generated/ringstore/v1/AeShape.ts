// Original file: proto/ringstore.proto


export interface AeShape {
  'fanout'?: (number);
  'depth'?: (number);
}

export interface AeShape__Output {
  'fanout': (number);
  'depth': (number);
}
