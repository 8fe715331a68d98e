// RunReport is the one contract between the engine and everything that reads a run
// (telemetry, diagnose, the CLI's summary). It is plain JSON: no class instances, no bigint.
import { hostname, release } from "node:os";
import type { RunContext, TimelineSample } from "./run-context.ts";
import { VERSION } from "./version.ts";

/** How the bytes of one file reached the destination. */
export type FastPath =
  | "reflink" // FICLONE on Linux, clonefile on macOS: no bytes copied, extents shared
  | "copy_file_range" // in-kernel copy (may still be a server-side or reflink copy underneath)
  | "sendfile"
  | "fcopyfile" // macOS
  | "copyfileexw" // Windows CopyFileExW
  | "stream"; // read/write through userspace

export type Command = "copy" | "mirror";
export type Route = "local" | "push" | "pull";
export type RunStatus = "ok" | "partial" | "failed" | "interrupted";

/** Options as the engine ran them, after normalization. */
export interface RunOptions {
  dryRun: boolean;
  checksum: boolean;
  sizeOnly: boolean;
  ignoreTimes: boolean;
  /** The --exclude patterns as given (also part of `filter`). */
  exclude: string[];
  /**
   * Every selection rule in order, canonical ("+ PAT", "- PAT", ": NAME"; engine/select):
   * --include, --exclude, --*-from and --filter. Older reports lack it (their `exclude` are the rules).
   */
  filter?: string[];
  /** --files-from: the only paths (relative to SRC) a copy transfers. */
  filesFrom?: string[];
  /** --delete-excluded (mirror): excluded destination entries are deleted too. @default false */
  deleteExcluded?: boolean;
  /** Worker threads for the transfer; the plan may use fewer for a tiny job. */
  workers: number;
  /** Bytes per second, 0 = unlimited. */
  bwlimit: number;
  /** Mirror stops deleting after this many entries; -1 = no bound. */
  maxDelete: number;
  force: boolean;
  /** -H: files that are one inode in the source stay one inode in the destination. @default false (older reports lack it) */
  hardLinks?: boolean;
  /** Copies get the source's owner (`--no-owner` turns it off). @default true when running as root (CAP_CHOWN) */
  owner: boolean;
  /** Copies get the source's group (`--no-group` turns it off). @default true when running as root (CAP_CHOWN) */
  group: boolean;
  /** `-X`: copies get the source's extended attributes (user.*; trusted.* and security.* as root). @default false */
  xattrs: boolean;
  /** `-A`: copies get the source's POSIX ACLs. @default false */
  acls: boolean;
  /** `--specials`: FIFOs and sockets are created. @default false (older reports lack it) */
  specials?: boolean;
  /** `--devices`: device nodes are created (root only). @default false (older reports lack it) */
  devices?: boolean;
  /** `--numeric-ids` (push, pull): owners travel as numbers, not mapped by name. @default false (older reports lack it) */
  numericIds?: boolean;
  /**
   * `--backup` (copy, mirror): what the run overwrites or deletes is kept under a backup name
   * (`--backup-dir`, `--suffix` imply it). @default false (older reports lack it)
   */
  backup?: boolean;
  /** `--backup-dir DIR`: backups go there, keeping their relative path (DIR relative to the destination unless absolute). */
  backupDir?: string;
  /** `--suffix S`: appended to a backup's name; "~" by default, "" with --backup-dir. */
  suffix?: string;
  /**
   * `--retries N` (push, pull): how many times the transfer is run again after a dropped
   * connection, a restarted daemon or a stall. @default 3 (absent in local runs and older records)
   */
  retries?: number;
  /**
   * Delta transfer (push, pull): true with `--whole-file` (changed files travel whole), false with
   * `--no-whole-file` (as changes against the receiver's older file, even on loopback); absent:
   * delta unless the daemon is on this machine's loopback and no --bwlimit is set.
   */
  wholeFile?: boolean;
}

/** One retry of a remote run: which attempt failed, why, and how long the client waited before the next. */
export interface RetryRecord {
  /** The attempt that failed (1 = the first). */
  attempt: number;
  /** What failed, one line (the words the user would have seen without the retry). */
  reason: string;
  /** Milliseconds waited before the next attempt (backoff with jitter). */
  delayMs: number;
}

export interface PhaseTimes {
  /** Milliseconds, wall clock. */
  enumerateMs: number;
  planMs: number;
  transferMs: number;
  deleteMs: number;
  totalMs: number;
}

export interface Workload {
  /** Regular files in the source (after excludes). */
  files: number;
  bytes: number;
  dirs: number;
  symlinks: number;
  /** Files per size bucket: key is the bucket's upper bound label, e.g. "<4K", "<64K", ... ">=1G". */
  sizeHistogram: Record<string, number>;
}

export interface Counts {
  /** Files (and symlinks) the plan decided to transfer. */
  planned: number;
  plannedBytes: number;
  copied: number;
  /** Bytes of the files copied, holes included. */
  copiedBytes: number;
  /**
   * Bytes of copiedBytes that were holes in sparse source files and stayed holes (not written,
   * not sent). Absent or 0 when no file had a hole that was kept.
   */
  holeBytes?: number;
  /** Unchanged, left alone. */
  skipped: number;
  skippedBytes: number;
  /** Extraneous destination entries removed (mirror). */
  deleted: number;
  /** Extraneous entries mirror would remove (or did not, because of a guard or an error). */
  deletePlanned: number;
  dirsCreated: number;
  /** --backup: entries kept under a backup name (overwritten, replaced or deleted). Absent without --backup. */
  backedUp?: number;
  symlinks: number;
}

export interface RunError {
  /** Path relative to the source or destination root, as the user gave it. */
  path: string;
  /** Which side: the source, the destination, or the run as a whole. */
  side: "source" | "destination" | "run";
  /** Stable code, e.g. EACCES, ENOSPC, DELETE_GUARD. */
  code: string;
  message: string;
}

export interface SizeClassPlan {
  /** "small" | "medium" | "large" */
  name: string;
  /** Inclusive lower bound in bytes. */
  minBytes: number;
  files: number;
  bytes: number;
  /** How the class is sent: batches of many files per worker message, or one file per task in chunks. */
  strategy: "batched" | "per-file" | "chunked";
  concurrency: number;
}

export interface RunReport {
  /** UUID, also the telemetry primary key. */
  id: string;
  startedAt: string; // ISO 8601
  finishedAt: string;
  host: string;
  /** Process id of the blit process that ran it (links offline traces to the run). */
  pid: number;
  os: string; // process.platform + " " + os.release()
  blitVersion: string;
  command: Command;
  route: Route;
  /** Absolute paths (or blit:// URLs for remote routes). */
  source: string;
  destination: string;
  sourceFs: string; // e.g. "ext4", "tmpfs", "unknown"
  destinationFs: string;
  options: RunOptions;
  workload: Workload;
  plan: {
    /** "batched-small" etc.; one word a human and the predictor can group by. */
    strategy: string;
    workers: number;
    classes: SizeClassPlan[];
  };
  phases: PhaseTimes;
  counts: Counts;
  /** Bytes per fast path actually taken. */
  bytesByPath: Partial<Record<FastPath, number>>;
  /** Files per fast path actually taken. */
  filesByPath: Partial<Record<FastPath, number>>;
  /** Special files of the source not transferred, by kind ("fifo", "socket", "char", "block"); absent when none. */
  specialsSkipped?: Partial<Record<string, number>>;
  /** Why a faster path was not taken, e.g. { reflink: "EOPNOTSUPP: filesystem ext4 has no reflink" }. */
  fastPathNotes: Record<string, string>;
  errors: RunError[];
  /** True when errors were cut off after the first N; errorCount is the true total. */
  errorCount: number;
  status: RunStatus;
  exitCode: number;
  /** The machine around the run (run-context.ts); absent in records made before it was captured. */
  context?: RunContext;
  /** Throughput and system samples about every 250 ms; absent for runs too short to sample or in older records. */
  timeline?: TimelineSample[];
  /** Remote routes fill this; local runs leave it undefined. */
  transport?: {
    kind: "tcp" | "grpc";
    /** Both planes ran under TLS (a blits:// URL; on the daemon, tls_cert_file). Absent in older records. */
    tls?: boolean;
    negotiateMs: number;
    transferMs: number;
    completeMs: number;
    /** Attempts made (1 + retries); negotiate/transfer/complete times are the last attempt's. Absent in older records. */
    attempts?: number;
    /** Each retry, in order (--retries); empty when the first attempt settled it. Absent in older records. */
    retries?: RetryRecord[];
    /** Data-plane bytes this end sent and received (frame headers included), summed over attempts. Absent in older records. */
    dataBytesOut?: number;
    dataBytesIn?: number;
    /**
     * Files that travelled as changes against the receiver's basis: `matchedBytes` kept from it,
     * `literalBytes` sent; of those, `resumedFiles` continued from a part an interrupted transfer
     * kept (`resumedBytes` of it reused). Summed over attempts; absent when no file had a basis.
     */
    delta?: { files: number; matchedBytes: number; literalBytes: number; resumedFiles: number; resumedBytes: number };
  };
}

/** Who ran a run, and when: the fields every RunReport opens with (a new id each call). */
export function reportIdentity(startedAt: Date, finishedAt: Date = new Date()): Pick<RunReport, "id" | "startedAt" | "finishedAt" | "host" | "pid" | "os" | "blitVersion"> {
  return {
    id: crypto.randomUUID(),
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    host: hostName(),
    pid: process.pid,
    os: `${process.platform} ${release()}`,
    blitVersion: VERSION,
  };
}

/**
 * The host name recorded with each run: BLIT_HOST when set (a stable name for a container or a
 * host whose name changes; the fleet export partitions by it), else the machine's host name.
 */
export function hostName(env: Record<string, string | undefined> = process.env): string {
  return env.BLIT_HOST?.trim() || hostname();
}

/** The exit code of each status: the one rule the CLI, the report and blitd's record share. */
export const EXIT_CODES: Readonly<Record<RunStatus, number>> = { ok: 0, partial: 1, failed: 2, interrupted: 130 };

/** A run's exit code: 0 ok, 1 some files failed, 2 the run failed or was refused, 130 interrupted. */
export function exitCodeFor(status: RunStatus): number {
  return EXIT_CODES[status];
}

/** How a run ended, from what happened (an interruption beats a failure, which beats file errors). */
export function statusOf(o: { interrupted?: boolean; failed?: boolean; errorCount: number }): RunStatus {
  return o.interrupted ? "interrupted" : o.failed ? "failed" : o.errorCount > 0 ? "partial" : "ok";
}

type Derived = "id" | "startedAt" | "finishedAt" | "host" | "pid" | "os" | "blitVersion" | "status" | "exitCode" | "errorCount";

/** What a caller knows about a run; everything else has an empty default. */
export type RunReportInput = Partial<Omit<RunReport, Derived>> &
  Pick<RunReport, "command" | "route" | "source" | "destination" | "options"> & {
    startedAt: Date;
    /** @default now */
    finishedAt?: Date;
    /** @default errors.length */
    errorCount?: number;
    /** Ended by a signal. @default false */
    interrupted?: boolean;
    /** Failed as a whole (a fatal error, a lost connection). @default false */
    failed?: boolean;
  };

/**
 * Every RunReport is made here (a local run, a remote client's, blitd's record of a transfer,
 * a run refused before it started): identity, status and exit code are derived in one place,
 * and a report of a run that did nothing has the same shape as one that did everything.
 */
export function makeRunReport(input: RunReportInput): RunReport {
  const { startedAt, finishedAt = new Date(), interrupted, failed, errorCount: count, ...known } = input;
  const errors = known.errors ?? [];
  const errorCount = count ?? errors.length;
  const status = statusOf({ interrupted, failed, errorCount });
  return {
    ...reportIdentity(startedAt, finishedAt),
    sourceFs: "unknown",
    destinationFs: "unknown",
    workload: { files: 0, bytes: 0, dirs: 0, symlinks: 0, sizeHistogram: {} },
    plan: { strategy: "none", workers: 0, classes: [] },
    phases: { enumerateMs: 0, planMs: 0, transferMs: 0, deleteMs: 0, totalMs: finishedAt.getTime() - startedAt.getTime() },
    counts: { planned: 0, plannedBytes: 0, copied: 0, copiedBytes: 0, skipped: 0, skippedBytes: 0, deleted: 0, deletePlanned: 0, dirsCreated: 0, symlinks: 0 },
    bytesByPath: {},
    filesByPath: {},
    fastPathNotes: {},
    ...known,
    errors,
    errorCount,
    status,
    exitCode: exitCodeFor(status),
  };
}

/** The report of a run that failed before any work (bad input, an unwritable destination): one "run" error. */
export function makeEarlyReport(input: Omit<RunReportInput, "errors" | "failed">, err: { code: string; message: string; path?: string }): RunReport {
  return makeRunReport({ ...input, failed: true, errors: [{ path: err.path ?? input.source, side: "run", code: err.code, message: err.message }] });
}
