// The normalized event every parser yields, whatever the tool that recorded it.

/** What an event did, in the terms diagnose reasons with. */
export type OpKind =
  | "open" | "read" | "write" | "close" | "stat" | "rename" | "unlink" | "fsync"
  | "disk_read" | "disk_write" | "context_switch" | "exec" | "other";

export const OP_KINDS: readonly OpKind[] = [
  "open", "read", "write", "close", "stat", "rename", "unlink", "fsync",
  "disk_read", "disk_write", "context_switch", "exec", "other",
];

/** Data operations move bytes; metadata operations name, look up or change files. */
export type OpCategory = "data" | "metadata" | "other";

export interface TraceEvent {
  /** Seconds on the trace's own clock (see TraceClock); add the trace's epoch offset for wall time. */
  ts: number;
  /** Process (image) name; "" when the trace does not say. */
  process: string;
  pid: number | null;
  tid: number | null;
  kind: OpKind;
  category: OpCategory;
  path: string | null;
  bytes: number | null;
  /** Seconds the operation took, when the trace measured it. */
  duration: number | null;
  /** The outcome as the tool printed it: "0", "4096", "-1 ENOENT", "0xc01c0004", "?". */
  result: string | null;
  /** True when the result is a failure (errno, NTSTATUS error); null when unknown. */
  failed: boolean | null;
  /** The tool's own name for the event: a syscall, an ETW event type, a tracepoint. */
  name: string;
  /** The tool's fields, as text, for what normalization leaves out. */
  fields: Record<string, string>;
  /** 1-based line in the file where the event starts. */
  line: number;
}

/** A line the parser could not read; ingestion goes on without it. */
export interface BadLine {
  line: number;
  reason: string;
  /** The start of the line, at most 200 characters. */
  text: string;
}

export type ParseItem = { event: TraceEvent; bad?: undefined } | { bad: BadLine; event?: undefined };

/**
 * How a trace's timestamps relate to wall time.
 * epoch: seconds since 1970 (strace -ttt, perf record -k realtime).
 * time-of-day: seconds since local midnight of the first day (strace -tt); days roll over.
 * relative: seconds since the first event (strace -r, perf trace, ETW exports).
 * boot: seconds since the machine booted (perf script default clock).
 */
export type ClockKind = "epoch" | "time-of-day" | "relative" | "boot" | "unknown";

const DATA: ReadonlySet<OpKind> = new Set(["read", "write", "fsync", "disk_read", "disk_write"]);
const META: ReadonlySet<OpKind> = new Set(["open", "close", "stat", "rename", "unlink"]);
/** Syscalls that change metadata but have no kind of their own. */
const META_OTHER = new Set([
  "mkdir", "mkdirat", "rmdir", "chmod", "fchmod", "fchmodat", "chown", "fchown", "lchown", "fchownat",
  "utime", "utimes", "utimensat", "futimesat", "setxattr", "lsetxattr", "fsetxattr", "removexattr",
  "truncate", "ftruncate", "fallocate", "link", "linkat", "symlink", "symlinkat", "chdir", "fchdir",
]);

export function categoryOf(kind: OpKind, name: string): OpCategory {
  if (DATA.has(kind)) return "data";
  if (META.has(kind)) return "metadata";
  return META_OTHER.has(name) ? "metadata" : "other";
}

const SYSCALL_KINDS = new Map<string, OpKind>();
for (const [kind, names] of Object.entries({
  open: "open openat openat2 creat open_by_handle_at",
  read: "read pread64 pread readv preadv preadv2",
  write: "write pwrite64 pwrite writev pwritev pwritev2 copy_file_range sendfile sendfile64 splice",
  close: "close close_range",
  stat: "stat stat64 lstat lstat64 fstat fstat64 newfstatat fstatat64 statx access faccessat faccessat2 readlink readlinkat getdents getdents64 statfs fstatfs getxattr lgetxattr fgetxattr listxattr flistxattr",
  rename: "rename renameat renameat2",
  unlink: "unlink unlinkat rmdir",
  fsync: "fsync fdatasync sync_file_range syncfs sync",
  exec: "execve execveat",
} as Record<OpKind, string>)) {
  for (const name of names.split(" ")) SYSCALL_KINDS.set(name, kind as OpKind);
}

/** The kind of a Linux system call by name ("other" when it is none of the file operations). */
export function syscallKind(name: string): OpKind {
  return SYSCALL_KINDS.get(name) ?? "other";
}
