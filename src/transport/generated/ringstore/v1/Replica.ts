// Original file: proto/ringstore.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { Envelope as _ringstore_v1_Envelope, Envelope__Output as _ringstore_v1_Envelope__Output } from '../../ringstore/v1/Envelope.js';

export interface ReplicaClient extends grpc.Client {
  Call(argument: _ringstore_v1_Envelope, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_ringstore_v1_Envelope__Output>): grpc.ClientUnaryCall;
  Call(argument: _ringstore_v1_Envelope, metadata: grpc.Metadata, callback: grpc.requestCallback<_ringstore_v1_Envelope__Output>): grpc.ClientUnaryCall;
  Call(argument: _ringstore_v1_Envelope, options: grpc.CallOptions, callback: grpc.requestCallback<_ringstore_v1_Envelope__Output>): grpc.ClientUnaryCall;
  Call(argument: _ringstore_v1_Envelope, callback: grpc.requestCallback<_ringstore_v1_Envelope__Output>): grpc.ClientUnaryCall;
  call(argument: _ringstore_v1_Envelope, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_ringstore_v1_Envelope__Output>): grpc.ClientUnaryCall;
  call(argument: _ringstore_v1_Envelope, metadata: grpc.Metadata, callback: grpc.requestCallback<_ringstore_v1_Envelope__Output>): grpc.ClientUnaryCall;
  call(argument: _ringstore_v1_Envelope, options: grpc.CallOptions, callback: grpc.requestCallback<_ringstore_v1_Envelope__Output>): grpc.ClientUnaryCall;
  call(argument: _ringstore_v1_Envelope, callback: grpc.requestCallback<_ringstore_v1_Envelope__Output>): grpc.ClientUnaryCall;
  
  Stream(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_ringstore_v1_Envelope, _ringstore_v1_Envelope__Output>;
  Stream(options?: grpc.CallOptions): grpc.ClientDuplexStream<_ringstore_v1_Envelope, _ringstore_v1_Envelope__Output>;
  stream(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_ringstore_v1_Envelope, _ringstore_v1_Envelope__Output>;
  stream(options?: grpc.CallOptions): grpc.ClientDuplexStream<_ringstore_v1_Envelope, _ringstore_v1_Envelope__Output>;
  
}

export interface ReplicaHandlers extends grpc.UntypedServiceImplementation {
  Call: grpc.handleUnaryCall<_ringstore_v1_Envelope__Output, _ringstore_v1_Envelope>;
  
  Stream: grpc.handleBidiStreamingCall<_ringstore_v1_Envelope__Output, _ringstore_v1_Envelope>;
  
}

export interface ReplicaDefinition extends grpc.ServiceDefinition {
  Call: MethodDefinition<_ringstore_v1_Envelope, _ringstore_v1_Envelope, _ringstore_v1_Envelope__Output, _ringstore_v1_Envelope__Output>
  Stream: MethodDefinition<_ringstore_v1_Envelope, _ringstore_v1_Envelope, _ringstore_v1_Envelope__Output, _ringstore_v1_Envelope__Output>
}
