// The protocol's public API: the gRPC service (proto/blit.proto), the data-plane frame codec,
// manifests and path checks, and the limits both sides enforce.
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { fileURLToPath } from "node:url";

export * as frames from "./frames.ts";
export {
  FrameDecoder, FrameError, encodeFrame, putHeader, textFrame, decodeText, u32List, readU32List, fileFrame, doneFrame,
  F_HELLO, F_NEED, F_CHECK, F_NEED_END, F_FILE, F_DATA, F_FILE_END, F_SHARD, F_SKIP, F_SAME, F_DONE, F_ERROR,
  HEADER_BYTES, TOKEN_BYTES, HASH_BYTES, SHARD_HASHES, DATA_CHUNK, SHARD_BYTES, SHARD_FILES, MAX_PAYLOAD,
} from "./frames.ts";
export type { FrameHandler } from "./frames.ts";
export {
  checkPath, unsafePathReason, printable, encodeManifest, decodeManifest, PathError,
  MAX_ENTRIES, MAX_PATH_BYTES, MAX_NAME_BYTES, MAX_LINK_BYTES,
} from "./manifest.ts";
export type { ManifestMsg } from "./manifest.ts";
export { grpc };

/** Metadata key that carries the daemon's auth token on every RPC. */
export const AUTH_METADATA_KEY = "x-blit-token";
/** Largest gRPC message either side accepts (a manifest of ~1M entries fits). */
export const MAX_MESSAGE_BYTES = 256 << 20;
/** Default port of blitd. */
export const DEFAULT_PORT = 9031;

const PROTO_PATH = fileURLToPath(new URL("./blit.proto", import.meta.url));

let loaded: grpc.GrpcObject | undefined;
/** The loaded package `blit.v1` (loaded once per process). */
function pkg(): grpc.GrpcObject {
  if (!loaded) {
    const def = protoLoader.loadSync(PROTO_PATH, { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true });
    loaded = (grpc.loadPackageDefinition(def) as any).blit.v1 as grpc.GrpcObject;
  }
  return loaded;
}

/** The Blit service definition, for grpc.Server.addService. */
export function blitService(): grpc.ServiceDefinition {
  return (pkg().Blit as grpc.ServiceClientConstructor).service;
}

/** A client for the Blit service at `address` ("host:port", IPv6 as "[::1]:port"). */
export function blitClient(address: string): grpc.Client & Record<string, any> {
  const Ctor = pkg().Blit as grpc.ServiceClientConstructor;
  return new Ctor(address, grpc.credentials.createInsecure(), {
    "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
    "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
    // Fail fast when the daemon is not there instead of retrying for the whole deadline.
    "grpc.initial_reconnect_backoff_ms": 200,
    "grpc.max_reconnect_backoff_ms": 1000,
    "grpc.enable_retries": 0,
  }) as grpc.Client & Record<string, any>;
}

/** Server options both the daemon and tests use. */
export function serverOptions(idleMs: number): grpc.ServerOptions {
  return {
    "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
    "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
    "grpc.max_connection_idle_ms": idleMs,
  };
}
