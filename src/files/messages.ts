// The messages of proto/files/v1/files.proto as @grpc/proto-loader hands
// them over with the options below (field names as in the .proto, 64-bit
// integers as numbers, oneof members named in `part`). Written by hand: the
// service is small, and the .proto is the contract other languages compile.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const SERVICE_NAME = 'ringstore.files.v1.FileService';
/** The full gRPC method path of a call: what the signature covers. */
export const methodPath = (name: string): string => `/${SERVICE_NAME}/${name}`;

/** Data messages carry at most this much: far below every client's default receive limit (4 MiB). */
export const MESSAGE_CHUNK = 1024 * 1024;
/** What a server or client accepts in one message: upload chunks up to 4 MiB plus framing. */
export const MAX_MESSAGE_BYTES = 8 * 1024 * 1024;

export interface FileInfoMsg {
  bucket: string;
  key: string;
  size: number;
  owner: string;
  content_type: string;
  modified_ms: number;
  etag: string;
  version: string;
}

export interface UploadHeaderMsg {
  bucket: string;
  key: string;
  content_type?: string;
  overwrite?: boolean;
}

export type UploadRequestMsg = { header: UploadHeaderMsg; part?: 'header' } | { chunk: Buffer; part?: 'chunk' };

export interface PlacementMsg {
  partition: number;
  preference_list: string[];
  replicas: string[];
}

export interface UploadResponseMsg {
  file: FileInfoMsg;
  placement: PlacementMsg;
}

export interface DownloadRequestMsg {
  bucket: string;
  key: string;
  offset?: number;
  length?: number;
}

export type DownloadResponseMsg = { info: FileInfoMsg; part?: 'info' } | { chunk: Buffer; part?: 'chunk' };

export interface ClockEntryMsg {
  node: string;
  counter: number;
}

export interface StatResponseMsg {
  info: FileInfoMsg;
  placement: PlacementMsg;
  replica_clocks: { node: string; clock: ClockEntryMsg[]; holds_nothing: boolean }[];
  versions: { node: string; counter: number; clock: ClockEntryMsg[]; size: number; modified_ms: number; deleted: boolean }[];
}

export interface ListRequestMsg {
  bucket?: string;
  prefix?: string;
  limit?: number;
  page_token?: string;
}

export interface ListResponseMsg {
  files: FileInfoMsg[];
  truncated: boolean;
  next_page_token: string;
}

export interface SearchRequestMsg {
  query: string;
  limit?: number;
}

export interface KeyRequestMsg {
  bucket: string;
  key: string;
}

export const PROTO_OPTIONS: protoLoader.Options = { keepCase: true, longs: Number, defaults: true, oneofs: true };

/** proto/files/v1/files.proto: from dist/src/files/ (compiled) or src/files/ (sources). */
export function filesProtoPath(): string {
  const candidates = [new URL('../../../proto/files/v1/files.proto', import.meta.url), new URL('../../proto/files/v1/files.proto', import.meta.url)];
  for (const url of candidates) {
    const p = fileURLToPath(url);
    if (existsSync(p)) return p;
  }
  throw new Error(`proto/files/v1/files.proto not found (looked at ${candidates.map((u) => fileURLToPath(u)).join(', ')})`);
}

let loaded: grpc.ServiceClientConstructor | undefined;

/** The FileService definition (client constructor; `.service` for servers). */
export function fileServiceDefinition(): grpc.ServiceClientConstructor {
  if (loaded === undefined) {
    const def = protoLoader.loadSync(filesProtoPath(), PROTO_OPTIONS);
    const pkg = grpc.loadPackageDefinition(def) as unknown as { ringstore: { files: { v1: { FileService: grpc.ServiceClientConstructor } } } };
    loaded = pkg.ringstore.files.v1.FileService;
  }
  return loaded;
}
