import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { AeCountOk as _ringstore_v1_AeCountOk, AeCountOk__Output as _ringstore_v1_AeCountOk__Output } from './ringstore/v1/AeCountOk.js';
import type { AeFetchReq as _ringstore_v1_AeFetchReq, AeFetchReq__Output as _ringstore_v1_AeFetchReq__Output } from './ringstore/v1/AeFetchReq.js';
import type { AeGcCheckReq as _ringstore_v1_AeGcCheckReq, AeGcCheckReq__Output as _ringstore_v1_AeGcCheckReq__Output } from './ringstore/v1/AeGcCheckReq.js';
import type { AeGcRemoveReq as _ringstore_v1_AeGcRemoveReq, AeGcRemoveReq__Output as _ringstore_v1_AeGcRemoveReq__Output } from './ringstore/v1/AeGcRemoveReq.js';
import type { AeGcStatesOk as _ringstore_v1_AeGcStatesOk, AeGcStatesOk__Output as _ringstore_v1_AeGcStatesOk__Output } from './ringstore/v1/AeGcStatesOk.js';
import type { AeHashesOk as _ringstore_v1_AeHashesOk, AeHashesOk__Output as _ringstore_v1_AeHashesOk__Output } from './ringstore/v1/AeHashesOk.js';
import type { AeHashesReq as _ringstore_v1_AeHashesReq, AeHashesReq__Output as _ringstore_v1_AeHashesReq__Output } from './ringstore/v1/AeHashesReq.js';
import type { AeKeyDigest as _ringstore_v1_AeKeyDigest, AeKeyDigest__Output as _ringstore_v1_AeKeyDigest__Output } from './ringstore/v1/AeKeyDigest.js';
import type { AeKeyRef as _ringstore_v1_AeKeyRef, AeKeyRef__Output as _ringstore_v1_AeKeyRef__Output } from './ringstore/v1/AeKeyRef.js';
import type { AeKeySet as _ringstore_v1_AeKeySet, AeKeySet__Output as _ringstore_v1_AeKeySet__Output } from './ringstore/v1/AeKeySet.js';
import type { AeKeysOk as _ringstore_v1_AeKeysOk, AeKeysOk__Output as _ringstore_v1_AeKeysOk__Output } from './ringstore/v1/AeKeysOk.js';
import type { AeLeafKeysReq as _ringstore_v1_AeLeafKeysReq, AeLeafKeysReq__Output as _ringstore_v1_AeLeafKeysReq__Output } from './ringstore/v1/AeLeafKeysReq.js';
import type { AePushReq as _ringstore_v1_AePushReq, AePushReq__Output as _ringstore_v1_AePushReq__Output } from './ringstore/v1/AePushReq.js';
import type { AeRootsReq as _ringstore_v1_AeRootsReq, AeRootsReq__Output as _ringstore_v1_AeRootsReq__Output } from './ringstore/v1/AeRootsReq.js';
import type { AeSetsOk as _ringstore_v1_AeSetsOk, AeSetsOk__Output as _ringstore_v1_AeSetsOk__Output } from './ringstore/v1/AeSetsOk.js';
import type { AeShape as _ringstore_v1_AeShape, AeShape__Output as _ringstore_v1_AeShape__Output } from './ringstore/v1/AeShape.js';
import type { Dot as _ringstore_v1_Dot, Dot__Output as _ringstore_v1_Dot__Output } from './ringstore/v1/Dot.js';
import type { Envelope as _ringstore_v1_Envelope, Envelope__Output as _ringstore_v1_Envelope__Output } from './ringstore/v1/Envelope.js';
import type { ErrorResp as _ringstore_v1_ErrorResp, ErrorResp__Output as _ringstore_v1_ErrorResp__Output } from './ringstore/v1/ErrorResp.js';
import type { GetOk as _ringstore_v1_GetOk, GetOk__Output as _ringstore_v1_GetOk__Output } from './ringstore/v1/GetOk.js';
import type { GetReq as _ringstore_v1_GetReq, GetReq__Output as _ringstore_v1_GetReq__Output } from './ringstore/v1/GetReq.js';
import type { KeyEntry as _ringstore_v1_KeyEntry, KeyEntry__Output as _ringstore_v1_KeyEntry__Output } from './ringstore/v1/KeyEntry.js';
import type { ListKeysOk as _ringstore_v1_ListKeysOk, ListKeysOk__Output as _ringstore_v1_ListKeysOk__Output } from './ringstore/v1/ListKeysOk.js';
import type { ListKeysReq as _ringstore_v1_ListKeysReq, ListKeysReq__Output as _ringstore_v1_ListKeysReq__Output } from './ringstore/v1/ListKeysReq.js';
import type { MemberUpdate as _ringstore_v1_MemberUpdate, MemberUpdate__Output as _ringstore_v1_MemberUpdate__Output } from './ringstore/v1/MemberUpdate.js';
import type { PingReq as _ringstore_v1_PingReq, PingReq__Output as _ringstore_v1_PingReq__Output } from './ringstore/v1/PingReq.js';
import type { Pong as _ringstore_v1_Pong, Pong__Output as _ringstore_v1_Pong__Output } from './ringstore/v1/Pong.js';
import type { PutOk as _ringstore_v1_PutOk, PutOk__Output as _ringstore_v1_PutOk__Output } from './ringstore/v1/PutOk.js';
import type { PutOriginReq as _ringstore_v1_PutOriginReq, PutOriginReq__Output as _ringstore_v1_PutOriginReq__Output } from './ringstore/v1/PutOriginReq.js';
import type { PutReplicaReq as _ringstore_v1_PutReplicaReq, PutReplicaReq__Output as _ringstore_v1_PutReplicaReq__Output } from './ringstore/v1/PutReplicaReq.js';
import type { RaftOk as _ringstore_v1_RaftOk, RaftOk__Output as _ringstore_v1_RaftOk__Output } from './ringstore/v1/RaftOk.js';
import type { RaftReq as _ringstore_v1_RaftReq, RaftReq__Output as _ringstore_v1_RaftReq__Output } from './ringstore/v1/RaftReq.js';
import type { ReplicaClient as _ringstore_v1_ReplicaClient, ReplicaDefinition as _ringstore_v1_ReplicaDefinition } from './ringstore/v1/Replica.js';
import type { Sibling as _ringstore_v1_Sibling, Sibling__Output as _ringstore_v1_Sibling__Output } from './ringstore/v1/Sibling.js';
import type { SiblingMeta as _ringstore_v1_SiblingMeta, SiblingMeta__Output as _ringstore_v1_SiblingMeta__Output } from './ringstore/v1/SiblingMeta.js';
import type { SiblingSet as _ringstore_v1_SiblingSet, SiblingSet__Output as _ringstore_v1_SiblingSet__Output } from './ringstore/v1/SiblingSet.js';
import type { SwimOk as _ringstore_v1_SwimOk, SwimOk__Output as _ringstore_v1_SwimOk__Output } from './ringstore/v1/SwimOk.js';
import type { SwimReq as _ringstore_v1_SwimReq, SwimReq__Output as _ringstore_v1_SwimReq__Output } from './ringstore/v1/SwimReq.js';
import type { VersionVector as _ringstore_v1_VersionVector, VersionVector__Output as _ringstore_v1_VersionVector__Output } from './ringstore/v1/VersionVector.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  ringstore: {
    v1: {
      AeCountOk: MessageTypeDefinition<_ringstore_v1_AeCountOk, _ringstore_v1_AeCountOk__Output>
      AeFetchReq: MessageTypeDefinition<_ringstore_v1_AeFetchReq, _ringstore_v1_AeFetchReq__Output>
      AeGcCheckReq: MessageTypeDefinition<_ringstore_v1_AeGcCheckReq, _ringstore_v1_AeGcCheckReq__Output>
      AeGcRemoveReq: MessageTypeDefinition<_ringstore_v1_AeGcRemoveReq, _ringstore_v1_AeGcRemoveReq__Output>
      AeGcStatesOk: MessageTypeDefinition<_ringstore_v1_AeGcStatesOk, _ringstore_v1_AeGcStatesOk__Output>
      AeHashesOk: MessageTypeDefinition<_ringstore_v1_AeHashesOk, _ringstore_v1_AeHashesOk__Output>
      AeHashesReq: MessageTypeDefinition<_ringstore_v1_AeHashesReq, _ringstore_v1_AeHashesReq__Output>
      AeKeyDigest: MessageTypeDefinition<_ringstore_v1_AeKeyDigest, _ringstore_v1_AeKeyDigest__Output>
      AeKeyRef: MessageTypeDefinition<_ringstore_v1_AeKeyRef, _ringstore_v1_AeKeyRef__Output>
      AeKeySet: MessageTypeDefinition<_ringstore_v1_AeKeySet, _ringstore_v1_AeKeySet__Output>
      AeKeysOk: MessageTypeDefinition<_ringstore_v1_AeKeysOk, _ringstore_v1_AeKeysOk__Output>
      AeLeafKeysReq: MessageTypeDefinition<_ringstore_v1_AeLeafKeysReq, _ringstore_v1_AeLeafKeysReq__Output>
      AePushReq: MessageTypeDefinition<_ringstore_v1_AePushReq, _ringstore_v1_AePushReq__Output>
      AeRootsReq: MessageTypeDefinition<_ringstore_v1_AeRootsReq, _ringstore_v1_AeRootsReq__Output>
      AeSetsOk: MessageTypeDefinition<_ringstore_v1_AeSetsOk, _ringstore_v1_AeSetsOk__Output>
      AeShape: MessageTypeDefinition<_ringstore_v1_AeShape, _ringstore_v1_AeShape__Output>
      Dot: MessageTypeDefinition<_ringstore_v1_Dot, _ringstore_v1_Dot__Output>
      Envelope: MessageTypeDefinition<_ringstore_v1_Envelope, _ringstore_v1_Envelope__Output>
      ErrorResp: MessageTypeDefinition<_ringstore_v1_ErrorResp, _ringstore_v1_ErrorResp__Output>
      GetOk: MessageTypeDefinition<_ringstore_v1_GetOk, _ringstore_v1_GetOk__Output>
      GetReq: MessageTypeDefinition<_ringstore_v1_GetReq, _ringstore_v1_GetReq__Output>
      KeyEntry: MessageTypeDefinition<_ringstore_v1_KeyEntry, _ringstore_v1_KeyEntry__Output>
      ListKeysOk: MessageTypeDefinition<_ringstore_v1_ListKeysOk, _ringstore_v1_ListKeysOk__Output>
      ListKeysReq: MessageTypeDefinition<_ringstore_v1_ListKeysReq, _ringstore_v1_ListKeysReq__Output>
      MemberUpdate: MessageTypeDefinition<_ringstore_v1_MemberUpdate, _ringstore_v1_MemberUpdate__Output>
      PingReq: MessageTypeDefinition<_ringstore_v1_PingReq, _ringstore_v1_PingReq__Output>
      Pong: MessageTypeDefinition<_ringstore_v1_Pong, _ringstore_v1_Pong__Output>
      PutOk: MessageTypeDefinition<_ringstore_v1_PutOk, _ringstore_v1_PutOk__Output>
      PutOriginReq: MessageTypeDefinition<_ringstore_v1_PutOriginReq, _ringstore_v1_PutOriginReq__Output>
      PutReplicaReq: MessageTypeDefinition<_ringstore_v1_PutReplicaReq, _ringstore_v1_PutReplicaReq__Output>
      RaftOk: MessageTypeDefinition<_ringstore_v1_RaftOk, _ringstore_v1_RaftOk__Output>
      RaftReq: MessageTypeDefinition<_ringstore_v1_RaftReq, _ringstore_v1_RaftReq__Output>
      Replica: SubtypeConstructor<typeof grpc.Client, _ringstore_v1_ReplicaClient> & { service: _ringstore_v1_ReplicaDefinition }
      Sibling: MessageTypeDefinition<_ringstore_v1_Sibling, _ringstore_v1_Sibling__Output>
      SiblingMeta: MessageTypeDefinition<_ringstore_v1_SiblingMeta, _ringstore_v1_SiblingMeta__Output>
      SiblingSet: MessageTypeDefinition<_ringstore_v1_SiblingSet, _ringstore_v1_SiblingSet__Output>
      SwimOk: MessageTypeDefinition<_ringstore_v1_SwimOk, _ringstore_v1_SwimOk__Output>
      SwimReq: MessageTypeDefinition<_ringstore_v1_SwimReq, _ringstore_v1_SwimReq__Output>
      VersionVector: MessageTypeDefinition<_ringstore_v1_VersionVector, _ringstore_v1_VersionVector__Output>
    }
  }
}

