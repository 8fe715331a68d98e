// The protocol's public API: the gRPC service (proto/blit.proto), the data-plane frame codec,
// manifests and path checks, and the limits both sides enforce.
import type * as Grpc from "@grpc/grpc-js";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

// @grpc/grpc-js and @grpc/proto-loader take ~50 ms to load: they are loaded on first use, so a
// local copy or mirror (which imports the engine, and so this module) never pays for them.
const requireLazy = createRequire(import.meta.url);
let grpcModule: typeof Grpc | undefined;
const loadGrpc = (): typeof Grpc => (grpcModule ??= requireLazy("@grpc/grpc-js") as typeof Grpc);
/** @grpc/grpc-js, loaded when first touched. */
export const grpc: typeof Grpc = new Proxy({} as typeof Grpc, {
  get: (_target, key) => (loadGrpc() as unknown as Record<string | symbol, unknown>)[key],
});
// The grpc-js types under the same name, for type positions (grpc.Metadata, grpc.ServiceError...).
export declare namespace grpc {
  type Client = Grpc.Client;
  type GrpcObject = Grpc.GrpcObject;
  type Metadata = Grpc.Metadata;
  type Server = Grpc.Server;
  type ServerDuplexStream<Req, Res> = Grpc.ServerDuplexStream<Req, Res>;
  type ServerOptions = Grpc.ServerOptions;
  type ServerUnaryCall<Req, Res> = Grpc.ServerUnaryCall<Req, Res>;
  type ServiceClientConstructor = Grpc.ServiceClientConstructor;
  type ServiceDefinition = Grpc.ServiceDefinition;
  type ServiceError = Grpc.ServiceError;
  type UntypedServiceImplementation = Grpc.UntypedServiceImplementation;
  type sendUnaryData<T> = Grpc.sendUnaryData<T>;
  type status = Grpc.status;
  type connectivityState = Grpc.connectivityState;
}

export * as frames from "./frames.ts";
export {
  FrameDecoder, FrameError, encodeFrame, putHeader, textFrame, decodeText, u32List, readU32List, fileFrame, doneFrame,
  holeFrame, F_HELLO, F_NEED, F_CHECK, F_NEED_END, F_FILE, F_DATA, F_FILE_END, F_SHARD, F_SKIP, F_SAME, F_HOLE, F_DONE,
  F_ERROR, F_KEEP, F_SIGS, F_BASIS, keepFrame, sigsFrame, readSigs, SIGS_HEADER, SIG_BYTES, SIGS_PER_FRAME,
  HEADER_BYTES, TOKEN_BYTES, HASH_BYTES, SHARD_HASHES, DATA_CHUNK, SHARD_BYTES, SHARD_FILES, MAX_PAYLOAD,
} from "./frames.ts";
export type { FrameHandler, SigsHeader } from "./frames.ts";
export {
  checkPath, unsafePathReason, printable, encodeManifest, decodeManifest, PathError, ManifestLimitError,
  MAX_ENTRIES, MAX_PATH_BYTES, MAX_NAME_BYTES, MAX_LINK_BYTES, MAX_XATTRS, MAX_XATTR_NAME_BYTES, MAX_XATTR_VALUE_BYTES,
  MAX_XATTR_LIST_BYTES, MAX_XATTR_TOTAL_BYTES, MAX_ID_NAMES, MAX_ID_NAME_BYTES,
} from "./manifest.ts";
export type { ManifestExtras, ManifestMsg, OwnerNames } from "./manifest.ts";

/**
 * Protocol features a peer may support beyond the base protocol of this version. Each side of a
 * Negotiate lists the ones it supports (NegotiateRequest.features, NegotiateReply.features); a
 * sender uses a feature only when the receiving side listed it. A peer that lists none (an
 * older blit) gets the base protocol.
 */
export const FEATURE_SPARSE = "sparse"; // holes travel as HOLE frames and arrive as holes
/** Owners, extended attributes and special files travel in the manifest (Options.owner ... devices). */
export const FEATURE_METADATA = "metadata";
/** Options.filter is read: include, exclude and per-directory rules (an older daemon knows only Options.exclude). */
export const FEATURE_FILTER = "filter";
/** The features this build supports, for its side of Negotiate. */
// Delta transfer and resume: a receiver with a basis (the old file, or the verified part an
// interrupted transfer kept) sends its block hashes (SIGS); the sender sends KEEP for blocks that
// match and DATA for the rest.
export const FEATURE_DELTA = "delta";
export const FEATURES: readonly string[] = [FEATURE_SPARSE, FEATURE_METADATA, FEATURE_FILTER, FEATURE_DELTA];
/** The features a peer listed (unknown names and junk ignored, bounded). */
export function peerFeatures(list: unknown): Set<string> {
  const out = new Set<string>();
  if (!Array.isArray(list)) return out;
  for (const f of list.slice(0, 64)) if (typeof f === "string" && FEATURES.includes(f)) out.add(f);
  return out;
}

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
    const protoLoader = requireLazy("@grpc/proto-loader") as typeof import("@grpc/proto-loader");
    const def = protoLoader.loadSync(PROTO_PATH, { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true });
    loaded = (grpc.loadPackageDefinition(def) as any).blit.v1 as grpc.GrpcObject;
  }
  return loaded;
}

/** The Blit service definition, for grpc.Server.addService. */
export function blitService(): grpc.ServiceDefinition {
  return (pkg().Blit as grpc.ServiceClientConstructor).service;
}

/**
 * A client for the Blit service at `address` ("host:port", IPv6 as "[::1]:port"); `options` are
 * extra grpc-js channel options; `credentials` TLS ones (engine/remote/tls.ts), else plaintext.
 */
export function blitClient(address: string, options: Record<string, string | number> = {}, credentials?: Grpc.ChannelCredentials): grpc.Client & Record<string, any> {
  const Ctor = pkg().Blit as grpc.ServiceClientConstructor;
  return new Ctor(address, credentials ?? grpc.credentials.createInsecure(), {
    ...options,
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
