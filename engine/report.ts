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
  exclude: string[];
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
  };
}

/** Who ran a run, and when: the fields every RunReport opens with (a new id each call). */
export function reportIdentity(startedAt: Date, finishedAt: Date = new Date()): Pick<RunReport, "id" | "startedAt" | "finishedAt" | "host" | "pid" | "os" | "blitVersion"> {
  return {
    id: crypto.randomUUID(),
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    host: hostname(),
    pid: process.pid,
    os: `${process.platform} ${release()}`,
    blitVersion: VERSION,
  };
}
