// Original file: proto/ringstore.proto


export interface SwimOk {
}

export interface SwimOk__Output {
}
