// Original file: proto/ringstore.proto


export interface RaftOk {
}

export interface RaftOk__Output {
}
