// The remote transport's public API: the client side of push, pull, ls and remote check; the
// receiver and sender both ends share; the data-plane channels; blit:// URLs. The rest of
// engine/ and engine/index.ts import this folder only through this file.
export { runRemote, listRemote, fetchRemoteTree, RemoteError, backoffMs } from "./client.ts";
export type { RemoteJob, RemoteHooks, RemoteListing, RemoteTree, RetryNotice } from "./client.ts";
export { parseRemoteUrl, formatRemoteUrl, isRemote, validModuleName } from "./url.ts";
export type { RemoteUrl } from "./url.ts";
export { TreeReceiver, hashBeneath, hashHex } from "./receive.ts";
export type { ReceiveSummary, ReceiverOptions } from "./receive.ts";
export { entryMeta, mapOwners, readTreeXattrs } from "./metadata.ts";
export type { EntryMeta, ReceiveKeep } from "./metadata.ts";
export { sendFiles, resolveChecks, sameFrames, SHARD_FILE_MAX } from "./send.ts";
export type { SendResult, SendOptions } from "./send.ts";
export { SocketChannel, GrpcChannel, ChannelClosedError, channelEvents, countedChannel } from "./channel.ts";
// Delta transfer and resume: the sender's view of the receiver's block hashes, kept partial files.
export { SigStore, DELTA_MIN_BYTES, PARTIAL_MAX_AGE_MS, isPartialName, partialName, sweepPartials, findPartial, adoptCrashTemps } from "./delta.ts";
export type { Channel, GrpcDuplex } from "./channel.ts";
export { keyFingerprint, tls13Only, TlsTrustError } from "./tls.ts";
export type { TlsClientOptions } from "./tls.ts";
