// The copy engine's public API: run a local copy or mirror and get its RunReport.
export { run, resolvePaths, refusedReport } from "./run.ts";
export type { Action, Phase, Progress, RunHooks, RunResult } from "./run.ts";
export { DEFAULT_RETRIES, destinationRules, keepOf, MAX_RETRIES, normalizeOptions, parseRate, selectionRules } from "./options.ts";
// Per-entry events (--itemize-changes, --log-file, --json-lines) and rsync's itemized form of them.
export { itemize } from "./events.ts";
export type { EventKind, FileEvent } from "./events.ts";
export type { Job } from "./options.ts";
export { UsageError, FatalError } from "./errors.ts";
export { VERSION } from "./version.ts";
export type {
  Command, Counts, FastPath, PhaseTimes, RetryRecord, Route, RunError, RunOptions, RunReport, RunStatus,
  SizeClassPlan, Workload,
} from "./report.ts";
export { exitCodeFor, EXIT_CODES, hostName, makeEarlyReport, makeRunReport, reportIdentity, statusOf } from "./report.ts";
export type { RunReportInput } from "./report.ts";
// Building blocks the remote transport reuses on both sides.
export { walkTree, emptyTree, T_FILE, T_DIR, T_LINK, T_OTHER } from "./walk.ts";
export type { Tree } from "./walk.ts";
// Selection rules (--include, --exclude, --filter, --files-from), parsed once, compiled per walk.
export { buildRules, onlyExcludes, readFilesFrom, Scope, SelectError, compilePattern, patternMatches, parseFilesFrom } from "./select/index.ts";
export type { SelectFlag } from "./select/index.ts";
// The remote transport: blit push / pull / ls against blitd, and the pieces blitd shares.
export {
  runRemote, backoffMs, listRemote, fetchRemoteTree, RemoteError, parseRemoteUrl, formatRemoteUrl, isRemote, validModuleName,
  TreeReceiver, hashBeneath, hashHex, entryMeta, mapOwners, readTreeXattrs, sendFiles, resolveChecks, sameFrames, SHARD_FILE_MAX,
  SocketChannel, GrpcChannel, ChannelClosedError, channelEvents, countedChannel,
  SigStore, DELTA_MIN_BYTES, PARTIAL_MAX_AGE_MS, isPartialName, partialName, sweepPartials, findPartial, adoptCrashTemps,
} from "./remote/index.ts";
export type {
  RemoteJob, RemoteHooks, RemoteListing, RemoteTree, RetryNotice, RemoteUrl, ReceiveSummary, ReceiverOptions, EntryMeta, ReceiveKeep,
  SendResult, SendOptions, Channel, GrpcDuplex,
} from "./remote/index.ts";
// TLS for blits:// daemons: the client's trust options; the key fingerprint both sides show.
export { keyFingerprint, tls13Only, TlsTrustError } from "./remote/index.ts";
export type { TlsClientOptions } from "./remote/index.ts";
// The one planner of local and remote runs.
export {
  planTrees, basisOrder, marchTrees, comparePaths, compareWalkOrder, workloadOf, fileUnchanged, sameMtime, deleteGuard, writePath, MODIFY_WINDOW_NS,
  WHY, whyNames,
} from "./plan.ts";
export type { Marcher, Plan, PlanOptions } from "./plan.ts";
// blit check: two trees compared by the planner's rule, neither changed.
export { check, compareTrees, refusedCheck } from "./check.ts";
export type {
  CheckCounts, CheckEntry, CheckJob, CheckKind, CheckOptions, CheckReason, CheckResult, CheckStatus, Comparison,
  ContentHasher, EntryType,
} from "./check.ts";
export { openDestTree, removeEntryAt, removeTreeAt } from "./dest-tree.ts";
// A daemon's Negotiate steps on worker threads (its event loop stays free for other clients).
export { FsWorkers } from "./offload.ts";
export type { DecodeOptions } from "./offload.ts";
export type { DestTree } from "./dest-tree.ts";
export type { DeviceContext, RunContext, TimelineSample } from "./run-context.ts";
// Recording that context (blitd records its side of a transfer with it).
export { startContext, ContextRecorder, scanOpeners } from "./context/index.ts";
export type { CapturedContext, ContextOptions, Opener, ScanLimits } from "./context/index.ts";
// Flags as data (the command kit's and blitd's tables): parser spec, --help lines, README rows, typos.
export { editDistance, flagHelp, flagLabel, helpFlag, helpLines, labelList, markdownRows, nearestFlag, parseSpec } from "./flag-table.ts";
export type { Flag } from "./flag-table.ts";
