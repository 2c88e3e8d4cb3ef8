// How big a message will be on the wire, estimated without encoding it: the
// gRPC transport uses it to send big requests apart from the stream, to size
// its batches, and to refuse an answer too large to send.

import type { SiblingSet } from '../version/dvv.js';
import type { Message } from './messages.js';
import type { Elision } from './codec.js';

/** Rough wire size of a message: the bytes of its values and keys, plus per-sibling overhead. */
export function estimateSize(msg: Message, el?: Elision): number {
  const setSize = (set: SiblingSet | null): number => {
    if (set === null) return 0;
    let n = 0;
    for (const s of set.siblings) n += (s.value === null || el?.omit?.(s) === true ? 0 : s.value.byteLength) + 256;
    return n;
  };
  switch (msg.type) {
    case 'putOrigin':
      return (msg.value?.byteLength ?? 0) + msg.key.length * 3 + 512;
    case 'putReplica':
      return setSize(msg.set) + msg.key.length * 3 + 256;
    case 'putOk':
    case 'getOk':
      return setSize(msg.set) + 64;
    case 'listKeysOk': {
      let n = 64;
      for (const k of msg.keys) n += setSize(k.set) + k.key.length * 3 + 16;
      return n;
    }
    case 'raft':
      // A Raft snapshot can be large: big enough, it goes apart from the stream.
      return msg.payload.byteLength + 64;
    default:
      return 256;
  }
}
