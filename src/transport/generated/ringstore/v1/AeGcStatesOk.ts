// Original file: proto/ringstore.proto


export interface AeGcStatesOk {
  'states'?: (number)[];
}

export interface AeGcStatesOk__Output {
  'states': (number)[];
}
