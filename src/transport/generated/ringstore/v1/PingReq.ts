// Original file: proto/ringstore.proto


export interface PingReq {
}

export interface PingReq__Output {
}
