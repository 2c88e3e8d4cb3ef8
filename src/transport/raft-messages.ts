// Raft's messages on the inter-node transport (docs/raft.md). The transport
// sits below raft/ and control/, so it carries them as opaque bytes
// (raft/wire.ts encodes them) with the encoding's version beside them; the
// receiver answers RaftOk at once, before handling the message, and the
// sender ignores the answer: Raft wants datagrams (its own responses are
// Raft messages too), as SWIM does (swim-messages.ts).

export interface RaftReq {
  readonly type: 'raft';
  /** The wire version of `payload` (raft/wire.ts RAFT_WIRE_VERSION). */
  readonly v: number;
  readonly payload: Uint8Array;
}

export interface RaftOkResp {
  readonly type: 'raftOk';
}
