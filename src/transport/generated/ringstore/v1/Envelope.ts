// Original file: proto/ringstore.proto

import type { Envelope as _ringstore_v1_Envelope, Envelope__Output as _ringstore_v1_Envelope__Output } from '../../ringstore/v1/Envelope.js';
import type { PutOriginReq as _ringstore_v1_PutOriginReq, PutOriginReq__Output as _ringstore_v1_PutOriginReq__Output } from '../../ringstore/v1/PutOriginReq.js';
import type { PutReplicaReq as _ringstore_v1_PutReplicaReq, PutReplicaReq__Output as _ringstore_v1_PutReplicaReq__Output } from '../../ringstore/v1/PutReplicaReq.js';
import type { GetReq as _ringstore_v1_GetReq, GetReq__Output as _ringstore_v1_GetReq__Output } from '../../ringstore/v1/GetReq.js';
import type { ListKeysReq as _ringstore_v1_ListKeysReq, ListKeysReq__Output as _ringstore_v1_ListKeysReq__Output } from '../../ringstore/v1/ListKeysReq.js';
import type { PingReq as _ringstore_v1_PingReq, PingReq__Output as _ringstore_v1_PingReq__Output } from '../../ringstore/v1/PingReq.js';
import type { PutOk as _ringstore_v1_PutOk, PutOk__Output as _ringstore_v1_PutOk__Output } from '../../ringstore/v1/PutOk.js';
import type { GetOk as _ringstore_v1_GetOk, GetOk__Output as _ringstore_v1_GetOk__Output } from '../../ringstore/v1/GetOk.js';
import type { ListKeysOk as _ringstore_v1_ListKeysOk, ListKeysOk__Output as _ringstore_v1_ListKeysOk__Output } from '../../ringstore/v1/ListKeysOk.js';
import type { Pong as _ringstore_v1_Pong, Pong__Output as _ringstore_v1_Pong__Output } from '../../ringstore/v1/Pong.js';
import type { ErrorResp as _ringstore_v1_ErrorResp, ErrorResp__Output as _ringstore_v1_ErrorResp__Output } from '../../ringstore/v1/ErrorResp.js';
import type { SwimReq as _ringstore_v1_SwimReq, SwimReq__Output as _ringstore_v1_SwimReq__Output } from '../../ringstore/v1/SwimReq.js';
import type { SwimOk as _ringstore_v1_SwimOk, SwimOk__Output as _ringstore_v1_SwimOk__Output } from '../../ringstore/v1/SwimOk.js';
import type { Long } from '@grpc/proto-loader';

export interface Envelope {
  'id'?: (number | string | Long);
  'deadline_ms'?: (number);
  'batch'?: (_ringstore_v1_Envelope)[];
  'put_origin'?: (_ringstore_v1_PutOriginReq | null);
  'put_replica'?: (_ringstore_v1_PutReplicaReq | null);
  'get'?: (_ringstore_v1_GetReq | null);
  'list_keys'?: (_ringstore_v1_ListKeysReq | null);
  'ping'?: (_ringstore_v1_PingReq | null);
  'put_ok'?: (_ringstore_v1_PutOk | null);
  'get_ok'?: (_ringstore_v1_GetOk | null);
  'list_keys_ok'?: (_ringstore_v1_ListKeysOk | null);
  'pong'?: (_ringstore_v1_Pong | null);
  'error'?: (_ringstore_v1_ErrorResp | null);
  'swim'?: (_ringstore_v1_SwimReq | null);
  'swim_ok'?: (_ringstore_v1_SwimOk | null);
  'body'?: "put_origin"|"put_replica"|"get"|"list_keys"|"ping"|"put_ok"|"get_ok"|"list_keys_ok"|"pong"|"error"|"swim"|"swim_ok";
}

export interface Envelope__Output {
  'id': (number);
  'deadline_ms': (number);
  'batch': (_ringstore_v1_Envelope__Output)[];
  'put_origin'?: (_ringstore_v1_PutOriginReq__Output | null);
  'put_replica'?: (_ringstore_v1_PutReplicaReq__Output | null);
  'get'?: (_ringstore_v1_GetReq__Output | null);
  'list_keys'?: (_ringstore_v1_ListKeysReq__Output | null);
  'ping'?: (_ringstore_v1_PingReq__Output | null);
  'put_ok'?: (_ringstore_v1_PutOk__Output | null);
  'get_ok'?: (_ringstore_v1_GetOk__Output | null);
  'list_keys_ok'?: (_ringstore_v1_ListKeysOk__Output | null);
  'pong'?: (_ringstore_v1_Pong__Output | null);
  'error'?: (_ringstore_v1_ErrorResp__Output | null);
  'swim'?: (_ringstore_v1_SwimReq__Output | null);
  'swim_ok'?: (_ringstore_v1_SwimOk__Output | null);
  'body'?: "put_origin"|"put_replica"|"get"|"list_keys"|"ping"|"put_ok"|"get_ok"|"list_keys_ok"|"pong"|"error"|"swim"|"swim_ok";
}
